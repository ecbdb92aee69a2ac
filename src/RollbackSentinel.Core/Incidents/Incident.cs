using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Core.Policies;

namespace RollbackSentinel.Core.Incidents;

/// <summary>Where an incident stands. Moves only forward; see <see cref="IncidentTransitions"/>.</summary>
public enum IncidentStatus
{
    /// <summary>A trigger fired; its action is recorded (write-ahead) but has not started.</summary>
    Open,

    /// <summary>The action has started and not yet reported back.</summary>
    Acting,

    /// <summary>The action succeeded (a notify: it was recorded and handed to the channels there are).</summary>
    Acted,

    /// <summary>The action ran and failed: humans must look.</summary>
    ActionFailed,

    /// <summary>The process died while the action ran: its effect is unknown, and it is never retried by itself.</summary>
    ActionInterrupted,

    /// <summary>The trigger passed again.</summary>
    Resolved,

    /// <summary>A <c>page</c> with confirmation: the rollback is held until a person approves it, denies it, or the time runs out.</summary>
    AwaitingConfirmation,

    /// <summary>A person denied the rollback: closed, and the target held back for the policy's cooldown.</summary>
    Denied,

    /// <summary>Dry-run: nothing ran; the action records what would have been done (for a rollback, its plan).</summary>
    DryRun,

    /// <summary>Dry-run, and the rollback could not even be planned: a real one would have failed. Nothing ran.</summary>
    DryRunFailed,
}

/// <summary>An incident: one firing of one trigger for one series, with the evidence that opened it.</summary>
public sealed record Incident
{
    public long Id { get; init; }

    public required string Policy { get; init; }

    public required string Trigger { get; init; }

    public required LabelSet Labels { get; init; }

    public required TriggerAction Action { get; init; }

    public bool DryRun { get; init; }

    public required IncidentStatus Status { get; init; }

    public required DateTimeOffset OpenedAt { get; init; }

    public required DateTimeOffset UpdatedAt { get; init; }

    public DateTimeOffset? ResolvedAt { get; init; }

    /// <summary>The sentence that explains the decision ("error ratio 0.09 (1.8/20) > max 0.05").</summary>
    public required string Summary { get; init; }

    /// <summary>The opening verdict's evidence (queries, values, baseline, threshold) as JSON (<see cref="IncidentEvidence.ToJson"/>).</summary>
    public required string EvidenceJson { get; init; }

    /// <summary>Awaiting confirmation: when the time to answer runs out (moved on by a snooze).</summary>
    public DateTimeOffset? AnswerDeadline { get; init; }

    /// <summary>Awaiting confirmation: when nobody had answered in time (the policy said hold or escalate).</summary>
    public DateTimeOffset? TimedOutAt { get; init; }

    /// <summary>The change this incident blames (the latest of its label set before the breach began), or null: none is known.</summary>
    public Changes.Change? BlamedChange { get; init; }

    /// <summary>A <c>rollback</c> trigger fired outside every watch window and took <see cref="Action"/> instead: why.</summary>
    public string? DisarmedReason { get; init; }

    /// <summary>Not resolved and not denied: a gate stays closed while any is.</summary>
    public bool IsOpen => Status is not (IncidentStatus.Resolved or IncidentStatus.Denied);

    /// <summary>Grows with every change of the incident (status, answers, deadlines): what channels are told about.</summary>
    public long Version { get; init; }

    /// <summary>The evidence, typed (<see cref="EvidenceJson"/> parsed; a method, so printing an incident never parses).</summary>
    /// <exception cref="InvalidDataException">The stored evidence is not evidence JSON.</exception>
    public IncidentEvidence ReadEvidence() => IncidentEvidence.FromJson(EvidenceJson);
}

/// <summary>One entry of an incident's timeline.</summary>
public sealed record IncidentEvent(long IncidentId, DateTimeOffset At, string Kind, string Message);

