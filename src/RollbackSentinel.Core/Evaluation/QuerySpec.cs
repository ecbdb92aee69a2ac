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
public sealed record QueryOutcome
{
    private QueryOutcome(QuerySpec spec, string resolvedAt, IReadOnlyList<Sample>? samples, string? error, string? unavailable)
    {
        Spec = spec;
        ResolvedAt = resolvedAt;
        Samples = samples;
        Error = error;
        Unavailable = unavailable;
    }

    public QuerySpec Spec { get; }

    /// <summary>When (or over which window) the query was evaluated, for evidence: an RFC 3339 time or a range.</summary>
    public string ResolvedAt { get; }

    /// <summary>The samples, when the query succeeded.</summary>
    public IReadOnlyList<Sample>? Samples { get; }

    /// <summary>The backend error, when the query failed.</summary>
    public string? Error { get; }

    /// <summary>Why the query could not be made at all (e.g. no deploy time known for a before-deploy baseline).</summary>
    public string? Unavailable { get; }

    public static QueryOutcome Success(QuerySpec spec, string resolvedAt, IReadOnlyList<Sample> samples) => new(spec, resolvedAt, samples, null, null);

    public static QueryOutcome Failure(QuerySpec spec, string resolvedAt, string error) => new(spec, resolvedAt, null, error, null);

    public static QueryOutcome NotAvailable(QuerySpec spec, string reason) => new(spec, "-", null, null, reason);
}
