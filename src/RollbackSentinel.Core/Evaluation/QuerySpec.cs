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
    public const string ValueRole = "value";
    public const string BaselineRole = "baseline";
    public const string ErrorsRole = "errors";
    public const string TotalRole = "total";

    /// <summary>The queries a condition needs, in a stable order.</summary>
    public static IReadOnlyList<QuerySpec> For(TriggerCondition condition) => condition switch
    {
        ErrorRateCondition e => [new(ErrorsRole, e.Errors, QueryTime.AtEvaluation), new(TotalRole, e.Total, QueryTime.AtEvaluation)],
        LatencyCondition l => [new(ValueRole, l.Query, QueryTime.AtEvaluation), BaselineSpec(l)],
        AvailabilityCondition a => [new(ValueRole, a.Query, QueryTime.AtEvaluation)],
        ThresholdCondition t => [new(ValueRole, t.Query, QueryTime.AtEvaluation)],
        _ => throw new ArgumentOutOfRangeException(nameof(condition), condition, "unknown condition kind"),
    };

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
