using RollbackSentinel.Core.Evaluation;
using RollbackSentinel.Core.Incidents;
using RollbackSentinel.Core.Policies;
using RollbackSentinel.Daemon;

namespace RollbackSentinel.Api;

/// <summary>
/// The HTTP API. Every endpoint needs the bearer token (ASP.NET Core authentication with a deny-by-default fallback
/// policy, see <see cref="ApiTokenAuthentication"/>) except those marked anonymous: the probes and <c>/metrics</c>
/// (Kubernetes and Prometheus call them) and Slack's endpoints (which verify Slack's signature themselves).
/// Errors are RFC 7807 problem details; bodies are limited (<see cref="InputLimits"/>).
/// </summary>
internal static class ApiEndpoints
{
    public static void MapSentinelApi(this WebApplication app)
    {
        // Every error is problem details, including ones no endpoint produced (404, 405, 413, binding, 500).
        app.UseExceptionHandler();
        app.UseRequestProblems();
        app.UseStatusCodePages();

        // Authentication runs after routing and before any endpoint binds a parameter or reads a body, so an
        // unauthenticated caller learns nothing (not even that a parameter is malformed or a path unknown).
        app.UseRouting();
        app.UseAuthentication();
        app.UseAuthorization();

        app.MapGet("/healthz", () => Results.Ok(new HealthView("ok"))).AllowAnonymous();
        app.MapGet("/readyz", (PolicyRegistry registry, DaemonState state) =>
            state.NotReadyReason() is not { } reason
                ? Results.Ok(new ReadyView("ready", registry.Entries.Count))
                : Results.Problem(title: "not ready", detail: reason, statusCode: StatusCodes.Status503ServiceUnavailable)).AllowAnonymous();

        var api = app.MapGroup("/api/v1").RequireAuthorization().WithBodyLimit(InputLimits.MaxApiBody);
        api.MapGet("/policies", (PolicyRegistry registry) => Results.Ok(registry.Entries.Select(PolicyView.From).ToArray()));
        api.MapGet("/rules", (PolicyRegistry registry) => Results.Ok(registry.Files.ToArray()));
        api.MapGet("/incidents", ListIncidents);
        api.MapGet("/incidents/{id:long}", GetIncident);
        api.MapPost("/policies/{name}/rollback", async (string name, ManualRollbackBody? body, HttpContext context, ManualRollbacks manual, TimeProvider time, CancellationToken ct) =>
        {
            var by = body?.By ?? context.Request.Headers["X-Sentinel-User"].ToString();
            if (string.IsNullOrWhiteSpace(body?.Reason))
            {
                return Results.Problem(title: "a reason is required", detail: "say why in 'reason': it is recorded with the rollback", statusCode: StatusCodes.Status400BadRequest);
            }

            if ((InputLimits.CheckName("name", name, InputLimits.MaxPolicyName) ?? InputLimits.CheckReason("reason", body.Reason) ?? InputLimits.CheckName("by", by)
                    ?? InputLimits.CheckLabels("labels", body.Labels) ?? InputLimits.CheckChannel("channel", body.Channel)) is { } problem)
            {
                return BadField(problem);
            }

            var labels = Core.Metrics.LabelSet.From(body.Labels ?? new Dictionary<string, string>());
            var channel = body.Channel ?? "api";
            var result = await manual.StartAsync(name, labels, string.IsNullOrWhiteSpace(by) ? "api" : by.Trim(), channel, body.Reason.Trim(), ct).ConfigureAwait(false);
            return result.Accepted
                ? Results.Accepted($"/api/v1/incidents/{result.Incident!.Id}", new AnswerView(true, result.Message, IncidentView.From(result.Incident, time.GetUtcNow())))
                : Results.Problem(title: "rollback not started", detail: result.Message, statusCode: result.Message.StartsWith("there is no policy", StringComparison.Ordinal) ? StatusCodes.Status404NotFound : StatusCodes.Status409Conflict);
        });

        foreach (var answer in Answers.All)
        {
            api.MapPost($"/incidents/{{id:long}}/{answer}", (long id, AnswerBody? body, HttpContext context, ConfirmationService confirmations, TimeProvider time, CancellationToken ct) =>
                AnswerAsync(id, answer, body, context, confirmations, time, ct));
        }

        api.MapChangeEndpoints();
        api.MapClusterEndpoints();

        api.MapGet("/incidents/{id}", (string id) => Results.Problem(
            title: "bad incident id", detail: $"'{InputLimits.Shorten(id)}' is not an incident id (a whole number)", statusCode: StatusCodes.Status400BadRequest));
    }

