namespace RollbackSentinel.Notifications.PagerDuty;

/// <summary>Where and how <see cref="PagerDutyChannel"/> sends events (PagerDuty Events API v2).</summary>
public sealed record PagerDutyOptions
{
    public static readonly Uri DefaultEventsUrl = new("https://events.pagerduty.com/v2/enqueue");

    /// <summary>The Events API v2 endpoint: <c>https://events.pagerduty.com/v2/enqueue</c> (or the EU one).</summary>
    public Uri EventsUrl { get; init; } = DefaultEventsUrl;

    /// <summary>The integration key of an "Events API v2" integration (32 characters); a secret, never logged.</summary>
    public string? RoutingKey { get; init; }

    /// <summary>
    /// Chooses the routing key per notice (per policy, say); when it returns null, <see cref="RoutingKey"/> is used.
    /// It should return the same key for every notice of an incident, or acknowledge and resolve go to another service.
    /// </summary>
    public Func<IncidentNotice, string?>? RoutingKeyFor { get; init; }

    /// <summary>The event's <c>payload.source</c>.</summary>
    public string Source { get; init; } = "rollback-sentinel";

    /// <summary>Attempts per event in all, the first included (retried on 429, 5xx, timeouts and failed connections).</summary>
    public int MaxAttempts { get; init; } = 4;

    /// <summary>The wait before the first retry; it doubles (with jitter) for each further one. A Retry-After header overrides it.</summary>
    public TimeSpan RetryDelay { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>The longest Retry-After honoured; a longer one is cut to this.</summary>
    public TimeSpan MaxRetryAfter { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>How long one attempt may take.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(10);
}
