using RollbackSentinel.Core.Evaluation;
using RollbackSentinel.Core.State;

namespace RollbackSentinel.Core.Incidents;

/// <summary>
/// One incident as stored, with everything a decision about it needs: its actions (oldest first) and whether a
/// resolution waits for a running action. <see cref="Revision"/> grows with every change applied to it; an
/// <see cref="IncidentUpdate"/> names the revision it was decided from, and a store refuses it (a
/// <see cref="StoreConflictException"/>) if the incident moved on meanwhile.
/// </summary>
public sealed record IncidentRecord(Incident Incident, IReadOnlyList<ActionRecord> Actions)
{
    /// <summary>The trigger passed while the action ran: the incident resolves when the action has an outcome.</summary>
    public DateTimeOffset? ResolveRequestedAt { get; init; }

    /// <summary>The optimistic-concurrency version: bumped by every update the store applies to this incident.</summary>
    public long Revision { get; init; }

    /// <summary>The incident's action of that id, or null.</summary>
    public ActionRecord? Action(long actionId) => Actions.FirstOrDefault(a => a.Id == actionId);
}

/// <summary>
/// What to do to one incident, decided by <see cref="IncidentLifecycle"/> and applied by a store atomically: all of
/// <see cref="Changes"/> or none. <see cref="IncidentId"/> 0 with an <see cref="OpenIncident"/> first opens a new one.
/// </summary>
/// <param name="IncidentId">The incident changed (0: the one <see cref="OpenIncident"/> creates).</param>
/// <param name="ExpectedRevision">The <see cref="IncidentRecord.Revision"/> this was decided from (ignored when opening).</param>
public sealed record IncidentUpdate(long IncidentId, long ExpectedRevision, IReadOnlyList<IncidentChange> Changes);

/// <summary>One change to an incident, its actions or its timeline. Stores apply them in order, as SQL and nothing more.</summary>
public abstract record IncidentChange;

/// <summary>
/// Opens an incident (<see cref="Incident.Id"/> 0, its <see cref="Incident.Version"/> ignored) with its first action
/// (<see cref="ActionRecord.Id"/> and <see cref="ActionRecord.IncidentId"/> 0). <see cref="OpenKey"/> is unique: opening
/// with a key already stored changes nothing and the store hands back the incident recorded then (a retried commit).
/// </summary>
/// <param name="BlamedChangeId">The stored change the incident blames (a change never stored, id 0, is not kept).</param>
public sealed record OpenIncident(Incident Incident, string OpenKey, ActionRecord Action, long? BlamedChangeId) : IncidentChange
{
    /// <summary>
    /// In the action's <see cref="ActionRecord.IdempotencyKey"/>, replaced by the new incident's id when it is stored (a
    /// manual rollback's key names its incident: <c>rs-manual-{policy}-{id}</c>, which nobody knows before the insert).
    /// </summary>
    public const string IncidentIdToken = "{incident}";
}

/// <summary>Moves the incident from <paramref name="From"/> (refused if it is not there any more) to <paramref name="To"/>; <paramref name="ResolvedAt"/> when given.</summary>
public sealed record MoveIncident(IncidentStatus From, IncidentStatus To, DateTimeOffset At, DateTimeOffset? ResolvedAt = null) : IncidentChange;

/// <summary>Sets the confirmation deadline and the time nobody answered by it (null clears each).</summary>
public sealed record SetAnswerDeadline(DateTimeOffset? Deadline, DateTimeOffset? TimedOutAt, DateTimeOffset At) : IncidentChange;

/// <summary>The trigger passed while the action ran: remembered, applied when the action completes.</summary>
public sealed record RequestResolution(DateTimeOffset At) : IncidentChange;

/// <summary>
/// Moves an action from <paramref name="From"/> (refused if it is not there any more) to <paramref name="To"/>, setting
/// the fields given (a null leaves the stored value). <see cref="Lease"/>: who runs it and until when (started actions).
/// </summary>
public sealed record MoveAction(long ActionId, ActionStatus From, ActionStatus To) : IncidentChange
{
    public DateTimeOffset? CreatedAt { get; init; }

    public DateTimeOffset? StartedAt { get; init; }

    public DateTimeOffset? CompletedAt { get; init; }

    public string? Outcome { get; init; }

    public string? Plan { get; init; }

    public string? Before { get; init; }

    public string? After { get; init; }

    public ActionLease? Lease { get; init; }
}

/// <summary>Stores the action's plan unless one is stored already (the first plan made is the one every run uses).</summary>
public sealed record SavePlan(long ActionId, string Plan) : IncidentChange;

/// <summary>Adds a timeline entry; the same entry (time, kind, message) twice is kept once.</summary>
public sealed record RecordEvent(DateTimeOffset At, string Kind, string Message) : IncidentChange;

/// <summary>Records a person's answer (approve, deny, snooze, ack, or the <c>rollback</c> of a manual rollback).</summary>
public sealed record RecordAnswer(Acknowledgment Answer) : IncidentChange;

/// <summary>Bumps <see cref="Incident.Version"/>: the channels have something new to show (moves and deadlines bump it too).</summary>
public sealed record MarkChanged(DateTimeOffset At) : IncidentChange;

/// <summary>Who runs a started action (<see cref="Owner"/>, a sentinel's instance id) and until when others leave it alone.</summary>
public sealed record ActionLease(string Owner, DateTimeOffset Until);

/// <summary>The policy's state to store, and the version it was loaded with (null: write whatever is stored).</summary>
public sealed record PolicyStateWrite(string Policy, PolicyState State, DateTimeOffset At, long? ExpectedVersion);

/// <summary>A policy's stored state and its version (0 = never stored; every write adds one, so a writer that committed against version v stands on v + 1).</summary>
public sealed record StoredPolicyState(PolicyState State, long Version);

/// <summary>
/// Everything one store transaction writes: a policy's state (version-checked), its verdicts, and incident updates
/// (each revision-checked). All or nothing.
/// </summary>
public sealed record StoreBatch(PolicyStateWrite? State, IReadOnlyList<EvaluationRow> Verdicts, IReadOnlyList<IncidentUpdate> Updates)
{
    /// <summary>The policy the verdicts belong to (with <see cref="State"/>: its policy).</summary>
    public string? Policy { get; init; }

    /// <summary>When the verdicts were evaluated.</summary>
    public DateTimeOffset? At { get; init; }

    public static StoreBatch Of(params IncidentUpdate[] updates) => new(null, [], updates);
}

/// <summary>
/// A write decided from a stale read: the policy's state or an incident changed since it was loaded (another
/// sentinel, a person's answer). Nothing of the batch was written; reload and decide again.
/// </summary>
public class StoreConflictException : Exception
{
    public StoreConflictException()
    {
    }

    public StoreConflictException(string message)
        : base(message)
    {
    }

    public StoreConflictException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>
/// The policy's state was committed by another writer since it was loaded (another sentinel evaluated): deciding again
/// from a fresh read of the incidents cannot fix it; the evaluation must step again from the stored state.
/// </summary>
public sealed class PolicyStateConflictException : StoreConflictException
{
    public PolicyStateConflictException()
    {
    }

    public PolicyStateConflictException(string message)
        : base(message)
    {
    }

    public PolicyStateConflictException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
