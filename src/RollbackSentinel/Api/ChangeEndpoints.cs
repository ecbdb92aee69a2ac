using System.Globalization;
using System.Text.Json;
using RollbackSentinel.Cli;
using RollbackSentinel.Core.Changes;
using RollbackSentinel.Core.Evaluation;
using RollbackSentinel.Core.Incidents;
using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Core.Policies;
using RollbackSentinel.Daemon;

namespace RollbackSentinel.Api;

/// <summary>
/// Changes and gates: <c>POST /api/v1/changes</c> records a deploy marker (what <c>rollback-sentinel mark</c> sends),
/// <c>GET /api/v1/changes</c> lists them, and <c>GET|POST /api/v1/gates/{policy}</c> answers "is it safe to go on?"
/// (200 open, 409 closed with the reasons): a pipeline's wait step, a Flagger <c>confirm-promotion</c> webhook, an Argo
/// Rollouts <c>web</c> metric. See docs/changes.md.
/// </summary>
internal static partial class ChangeEndpoints
{
    /// <summary>How far ahead of the daemon's clock a change may be dated: clock skew between a pipeline and the daemon, not a schedule.</summary>
    public static readonly TimeSpan MaxFuture = TimeSpan.FromMinutes(5);

    /// <summary>How many changes a list gives by default, and at most.</summary>
    public const int DefaultLimit = 100;

    public const int MaxLimit = 1000;

    public static void MapChangeEndpoints(this RouteGroupBuilder api)
    {
        // A pipeline's deploy token may record changes and ask gates (and, like every token, GET).
        api.MapPost("/changes", RecordAsync).RequireAuthorization(ApiScopes.Deploy);
        api.MapGet("/changes", ListAsync);
        api.MapGet("/changes/{id:long}", GetAsync);
        api.MapGet("/changes/{id}", (string id) => Results.Problem(
            title: "bad change id", detail: $"'{InputLimits.Shorten(id)}' is not a change id (a whole number)", statusCode: StatusCodes.Status400BadRequest));

        // POST answers the same as GET, so the gate is a Flagger confirm-promotion webhook (its JSON body is ignored)
        // and an Argo Rollouts web metric.
        api.MapMethods("/gates/{policy}", [HttpMethods.Get, HttpMethods.Post], GateAsync).RequireAuthorization(ApiScopes.Deploy);
    }

    private static async Task<IResult> RecordAsync(HttpContext context, PolicyRegistry registry, IChangeStore store, Telemetry.SentinelMetrics metrics, TimeProvider time, ILoggerFactory loggers, CancellationToken ct)
    {
        ChangeBody? body;
        try
        {
            body = await JsonSerializer.DeserializeAsync(context.Request.Body, ApiJsonContext.Default.ChangeBody, ct).ConfigureAwait(false);
        }
        catch (JsonException e)
        {
            return BadField(Unreadable(e));
        }

        if (body is null)
        {
            return BadField(NotAnObject);
        }

        var now = time.GetUtcNow();
        var by = body.By ?? NullIfEmpty(context.Request.Headers["X-Sentinel-User"].ToString());
        if (string.IsNullOrWhiteSpace(body.Policy))
        {
            return BadField("'policy' is required: the name of the policy the change concerns");
        }

        if ((InputLimits.CheckName("policy", body.Policy, InputLimits.MaxPolicyName)
                ?? InputLimits.CheckLabels("labels", body.Labels)
                ?? InputLimits.CheckName("revision", body.Revision, InputLimits.MaxRevision)
                ?? InputLimits.CheckName("previousRevision", body.PreviousRevision, InputLimits.MaxRevision)
                ?? InputLimits.CheckName("by", by)
                ?? InputLimits.CheckReason("description", body.Description, InputLimits.MaxDescription)) is { } problem)
        {
            return BadField(problem);
        }

        var at = now;
        if (body.At is not null)
        {
            if (!Rfc3339.TryParse(body.At.Trim(), out at))
            {
                return BadField($"'at' must be an RFC 3339 time such as 2026-11-22T10:00:00Z, got '{InputLimits.Shorten(body.At)}'");
            }

            if (at - now > MaxFuture)
            {
                return BadField($"'at' is {Rfc3339.Format(at)}, more than {PromDuration.Format(MaxFuture)} after the daemon's clock ({Rfc3339.Format(now)}): a change is recorded when it happens, not before");
            }
        }

        var name = body.Policy.Trim();
        if (registry.Find(name) is null)
        {
            return Results.Problem(title: "policy not found", detail: $"there is no policy '{InputLimits.Shorten(name)}' (see GET /api/v1/policies)", statusCode: StatusCodes.Status404NotFound);
        }

        var change = new Change
        {
            Policy = name,
            Labels = LabelSet.From(body.Labels ?? []),
            At = at,
            Source = ChangeSource.Api,
            Revision = NullIfEmpty(body.Revision),
            PreviousRevision = NullIfEmpty(body.PreviousRevision),
            By = NullIfEmpty(by),
            Description = string.IsNullOrWhiteSpace(body.Description) ? null : body.Description,
            RecordedAt = now,
        };
        var stored = (await store.RecordChangeAsync(change, ct).ConfigureAwait(false)).Change;
        metrics.RecordChange(stored.Policy, ChangeSource.Api);
        LogRecorded(loggers.CreateLogger(typeof(ChangeEndpoints)), stored.Id, stored.Policy + (stored.Labels.IsEmpty ? string.Empty : stored.Labels.ToString()), stored.What, Rfc3339.Format(stored.At), stored.By ?? "-");
        return Results.Created($"/api/v1/changes/{stored.Id.ToString(CultureInfo.InvariantCulture)}", ChangeView.From(stored));
    }

