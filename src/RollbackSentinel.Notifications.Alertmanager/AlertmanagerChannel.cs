using System.Globalization;
using System.Text;
using System.Text.Json;
using RollbackSentinel.Core.Evaluation;
using RollbackSentinel.Core.Policies;

namespace RollbackSentinel.Notifications.Alertmanager;

/// <summary>
/// Posts each incident as one alert to Alertmanager (<c>POST /api/v2/alerts</c>), so its routes, inhibitions and
/// silences apply. The labels identify the incident and never change during its life, so it stays one alert (one
/// fingerprint): <c>alertname="RollbackSentinel"</c>, <c>policy</c>, <c>trigger</c>, <c>incident</c> (the id),
/// <c>severity</c> (critical for a page incident, warning otherwise: fixed per incident, unlike the notice's), and
/// the incident's own series labels (as they are; one that would clash with those is prefixed <c>label_</c>).
/// What changes goes into annotations: <c>summary</c> (the headline), <c>description</c> (the evidence), <c>state</c>,
/// <c>action</c>, <c>before</c>, <c>after</c>, <c>answered_by</c>, <c>answer_deadline</c>, <c>on_timeout</c>,
/// <c>link</c>. startsAt is when the breach began; while the incident is open, endsAt is now plus
/// <see cref="AlertmanagerOptions.AlertLifetime"/> and the dispatcher posts again every <see cref="RepublishEvery"/>,
/// so the alert lapses only if the daemon stops; a notice that closes the incident posts endsAt = now (resolved).
/// A first notice that already closes the incident (dry-run, notify) posts nothing and returns null. The reference
/// is <see cref="IncidentNotice.Key"/>. Posts are idempotent and retried on 5xx, timeouts and failed connections; a
/// 4xx is Alertmanager refusing the alert, reported with its answer in a <see cref="NotificationException"/>.
/// </summary>
internal sealed class AlertmanagerChannel : IIncidentChannel
{
    public const string AlertName = "RollbackSentinel";

    /// <summary>The labels this channel sets itself; an incident label of the same name is posted as <c>label_&lt;name&gt;</c>.</summary>
    public static readonly IReadOnlySet<string> OwnLabels = new HashSet<string>(StringComparer.Ordinal) { "alertname", "policy", "trigger", "incident", "severity", "target" };


    private readonly JsonPost _post;
    private readonly AlertmanagerOptions _options;
    private readonly TimeProvider _time;
    private readonly Uri _alertsUrl;

    public AlertmanagerChannel(HttpClient http, AlertmanagerOptions options, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(http);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(time);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.MaxAttempts, 1);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(options.RepublishEvery, TimeSpan.Zero);
        if (options.AlertLifetime <= options.RepublishEvery)
        {
            throw new ArgumentException("AlertLifetime must exceed RepublishEvery, or open alerts resolve between republishes", nameof(options));
        }

        if (options.Url is not { IsAbsoluteUri: true } url)
        {
            throw new ArgumentException("the Alertmanager URL must be absolute", nameof(options));
        }

