namespace RollbackSentinel.Notifications.Alertmanager;

/// <summary>Where and how <see cref="AlertmanagerChannel"/> posts alerts (Alertmanager API v2).</summary>
public sealed record AlertmanagerOptions
{
    /// <summary>Alertmanager's root, e.g. <c>http://alertmanager:9093/</c> (with its route prefix, if it has one).</summary>
    public required Uri Url { get; init; }

    /// <summary>How often an open incident's alert is posted again (Alertmanager resolves an alert whose endsAt passes).</summary>
    public TimeSpan RepublishEvery { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>
    /// An open alert's endsAt is now plus this: it outlives a few missed republishes, and lapses (resolves) by itself
    /// only when the daemon stops posting. Must exceed <see cref="RepublishEvery"/>.
    /// </summary>
    public TimeSpan AlertLifetime { get; init; } = TimeSpan.FromMinutes(4);

    /// <summary>Attempts per post in all, the first included (retried on 5xx, timeouts and failed connections).</summary>
    public int MaxAttempts { get; init; } = 3;

    /// <summary>The wait before the first retry; it doubles (with jitter) for each further one.</summary>
    public TimeSpan RetryDelay { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>How long one attempt may take.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(10);
}