    /// <summary>The version of the rules that opened the incident, from its evidence; null when not recorded or unreadable.</summary>
    private static string? RulesVersionOf(Incident incident)
    {
        try
        {
            return incident.ReadEvidence().RulesVersion;
        }
        catch (InvalidDataException)
        {
            return null;
        }
    }

    /// <summary>A human-supplied field past its limit: 400 naming the field and the limit.</summary>
    private static IResult BadField(string problem) =>
        Results.Problem(title: "bad field", detail: problem, statusCode: StatusCodes.Status400BadRequest);

    /// <summary>
    /// A person's answer through the API (the CLI uses it too): who answered is the body's <c>by</c> or the
    /// <c>X-Sentinel-User</c> header, else "api". 200 when applied, 409 when the incident can no longer take it.
    /// </summary>
    private static async Task<IResult> AnswerAsync(long id, string answer, AnswerBody? body, HttpContext context, ConfirmationService confirmations, TimeProvider time, CancellationToken ct)
    {
        var by = body?.By ?? context.Request.Headers["X-Sentinel-User"].ToString();
        if ((InputLimits.CheckName("by", by) ?? InputLimits.CheckReason("reason", body?.Reason) ?? InputLimits.CheckChannel("channel", body?.Channel)) is { } problem)
        {
            return BadField(problem);
        }

        by = string.IsNullOrWhiteSpace(by) ? "api" : by.Trim();

        // Through the API only "api" or "cli" (the CLI says so): "slack" is for answers Slack signed.
        var channel = body?.Channel ?? "api";
        var result = await confirmations.AnswerAsync(id, answer, by, channel, body?.Reason, ct).ConfigureAwait(false);
        if (result.Incident is null)
        {
            return Results.Problem(title: "incident not found", detail: result.Message, statusCode: StatusCodes.Status404NotFound);
        }

        return result.Accepted
            ? Results.Ok(new AnswerView(true, result.Message, IncidentView.From(result.Incident, time.GetUtcNow())))
            : Results.Problem(title: "answer not applied", detail: result.Message, statusCode: StatusCodes.Status409Conflict);
    }

    private static async Task<IResult> ListIncidents(IIncidentStore store, TimeProvider time, string? state, int? limit, CancellationToken ct)
    {
        IncidentStatus? status = null;
        if (state is not null)
        {
            // One state by its name only: Enum.TryParse would also take "acting,acted" (their bits OR-ed: another state).
            if (Enum.GetNames<IncidentStatus>().FirstOrDefault(n => n.Equals(state, StringComparison.OrdinalIgnoreCase)) is not { } name
                || !Enum.TryParse<IncidentStatus>(name, out var parsed))
            {
                return Results.Problem(
                    title: "bad state",
                    detail: $"'{InputLimits.Shorten(state)}' is not an incident state; use one of {string.Join(", ", Enum.GetNames<IncidentStatus>().Select(n => n.ToLowerInvariant()))}",
                    statusCode: StatusCodes.Status400BadRequest);
            }

            status = parsed;
        }

        if (limit is < 1 or > 1000)
        {
            return Results.Problem(title: "bad limit", detail: "limit must be between 1 and 1000", statusCode: StatusCodes.Status400BadRequest);
        }

        var incidents = await store.ListIncidentsAsync(status, limit ?? 100, ct).ConfigureAwait(false);
        var now = time.GetUtcNow();
        return Results.Ok(incidents.Select(i => IncidentView.From(i, now)).ToArray());
    }