        _post = new JsonPost(http, time, options.MaxAttempts, options.RetryDelay, options.Timeout);
        _options = options;
        _time = time;
        var root = url.AbsoluteUri.EndsWith('/') ? url : new Uri(url.AbsoluteUri + "/");
        _alertsUrl = new Uri(root, "api/v2/alerts");
    }

    public string Name => "alertmanager";

    public TimeSpan? RepublishEvery => _options.RepublishEvery;

    /// <summary>A handler for this channel's HttpClient: no redirects (a 3xx must not turn the POST into a GET elsewhere).</summary>
    public static HttpMessageHandler CreateHandler() => new SocketsHttpHandler { AllowAutoRedirect = false, PooledConnectionLifetime = TimeSpan.FromMinutes(5) };

    public async Task<string?> PublishAsync(IncidentNotice notice, string? reference, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(notice);
        if (notice.Closes && reference is null)
        {
            // Nothing was ever firing: a resolved alert alone notifies nobody.
            return null;
        }

        var now = _time.GetUtcNow();
        var body = JsonSerializer.SerializeToUtf8Bytes(new[] { Alert(notice, now) }, AlertmanagerJsonContext.Default.DictionaryStringObjectArray);
        var what = $"the alert for incident {notice.Incident.Id.ToString(CultureInfo.InvariantCulture)}";

        var where = $"{_alertsUrl.Scheme}://{_alertsUrl.Authority}";
        var (last, attempts) = await _post.SendAsync(
            _alertsUrl,
            body,
            (status, _, text) => status is >= 300 and < 400
                ? new PostAttempt($"Alertmanager at {where} answered {what} with a redirect (HTTP {status.ToString(CultureInfo.InvariantCulture)}), not followed: set the URL to the final address", Retryable: false)
                : new PostAttempt($"Alertmanager at {where} {(status >= 500 ? "failed on" : "refused")} {what} (HTTP {status.ToString(CultureInfo.InvariantCulture)}): {Describe(text)}", Retryable: status >= 500),
            error => error is null
                ? $"Alertmanager at {where} did not answer {what} within {PromDuration.Format(_options.Timeout)}"
                : $"Alertmanager at {where} could not be reached for {what}: {error}",
            cancellationToken).ConfigureAwait(false);

        if (last.Failure is { } failure)
        {
            var tries = attempts == 1 ? "" : $" (after {attempts.ToString(CultureInfo.InvariantCulture)} attempts)";
            throw new NotificationException($"alertmanager: {failure}{tries}");
        }

        return notice.Key;
    }

    /// <summary>The labels of the incident's alert: the same for every notice of the incident.</summary>
    public static SortedDictionary<string, string> LabelsFor(IncidentNotice notice)
    {
        ArgumentNullException.ThrowIfNull(notice);
        var incident = notice.Incident;
        var labels = new SortedDictionary<string, string>(StringComparer.Ordinal)
        {
            ["alertname"] = AlertName,
            ["policy"] = incident.Policy,
            ["trigger"] = incident.Trigger,
            ["incident"] = incident.Id.ToString(CultureInfo.InvariantCulture),
            ["severity"] = incident.Action == TriggerAction.Page ? "critical" : "warning",
        };
        if (notice.Target is { Length: > 0 } target)
        {
            labels["target"] = target;
        }

        foreach (var (name, value) in incident.Labels)
        {
            if (value.Length == 0)
            {
                // An empty value means "no such label" to Alertmanager.
                continue;
            }

            var valid = LabelName(name);
            labels.TryAdd(OwnLabels.Contains(valid) ? "label_" + valid : valid, value);
        }

        return labels;
    }

    /// <summary>The annotations of the alert for this notice: what changes from state to state. Absent values are left out.</summary>
    public static SortedDictionary<string, string> AnnotationsFor(IncidentNotice notice)
    {
        ArgumentNullException.ThrowIfNull(notice);
        var annotations = new SortedDictionary<string, string>(StringComparer.Ordinal)
        {
            ["summary"] = notice.Headline,
            ["description"] = Description(notice),
            ["state"] = StateName(notice.Kind),
        };
        Add(annotations, "action", notice.Action);
        Add(annotations, "before", notice.Before);
        Add(annotations, "after", notice.After);
        Add(annotations, "answered_by", notice.AnsweredBy);
        Add(annotations, "answer_deadline", notice.AnswerDeadline is { } d ? Rfc3339.Format(d) : null);
        Add(annotations, "on_timeout", notice.OnTimeout);
        Add(annotations, "link", notice.Link?.ToString());
        annotations["change"] = notice.ChangeSummary;
        Add(annotations, "disarmed_reason", notice.DisarmedReason);
        return annotations;
    }

    private Dictionary<string, object> Alert(IncidentNotice notice, DateTimeOffset now)
    {
        // Alertmanager refuses an alert that ends before it starts; a clock ahead of ours must not make that happen.
        var startsAt = notice.Since < now ? notice.Since : now;
        var endsAt = notice.Closes ? now : now + _options.AlertLifetime;
        var alert = new Dictionary<string, object>
        {
            ["labels"] = LabelsFor(notice),
            ["annotations"] = AnnotationsFor(notice),
            ["startsAt"] = Rfc3339.Format(startsAt),
            ["endsAt"] = Rfc3339.Format(endsAt),
        };
        if (notice.Link is { IsAbsoluteUri: true } link)
        {
            alert["generatorURL"] = link.AbsoluteUri;
        }

        return alert;
    }

    /// <summary>An error body as a person reads it: Alertmanager answers a JSON string or <c>{"code":..,"message":..}</c>.</summary>
    private static string Describe(string body)
    {
        var text = body.Trim();
        try
        {
            using var document = JsonDocument.Parse(text);
            var root = document.RootElement;
            if (root.ValueKind == JsonValueKind.String)
            {
                text = root.GetString() ?? text;
            }
            else if (root.ValueKind == JsonValueKind.Object && root.TryGetProperty("message", out var m) && m.ValueKind == JsonValueKind.String)
            {
                text = m.GetString() ?? text;
            }
        }
        catch (JsonException)
        {
        }

        return text.Length == 0 ? "(no body)" : text.Length > 500 ? string.Concat(text.AsSpan(0, 500), "...") : text;
    }

    private static string Description(IncidentNotice notice)
    {
        var lines = new List<string>();
        var measured = new List<string>();
        if (notice.Value is { } value)
        {
            measured.Add("value " + Number(value));
        }

        if (notice.Threshold is { } threshold)
        {
            measured.Add("threshold " + Number(threshold));
        }

        if (notice.Baseline is { } baseline)
        {
            measured.Add("baseline " + Number(baseline));
        }

        measured.Add("since " + Rfc3339.Format(notice.Since));
        lines.Add(string.Join(", ", measured));
        lines.AddRange(notice.Evidence.Select(e => $"{e.Role}: {e.Query} = {e.Value}"));
        return string.Join("\n", lines);
    }

    private static string Number(double value) => value.ToString(CultureInfo.InvariantCulture);

    private static void Add(SortedDictionary<string, string> annotations, string name, string? value)
    {
        if (!string.IsNullOrEmpty(value))
        {
            annotations[name] = value;
        }
    }

    /// <summary>A valid Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*): other characters become underscores.</summary>
    private static string LabelName(string name)
    {
        var sb = new StringBuilder(name.Length + 1);
        foreach (var c in name)
        {
            sb.Append(char.IsAsciiLetterOrDigit(c) || c == '_' ? c : '_');
        }

        if (sb.Length == 0 || char.IsAsciiDigit(sb[0]))
        {
            sb.Insert(0, '_');
        }

        return sb.ToString();
    }

    private static string StateName(NoticeKind kind) => NoticeKindNames.SnakeCase(kind);

}

/// <summary>
/// The alerts' metadata, made at compile time (docs/aot.md); default options, as before. An alert is a dictionary whose
/// values are written by their runtime type: every type put in one is listed here.
/// </summary>
[System.Text.Json.Serialization.JsonSerializable(typeof(Dictionary<string, object>[]))]
[System.Text.Json.Serialization.JsonSerializable(typeof(SortedDictionary<string, string>))]
[System.Text.Json.Serialization.JsonSerializable(typeof(Dictionary<string, string>))]
[System.Text.Json.Serialization.JsonSerializable(typeof(string))]
internal sealed partial class AlertmanagerJsonContext : System.Text.Json.Serialization.JsonSerializerContext;
