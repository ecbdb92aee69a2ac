using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using RollbackSentinel.Core.Evaluation;
using RollbackSentinel.Core.Policies;

namespace RollbackSentinel.Notifications.PagerDuty;

/// <summary>
/// Tells PagerDuty through the Events API v2 (<c>POST /v2/enqueue</c>). One incident is one PagerDuty alert, whose
/// <c>dedup_key</c> is <see cref="IncidentNotice.Key"/> for the incident's whole life, and which is also the reference
/// this channel returns. The event sent for each notice:
/// <list type="bullet">
/// <item><c>trigger</c> for AwaitingConfirmation, Paged, RollingBack (decided by a trigger or a timeout), RollbackFailed
/// and TimedOut: summary = headline, severity = the notice's, component = policy, group = trigger, class = state,
/// custom_details = the evidence, links = the incident's link. A trigger on an open alert updates it.</item>
/// <item><c>acknowledge</c> when a person answered and the incident stays open: Snoozed, and RollingBack with
/// <see cref="IncidentNotice.AnsweredBy"/> set (an approval).</item>
/// <item><c>resolve</c> when the notice closes the incident (RolledBack, Denied, Recovered, DryRun, Notified).</item>
/// </list>
/// Nothing is sent, and null returned, when no alert is open (<paramref name="reference"/> null) and the notice would
/// only acknowledge or resolve it: so a dry-run or a notify incident never pages anyone.
/// Every event is safe to repeat (PagerDuty deduplicates on the key), so each is retried with backoff on 429, 5xx,
/// a timeout or a failed connection, honouring Retry-After. A 400 is PagerDuty refusing the event: its
/// <c>message</c> and <c>errors</c> are reported in a <see cref="NotificationException"/>. The routing key never
/// appears in a message.
/// </summary>
internal sealed class PagerDutyChannel : IIncidentChannel
{
    /// <summary>PagerDuty's limit on <c>payload.summary</c>.</summary>
    public const int MaxSummaryLength = 1024;

    /// <summary>PagerDuty's limit on <c>dedup_key</c>.</summary>
    public const int MaxDedupKeyLength = 255;



    private readonly JsonPost _post;
    private readonly PagerDutyOptions _options;
    private readonly TimeProvider _time;

    public PagerDutyChannel(HttpClient http, PagerDutyOptions options, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(http);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(time);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.MaxAttempts, 1);
        if (!options.EventsUrl.IsAbsoluteUri)
        {
            throw new ArgumentException("the PagerDuty events URL must be absolute", nameof(options));
        }

