using System.Runtime.CompilerServices;
using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Core.Policies;

namespace RollbackSentinel.Core.Evaluation;

/// <summary>When, relative to the evaluation time, a query is evaluated.</summary>
public abstract record QueryTime
{
    public static readonly QueryTime AtEvaluation = new AtEvaluationTime();

    private sealed record AtEvaluationTime : QueryTime
    {
        public override string ToString() => "at evaluation";
    }
}

/// <summary>At the evaluation time minus <see cref="Offset"/> (same hour yesterday, ...).</summary>
public sealed record OffsetQueryTime(TimeSpan Offset) : QueryTime
{
    public override string ToString() => $"{PromDuration.Format(Offset)} earlier";
}

/// <summary>Averaged over <see cref="Window"/> ending at the deploy time.</summary>
public sealed record BeforeDeployQueryTime(TimeSpan Window) : QueryTime
{
    public override string ToString() => $"average over {PromDuration.Format(Window)} before the deploy";
}

/// <summary>One query a trigger needs: its role in the condition, the PromQL, and when to evaluate it.</summary>
public sealed record QuerySpec(string Role, string Expression, QueryTime Time)
{
    /// <summary>
    /// Shown in evidence but never deciding: its failure, absence or odd series leave the verdict as it is (a burn-rate
    /// trigger's budget over its period, which a backend may not hold or answer in time).
    /// </summary>
    public bool Informational { get; init; }

    public const string ValueRole = "value";
    public const string BaselineRole = "baseline";
    public const string ErrorsRole = "errors";
    public const string TotalRole = "total";

    /// <summary>The queries a condition needs, in a stable order.</summary>
    public static IReadOnlyList<QuerySpec> For(TriggerCondition condition)
    {
        ArgumentNullException.ThrowIfNull(condition);
        return condition is BurnRateCondition b ? BurnRateSpecCache.GetValue(b, BurnRateSpecs) : SpecCache.GetValue(condition, Specs);
    }

    // Made once per loaded condition, not at every evaluation (conditions are immutable); they go with the condition.
    private static readonly ConditionalWeakTable<TriggerCondition, QuerySpec[]> SpecCache = new();

    private static QuerySpec[] Specs(TriggerCondition condition) => condition switch
    {
        ErrorRateCondition e => [new(ErrorsRole, e.Errors, QueryTime.AtEvaluation), new(TotalRole, e.Total, QueryTime.AtEvaluation)],
        LatencyCondition l => [new(ValueRole, l.Query, QueryTime.AtEvaluation), BaselineSpec(l)],
        AvailabilityCondition a => [new(ValueRole, a.Query, QueryTime.AtEvaluation)],
        ThresholdCondition t => [new(ValueRole, t.Query, QueryTime.AtEvaluation)],
        _ => throw new ArgumentOutOfRangeException(nameof(condition), condition, "unknown condition kind"),
    };

    /// <summary>The role of a burn-rate trigger's errors query over <paramref name="window"/>: <c>errors[1h]</c>.</summary>
    public static string ErrorsOver(TimeSpan window) => $"{ErrorsRole}[{PromDuration.Format(window)}]";

    /// <summary>The role of a burn-rate trigger's total query over <paramref name="window"/>: <c>total[1h]</c>.</summary>
    public static string TotalOver(TimeSpan window) => $"{TotalRole}[{PromDuration.Format(window)}]";

    /// <summary>
    /// Errors and total over each distinct window, then over the period for the budget left (informational), unless
    /// the period is one of the windows. Each is its own expression, so a backtest fetches each window's range once.
    /// </summary>
    // A burn-rate trigger's specs are made once per loaded condition (each is a string substitution per window), not at
    // every evaluation; they go with the condition when a reload replaces it.
    private static readonly ConditionalWeakTable<BurnRateCondition, QuerySpec[]> BurnRateSpecCache = new();

    private static QuerySpec[] BurnRateSpecs(BurnRateCondition b)
    {
        var specs = b.DistinctWindows
            .SelectMany(w => (QuerySpec[])[new(ErrorsOver(w), BurnRateCondition.Over(b.Errors, w), QueryTime.AtEvaluation), new(TotalOver(w), BurnRateCondition.Over(b.Total, w), QueryTime.AtEvaluation)])
            .ToList();
        if (!b.DistinctWindows.Contains(b.Period))
        {
            specs.Add(new(ErrorsOver(b.Period), BurnRateCondition.Over(b.Errors, b.Period), QueryTime.AtEvaluation) { Informational = true });
            specs.Add(new(TotalOver(b.Period), BurnRateCondition.Over(b.Total, b.Period), QueryTime.AtEvaluation) { Informational = true });
        }

        return [.. specs];
    }

