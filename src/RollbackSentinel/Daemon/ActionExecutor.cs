using RollbackSentinel.Actions;
using RollbackSentinel.Core.Incidents;
using RollbackSentinel.Core.Policies;
using RollbackSentinel.Core.State;
using RollbackSentinel.Telemetry;

namespace RollbackSentinel.Daemon;

/// <summary>
/// Runs the action of an opened incident exactly once. A rollback is first planned (reads only: which
/// revision or weights to return to) and the plan stored with the action; the first stored plan is the one
/// every later attempt uses. Then the action is marked started in the store just before it runs (a crash from
/// here on leaves it "interrupted", never re-run by itself) and completed after, with the state before and
/// after. Dry-run rollbacks are planned too, and what they would have done is recorded. A rollback that fails
/// is paged to humans and not retried.
/// </summary>
internal sealed partial class ActionExecutor(
    IncidentService incidents,
    IEnumerable<IRollbackAction> adapters,
    IEnumerable<Notifications.IIncidentChannel> channels,
    Rules.SecretFileAccess secretFiles,
    IHumanPager pager,
    TargetChanges targetChanges,
    SentinelMetrics metrics,
    TimeProvider time,
    IHostApplicationLifetime lifetime,
    ILogger<ActionExecutor> logger)
{
    /// <summary>How long an action may run at least; a rollback that waits on a rollout gets its wait plus <see cref="ActionMargin"/>.</summary>
    public static readonly TimeSpan ActionTimeout = TimeSpan.FromMinutes(10);

    /// <summary>What a rollback needs on top of its rollout wait: reading history, planning, verifying.</summary>
    public static readonly TimeSpan ActionMargin = TimeSpan.FromMinutes(5);

    /// <summary>The budget of one action: never shorter than the rollout wait its target asks for, plus a margin.</summary>
    public static TimeSpan BudgetFor(Target target)
    {
        ArgumentNullException.ThrowIfNull(target);
        var wait = target switch
        {
            KubectlTarget k => k.Timeout,
            HelmTarget h => h.Timeout,
            _ => null,
        };
        return wait is { } w && w + ActionMargin > ActionTimeout ? w + ActionMargin : ActionTimeout;
    }

    private readonly Dictionary<string, IRollbackAction> _adapters = adapters.ToDictionary(a => a.Kind, StringComparer.Ordinal);

    private readonly IReadOnlyList<string> _channels = [.. channels.Select(c => c.Name)];

    /// <summary>Runs the action of an incident a decision just opened: the decision's evidence goes to the adapter.</summary>
    public Task ExecuteAsync(Policy policy, OpenedIncident opened, Decision decision, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(opened);
        ArgumentNullException.ThrowIfNull(decision);
        var cause = new Cause(decision.Action, decision.At, RollbackEvidence.Of(decision, opened.Incident), opened.Incident.BlamedChange ?? decision.Blamed);
        return ExecuteAsync(policy, opened, cause, cancellationToken);
    }

    /// <summary>
    /// Runs an action recorded earlier (<see cref="PendingActions"/>): what the incident stored is all there is. A rollback
    /// action runs the rollback also when the incident paged (a person approved it, or the confirmation timed out into it).
    /// </summary>
    public Task ExecuteRecordedAsync(Policy policy, OpenedIncident opened, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(opened);
        var incident = opened.Incident;
        var action = opened.Action.Kind == "rollback" ? TriggerAction.Rollback : incident.Action;
        return ExecuteAsync(policy, opened, new Cause(action, incident.OpenedAt, RollbackEvidence.Of(incident), incident.BlamedChange), cancellationToken);
    }

    private async Task ExecuteAsync(Policy policy, OpenedIncident opened, Cause decision, CancellationToken cancellationToken)
    {
        var action = opened.Action;
        if (action.Status == ActionStatus.Skipped && opened.Incident.DryRun && decision.Action == TriggerAction.Rollback && action.Plan is null)
        {
            await DryRunAsync(policy, opened, decision, cancellationToken).ConfigureAwait(false);
            return;
        }

        if (action.Status != ActionStatus.Pending)
        {
            return; // already handled
        }

        // A started action is let finish when the daemon stops, up to its own timeout: cancelling a rollback
        // half-way leaves a worse state than letting it complete.
        var budget = BudgetFor(policy.Target);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(lifetime.ApplicationStopped);
        timeout.CancelAfter(budget);

        IRollbackAction? adapter = null;
        ActionPlan? plan = null;
        string? refusal = null;
        if (decision.Action == TriggerAction.Rollback)
        {
            if (!_adapters.TryGetValue(policy.Target.Kind, out adapter))
            {
                refusal = $"no '{policy.Target.Kind}' rollback adapter is available in this build";
            }
            else if (SecretFileProblem(policy.Target) is { } problem)
            {
                // Checked when the rules were loaded; checked again now, as the file may have been swapped since.
                refusal = $"refused: {problem}";
            }
            else
            {
                (plan, refusal) = await PlanOnceAsync(adapter, Request(policy, opened, decision), action, budget, timeout.Token).ConfigureAwait(false);
            }
        }

        // Leased to this sentinel for the action's budget: another sharing the store leaves it alone meanwhile.
        if (!await incidents.MarkActionStartedAsync(action.Id, time.GetUtcNow(), budget, cancellationToken).ConfigureAwait(false))
        {
            return; // someone else started it
        }

        // Held from before the rollback until its revision is recorded as the sentinel's: the change detector never
        // sees the rolled-back revision first (it would be someone else's change, and re-arm the watch window).
        using var hold = adapter is null || refusal is not null ? null : await targetChanges.HoldAsync(policy, opened.Incident.Labels, cancellationToken).ConfigureAwait(false);
        ActionResult result;
        var status = ActionStatus.Failed;
        try
        {
            result = refusal is not null ? ActionResult.Failure(refusal)
                : adapter is null ? Notified(decision)
                : await adapter.ExecuteAsync(Request(policy, opened, decision), plan!, dryRun: false, timeout.Token).ConfigureAwait(false);
            status = result.Succeeded ? ActionStatus.Succeeded : ActionStatus.Failed;
        }
        catch (OperationCanceledException)
        {
            result = ActionResult.Failure(lifetime.ApplicationStopped.IsCancellationRequested
                ? "the daemon stopped while the action ran (past its shutdownTimeout); its effect is unknown"
                : $"the action did not finish within {PromDuration.Format(budget)}; its effect is unknown");
            status = ActionStatus.Interrupted;
        }
        catch (ActionFailedException e)
        {
            result = ActionResult.Failure(e.Message);
        }
        catch (Exception e)
        {
            result = ActionResult.Failure($"the adapter failed: {e.GetType().Name}: {e.Message}");
        }

        await incidents.CompleteActionAsync(
            action.Id,
            new ActionCompletion(status, result.Outcome) { Before = result.Before ?? plan?.Before, After = result.After },
            time.GetUtcNow(),
            CancellationToken.None).ConfigureAwait(false);
        metrics.RecordAction(policy.Name, action.Kind, status);
        // What the target runs after the sentinel acted on it is the sentinel's, also when the action failed or was cut
        // short: a half-done undo (applied, then its rollout timed out) must not come back as someone's change and arm.
        if (adapter is not null && refusal is null
            && (status != ActionStatus.Succeeded || result.Effect is ActionEffect.Changed or ActionEffect.Unchanged))
        {
            await targetChanges.RecordRollbackAsync(policy, opened.Incident, result, plan, CancellationToken.None).ConfigureAwait(false);
        }

        if (status == ActionStatus.Succeeded)
        {
            LogActed(action.Kind, policy.Name, decision.Trigger, opened.Incident.Id, result.Outcome, result.Before ?? plan?.Before, result.After);
            return;
        }

        LogActionFailed(action.Kind, policy.Name, decision.Trigger, opened.Incident.Id, status, result.Outcome);
        var what = action.Kind == "rollback" ? $"rollback of {action.Target}" : $"{action.Kind} about {action.Target}";
        await pager.PageAsync(opened.Incident, $"{what} {(status == ActionStatus.Interrupted ? "was interrupted" : "failed")}: {result.Outcome}", CancellationToken.None).ConfigureAwait(false);
    }

    /// <summary>
    /// The stored plan, or a new one stored now: of two sentinels sharing a store, or a retry after a crash,
    /// the first plan wins and both act toward it. A plan that cannot be made is the action's failure reason.
    /// </summary>
    private async Task<(ActionPlan? Plan, string? Refusal)> PlanOnceAsync(IRollbackAction adapter, RollbackRequest request, ActionRecord action, TimeSpan budget, CancellationToken cancellationToken)
    {
        try
        {
            if (action.Plan is null)
            {
                var fresh = await adapter.PlanAsync(request, cancellationToken).ConfigureAwait(false);
                var stored = await incidents.SavePlanAsync(action.Id, fresh.ToJson(), CancellationToken.None).ConfigureAwait(false);
                action = action with { Plan = stored };
                LogPlanned(request.Policy, request.IncidentId, fresh.Summary);
            }

            return (ActionPlan.FromJson(action.Plan), null);
        }
        catch (ActionFailedException e)
        {
            return (null, $"could not decide what to roll back to: {e.Message}");
        }
        catch (System.Text.Json.JsonException e)
        {
            return (null, $"the stored plan cannot be read: {e.Message}");
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested || lifetime.ApplicationStopped.IsCancellationRequested)
        {
            throw;
        }
        catch (OperationCanceledException)
        {
            return (null, $"planning did not finish within {PromDuration.Format(budget)}");
        }
        catch (Exception e)
        {
            // A bug or an unexpected answer: a refusal with the reason (recorded and paged), never an action left
            // pending to be re-planned until it is too old.
            return (null, $"could not decide what to roll back to: the adapter failed: {e.GetType().Name}: {e.Message}");
        }
    }

    /// <summary>Dry-run: plans (reads only) and records what the rollback would have done, once.</summary>
    private async Task DryRunAsync(Policy policy, OpenedIncident opened, Cause decision, CancellationToken cancellationToken)
    {
        if (!_adapters.TryGetValue(policy.Target.Kind, out var adapter))
        {
            return;
        }

        var request = Request(policy, opened, decision);
        ActionPlan plan;
        ActionResult result;
        try
        {
            plan = await adapter.PlanAsync(request, cancellationToken).ConfigureAwait(false);
            result = await adapter.ExecuteAsync(request, plan, dryRun: true, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            var reason = e is ActionFailedException ? e.Message : $"the adapter failed: {e.GetType().Name}: {e.Message}";
            plan = new ActionPlan("nothing: the rollback could not be planned");
            result = ActionResult.Failure($"dry-run: a rollback would fail: {reason}");
        }

        if (await incidents.RecordDryRunAsync(opened.Action.Id, plan.ToJson(), result.Outcome, wouldFail: !result.Succeeded, time.GetUtcNow(), cancellationToken).ConfigureAwait(false))
        {
            if (result.Succeeded)
            {
                LogDryRun(policy.Name, decision.Trigger, opened.Incident.Id, result.Outcome);
            }
            else
            {
                LogDryRunWouldFail(policy.Name, decision.Trigger, opened.Incident.Id, result.Outcome);
            }
        }
    }

    /// <summary>What the adapter is given: the policy's target rendered for the incident's series, and why.</summary>
    internal static RollbackRequest Request(Policy policy, OpenedIncident opened, Cause decision) =>
        RollbackRequest.For(policy, opened.Incident.Labels, opened.Action.IdempotencyKey, decision.At, decision.Evidence) with
        {
            IncidentId = opened.Incident.Id,
            BlamedChange = decision.Blamed,
        };

    /// <summary>
    /// A page or notify is delivered by the <see cref="NotificationDispatcher"/> to every configured channel (and
    /// retried there until each has it). With no channel at all, a page reaches nobody: that is a failure (paged in
    /// the log, event 310), not "acted"; a notify is logged only, and says so.
    /// </summary>
    private ActionResult Notified(Cause decision)
    {
        if (_channels.Count > 0)
        {
            var channels = string.Join(", ", _channels);
            return ActionResult.Changed(
                decision.Action == TriggerAction.Page ? $"page sent to {channels} (each channel is retried until it has it)" : $"notification sent to {channels}",
                null,
                null);
        }

        return decision.Action == TriggerAction.Page
            ? ActionResult.Failure("nobody was paged: no paging channel is configured (notifications: slack, pagerDuty or alertmanager); only the log has it")
            : ActionResult.Changed("logged only: no notification channel is configured (notifications: slack, pagerDuty or alertmanager)", null, null);
    }

    /// <summary>What an action answers: the action taken, when it was decided, the evidence, and the blamed change.</summary>
    internal sealed record Cause(TriggerAction Action, DateTimeOffset At, RollbackEvidence Evidence, Core.Changes.Change? Blamed)
    {
        public string Trigger => Evidence.Trigger;
    }

    /// <summary>Why a secret file the target names may not be used now, or null.</summary>
    private string? SecretFileProblem(Target target) => target switch
    {
        KubectlTarget { Kubeconfig: { } kubeconfig } => secretFiles.Problem(kubeconfig),
        WebhookTarget { SecretFile: { } file } => secretFiles.Problem(file),
        _ => null,
    };

    [LoggerMessage(EventId = 300, Level = LogLevel.Warning, Message = "Action {Kind} for {Policy}/{Trigger} (incident {Incident}) done: {Outcome} (before: {Before}; after: {After})")]
    private partial void LogActed(string kind, string policy, string trigger, long incident, string outcome, string? before, string? after);

    [LoggerMessage(EventId = 301, Level = LogLevel.Error, Message = "Action {Kind} for {Policy}/{Trigger} (incident {Incident}) {Status}: {Outcome}")]
    private partial void LogActionFailed(string kind, string policy, string trigger, long incident, ActionStatus status, string outcome);

    [LoggerMessage(EventId = 302, Level = LogLevel.Information, Message = "Rollback of {Policy} (incident {Incident}) planned: {Plan}")]
    private partial void LogPlanned(string policy, long incident, string plan);

    [LoggerMessage(EventId = 303, Level = LogLevel.Warning, Message = "Dry-run of {Policy}/{Trigger} (incident {Incident}): {Outcome}")]
    private partial void LogDryRun(string policy, string trigger, long incident, string outcome);

    [LoggerMessage(EventId = 308, Level = LogLevel.Warning, Message = "Dry-run of {Policy}/{Trigger} (incident {Incident}) shows the rollback would fail: {Outcome}")]
    private partial void LogDryRunWouldFail(string policy, string trigger, long incident, string outcome);
}