    private static async Task<IResult> GetIncident(long id, IIncidentStore store, TimeProvider time, CancellationToken ct)
    {
        var timeline = await store.GetIncidentAsync(id, ct).ConfigureAwait(false);
        return timeline is null
            ? Results.Problem(title: "incident not found", detail: $"there is no incident {id}", statusCode: StatusCodes.Status404NotFound)
            : Results.Ok(new IncidentTimelineView(
                IncidentView.From(timeline.Incident, time.GetUtcNow()) with { RulesVersion = RulesVersionOf(timeline.Incident) },
                ParseJson(timeline.Incident.EvidenceJson),
                timeline.Events.Select(e => new IncidentEventView(Rfc3339.Format(e.At), e.Kind, e.Message)).ToArray(),
                timeline.Actions.Select(a => new IncidentActionView(
                    a.Id,
                    a.Kind,
                    a.Target,
                    a.Status.ToString().ToLowerInvariant(),
                    Rfc3339.Format(a.CreatedAt),
                    a.StartedAt is { } s ? Rfc3339.Format(s) : null,
                    a.CompletedAt is { } c ? Rfc3339.Format(c) : null,
                    a.Outcome,
                    a.Plan is { } plan ? ParseJson(plan) : null,
                    a.Before,
                    a.After)).ToArray(),
                timeline.Acknowledgments.Select(k => new AcknowledgmentView(k.By, k.Channel, k.Answer, k.Reason, Rfc3339.Format(k.At))).ToArray()));
    }

    /// <summary>Stored JSON (evidence, an action's plan) as a value to write back out.</summary>
    private static System.Text.Json.JsonElement ParseJson(string json)
    {
        using var document = System.Text.Json.JsonDocument.Parse(json);
        return document.RootElement.Clone();
    }
}

/// <summary>The body of a manual rollback: the series labels the target needs, why (required), who, and through what.</summary>
internal sealed record ManualRollbackBody(Dictionary<string, string>? Labels, string? Reason, string? By, string? Channel);

/// <summary>The body of an answer: who gives it, why, and through what (cli, api).</summary>
internal sealed record AnswerBody(string? By, string? Reason, string? Channel);

/// <summary>A policy as the API shows it: its triggers, each series' phase, and the last evidence.</summary>
internal sealed record PolicyView(string Name, string File, string Schedule, bool DryRun, string Cooldown, string? LastEvaluatedAt, IReadOnlyList<TriggerView> Triggers)
{
    public static PolicyView From(PolicyEntry entry)
    {
        var policy = entry.Policy;
        var last = entry.Runner.Last;
        return new PolicyView(
            policy.Name,
            entry.File,
            policy.Schedule.ToString()!,
            policy.DryRun,
            PromDuration.Format(policy.Cooldown),
            last is null ? null : Rfc3339.Format(last.At),
            policy.Triggers.Select(t =>
            {
                var verdicts = last?.Triggers.FirstOrDefault(v => v.Trigger.Name == t.Name)?.Verdicts ?? [];
                var states = entry.Runner.State.Series.Where(s => s.Key.Trigger == t.Name).ToDictionary(s => s.Key.Labels, s => s.Value);
                var labels = verdicts.Select(v => v.Labels).Concat(states.Keys).Distinct().ToList();
                return new TriggerView(
                    t.Name,
                    t.Condition.Kind,
                    t.Action.ToString().ToLowerInvariant(),
                    PromDuration.Format(t.For),
                    labels.Select(l =>
                    {
                        var s = states.GetValueOrDefault(l);
                        var v = verdicts.FirstOrDefault(x => x.Labels.Equals(l));
                        return new SeriesView(
                            l.ToDictionary(),
                            (s?.Phase ?? Core.State.TriggerPhase.Ok).ToString().ToLowerInvariant(),
                            s?.BreachingSince is { } since ? Rfc3339.Format(since) : null,
                            v is null ? null : new VerdictView(v.Kind.ToString().ToLowerInvariant(), v.Reason.ToString(), Finite(v.Value), Finite(v.Threshold), Finite(v.Baseline), v.Summary,
                                v.Queries.Select(q => new QueryView(q.Role, q.Query, q.EvaluatedAt, Finite(q.Value))).ToArray()));
                    }).ToArray())
                {
                    Condition = ConditionView.From(t.Condition),
                    NoData = t.NoData.ToString().ToLowerInvariant(),
                    InconclusiveLimit = t.InconclusiveLimit,
                };
            }).ToArray())
        {
            Labels = policy.Labels.ToDictionary(StringComparer.Ordinal),
            Target = TargetView.From(policy.Target),
            Confirm = ConfirmView.From(policy.Confirm),
            Notify = NotifyView.From(policy.Notify),
            Watch = new WatchView(
                PromDuration.Format(policy.Watch.For),
                policy.Watch.Outside.ToString().ToLowerInvariant(),
                new DetectView(policy.Watch.Detect.ReadsTarget(policy.Target), PromDuration.Format(policy.Watch.Detect.Interval), policy.Watch.Detect.Query)),
            Gate = new GateSettingsView(policy.Gate.MinPasses),
        };
    }

