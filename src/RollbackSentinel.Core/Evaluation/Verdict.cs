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
/// <remarks>
/// Immutable to everyone outside this assembly. Inside it, a backtest replays with verdicts owned by its evaluation
/// buffer (<see cref="VerdictSink"/>), written again at each evaluation instead of made anew; such a verdict never leaves
/// the evaluation as it is: the state machine keeps <see cref="Detached"/> copies, with their evidence written.
/// </remarks>
public sealed record Verdict
{
    private VerdictKind _kind;
    private VerdictReason _reason;
    private LabelSet _labels = LabelSet.Empty;
    private double? _value;
    private double? _threshold;
    private double? _baseline;
    private bool _noDataCountedAsBreach;
    private Sentence _sentence;
    private string? _summary;

    // The evidence: given or written (_queries), or still to be written from the evaluation's outcomes (_pending).
    private IReadOnlyList<QueryEvidence>? _queries;
    private TriggerEvaluator.EvidenceIndex? _pending;

    // Owned by a sink that writes it again at its next evaluation (a backtest's buffer).
    private bool _reused;

    public Verdict()
    {
    }

    /// <summary>A copy (<c>with</c>) keeps its own evidence: written first when the original's is still pending.</summary>
    // Every member is copied from the original's fields, which the analysis does not follow to the required properties.
#pragma warning disable CS8618
    [System.Diagnostics.CodeAnalysis.SetsRequiredMembers]
    private Verdict(Verdict original)
    {
        _kind = original._kind;
        _reason = original._reason;
        _labels = original._labels;
        _value = original._value;
        _threshold = original._threshold;
        _baseline = original._baseline;
        _noDataCountedAsBreach = original._noDataCountedAsBreach;
        _sentence = original._sentence;
        _summary = original._summary;
        _queries = original.Queries;
    }
#pragma warning restore CS8618

    public required VerdictKind Kind { get => _kind; init => _kind = value; }

    public required VerdictReason Reason { get => _reason; init => _reason = value; }

    public required LabelSet Labels { get => _labels; init => _labels = value; }

    /// <summary>The value compared (the error ratio for errorRate triggers).</summary>
    public double? Value { get => _value; init => _value = value; }

    /// <summary>The effective threshold the value was compared with (for latency: derived from the baseline).</summary>
    public double? Threshold { get => _threshold; init => _threshold = value; }

    public double? Baseline { get => _baseline; init => _baseline = value; }

    /// <summary>
    /// A sentence for logs, tables and chat: "error ratio 0.081 > max 0.05". Given as text, or made from the numbers
    /// it names the first time it is read (<see cref="Sentence"/>): most verdicts of a backtest are never printed.
    /// </summary>
    public string Summary
    {
        get => _summary ??= _sentence.Render();
        init => _summary = value;
    }

    /// <summary>The numbers <see cref="Summary"/> is made of when it is not given as text.</summary>
    internal Sentence Sentence { get => _sentence; init => _sentence = value; }

    /// <summary>What each query gave for this verdict's series (written when first read, from the outcomes the verdict was made of).</summary>
    public IReadOnlyList<QueryEvidence> Queries
    {
        get
        {
            if (Volatile.Read(ref _queries) is { } written)
            {
                return written;
            }

            if (Volatile.Read(ref _pending) is not { } pending)
            {
                return Volatile.Read(ref _queries) ?? [];
            }

            // Written once: two first reads at the same time both get the array the first of them stored. Once
            // written, the outcomes are let go: a verdict kept for long keeps only its own evidence.
            var made = Interlocked.CompareExchange(ref _queries, pending.For(_labels), null) ?? _queries!;
            Volatile.Write(ref _pending, null);
            return made;
        }

        init
        {
            _queries = value;
            _pending = null;
        }
    }

    /// <summary>True when a no-data verdict was turned into a breach because the trigger says <c>noData: breach</c>.</summary>
    public bool NoDataCountedAsBreach { get => _noDataCountedAsBreach; init => _noDataCountedAsBreach = value; }

    public bool IsConclusive => Kind is VerdictKind.Pass or VerdictKind.Breach;

    /// <summary>This verdict as one that may be kept: itself, or for a verdict its sink writes again, a copy with its evidence written.</summary>
    internal Verdict Detached() => _reused ? new Verdict(this) : this;

    /// <summary>A verdict made from <paramref name="data"/> whose evidence is written from <paramref name="evidence"/> when first read.</summary>
    internal static Verdict Make(in VerdictData data, TriggerEvaluator.EvidenceIndex? evidence)
    {
        var verdict = new Verdict { Kind = data.Kind, Reason = data.Reason, Labels = data.Labels };
        verdict.Write(data, evidence);
        return verdict;
    }

    /// <summary>A verdict its sink writes again at each evaluation (<see cref="Rewrite"/>).</summary>
    internal static Verdict Reused() => new() { Kind = VerdictKind.Pass, Reason = VerdictReason.WithinThreshold, Labels = LabelSet.Empty, _reused = true };

    /// <summary>Writes a reused verdict (<see cref="Reused"/>) afresh: what it says, and its evidence, pending.</summary>
    internal void Rewrite(in VerdictData data, TriggerEvaluator.EvidenceIndex? evidence)
    {
        if (!_reused)
        {
            throw new InvalidOperationException("only a verdict owned by a sink is written again");
        }

        Write(data, evidence);
    }

    private void Write(in VerdictData data, TriggerEvaluator.EvidenceIndex? evidence)
    {
        _kind = data.Kind;
        _reason = data.Reason;
        _labels = data.Labels;
        _value = data.Value;
        _threshold = data.Threshold;
        _baseline = data.Baseline;
        _noDataCountedAsBreach = data.NoDataCountedAsBreach;
        _sentence = data.Sentence;
        _summary = data.Summary;
        _queries = evidence is null ? [] : null;
        _pending = evidence;
    }

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

/// <summary>What a verdict says, before it is an object (<see cref="VerdictSink"/> makes it one, or writes one it owns again).</summary>
internal readonly record struct VerdictData(
    VerdictKind Kind,
    VerdictReason Reason,
    LabelSet Labels,
    double? Value = null,
    double? Threshold = null,
    double? Baseline = null,
    Sentence Sentence = default,
    string? Summary = null,
    bool NoDataCountedAsBreach = false);

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
