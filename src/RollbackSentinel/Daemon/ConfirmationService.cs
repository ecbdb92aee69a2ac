using RollbackSentinel.Core.Incidents;
using RollbackSentinel.Core.Policies;

namespace RollbackSentinel.Daemon;

/// <summary>
/// People's answers to incidents awaiting confirmation, from every channel (Slack, the API, the CLI), and the
/// deadline when nobody answers. An approved rollback is run by <see cref="PendingActions"/> at once, through the
/// target's adapter; a denial holds the target back for the cooldown; every answer is recorded with who, when and
/// through what, and a late or second answer is refused with a sentence saying why.
/// </summary>
internal sealed partial class ConfirmationService(
    IIncidentStore store,
    IncidentService incidents,
    PolicyRegistry registry,
    PendingActions pendingActions,
    NotificationDispatcher notifications,
    TimeProvider time,
    ILogger<ConfirmationService> logger) : BackgroundService
{
    public static readonly TimeSpan CheckEvery = TimeSpan.FromSeconds(5);

    private readonly Wakeup _wakeup = new(CheckEvery, time);

    /// <summary>Applies an answer (<see cref="Answers"/>) given by <paramref name="by"/> through <paramref name="channel"/>.</summary>
    public async Task<AnswerResult> AnswerAsync(long incidentId, string answer, string by, string channel, string? reason, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var result = await incidents.AnswerAsync(
            new Acknowledgment(incidentId, by, channel, answer, now) { Reason = string.IsNullOrWhiteSpace(reason) ? null : reason.Trim() },
            answer == Answers.Snooze ? now + ConfirmSettings.SnoozeFor : null,
            cancellationToken).ConfigureAwait(false);
        if (!result.Accepted)
        {
            LogRefused(incidentId, answer, by, channel, result.Message);
            return result;
        }

        LogAnswered(incidentId, answer, by, channel, result.Message);
        if (result.ActionToRun is not null)
        {
            pendingActions.Poke();
        }

        notifications.Poke();
        return result;
    }

    public override void Dispose()
    {
        _wakeup.Dispose();
        base.Dispose();
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await _wakeup.RunAsync(TimeOutOverdueAsync, LogCheckFailed, stoppingToken).ConfigureAwait(false);
    }

    /// <summary>Applies each overdue incident's <c>onTimeout</c>: rollback (silence is consent), hold, or escalate.</summary>
    public async Task TimeOutOverdueAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        foreach (var incident in await store.ListOverdueAsync(now, cancellationToken).ConfigureAwait(false))
        {
            // A policy no longer loaded cannot say: hold, the safe default. Silence is consent only while the question
            // still stands: the trigger unchanged and its series still firing (an edited or retired trigger never
            // resolves its old incident, and must not roll back by default).
            var entry = registry.Find(incident.Policy);
            var onTimeout = entry?.Policy.Confirm?.OnTimeout ?? OnTimeout.Hold;
            var stillFiring = entry is not null
                && entry.Policy.Triggers.Any(t => t.Name == incident.Trigger)
                && entry.Runner.State.Series.TryGetValue(new Core.State.SeriesKey(incident.Trigger, incident.Labels), out var series)
                && series.Phase == Core.State.TriggerPhase.Firing;

            // A rollback trigger disarmed by its watch window (no change explains the breach) only asks: a person may still
            // roll back, silence never does, whatever onTimeout says.
            if (onTimeout == OnTimeout.Rollback && incident.DisarmedReason is not null)
            {
                onTimeout = OnTimeout.Hold;
            }

            var result = await incidents.TimeOutAsync(incident.Id, approve: onTimeout == OnTimeout.Rollback && stillFiring, now, cancellationToken).ConfigureAwait(false);
            if (!result.Accepted)
            {
                continue;
            }

            LogTimedOut(incident.Policy, incident.Id, onTimeout);
            if (result.ActionToRun is not null)
            {
                pendingActions.Poke();
            }

            notifications.Poke();
        }
    }

    [LoggerMessage(EventId = 504, Level = LogLevel.Warning, Message = "Incident {Incident}: {Answer} by {By} via {Channel}: {Message}")]
    private partial void LogAnswered(long incident, string answer, string by, string channel, string message);

    [LoggerMessage(EventId = 505, Level = LogLevel.Information, Message = "Incident {Incident}: {Answer} by {By} via {Channel} refused: {Message}")]
    private partial void LogRefused(long incident, string answer, string by, string channel, string message);

    [LoggerMessage(EventId = 502, Level = LogLevel.Warning, Message = "Incident {Incident} of {Policy}: nobody answered in time; onTimeout: {OnTimeout}")]
    private partial void LogTimedOut(string policy, long incident, OnTimeout onTimeout);

    [LoggerMessage(EventId = 503, Level = LogLevel.Error, Message = "Checking confirmation deadlines failed; the next check tries again")]
    private partial void LogCheckFailed(Exception exception);
}
