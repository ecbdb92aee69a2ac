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
    TimeSpan DenialHoldsFor = default)
{
    /// <summary>
    /// The version of the policy state this evaluation stepped from (<see cref="StoredPolicyState.Version"/>, 0 when none was
    /// stored): the commit is refused with a <see cref="StoreConflictException"/> if another writer committed since. Null:
    /// not checked (a tool or a test writing state on purpose).
    /// </summary>
    public long? ExpectedStateVersion { get; init; }

    /// <summary>
    /// The version of the rules the evaluating node had loaded (<c>sha256:</c> and 12 hex digits), recorded in the evidence
    /// of every incident this commit opens (<see cref="IncidentEvidence.RulesVersion"/>); null: not recorded.
    /// </summary>
    public string? RulesVersion { get; init; }
}

/// <summary>A rollback a person asked for (API, CLI, Slack), outside any trigger.</summary>
public sealed record ManualRollback(string Policy, LabelSet Labels, string Target, string By, string Channel, string Reason, DateTimeOffset At);

/// <summary>An incident opened by a commit and the action recorded for it.</summary>
public sealed record OpenedIncident(Incident Incident, ActionRecord Action);

/// <summary>
/// The durable record of the daemon, as storage only: it loads by key, applies what <see cref="IncidentLifecycle"/>
/// decided atomically with optimistic version checks (a stale writer gets a <see cref="StoreConflictException"/>,
/// never a silent overwrite), and hands out work under leases. It holds no rule about when an incident may move and
/// no sentence shown to people: <see cref="IncidentService"/> (rules in Core) drives it. Every implementation passes
/// the store contract tests (<c>IncidentStoreContract</c> in the storage tests).
/// </summary>
public interface IIncidentStore
{
    /// <summary>Creates or migrates the schema (versioned, forward only).</summary>
    Task InitializeAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Whether one process at a time uses the store (SQLite: the daemon holds its lock file), so every action found
    /// started and every lease found when the daemon starts is a dead process's. False for a store several sentinels share.
    /// </summary>
    bool ExclusiveToOneProcess { get; }

    /// <summary>The last committed state of a policy with its version, or null if it was never evaluated.</summary>
    Task<StoredPolicyState?> LoadStateAsync(string policy, CancellationToken cancellationToken);

    /// <summary>The version of a policy's last committed state (<see cref="StoredPolicyState.Version"/>), 0 if it was never evaluated; the state is not read.</summary>
    Task<long> LoadStateVersionAsync(string policy, CancellationToken cancellationToken);

    /// <summary>
    /// What an evaluation reads first, in one read: the version of the policy's last committed state (0 if it was never
    /// evaluated) and, only when that is not <paramref name="knownVersion"/> (null: none known), the state itself. A
    /// caller that already stands on the stored version gets no state back (null) and has nothing to deserialise.
    /// </summary>
    /// <exception cref="InvalidDataException">The stored state cannot be read.</exception>
    Task<(long Version, StoredPolicyState? State)> LoadStateUnlessAtAsync(string policy, long? knownVersion, CancellationToken cancellationToken);

    /// <summary>An incident with its actions and revision, or null.</summary>
    Task<IncidentRecord?> LoadIncidentAsync(long id, CancellationToken cancellationToken);

    /// <summary>The incident an action belongs to, or null if there is no such action.</summary>
    Task<IncidentRecord?> LoadIncidentOfActionAsync(long actionId, CancellationToken cancellationToken);

    /// <summary>
    /// What decisions about <paramref name="policy"/> need: its incidents that are not resolved and not denied, and
    /// those denied at or after <paramref name="deniedSince"/> (resolved time), newest first.
    /// </summary>
    Task<IReadOnlyList<IncidentRecord>> LoadActiveAsync(string policy, DateTimeOffset deniedSince, CancellationToken cancellationToken);

    /// <summary>
    /// Applies a batch atomically: the policy state (refused if its version is not <see cref="PolicyStateWrite.ExpectedVersion"/>),
    /// the verdicts (a verdict stored already is kept once), and each update (refused if the incident's revision is not
    /// the expected one, or a move finds the incident or action elsewhere than its <c>From</c>). Returns the records of
    /// the incidents updated or opened, after the batch, in the order of <see cref="StoreBatch.Updates"/>.
    /// </summary>
    /// <exception cref="PolicyStateConflictException">The policy state's version did not match: nothing was written.</exception>
    /// <exception cref="StoreConflictException">A revision or <c>From</c> did not match: nothing was written.</exception>
    Task<IReadOnlyList<IncidentRecord>> ApplyAsync(StoreBatch batch, CancellationToken cancellationToken);

    /// <summary>Every action found <see cref="ActionStatus.Started"/>, with its lease (null: it has none), oldest first.</summary>
    Task<IReadOnlyList<(ActionRecord Action, ActionLease? Lease)>> ListStartedActionsAsync(CancellationToken cancellationToken);

    /// <summary>Actions recorded but not started, oldest first: the daemon's sweeper runs them if an earlier attempt to start them failed.</summary>
    Task<IReadOnlyList<ActionRecord>> ListPendingActionsAsync(CancellationToken cancellationToken);

    Task<IReadOnlyList<Incident>> ListIncidentsAsync(IncidentStatus? status, int limit, CancellationToken cancellationToken);

    Task<IncidentTimeline?> GetIncidentAsync(long id, CancellationToken cancellationToken);