    /// <summary><c>metadata.labels</c>.</summary>
    public required IReadOnlyDictionary<string, string> Labels { get; init; }

    /// <summary><c>spec.target</c>: the adapter's name -> its settings (a webhook's URL redacted).</summary>
    public required IReadOnlyDictionary<string, object> Target { get; init; }

    /// <summary><c>spec.confirm</c> with its defaults filled in, or null.</summary>
    public required ConfirmView? Confirm { get; init; }

    /// <summary><c>spec.notify</c>: null channels are the daemon's defaults.</summary>
    public required NotifyView Notify { get; init; }

    /// <summary><c>spec.watch</c> with its defaults filled in.</summary>
    public required WatchView Watch { get; init; }

    /// <summary><c>spec.gate</c> with its defaults filled in.</summary>
    public required GateSettingsView Gate { get; init; }

    private static double? Finite(double? v) => v is { } x && double.IsFinite(x) ? x : null;
}

internal sealed record WatchView(string For, string Outside, DetectView Detect);

internal sealed record DetectView(bool Target, string Interval, string? Query);

internal sealed record GateSettingsView(int MinPasses);

internal sealed record TriggerView(string Name, string Kind, string Action, string For, IReadOnlyList<SeriesView> Series)
{
    /// <summary>The fields of the trigger's <see cref="Kind"/> block, named as in YAML.</summary>
    public required object Condition { get; init; }

    public required string NoData { get; init; }

    public required int InconclusiveLimit { get; init; }
}

internal sealed record SeriesView(IReadOnlyDictionary<string, string> Labels, string Phase, string? BreachingSince, VerdictView? LastVerdict);

internal sealed record VerdictView(string Kind, string Reason, double? Value, double? Threshold, double? Baseline, string Summary, IReadOnlyList<QueryView> Queries);

internal sealed record QueryView(string Role, string Query, string At, double? Value);

/// <summary>
/// An incident as the API lists it, with the change it blames: <c>change</c> (null when none is known),
/// <c>changeSummary</c> ("since v42, deployed 4m ago by ci", or "no change known"), and whether a rollback trigger was
/// disarmed (it fired outside every watch window and took <c>action</c> instead) and why.
/// </summary>
internal sealed record IncidentView(long Id, string Policy, string Trigger, IReadOnlyDictionary<string, string> Labels, string Action, bool DryRun, string State, string OpenedAt, string UpdatedAt, string? ResolvedAt, string Summary)
{
    /// <summary>The <c>changeSummary</c> of an incident that blames no change.</summary>
    public const string NoChangeKnown = "no change known";

    public static IncidentView From(Incident i, DateTimeOffset now) => new(
        i.Id, i.Policy, i.Trigger, i.Labels.ToDictionary(), i.Action.ToString().ToLowerInvariant(), i.DryRun, i.Status.ToString().ToLowerInvariant(),
        Rfc3339.Format(i.OpenedAt), Rfc3339.Format(i.UpdatedAt), i.ResolvedAt is { } r ? Rfc3339.Format(r) : null, i.Summary)
    {
        AnswerDeadline = i.AnswerDeadline is { } d ? Rfc3339.Format(d) : null,
        TimedOutAt = i.TimedOutAt is { } t ? Rfc3339.Format(t) : null,
        Change = ChangeView.FromOrNull(i.BlamedChange),
        ChangeSummary = i.BlamedChange?.Describe(now) ?? NoChangeKnown,
        Disarmed = i.DisarmedReason is not null,
        DisarmedReason = i.DisarmedReason,
    };

    public string? AnswerDeadline { get; init; }

    public string? TimedOutAt { get; init; }

    public ChangeView? Change { get; init; }

    public string ChangeSummary { get; init; } = NoChangeKnown;

    public bool Disarmed { get; init; }

    public string? DisarmedReason { get; init; }

    /// <summary>
    /// The version of the rules the deciding node had (<c>rulesVersion</c> of the evidence), shown by the one-incident view
    /// (<c>GET /api/v1/incidents/{id}</c>) when recorded; left out of lists.
    /// </summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public string? RulesVersion { get; init; }
}
