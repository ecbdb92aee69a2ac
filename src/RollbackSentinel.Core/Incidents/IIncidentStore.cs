using RollbackSentinel.Core.Evaluation;
using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Core.State;

namespace RollbackSentinel.Core.Incidents;

/// <summary>One verdict as kept in the bounded evaluation history.</summary>
public sealed record EvaluationRow(string Trigger, LabelSet Labels, VerdictKind Kind, VerdictReason Reason, double? Value, double? Threshold, double? Baseline, string Summary);

/// <summary>
/// Everything one evaluation of one policy changes, written in one transaction: the new trigger state, the
/// verdicts (history), and the incidents its decisions open or resolve, each opening incident with its
/// action recorded before it runs.
/// </summary>
/// <param name="ConfirmTimeout">When the policy asks for confirmation: a <c>page</c> decision opens an incident awaiting an answer for this long, its rollback held.</param>
/// <param name="DenialHoldsFor">After a person denied a rollback, the same trigger and series open no new question for this long (the policy's cooldown).</param>
public sealed record EvaluationCommit(
    string Policy,
    DateTimeOffset At,
    PolicyState State,
    IReadOnlyList<EvaluationRow> Verdicts,
    IReadOnlyList<Decision> Decisions,
    Func<Decision, string> DescribeTarget,
    TimeSpan? ConfirmTimeout = null,
    TimeSpan DenialHoldsFor = default);

/// <summary>A rollback a person asked for (API, CLI, Slack), outside any trigger.</summary>
public sealed record ManualRollback(string Policy, LabelSet Labels, string Target, string By, string Channel, string Reason, DateTimeOffset At);

/// <summary>An incident opened by a commit and the action recorded for it.</summary>
public sealed record OpenedIncident(Incident Incident, ActionRecord Action);

/// <summary>
/// The durable record of the daemon. Every method is transactional; an action is recorded before it runs
/// (<see cref="ActionStatus.Pending"/>), marked <see cref="ActionStatus.Started"/> just before, and
/// completed after, so a crash at any point is visible on restart and no action runs twice.
/// </summary>
public interface IIncidentStore
{
    /// <summary>Creates or migrates the schema (versioned, forward only).</summary>
    Task InitializeAsync(CancellationToken cancellationToken);

    /// <summary>The last committed state of a policy, or null if it was never evaluated.</summary>
    Task<PolicyState?> LoadStateAsync(string policy, CancellationToken cancellationToken);

    /// <summary>
    /// Commits an evaluation. <see cref="DecisionKind.Act"/> decisions open an incident with a pending action
    /// (dry-run: skipped); <see cref="DecisionKind.Resolved"/> resolves the open incident of that trigger and
    /// series; other decisions become timeline events of the open incident, if any. Idempotent: committing
    /// the same decision twice (same policy, trigger, labels and time) opens one incident.
    /// </summary>
    Task<IReadOnlyList<OpenedIncident>> CommitEvaluationAsync(EvaluationCommit commit, CancellationToken cancellationToken);

    /// <summary>Marks a pending action as started, just before it runs. False if it was not pending (someone else ran it).</summary>
    Task<bool> MarkActionStartedAsync(long actionId, DateTimeOffset at, CancellationToken cancellationToken);

    /// <summary>
    /// Stores the action's plan unless one is stored already, and returns the stored one: the first plan made
    /// for an action is the one every later run uses.
    /// </summary>
    Task<string> SavePlanAsync(long actionId, string plan, CancellationToken cancellationToken);

    /// <summary>Records the final status, outcome and before/after state of a started action and moves its incident on.</summary>
    Task CompleteActionAsync(long actionId, ActionCompletion completion, DateTimeOffset at, CancellationToken cancellationToken);

    /// <summary>Records the final status and outcome of a started action and moves its incident on.</summary>
    Task CompleteActionAsync(long actionId, ActionStatus status, string outcome, DateTimeOffset at, CancellationToken cancellationToken) =>
        CompleteActionAsync(actionId, new ActionCompletion(status, outcome), at, cancellationToken);

    /// <summary>
    /// For a dry-run (skipped) action: records what it would have done (plan and outcome) once, as a timeline
    /// event; when <paramref name="wouldFail"/> (it could not be planned), its incident becomes
    /// <see cref="IncidentStatus.DryRunFailed"/>. False if the action is not skipped or already has a plan.
    /// </summary>
    Task<bool> RecordDryRunAsync(long actionId, string plan, string outcome, bool wouldFail, DateTimeOffset at, CancellationToken cancellationToken);

