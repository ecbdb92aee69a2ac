using RollbackSentinel.Core.Evaluation;
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
    public static readonly TimeSpan MaxAge = TimeSpan.FromMinutes(15);

    public static readonly TimeSpan SweepEvery = TimeSpan.FromSeconds(30);

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

            // Another rollback of the same target started after this incident opened (a trigger's, an approved one,
            // a manual one): this one answered the same situation; running it too would roll back twice.
            // An action recorded before an upgrade names its target as older versions did: it is the same target.
            var current = entry is null ? null : TargetIdentity.For(entry.Policy, incident.Labels);
            var target = current is not null && action.Target == TargetIdentity.Legacy(entry!.Policy.Target, incident.Labels) ? current : action.Target;
            var other = action.Kind == "rollback" ? await store.FindRollbackSinceAsync(target, incident.OpenedAt, action.Id, cancellationToken).ConfigureAwait(false) : null;
            var refusal = other is not null ? $"{target} was already rolled back at {Rfc3339.Format(other.StartedAt!.Value)} (incident {other.IncidentId}), after this incident opened"
                : entry is null ? $"policy '{incident.Policy}' is no longer loaded"
                : entry.Policy.DryRun ? "the policy is now in dry-run"
                : current != target ? $"the policy's target changed since (now {current})"
                : now - action.CreatedAt > MaxAge ? $"recorded {PromDuration.Format(now - action.CreatedAt)} ago, too old to act on"
                : null;
            if (refusal is not null)
            {
                if (await incidents.MarkActionStartedAsync(action.Id, now, ActionExecutor.ActionTimeout, cancellationToken).ConfigureAwait(false))
                {
                    await incidents.CompleteActionAsync(action.Id, ActionStatus.Failed, "not run: " + refusal, now, cancellationToken).ConfigureAwait(false);
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
