using RollbackSentinel.Actions;
using RollbackSentinel.Core.Incidents;
using RollbackSentinel.Core.Policies;
using RollbackSentinel.Core.State;
using RollbackSentinel.Telemetry;

namespace RollbackSentinel.Daemon;

/// <summary>
/// Runs the action of an opened incident exactly once: marked started in the store just before it runs
/// (a crash from here on leaves it "interrupted", never re-run by itself), completed with its outcome after.
/// </summary>
internal sealed partial class ActionExecutor(
    IIncidentStore store,
    IEnumerable<IRollbackAction> adapters,
    SentinelMetrics metrics,
    TimeProvider time,
    IHostApplicationLifetime lifetime,
    ILogger<ActionExecutor> logger)
{
    /// <summary>How long an action may run; a rollback that waits on a rollout can take minutes.</summary>
    public static readonly TimeSpan ActionTimeout = TimeSpan.FromMinutes(10);

    private readonly Dictionary<string, IRollbackAction> _adapters = adapters.ToDictionary(a => a.Kind, StringComparer.Ordinal);

    public async Task ExecuteAsync(Policy policy, OpenedIncident opened, Decision decision, CancellationToken cancellationToken)
    {
        var action = opened.Action;
        if (action.Status != ActionStatus.Pending)
        {
            return; // dry-run (skipped) or already handled
        }

        if (!await store.MarkActionStartedAsync(action.Id, time.GetUtcNow(), cancellationToken).ConfigureAwait(false))
        {
            return; // someone else started it
        }

        ActionResult result;
        var status = ActionStatus.Failed;

        // A started action is let finish when the daemon stops, up to its own timeout: cancelling a rollback
        // half-way leaves a worse state than letting it complete.
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(lifetime.ApplicationStopped);
        timeout.CancelAfter(ActionTimeout);
        try
        {
            result = await RunAsync(policy, opened, decision, timeout.Token).ConfigureAwait(false);
            status = result.Succeeded ? ActionStatus.Succeeded : ActionStatus.Failed;
        }
        catch (OperationCanceledException)
        {
            result = ActionResult.Failure($"the action did not finish within {ActionTimeout.TotalMinutes:0} minutes or the daemon stopped; its effect is unknown");
            status = ActionStatus.Interrupted;
        }
        catch (Exception e)
        {
            result = ActionResult.Failure($"the adapter failed: {e.GetType().Name}: {e.Message}");
        }

        await store.CompleteActionAsync(action.Id, status, result.Outcome, time.GetUtcNow(), CancellationToken.None).ConfigureAwait(false);
        metrics.RecordAction(policy.Name, action.Kind, status);
        if (status == ActionStatus.Succeeded)
        {
            LogActed(action.Kind, policy.Name, decision.Trigger, opened.Incident.Id, result.Outcome);
        }
        else
        {
            LogActionFailed(action.Kind, policy.Name, decision.Trigger, opened.Incident.Id, status, result.Outcome);
        }
    }

    private Task<ActionResult> RunAsync(Policy policy, OpenedIncident opened, Decision decision, CancellationToken cancellationToken)
    {
        var request = new ActionRequest(policy, opened.Incident, decision, opened.Action.IdempotencyKey);
        if (decision.Action != TriggerAction.Rollback)
        {
            // Paging humans (Slack, PagerDuty, Alertmanager) comes with its own issue; until then the log and
            // the incident record are the notification.
            return Task.FromResult(ActionResult.Changed($"{decision.Action.ToString().ToLowerInvariant()} recorded and logged; no pager is configured", null, null));
        }

        return _adapters.TryGetValue(policy.Target.Kind, out var adapter)
            ? PlanAndExecuteAsync(adapter, request, cancellationToken)
            : Task.FromResult(ActionResult.Failure($"no '{policy.Target.Kind}' rollback adapter is available in this build"));
    }

    private static async Task<ActionResult> PlanAndExecuteAsync(IRollbackAction adapter, ActionRequest request, CancellationToken cancellationToken) =>
        await adapter.ExecuteAsync(request, await adapter.PlanAsync(request, cancellationToken).ConfigureAwait(false), dryRun: false, cancellationToken).ConfigureAwait(false);

    [LoggerMessage(EventId = 300, Level = LogLevel.Warning, Message = "Action {Kind} for {Policy}/{Trigger} (incident {Incident}) done: {Outcome}")]
    private partial void LogActed(string kind, string policy, string trigger, long incident, string outcome);

    [LoggerMessage(EventId = 301, Level = LogLevel.Error, Message = "Action {Kind} for {Policy}/{Trigger} (incident {Incident}) {Status}: {Outcome}")]
    private partial void LogActionFailed(string kind, string policy, string trigger, long incident, ActionStatus status, string outcome);
}