    private static async Task<IResult> ListAsync(string? policy, string? since, int? limit, IChangeStore store, TimeProvider time, CancellationToken ct)
    {
        if (InputLimits.CheckName("policy", policy, InputLimits.MaxPolicyName) is { } problem)
        {
            return BadField(problem);
        }

        DateTimeOffset? from = null;
        if (since is not null)
        {
            if (!TrySince(since, time.GetUtcNow(), out var parsed))
            {
                return BadField($"'since' must be {CliTime.Forms} (or 1h), got '{InputLimits.Shorten(since)}'");
            }

            from = parsed;
        }

        if (limit is < 1 or > MaxLimit)
        {
            return Results.Problem(title: "bad limit", detail: $"'limit' must be between 1 and {MaxLimit}", statusCode: StatusCodes.Status400BadRequest);
        }

        var changes = await store.ListChangesAsync(string.IsNullOrWhiteSpace(policy) ? null : policy.Trim(), from, limit ?? DefaultLimit, ct).ConfigureAwait(false);
        return Results.Ok(changes.Select(ChangeView.From).ToArray());
    }

    private static async Task<IResult> GetAsync(long id, IChangeStore store, CancellationToken ct) =>
        await store.GetChangeAsync(id, ct).ConfigureAwait(false) is { } change
            ? Results.Ok(ChangeView.From(change))
            : Results.Problem(title: "change not found", detail: $"there is no change {id}", statusCode: StatusCodes.Status404NotFound);

    /// <summary>
    /// The gate of a policy: every query parameter is a label filter (<c>?deployment=cart</c>; the CLI's spelling,
    /// <c>?label=deployment=cart</c>, repeatable, is taken too). Computed from the runner's state as of its last evaluation,
    /// the policy's changes and its open incidents; nothing is evaluated here.
    /// </summary>
    private static async Task<IResult> GateAsync(string policy, HttpRequest request, PolicyRegistry registry, IChangeStore changes, IIncidentStore incidents, TimeProvider time, CancellationToken ct)
    {
        var filter = new Dictionary<string, string>(StringComparer.Ordinal);
        var given = request.Query.SelectMany(q => q.Value.Select(v => v ?? string.Empty).Select(v =>
            q.Key == "label" && v.IndexOf('=', StringComparison.Ordinal) is > 0 and var eq ? (Name: v[..eq], Value: v[(eq + 1)..]) : (Name: q.Key, Value: v)));
        foreach (var (name, value) in given)
        {
            if (!filter.TryAdd(name, value))
            {
                return BadField($"the label filter '{InputLimits.Shorten(name)}' is given more than once; give each label once");
            }
        }

        if ((InputLimits.CheckName("policy", policy, InputLimits.MaxPolicyName) ?? InputLimits.CheckLabels("label filter", filter)) is { } problem)
        {
            return BadField(problem);
        }

        if (registry.Find(policy) is not { } entry)
        {
            return Results.Problem(title: "policy not found", detail: $"there is no policy '{InputLimits.Shorten(policy)}' (see GET /api/v1/policies)", statusCode: StatusCodes.Status404NotFound);
        }

        var answer = (await PolicyGates.ReadAsync(entry, LabelSet.From(filter), changes, incidents, time.GetUtcNow(), ct).ConfigureAwait(false)).Answer;
        return Results.Json(GateView.From(answer), ApiJson.Answer<GateView>(), statusCode: answer.Open ? StatusCodes.Status200OK : StatusCodes.Status409Conflict);
    }

