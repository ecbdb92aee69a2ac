using RollbackSentinel.Core.Changes;

namespace RollbackSentinel.Core.Incidents;

/// <summary>
/// Every write about incidents, the same for any store: loads what a decision needs, asks <see cref="IncidentLifecycle"/>
/// (pure) what changes, and applies them with the store's version checks, deciding again from a fresh read when another
/// writer got there first. The sentences people read and every rule about when an incident may move live in Core,
/// never in a store.
/// </summary>
/// <remarks>
/// <paramref name="owner"/> is this sentinel's instance id: the actions it starts are leased to it, so a restart
/// recovers its own and a second sentinel sharing the store leaves them alone until their lease ends.
/// </remarks>
public sealed class IncidentService(IIncidentStore store, IChangeStore? changes, TimeProvider time, string owner)
{
    /// <summary>The trigger name of incidents a person opened (a manual rollback).</summary>
    public const string ManualTrigger = "manual";

    /// <summary>How often a write decided from a stale read is decided again before the conflict is the caller's.</summary>
    public const int MaxAttempts = 5;

    public IIncidentStore Store { get; } = store;

    /// <summary>Where the change a manual rollback blames is looked up (null: none is blamed).</summary>
    public IChangeStore? Changes { get; } = changes;

    public TimeProvider Time { get; } = time;

    /// <summary>This sentinel's instance id (action and notification leases).</summary>
    public string Owner { get; } = owner;

    /// <summary>
    /// Commits an evaluation in one store transaction: the policy state (checked against <see cref="EvaluationCommit.ExpectedStateVersion"/>),
    /// the verdicts, and what each decision does. <c>Act</c> decisions open an incident with its action recorded
    /// before it runs (pending, held for confirmation, or skipped in dry-run; a denial within the cooldown opens none);
    /// <c>Resolved</c> resolves the open incident of that trigger and series (deferred while its action runs; a pending
    /// or held action is skipped); other decisions become timeline notes of the open incident. Idempotent: the same
    /// decision committed twice opens one incident and returns it both times.
    /// </summary>
    /// <exception cref="StoreConflictException">The policy state changed since it was loaded (another sentinel evaluated): nothing was committed.</exception>
    public Task<IReadOnlyList<OpenedIncident>> CommitEvaluationAsync(EvaluationCommit commit, CancellationToken cancellationToken) =>
        throw new NotImplementedException();

    /// <summary>Marks a pending action started, leased to <see cref="Owner"/> for <paramref name="lease"/>. False if it was not pending (someone else claimed it).</summary>
    public Task<bool> MarkActionStartedAsync(long actionId, DateTimeOffset at, TimeSpan lease, CancellationToken cancellationToken) =>
        throw new NotImplementedException();

    /// <summary>Stores the action's plan unless one is stored already, and returns the stored one.</summary>
    public Task<string> SavePlanAsync(long actionId, string plan, CancellationToken cancellationToken) =>
        throw new NotImplementedException();

    /// <summary>Records the final status, outcome and before/after state of a started action and moves its incident on.</summary>
    public Task CompleteActionAsync(long actionId, ActionCompletion completion, DateTimeOffset at, CancellationToken cancellationToken) =>
        throw new NotImplementedException();

    /// <summary>Records the final status and outcome of a started action and moves its incident on.</summary>
    public Task CompleteActionAsync(long actionId, ActionStatus status, string outcome, DateTimeOffset at, CancellationToken cancellationToken) =>
        CompleteActionAsync(actionId, new ActionCompletion(status, outcome), at, cancellationToken);

    /// <summary>Dry-run: records what the skipped action would have done, once. False if it is not skipped or already has a plan.</summary>
    public Task<bool> RecordDryRunAsync(long actionId, string plan, string outcome, bool wouldFail, DateTimeOffset at, CancellationToken cancellationToken) =>
        throw new NotImplementedException();

    /// <summary>
    /// Started actions this sentinel can no longer vouch for: its own (a restart) and any whose lease has ended become
    /// <see cref="ActionStatus.Interrupted"/> (their incidents too) and are returned; pending actions are returned
    /// separately, safe to run. Actions another sentinel holds under a live lease are left alone.
    /// </summary>
    public Task<(IReadOnlyList<ActionRecord> Interrupted, IReadOnlyList<ActionRecord> Pending)> RecoverAsync(DateTimeOffset at, CancellationToken cancellationToken) =>
        throw new NotImplementedException();

    /// <summary>A person's answer (approve, deny, snooze, ack), applied atomically with its record, or refused with a sentence saying why.</summary>
    public Task<AnswerResult> AnswerAsync(Acknowledgment answer, DateTimeOffset? snoozeUntil, CancellationToken cancellationToken) =>
        throw new NotImplementedException();

    /// <summary>Nobody answered by the deadline: <paramref name="approve"/> releases the held rollback; otherwise it stays held, marked timed out, once.</summary>
    public Task<AnswerResult> TimeOutAsync(long incidentId, bool approve, DateTimeOffset at, CancellationToken cancellationToken) =>
        throw new NotImplementedException();

    /// <summary>Opens an incident (trigger <see cref="ManualTrigger"/>) with a pending rollback, blaming the latest change of its series, recording who asked, through what and why.</summary>
    public Task<OpenedIncident> OpenManualRollbackAsync(ManualRollback request, CancellationToken cancellationToken) =>
        throw new NotImplementedException();

    /// <summary>Records an acknowledgment without changing the incident.</summary>
    public Task AddAcknowledgmentAsync(Acknowledgment acknowledgment, CancellationToken cancellationToken) =>
        throw new NotImplementedException();
}
