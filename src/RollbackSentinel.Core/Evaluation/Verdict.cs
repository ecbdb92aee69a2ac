using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Core.Policies;
using static RollbackSentinel.Core.Evaluation.TriggerEvaluator;

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

    /// <summary>
    /// A sentence for logs, tables and chat: "error ratio 0.081 > max 0.05". Given as text, or made from the numbers
    /// it names the first time it is read (<see cref="Sentence"/>): most verdicts of a backtest are never printed.
    /// </summary>
    public string Summary
    {
        get => _summary ??= Sentence.Render();
        init => _summary = value;
    }

    /// <summary>The numbers <see cref="Summary"/> is made of when it is not given as text.</summary>
    internal Sentence Sentence { get; init; }

    /// <summary>What each query gave for this verdict's series (made when first read, from the outcomes the verdict was made of).</summary>
    public IReadOnlyList<QueryEvidence> Queries { get; init; } = [];

    /// <summary>True when a no-data verdict was turned into a breach because the trigger says <c>noData: breach</c>.</summary>
    public bool NoDataCountedAsBreach { get; init; }

    public bool IsConclusive => Kind is VerdictKind.Pass or VerdictKind.Breach;

    private string? _summary;

    /// <summary>Verdicts are equal when they say the same: the sentence compared as text, however it was made.</summary>
    public bool Equals(Verdict? other) =>
        ReferenceEquals(this, other)
        || (other is not null
            && Kind == other.Kind
            && Reason == other.Reason
            && Labels.Equals(other.Labels)
            && Nullable.Equals(Value, other.Value)
            && Nullable.Equals(Threshold, other.Threshold)
            && Nullable.Equals(Baseline, other.Baseline)
            && NoDataCountedAsBreach == other.NoDataCountedAsBreach
            && Summary == other.Summary
            && EqualityComparer<IReadOnlyList<QueryEvidence>>.Default.Equals(Queries, other.Queries));

    public override int GetHashCode() => HashCode.Combine(Kind, Reason, Labels, Value, Threshold, Baseline, Summary);
}

/// <summary>The shapes of verdict sentence made from numbers (<see cref="Sentence"/>).</summary>
internal enum SentenceForm : byte
{
    /// <summary>Nothing to make: the verdict was given its sentence as text.</summary>
    None,

    /// <summary>"error ratio R (E/T) &gt; max M": A errors, B total, C max.</summary>
    ErrorRatio,

    /// <summary>"value V &gt; L (baseline B x maxRatio R)": A value, B limit, C baseline, D maxRatio.</summary>
    LatencyRatio,

    /// <summary>"value V &gt; L (baseline B + maxIncrease I)": A value, B limit, C baseline, D maxIncrease.</summary>
    LatencyIncrease,

    /// <summary>"value V &lt; min M": A value, B min.</summary>
    AvailabilityMin,

    /// <summary>"value V &gt; X" or "value V is not &gt; X": A value, B the threshold, <see cref="Sentence.Op"/> the comparison.</summary>
    Threshold,
}

/// <summary>
/// A verdict's sentence before it is written: its shape and the numbers it names. Making the text (four or five
/// numbers formatted) cost more than the rest of an evaluation, and a backtest prints only the verdicts of its decisions.
/// </summary>
internal readonly record struct Sentence(SentenceForm Form, bool Breach, double A, double B, double C = 0, double D = 0, ComparisonOperator Op = default)
{
    public string Render() => Form switch
    {
        SentenceForm.None => string.Empty,
        SentenceForm.ErrorRatio => $"error ratio {Num(A / B)} ({Num(A)}/{Num(B)}) {(Breach ? ">" : "<=")} max {Num(C)}",
        SentenceForm.LatencyRatio => $"value {Num(A)} {(Breach ? ">" : "<=")} {Num(B)} (baseline {Num(C)} x maxRatio {Num(D)})",
        SentenceForm.LatencyIncrease => $"value {Num(A)} {(Breach ? ">" : "<=")} {Num(B)} (baseline {Num(C)} + maxIncrease {Num(D)})",
        SentenceForm.AvailabilityMin => $"value {Num(A)} {(Breach ? "<" : ">=")} min {Num(B)}",
        SentenceForm.Threshold => $"value {Num(A)} {(Breach ? "" : "is not ")}{Op.Symbol()} {Num(B)}",
        _ => throw new InvalidOperationException($"unknown sentence form {Form}"),
    };
}