    private const string NotAnObject = "the body must be a JSON object such as {\"policy\":\"checkout-api\",\"revision\":\"v42\",\"by\":\"ci\"}";

    /// <summary>A body that is not the expected JSON, said in terms of the field (JSON path) that is wrong.</summary>
    private static string Unreadable(JsonException e)
    {
        var path = e.Path is { Length: > 2 } p && p.StartsWith("$.", StringComparison.Ordinal) ? p[2..] : null;
        return path switch
        {
            null => NotAnObject,
            "labels" => "'labels' must be an object of label names to string values, such as {\"deployment\":\"cart\"}",
            "at" => "'at' must be an RFC 3339 time as a string, such as \"2026-11-22T10:00:00Z\"",
            _ => $"'{path}' must be a string",
        };
    }

    /// <summary>As the CLI's time flags take it (<see cref="CliTime"/>); a bare duration ("2h") can only mean "ago" here, so it does too.</summary>
    private static bool TrySince(string text, DateTimeOffset now, out DateTimeOffset since)
    {
        if (CliTime.TryParse(text, now, out since))
        {
            return true;
        }

        if (PromDuration.TryParse(text.Trim(), out var ago, out _) && ago > TimeSpan.Zero)
        {
            since = now - ago;
            return true;
        }

        return false;
    }

    private static IResult BadField(string problem) =>
        Results.Problem(title: "bad field", detail: problem, statusCode: StatusCodes.Status400BadRequest);

    private static string? NullIfEmpty(string? value) => string.IsNullOrWhiteSpace(value) ? null : value.Trim();

    [LoggerMessage(EventId = 930, Level = LogLevel.Information, Message = "Change {Id} of {Series} recorded from the API: {What} at {At} by {By}")]
    private static partial void LogRecorded(ILogger logger, long id, string series, string what, string at, string by);
}

/// <summary>The body of <c>POST /api/v1/changes</c>; unknown fields are ignored.</summary>
internal sealed record ChangeBody(string? Policy, Dictionary<string, string>? Labels, string? Revision, string? PreviousRevision, string? By, string? Description, string? At);

/// <summary>A change as the API shows it (also nested in incidents and gates).</summary>
internal sealed record ChangeView(
    long Id,
    string Policy,
    IReadOnlyDictionary<string, string> Labels,
    string At,
    string Source,
    string? Revision,
    string? PreviousRevision,
    string? By,
    string? Description,
    string? RecordedAt)
{
    public static ChangeView From(Change c) => new(
        c.Id,
        c.Policy,
        c.Labels.ToDictionary(),
        Rfc3339.Format(c.At),
        c.Source.ToString().ToLowerInvariant(),
        c.Revision,
        c.PreviousRevision,
        c.By,
        c.Description,
        c.RecordedAt is { } r ? Rfc3339.Format(r) : null);

    public static ChangeView? FromOrNull(Change? c) => c is null ? null : From(c);
}

/// <summary>A gate's answer as the API shows it: 200 when <see cref="Open"/>, 409 otherwise, the same body either way.</summary>
internal sealed record GateView(string Policy, bool Open, int MinPasses, IReadOnlyList<string> Reasons, IReadOnlyList<GateSeriesView> Series)
{
    public static GateView From(GateAnswer a) => new(
        a.Policy,
        a.Open,
        a.MinPasses,
        a.Reasons,
        a.Series.Select(s => new GateSeriesView(s.Trigger, s.Labels.ToDictionary(), s.State, s.Passes, ChangeView.FromOrNull(s.Change))).ToArray());
}

internal sealed record GateSeriesView(string Trigger, IReadOnlyDictionary<string, string> Labels, string State, int Passes, ChangeView? Change);
