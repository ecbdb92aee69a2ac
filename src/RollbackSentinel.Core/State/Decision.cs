using RollbackSentinel.Core.Changes;
using RollbackSentinel.Core.Evaluation;
using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Core.Policies;

namespace RollbackSentinel.Core.State;

/// <summary>What the state machine decided for a series at one evaluation.</summary>
public enum DecisionKind
{
    /// <summary>The trigger fired: take its action (or, in dry-run, record that it would have been taken).</summary>
    Act,

    /// <summary>The trigger fired during the cooldown after an earlier action: recorded, not acted on.</summary>
    SuppressedByCooldown,

    /// <summary>A run of inconclusive or error evaluations reached the trigger's limit: surfaced, never acted on.</summary>
    InconclusiveRun,

    /// <summary>A firing trigger passed again.</summary>
    Resolved,
}

/// <summary>A decision with everything needed to explain it: policy, trigger, series, verdict and evidence.</summary>
public sealed record Decision
{
    public required string Policy { get; init; }

    public required string Trigger { get; init; }

    public required LabelSet Labels { get; init; }

    public required DateTimeOffset At { get; init; }

    public required DecisionKind Kind { get; init; }

    /// <summary>The action taken: the trigger's, or for a disarmed rollback trigger its policy's <c>spec.watch.outside</c>.</summary>
    public required TriggerAction Action { get; init; }

    /// <summary>
    /// A <c>rollback</c> trigger fired outside every watch window: <see cref="Action"/> is what it took instead
    /// (<c>spec.watch.outside</c>) and <see cref="DisarmedReason"/> says why.
    /// </summary>
    public bool Disarmed { get; init; }

    /// <summary>"no change of checkout within 1h (last: v41 -> v42, 3d ago): a rollback would not undo the cause".</summary>
    public string? DisarmedReason { get; init; }

    /// <summary>The change this decision blames: the latest one of its label set before the breach began (null: none is known).</summary>
    public Change? Blamed { get; init; }

    /// <summary>The policy is in dry-run: the action is recorded as "would have", never run.</summary>
    public bool DryRun { get; init; }

    public required Verdict Verdict { get; init; }

    /// <summary>When the breach (or the inconclusive run) began.</summary>
    public DateTimeOffset? Since { get; init; }

    /// <summary>For a suppressed decision: when the cooldown ends.</summary>
    public DateTimeOffset? CooldownUntil { get; init; }

    /// <summary>The policy's <c>metadata.labels</c> (team, service), for routing and dashboards.</summary>
    public IReadOnlyDictionary<string, string> PolicyLabels { get; init; } = new Dictionary<string, string>();

    /// <summary>One line for logs and tables.</summary>
    public string Message { get; init; } = string.Empty;

    /// <summary>
    /// What was taken, in a few words for tables, reports and plot markers: "rollback", "would rollback" (dry-run),
    /// "page", "suppressed (cooldown)", "inconclusive run", "resolved". A disarmed rollback's note is the caller's to add
    /// (with or without its reason).
    /// </summary>
    public string Taken => Kind switch
    {
        DecisionKind.Act => (DryRun ? "would " : string.Empty) + Action.ToString().ToLowerInvariant(),
        DecisionKind.SuppressedByCooldown => "suppressed (cooldown)",
        DecisionKind.InconclusiveRun => "inconclusive run",
        DecisionKind.Resolved => "resolved",
        _ => Kind.ToString().ToLowerInvariant(),
    };
}

/// <summary>A change of phase of one series.</summary>
public sealed record Transition(SeriesKey Key, TriggerPhase From, TriggerPhase To, DateTimeOffset At, Verdict Verdict);

/// <summary>The verdicts of one trigger at one evaluation, as fed to the state machine.</summary>
public sealed record TriggerVerdicts(Trigger Trigger, IReadOnlyList<Verdict> Verdicts);

/// <summary>What one step of the state machine produced.</summary>
public sealed record StepResult(PolicyState State, IReadOnlyList<Decision> Decisions, IReadOnlyList<Transition> Transitions);