    private static QuerySpec BaselineSpec(LatencyCondition l) => l.Baseline switch
    {
        QueryBaseline q => new(BaselineRole, q.Query, QueryTime.AtEvaluation),
        OffsetBaseline o => new(BaselineRole, l.Query, new OffsetQueryTime(o.Offset)),
        BeforeDeployBaseline b => new(BaselineRole, l.Query, new BeforeDeployQueryTime(b.Window)),
        _ => throw new ArgumentOutOfRangeException(nameof(l), l.Baseline, "unknown baseline kind"),
    };
}

/// <summary>
/// The result of one <see cref="QuerySpec"/> at one evaluation: samples, or why there are none. An error
/// (backend failure) and an unavailable input (no deploy time known) are different things and stay apart.
/// </summary>
/// <remarks>
/// A value, not an object: an evaluation resolves several at every step, and a backtest's samples are a slice of one
/// array per query (<see cref="SuccessSlice"/>), held here without a list made for it.
/// </remarks>
public readonly record struct QueryOutcome
{
    // The samples: a list (_count < 0), or _count samples of an array from _offset.
    private readonly object? _samples;
    private readonly int _offset;
    private readonly int _count;

    private QueryOutcome(QuerySpec spec, string resolvedAt, object? samples, int offset, int count, string? error, string? unavailable)
    {
        Spec = spec;
        ResolvedAt = resolvedAt;
        _samples = samples;
        _offset = offset;
        _count = count;
        Error = error;
        Unavailable = unavailable;
    }

    public QuerySpec Spec { get; }

    /// <summary>When (or over which window) the query was evaluated, for evidence: an RFC 3339 time or a range.</summary>
    public string ResolvedAt { get; }

    /// <summary>The samples, when the query succeeded.</summary>
    public IReadOnlyList<Sample>? Samples => _samples switch
    {
        null => null,
        Sample[] array when _count >= 0 => new ArraySegment<Sample>(array, _offset, _count),
        var list => (IReadOnlyList<Sample>)list,
    };

    /// <summary>The samples as <see cref="Samples"/> gives them, without a list made for a slice (an empty view when the query did not succeed).</summary>
    internal SampleView View => _samples switch
    {
        null => default,
        Sample[] array when _count >= 0 => new SampleView(array, _offset, _count),
        var list => new SampleView((IReadOnlyList<Sample>)list),
    };

    /// <summary>Whether the query succeeded (<see cref="Samples"/> is not null).</summary>
    public bool Succeeded => _samples is not null;

    /// <summary>The backend error, when the query failed.</summary>
    public string? Error { get; }

    /// <summary>Why the query could not be made at all (e.g. no deploy time known for a before-deploy baseline).</summary>
    public string? Unavailable { get; }

    public static QueryOutcome Success(QuerySpec spec, string resolvedAt, IReadOnlyList<Sample> samples)
    {
        ArgumentNullException.ThrowIfNull(samples);
        return new(spec, resolvedAt, samples, 0, -1, null, null);
    }

    /// <summary>Samples that are a slice of a larger array (a backtest's slot of a range result).</summary>
    /// <remarks>Named apart from <see cref="Success(QuerySpec, string, IReadOnlyList{Sample})"/>: an array would otherwise bind to this one.</remarks>
    public static QueryOutcome SuccessSlice(QuerySpec spec, string resolvedAt, ArraySegment<Sample> samples) =>
        new(spec, resolvedAt, samples.Array ?? [], samples.Array is null ? 0 : samples.Offset, samples.Count, null, null);

    public static QueryOutcome Failure(QuerySpec spec, string resolvedAt, string error) => new(spec, resolvedAt, null, 0, 0, error, null);

    public static QueryOutcome NotAvailable(QuerySpec spec, string reason) => new(spec, "-", null, 0, 0, null, reason);

    /// <summary>Outcomes are equal when they say the same: the same samples, however they are held.</summary>
    public bool Equals(QueryOutcome other) =>
        Equals(Spec, other.Spec)
        && ResolvedAt == other.ResolvedAt
        && Error == other.Error
        && Unavailable == other.Unavailable
        && (Samples, other.Samples) switch
        {
            (null, null) => true,
            ({ } a, { } b) => a.SequenceEqual(b),
            _ => false,
        };

    public override int GetHashCode() => HashCode.Combine(Spec, ResolvedAt, Error, Unavailable);
}

/// <summary>
/// A query's samples as the evaluator reads them: a list, or a slice of an array, indexed without a list made for the
/// slice. The default view is empty.
/// </summary>
internal readonly struct SampleView
{
    private readonly IReadOnlyList<Sample>? _list;
    private readonly Sample[]? _array;
    private readonly int _offset;

    public SampleView(IReadOnlyList<Sample> list)
    {
        _list = list;
        Count = list.Count;
    }

    public SampleView(Sample[] array, int offset, int count)
    {
        _array = array;
        _offset = offset;
        Count = count;
    }

    public int Count { get; }

    public Sample this[int index] => _array is not null ? _array[_offset + index] : _list![index];

    /// <summary>A before-deploy baseline's samples, which know which change each was measured before (else null).</summary>
    public ChangeBaselineSamples? Scoped => _list as ChangeBaselineSamples;
}