    /// <summary>The incidents of <paramref name="policy"/> that are open (<see cref="Incident.IsOpen"/>: not resolved, not denied), newest first: a gate stays closed while any is.</summary>
    Task<IReadOnlyList<Incident>> ListOpenIncidentsAsync(string policy, CancellationToken cancellationToken);

    /// <summary>Incidents awaiting confirmation whose deadline is at or before <paramref name="at"/>.</summary>
    Task<IReadOnlyList<Incident>> ListOverdueAsync(DateTimeOffset at, CancellationToken cancellationToken);

    /// <summary>
    /// Claims incidents for the channels: those changed since the channels were last told (<see cref="Incident.Version"/>
    /// above what <see cref="MarkNotifiedAsync"/> recorded) and, with <paramref name="includeOpen"/>, every open one,
    /// newest first, leaving out those another owner's lease still holds. The ones returned are leased to
    /// <paramref name="lease"/>'s owner until it ends (or <see cref="MarkNotifiedAsync"/>): two sentinels never post the same change.
    /// </summary>
    Task<IReadOnlyList<Incident>> ClaimToNotifyAsync(bool includeOpen, int limit, ActionLease lease, DateTimeOffset at, CancellationToken cancellationToken);

    /// <summary>
    /// Every channel has published the incident as of <paramref name="version"/>: it is not listed again until it changes;
    /// <paramref name="owner"/>'s lease ends (another owner's is left alone). Nothing is written when nothing changes.
    /// </summary>
    Task MarkNotifiedAsync(long incidentId, long version, string owner, CancellationToken cancellationToken);

    /// <summary>Ends <paramref name="owner"/>'s notification leases of <paramref name="incidentIds"/> (claimed, not marked notified), in one write.</summary>
    Task ReleaseNotificationLeasesAsync(string owner, IReadOnlyCollection<long> incidentIds, CancellationToken cancellationToken);

    /// <summary>
    /// Ends every notification lease and every delivery claim (<see cref="ClaimDeliveryAsync"/>), whoever holds them: only for a
    /// store <see cref="ExclusiveToOneProcess"/>, when the daemon starts (they are a dead process's).
    /// </summary>
    Task ReleaseAllNotificationLeasesAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Fencing for an action: extends <paramref name="lease"/>'s owner's lease on a started action to <see cref="ActionLease.Until"/>,
    /// if that owner still holds it: the action is <see cref="ActionStatus.Started"/>, leased to the same owner, and the lease
    /// has not ended at <paramref name="at"/>. False, with nothing written, when it does not (the action was interrupted,
    /// finished, or is another's): the caller has been superseded and must not act on it.
    /// </summary>
    Task<bool> RenewActionLeaseAsync(long actionId, ActionLease lease, DateTimeOffset at, CancellationToken cancellationToken);

    /// <summary>
    /// Fencing for a message: claims telling <paramref name="channel"/> about an incident for <paramref name="lease"/>'s owner
    /// until <see cref="ActionLease.Until"/>. True when no other owner's claim on that (incident, channel) is still running at
    /// <paramref name="at"/> (the owner's own is extended). False, with nothing written, when another's is: do not publish.
    /// <see cref="SaveNotificationAsync"/> for that (incident, channel) ends the claim.
    /// </summary>
    Task<bool> ClaimDeliveryAsync(long incidentId, string channel, ActionLease lease, DateTimeOffset at, CancellationToken cancellationToken);

    /// <summary>
    /// Fencing for a message being published: extends (or, with <see cref="ActionLease.Until"/> at <paramref name="at"/>, ends)
    /// <paramref name="lease"/>'s owner's delivery claim on (incident, channel), only if that claim still exists, is held by
    /// the same owner, and has not ended at <paramref name="at"/>. Never creates a claim: a claim that was ended meanwhile
    /// (<see cref="SaveNotificationAsync"/> by another owner that took it over, or a reset), moved to another owner, or ran
    /// out is lost for good. False, with nothing written, then: the caller was superseded (fenced).
    /// </summary>
    Task<bool> RenewDeliveryClaimAsync(long incidentId, string channel, ActionLease lease, DateTimeOffset at, CancellationToken cancellationToken);

    /// <summary>The latest rollback of <paramref name="target"/> (other than <paramref name="excludingActionId"/>) that started at or after <paramref name="since"/>.</summary>
    Task<ActionRecord?> FindRollbackSinceAsync(string target, DateTimeOffset since, long excludingActionId, CancellationToken cancellationToken);

    /// <summary>What each channel last published about an incident.</summary>
    Task<IReadOnlyList<NotificationRecord>> GetNotificationsAsync(long incidentId, CancellationToken cancellationToken);

    /// <summary>
    /// Records what a channel published (its reference and the state shown), replacing the previous record unless that one
    /// is newer (a later <see cref="NotificationRecord.At"/>: a sentinel that was paused while publishing never overwrites
    /// what another published since); ends any delivery claim on that (incident, channel) (<see cref="ClaimDeliveryAsync"/>).
    /// </summary>
    Task SaveNotificationAsync(NotificationRecord record, CancellationToken cancellationToken);

    /// <summary>
    /// Deletes evaluation history older than <paramref name="olderThan"/>, and changes as old except the latest of each
    /// label set and those incidents blame; incidents are kept. Returns evaluation rows deleted.
    /// </summary>
    Task<int> PruneEvaluationsAsync(DateTimeOffset olderThan, CancellationToken cancellationToken);
}
