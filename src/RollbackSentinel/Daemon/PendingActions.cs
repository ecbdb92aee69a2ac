using RollbackSentinel.Core.Incidents;
using RollbackSentinel.Core.Policies;

namespace RollbackSentinel.Daemon;

/// <summary>
/// Runs actions that were recorded but never started: after a crash between the commit and the start, or
/// when starting failed (the store was busy). Each is checked first: an action is only run if it is still
/// what the policy would do now (same target, not dry-run) and recent enough to matter; otherwise it is
/// closed as failed with the reason, for a human to look at.
/// </summary>
internal sealed partial class PendingActions(
    IIncidentStore store,
    IncidentService incidents,
    PolicyRegistry registry,
    ActionExecutor actions,
    IHumanPager pager,
    TimeProvider time,
    ILogger<PendingActions> logger) : BackgroundService
{
    /// <summary>A recorded action older than this is not run any more: the situation it answered has moved on.</summary>
    public static readonly TimeSpan MaxAge = IncidentLifecycle.RecordedActionMaxAge;

    public static readonly TimeSpan SweepEvery = TimeSpan.FromSeconds(30);

    /// <summary>
    /// On a store several sentinels share, a pending action younger than this is left alone: the node that recorded it
    /// starts it within moments, and a sweep racing it would only be refused (or, with other rules mid-rollout, refuse it).
    /// </summary>
    public static readonly TimeSpan SharedStoreGrace = TimeSpan.FromMinutes(1);

    private readonly Wakeup _wakeup = new(SweepEvery, time);

    /// <summary>Sweeps now rather than at the next tick (an approved rollback is waiting).</summary>
    public void Poke() => _wakeup.Poke();

    public override void Dispose()
    {
        _wakeup.Dispose();
        base.Dispose();
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // Runs once the HTTP server is up (probes answer while an action runs), then periodically.
        await _wakeup.RunAsync(SweepAsync, LogSweepFailed, stoppingToken).ConfigureAwait(false);
    }

    public async Task SweepAsync(CancellationToken cancellationToken)
    {
        foreach (var action in await store.ListPendingActionsAsync(cancellationToken).ConfigureAwait(false))
        {
            if (await store.GetIncidentAsync(action.IncidentId, cancellationToken).ConfigureAwait(false) is not { } timeline)
            {
                continue;
            }

            var incident = timeline.Incident;
            var entry = registry.Find(incident.Policy);
            var now = time.GetUtcNow();
            if (!store.ExclusiveToOneProcess
                && (now - action.CreatedAt < SharedStoreGrace || (entry is null && now - action.CreatedAt < MaxAge)))
            {
                // Shared store: just recorded by another node (it is starting it), or a policy this node's rules do not
                // have (nodes mid-rollout): left to the node that has it, until it is too old to run for anyone.
                continue;
            }

            // An action recorded before an upgrade names its target as older versions did: it is the same target.
            var current = entry is null ? null : TargetIdentity.For(entry.Policy, incident.Labels);
            var target = current is not null && action.Target == TargetIdentity.Legacy(entry!.Policy.Target, incident.Labels) ? current : action.Target;
            var refusal = IncidentLifecycle.WhyNotRunRecorded(
                new RecordedActionFacts
                {
                    Action = action,
                    Policy = incident.Policy,
                    PolicyLoaded = entry is not null,
                    DryRun = entry?.Policy.DryRun ?? false,
                    Target = target,
                    CurrentTarget = current,
                    RolledBackSince = action.Kind == "rollback" ? await store.FindRollbackSinceAsync(target, incident.OpenedAt, action.Id, cancellationToken).ConfigureAwait(false) : null,
                },
                now);
            if (refusal is not null)
            {
                if (await incidents.RefuseRecordedActionAsync(action.Id, refusal, now, cancellationToken).ConfigureAwait(false))
                {
                    LogNotRun(action.Kind, incident.Id, refusal);
                    await pager.PageAsync(incident, $"{action.Kind} of {action.Target} was recorded but not run: {refusal}", cancellationToken).ConfigureAwait(false);
                }

                continue;
            }

            LogRunning(action.Kind, incident.Id);
            if (action.Kind == "rollback")
            {
                // Like a trigger's rollback, this one starts the target's cooldown: the policy's own triggers do not
                // roll it back again right after.
                entry!.QueueHoldBack(target, now);
            }

            await actions.ExecuteRecordedAsync(entry!.Policy, new OpenedIncident(incident, action), cancellationToken).ConfigureAwait(false);
        }
    }

    [LoggerMessage(EventId = 401, Level = LogLevel.Warning, Message = "Running the {Kind} action of incident {Incident}, recorded earlier but never started")]
    private partial void LogRunning(string kind, long incident);

    [LoggerMessage(EventId = 402, Level = LogLevel.Error, Message = "The recorded {Kind} action of incident {Incident} was not run: {Reason}")]
    private partial void LogNotRun(string kind, long incident, string reason);

    [LoggerMessage(EventId = 403, Level = LogLevel.Error, Message = "Sweeping recorded actions failed; the next sweep tries again")]
    private partial void LogSweepFailed(Exception exception);
}