/// <summary>Where a recorded action stands. Written before the action runs (write-ahead), completed after.</summary>
public enum ActionStatus
{
    /// <summary>Recorded, not started: safe to start after a restart.</summary>
    Pending,

    /// <summary>Started: if the process dies now, the action becomes <see cref="Interrupted"/>, never re-run by itself.</summary>
    Started,

    Succeeded,
    Failed,

    /// <summary>Found <see cref="Started"/> after a restart: its effect is unknown.</summary>
    Interrupted,

    /// <summary>Not run on purpose (dry-run, denied, or the breach cleared before anyone answered).</summary>
    Skipped,

    /// <summary>Waits for a person's approval (or the confirmation's timeout); never run by itself before.</summary>
    Held,
}

/// <summary>An action taken (or to be taken) for an incident.</summary>
public sealed record ActionRecord
{
    public long Id { get; init; }

    public required long IncidentId { get; init; }

    /// <summary>rollback, page or notify.</summary>
    public required string Kind { get; init; }

    /// <summary>What it acts on, rendered for this series (e.g. "kubectl/checkout/shop").</summary>
    public required string Target { get; init; }

    /// <summary>Stable across retries and restarts; adapters pass it on so a receiver can deduplicate.</summary>
    public required string IdempotencyKey { get; init; }

    public required ActionStatus Status { get; init; }

    public required DateTimeOffset CreatedAt { get; init; }

    public DateTimeOffset? StartedAt { get; init; }

    public DateTimeOffset? CompletedAt { get; init; }

    /// <summary>What happened: what changed, or why it failed.</summary>
    public string? Outcome { get; init; }

    /// <summary>
    /// What the action was resolved to do (the adapter's plan, JSON), fixed once when the incident was decided:
    /// a retry or a restart acts toward this same plan.
    /// </summary>
    public string? Plan { get; init; }

    /// <summary>The target's state before the action, as the adapter read it.</summary>
    public string? Before { get; init; }

    /// <summary>The target's state after the action, as the adapter read it back.</summary>
    public string? After { get; init; }
}

/// <summary>How a started action ended: its status, what happened, and the target's state before and after.</summary>
public sealed record ActionCompletion(ActionStatus Status, string Outcome)
{
    public string? Before { get; init; }

    public string? After { get; init; }
}

/// <summary>A human's answer to an incident, with who gave it and through which channel.</summary>
/// <param name="Answer">approve, deny, snooze or ack.</param>
public sealed record Acknowledgment(long IncidentId, string By, string Channel, string Answer, DateTimeOffset At)
{
    /// <summary>Why, in the person's words (optional).</summary>
    public string? Reason { get; init; }
}

/// <summary>The answers a person can give to an incident.</summary>
public static class Answers
{
    public const string Approve = "approve";
    public const string Deny = "deny";
    public const string Snooze = "snooze";
    public const string Ack = "ack";

    public static readonly IReadOnlyList<string> All = [Approve, Deny, Snooze, Ack];
}

/// <summary>What became of an answer.</summary>
/// <param name="Accepted">Whether it changed the incident.</param>
/// <param name="Message">A sentence for the person: what happens now, or why nothing did.</param>
/// <param name="Incident">The incident after the answer (null if there is none).</param>
/// <param name="ActionToRun">Approve: the rollback, now pending, for the daemon to run.</param>
public sealed record AnswerResult(bool Accepted, string Message, Incident? Incident, ActionRecord? ActionToRun = null);

/// <summary>What a channel last published about an incident: its reference (a Slack message) and the state it showed.</summary>
public sealed record NotificationRecord(long IncidentId, string Channel, string? Reference, string State, DateTimeOffset At);

/// <summary>An incident with its whole timeline.</summary>
public sealed record IncidentTimeline(
    Incident Incident,
    IReadOnlyList<IncidentEvent> Events,
    IReadOnlyList<ActionRecord> Actions,
    IReadOnlyList<Acknowledgment> Acknowledgments);