    /// <summary>
    /// On startup: every action found <see cref="ActionStatus.Started"/> becomes <see cref="ActionStatus.Interrupted"/>
    /// (its incident too) and is returned; pending actions are returned separately, safe to run.
    /// </summary>
    Task<(IReadOnlyList<ActionRecord> Interrupted, IReadOnlyList<ActionRecord> Pending)> RecoverAsync(DateTimeOffset at, CancellationToken cancellationToken);

    /// <summary>Actions recorded but not started, oldest first: the daemon's sweeper runs them if an earlier attempt to start them failed.</summary>
    Task<IReadOnlyList<ActionRecord>> ListPendingActionsAsync(CancellationToken cancellationToken);

    Task<IReadOnlyList<Incident>> ListIncidentsAsync(IncidentStatus? status, int limit, CancellationToken cancellationToken);

    Task<IncidentTimeline?> GetIncidentAsync(long id, CancellationToken cancellationToken);

    /// <summary>The incidents of <paramref name="policy"/> that are open (<see cref="Incident.IsOpen"/>: not resolved, not denied), newest first: a gate stays closed while any is.</summary>
    Task<IReadOnlyList<Incident>> ListOpenIncidentsAsync(string policy, CancellationToken cancellationToken);

    Task AddAcknowledgmentAsync(Acknowledgment acknowledgment, CancellationToken cancellationToken);

    /// <summary>
    /// Applies a person's answer, atomically with its record: <c>approve</c> turns the held rollback into a pending
    /// one (returned, for the daemon to run), <c>deny</c> closes the incident and skips the rollback, <c>snooze</c>
    /// moves the deadline to <paramref name="snoozeUntil"/>, <c>ack</c> only records. An answer the incident can no
    /// longer take (already approved, denied, resolved) is refused with a sentence saying why, and records nothing.
    /// </summary>
    Task<AnswerResult> AnswerAsync(Acknowledgment answer, DateTimeOffset? snoozeUntil, CancellationToken cancellationToken);

    /// <summary>
    /// Nobody answered by the deadline. <paramref name="approve"/>: the held rollback becomes pending (returned);
    /// otherwise the incident stays awaiting, marked timed out, and is not timed out again.
    /// </summary>
    Task<AnswerResult> TimeOutAsync(long incidentId, bool approve, DateTimeOffset at, CancellationToken cancellationToken);

    /// <summary>Opens an incident (trigger <c>manual</c>) with a pending rollback, recording who asked, through what and why.</summary>
    Task<OpenedIncident> OpenManualRollbackAsync(ManualRollback request, CancellationToken cancellationToken);

    /// <summary>Incidents awaiting confirmation whose deadline is at or before <paramref name="at"/>.</summary>
    Task<IReadOnlyList<Incident>> ListOverdueAsync(DateTimeOffset at, CancellationToken cancellationToken);

    /// <summary>
    /// Incidents changed since the channels were last told (<see cref="Incident.Version"/> above what
    /// <see cref="MarkNotifiedAsync"/> recorded), and, with <paramref name="includeOpen"/>, every open one (for
    /// channels that re-publish), newest first.
    /// </summary>
    Task<IReadOnlyList<Incident>> ListToNotifyAsync(bool includeOpen, int limit, CancellationToken cancellationToken);

    /// <summary>Every channel has published the incident as of <paramref name="version"/>: it is not listed again until it changes.</summary>
    Task MarkNotifiedAsync(long incidentId, long version, CancellationToken cancellationToken);

    /// <summary>The latest rollback of <paramref name="target"/> (other than <paramref name="excludingActionId"/>) that started at or after <paramref name="since"/>.</summary>
    Task<ActionRecord?> FindRollbackSinceAsync(string target, DateTimeOffset since, long excludingActionId, CancellationToken cancellationToken);

    /// <summary>What each channel last published about an incident.</summary>
    Task<IReadOnlyList<NotificationRecord>> GetNotificationsAsync(long incidentId, CancellationToken cancellationToken);

    /// <summary>Records what a channel published (its reference and the state shown), replacing the previous record.</summary>
    Task SaveNotificationAsync(NotificationRecord record, CancellationToken cancellationToken);

    /// <summary>
    /// Deletes evaluation history older than <paramref name="olderThan"/>, and changes as old except the latest of each
    /// label set and those incidents blame; incidents are kept. Returns evaluation rows deleted.
    /// </summary>
    Task<int> PruneEvaluationsAsync(DateTimeOffset olderThan, CancellationToken cancellationToken);
}