        _post = new JsonPost(http, time, options.MaxAttempts, options.RetryDelay, options.Timeout, options.MaxRetryAfter);
        _options = options;
        _time = time;
    }

    public string Name => "pagerduty";

    public TimeSpan? RepublishEvery => null;

    /// <summary>A handler for this channel's HttpClient: no redirects (a 3xx must not turn the POST into a GET elsewhere).</summary>
    public static HttpMessageHandler CreateHandler() => new SocketsHttpHandler { AllowAutoRedirect = false, PooledConnectionLifetime = TimeSpan.FromMinutes(5) };

    /// <summary>The event action for <paramref name="notice"/>: trigger, acknowledge, resolve, or null for none (nothing open to change).</summary>
    public static string? EventActionFor(IncidentNotice notice, string? reference)
    {
        ArgumentNullException.ThrowIfNull(notice);
        if (notice.Closes)
        {
            return reference is null ? null : "resolve";
        }

        if (notice.Kind == NoticeKind.Snoozed || (notice.Kind == NoticeKind.RollingBack && notice.AnsweredBy is not null))
        {
            return reference is null ? null : "acknowledge";
        }

        // Nobody answered and the policy says hold: the page that asked still stands; nothing new to send.
        if (notice.Kind == NoticeKind.TimedOut && notice.OnTimeout != "escalate" && reference is not null)
        {
            return null;
        }

        return "trigger";
    }

    /// <summary>PagerDuty's severity words: critical, error, warning, info. Anything else counts as error.</summary>
    public static string SeverityFor(string severity) => severity switch
    {
        "critical" or "error" or "warning" or "info" => severity,
        _ => "error",
    };

    /// <summary>The notice's key, or, beyond PagerDuty's 255 characters, a prefix of it with a hash of the whole.</summary>
    public static string DedupKeyFor(IncidentNotice notice)
    {
        ArgumentNullException.ThrowIfNull(notice);
        var key = notice.Key;
        if (key.Length <= MaxDedupKeyLength)
        {
            return key;
        }

        var hash = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(key))).ToLowerInvariant();
        return string.Concat(key.AsSpan(0, MaxDedupKeyLength - hash.Length - 1), "~", hash);
    }

    /// <summary>The suffix of the second dedup key an escalation triggers: a new PagerDuty incident, so it pages again.</summary>
    public const string EscalationSuffix = "/escalated";

    public async Task<string?> PublishAsync(IncidentNotice notice, string? reference, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(notice);
        if (EventActionFor(notice, reference) is not { } action)
        {
            return null;
        }

        var escalated = reference?.EndsWith(EscalationSuffix, StringComparison.Ordinal) == true;
        if (notice.Kind == NoticeKind.TimedOut && notice.OnTimeout == "escalate" && !escalated)
        {
            // Escalate: a trigger on the same key would not page anyone new; a second key opens a new PagerDuty incident.
            await SendAsync(notice, "trigger", DedupKeyFor(notice) + EscalationSuffix, cancellationToken).ConfigureAwait(false);
            return DedupKeyFor(notice) + EscalationSuffix;
        }

        if (escalated && action != "trigger")
        {
            // Acknowledge or resolve the escalation's incident too.
            await SendAsync(notice, action, DedupKeyFor(notice) + EscalationSuffix, cancellationToken).ConfigureAwait(false);
        }

        await SendAsync(notice, action, DedupKeyFor(notice), cancellationToken).ConfigureAwait(false);
        return escalated ? reference : DedupKeyFor(notice);
    }

    private async Task SendAsync(IncidentNotice notice, string action, string dedupKey, CancellationToken cancellationToken)
    {
        var routingKey = _options.RoutingKeyFor?.Invoke(notice) ?? _options.RoutingKey;
        if (string.IsNullOrWhiteSpace(routingKey))
        {
            throw new NotificationException($"pagerduty: no routing key for policy {notice.Incident.Policy} (set RoutingKey, or one for this policy)");
        }

        var body = JsonSerializer.SerializeToUtf8Bytes(Event(notice, action, routingKey.Trim(), dedupKey), PagerDutyJsonContext.Default.DictionaryStringObject);
        var what = $"the {action} event for incident {notice.Incident.Id.ToString(CultureInfo.InvariantCulture)}";

        var (last, attempts) = await _post.SendAsync(
            _options.EventsUrl,
            body,
            (status, response, text) => status switch
            {
                429 => new PostAttempt($"PagerDuty rate-limited {what} (HTTP 429)", Retryable: true, _post.RetryAfter(response)),
                >= 500 => new PostAttempt($"PagerDuty answered HTTP {status.ToString(CultureInfo.InvariantCulture)} to {what}", Retryable: true, _post.RetryAfter(response)),
                400 => new PostAttempt($"PagerDuty refused {what} (HTTP 400): {Describe(text)}", Retryable: false),
                >= 300 and < 400 => new PostAttempt($"PagerDuty answered {what} with a redirect (HTTP {status.ToString(CultureInfo.InvariantCulture)}), not followed: set the events URL to the final address", Retryable: false),
                _ => new PostAttempt($"PagerDuty answered HTTP {status.ToString(CultureInfo.InvariantCulture)} to {what}: {Describe(text)}", Retryable: false),
            },
            error => error is null
                ? $"PagerDuty did not answer {what} within {PromDuration.Format(_options.Timeout)}"
                : $"PagerDuty could not be reached for {what}: {error}",
            cancellationToken).ConfigureAwait(false);

        if (last.Failure is { } failure)
        {
            var tries = attempts == 1 ? "" : $" (after {attempts.ToString(CultureInfo.InvariantCulture)} attempts)";
            throw new NotificationException($"pagerduty: {failure}{tries}");
        }
    }

    /// <summary>PagerDuty's <c>message</c> and <c>errors</c> from an error body, or the body's start when it is not that JSON.</summary>
    internal static string Describe(string body)
    {
        try
        {
            using var document = JsonDocument.Parse(body);
            if (document.RootElement.ValueKind == JsonValueKind.Object)
            {
                var root = document.RootElement;
                var message = root.TryGetProperty("message", out var m) && m.ValueKind == JsonValueKind.String ? m.GetString() : null;
                var errors = root.TryGetProperty("errors", out var e) && e.ValueKind == JsonValueKind.Array
                    ? e.EnumerateArray().Select(x => x.ValueKind == JsonValueKind.String ? x.GetString() : x.GetRawText()).Where(x => !string.IsNullOrEmpty(x)).ToList()
                    : [];
                var parts = new[] { message }.Concat(errors).Where(x => !string.IsNullOrWhiteSpace(x)).ToList();
                if (parts.Count > 0)
                {
                    return string.Join("; ", parts);
                }
            }
        }
        catch (JsonException)
        {
        }

        var trimmed = body.Trim();
        return trimmed.Length == 0 ? "(no body)" : trimmed.Length > 300 ? string.Concat(trimmed.AsSpan(0, 300), "...") : trimmed;
    }

    private Dictionary<string, object> Event(IncidentNotice notice, string action, string routingKey, string dedupKey)
    {
        var e = new Dictionary<string, object>
        {
            ["routing_key"] = routingKey,
            ["event_action"] = action,
            ["dedup_key"] = dedupKey,
        };
        if (action != "trigger")
        {
            // PagerDuty reads only the key for acknowledge and resolve.
            return e;
        }

        var payload = new Dictionary<string, object>
        {
            ["summary"] = Truncate($"{notice.Headline} ({notice.ChangeSummary})", MaxSummaryLength),
            ["source"] = _options.Source,
            ["severity"] = SeverityFor(notice.Severity),
            ["timestamp"] = Rfc3339.Format(_time.GetUtcNow()),
            ["component"] = notice.Incident.Policy,
            ["group"] = notice.Incident.Trigger,
            ["class"] = StateName(notice.Kind),
            ["custom_details"] = Details(notice),
        };
        e["payload"] = payload;
        e["client"] = "RollbackSentinel";
        if (notice.Link is { IsAbsoluteUri: true } link)
        {
            e["client_url"] = link.AbsoluteUri;
            e["links"] = new[] { new Dictionary<string, string> { ["href"] = link.AbsoluteUri, ["text"] = "Incident in RollbackSentinel" } };
        }

        return e;
    }

    /// <summary>The evidence and what was done, as PagerDuty shows under "custom details". Absent values are left out.</summary>
    private static Dictionary<string, object> Details(IncidentNotice notice)
    {
        var details = new Dictionary<string, object>
        {
            ["state"] = StateName(notice.Kind),
            ["incident"] = notice.Incident.Id,
            ["policy"] = notice.Incident.Policy,
            ["trigger"] = notice.Incident.Trigger,
            ["labels"] = notice.Incident.Labels.ToDictionary(l => l.Key, l => l.Value, StringComparer.Ordinal),
            ["since"] = Rfc3339.Format(notice.Since),
        };
        Add(details, "value", Finite(notice.Value));
        Add(details, "threshold", Finite(notice.Threshold));
        Add(details, "baseline", Finite(notice.Baseline));
        if (notice.Evidence.Count > 0)
        {
            details["queries"] = notice.Evidence.Select(l => new Dictionary<string, string> { ["role"] = l.Role, ["query"] = l.Query, ["value"] = l.Value }).ToList();
        }

        Add(details, "action", notice.Action);
        Add(details, "before", notice.Before);
        Add(details, "after", notice.After);
        Add(details, "answered_by", notice.AnsweredBy);
        Add(details, "answer_deadline", notice.AnswerDeadline is { } d ? Rfc3339.Format(d) : null);
        Add(details, "on_timeout", notice.OnTimeout);
        details["change"] = notice.ChangeSummary;
        Add(details, "disarmed_reason", notice.DisarmedReason);
        return details;
    }

    private static void Add(Dictionary<string, object> details, string name, object? value)
    {
        if (value is not null)
        {
            details[name] = value;
        }
    }

    private static double? Finite(double? v) => v is { } x && double.IsFinite(x) ? x : null;

    /// <summary>At most <paramref name="max"/> characters, ending in an ellipsis when cut, never splitting a surrogate pair.</summary>
    private static string Truncate(string text, int max)
    {
        if (text.Length <= max)
        {
            return text;
        }

        var keep = max - 1;
        if (char.IsHighSurrogate(text[keep - 1]))
        {
            keep--;
        }

        return string.Concat(text.AsSpan(0, keep), "…");
    }

    private static string StateName(NoticeKind kind) => NoticeKindNames.SnakeCase(kind);

}

/// <summary>
/// The event's metadata, made at compile time (docs/aot.md). The event is a tree of dictionaries whose values are written
/// by their runtime type: every type put in one is listed here.
/// </summary>
[System.Text.Json.Serialization.JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[System.Text.Json.Serialization.JsonSerializable(typeof(Dictionary<string, object>))]
[System.Text.Json.Serialization.JsonSerializable(typeof(Dictionary<string, string>))]
[System.Text.Json.Serialization.JsonSerializable(typeof(Dictionary<string, string>[]))]
[System.Text.Json.Serialization.JsonSerializable(typeof(List<Dictionary<string, string>>))]
[System.Text.Json.Serialization.JsonSerializable(typeof(string))]
[System.Text.Json.Serialization.JsonSerializable(typeof(long))]
[System.Text.Json.Serialization.JsonSerializable(typeof(int))]
[System.Text.Json.Serialization.JsonSerializable(typeof(double))]
[System.Text.Json.Serialization.JsonSerializable(typeof(bool))]
internal sealed partial class PagerDutyJsonContext : System.Text.Json.Serialization.JsonSerializerContext;
