namespace RollbackSentinel.Core.Policies;

/// <summary>What a firing trigger does.</summary>
public enum TriggerAction
{
    /// <summary>Roll back through the policy's target.</summary>
    Rollback,

    /// <summary>Ask humans to confirm a rollback.</summary>
    Page,

    /// <summary>Tell humans, change nothing.</summary>
    Notify,
}

/// <summary>What a no-data evaluation (empty result, NaN, infinity) counts as.</summary>
public enum NoDataPolicy
{
    /// <summary>The default: no data is never a breach.</summary>
    Inconclusive,

    /// <summary>Opt-in: missing data counts as a breach (e.g. a heartbeat metric that must exist).</summary>
    Breach,
}

/// <summary>One named condition of a policy, with its <c>for</c> duration and action.</summary>
public sealed record Trigger
{
    /// <summary>How many inconclusive or error evaluations in a row are reported as a notice; Argo's consecutiveErrorLimit default.</summary>
    public const int DefaultInconclusiveLimit = 4;

    public required string Name { get; init; }

    public required TriggerCondition Condition { get; init; }

    /// <summary>The breach must hold this long before the trigger fires (0: fire on the first breach).</summary>
    public TimeSpan For { get; init; } = TimeSpan.Zero;

    public TriggerAction Action { get; init; } = TriggerAction.Rollback;

    public NoDataPolicy NoData { get; init; } = NoDataPolicy.Inconclusive;

    /// <summary>After this many inconclusive or error evaluations in a row, a notice is raised (once per run).</summary>
    public int InconclusiveLimit { get; init; } = DefaultInconclusiveLimit;

    public SourceLocation? Source { get; init; }
}
