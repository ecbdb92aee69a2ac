using RollbackSentinel.Core.Metrics;

namespace RollbackSentinel.Core.Evaluation;

/// <summary>The four outcomes of one evaluation of one trigger for one series.</summary>
public enum VerdictKind
{
    Pass,
    Breach,

    /// <summary>The data can't decide: low traffic, NaN, infinity, empty result, missing baseline.</summary>
    Inconclusive,

    /// <summary>The backend failed. Never a pass.</summary>
    Error,
}

/// <summary>Why a verdict came out as it did.</summary>
public enum VerdictReason
{
    WithinThreshold,
    ThresholdExceeded,
    NoData,
    NotANumber,
    Infinite,
    LowTraffic,
    BaselineMissing,
    QueryFailed,

    /// <summary>The results cannot be combined as the trigger needs (label sets that do not match, duplicates).</summary>
    IncompatibleSeries,
}

/// <summary>One query's part in a verdict: the resolved PromQL, when it was evaluated, and the value it gave for this series.</summary>
public sealed record QueryEvidence(string Role, string Query, string EvaluatedAt, double? Value, string? Note = null);

/// <summary>
/// The evidence-carrying result of evaluating one trigger for one label set: which queries, which values,
/// which baseline and threshold, and a sentence saying why.
/// </summary>
public sealed record Verdict
{
    public required VerdictKind Kind { get; init; }

    public required VerdictReason Reason { get; init; }

    public required LabelSet Labels { get; init; }

    /// <summary>The value compared (the error ratio for errorRate triggers).</summary>
    public double? Value { get; init; }

    /// <summary>The effective threshold the value was compared with (for latency: derived from the baseline).</summary>
    public double? Threshold { get; init; }

    public double? Baseline { get; init; }

    /// <summary>A sentence for logs, tables and chat: "error ratio 0.081 > max 0.05".</summary>
    public required string Summary { get; init; }

    public IReadOnlyList<QueryEvidence> Queries { get; init; } = [];

    /// <summary>True when a no-data verdict was turned into a breach because the trigger says <c>noData: breach</c>.</summary>
    public bool NoDataCountedAsBreach { get; init; }

    public bool IsConclusive => Kind is VerdictKind.Pass or VerdictKind.Breach;
}
