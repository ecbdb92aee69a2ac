namespace RollbackSentinel.Core.Policies;

/// <summary>The kind-specific part of a trigger.</summary>
public abstract record TriggerCondition
{
    /// <summary>The short kind name used in the policy format and in evidence.</summary>
    public abstract string Kind { get; }
}

/// <summary>Breach when errors / total &gt; <see cref="Max"/>; inconclusive when total &lt; <see cref="MinTotal"/>.</summary>
public sealed record ErrorRateCondition(string Errors, string Total, double Max, double MinTotal) : TriggerCondition
{
    public override string Kind => "errorRate";
}

/// <summary>
/// One pair of a burn-rate trigger: it breaches when the error budget burns faster than <see cref="Factor"/> over both
/// <see cref="Long"/> and <see cref="Short"/> (the long window says it is significant, the short one that it is still going on).
/// </summary>
public sealed record BurnRateWindow(TimeSpan Long, TimeSpan Short, double Factor)
{
    public override string ToString() => $"{PromDuration.Format(Long)}/{PromDuration.Format(Short)}";
}

/// <summary>
/// Multi-window, multi-burn-rate SLO alerting (the SRE workbook): the burn rate of a window is its error ratio
/// (<see cref="Errors"/> / <see cref="Total"/>, with <see cref="WindowPlaceholder"/> replaced by the window) divided by
/// the error budget (1 - <see cref="Objective"/>/100); a pair breaches when both its windows burn faster than its factor,
/// the trigger when any pair does. Inconclusive when the total over a pair's short window is below <see cref="MinTotal"/>.
/// </summary>
public sealed record BurnRateCondition(double Objective, TimeSpan Period, string Errors, string Total, IReadOnlyList<BurnRateWindow> Windows, double MinTotal)
    : TriggerCondition
{
    /// <summary>Where each window goes in <see cref="Errors"/> and <see cref="Total"/>.</summary>
    public const string WindowPlaceholder = "{{window}}";

    /// <summary>The SLO period when a trigger sets none.</summary>
    public static readonly TimeSpan DefaultPeriod = TimeSpan.FromDays(30);

    /// <summary>The SRE workbook's two paging pairs: 2% of a 30-day budget in an hour, 5% in six hours.</summary>
    public static readonly IReadOnlyList<BurnRateWindow> DefaultWindows =
    [
        new(TimeSpan.FromHours(1), TimeSpan.FromMinutes(5), 14.4),
        new(TimeSpan.FromHours(6), TimeSpan.FromMinutes(30), 6),
    ];

    public override string Kind => "burnRate";

    /// <summary>The error ratio the objective allows (0.001 for 99.9): a burn rate of 1 spends exactly the budget over the period.</summary>
    public double Budget => (double)ExactBudget;

    /// <summary>
    /// <see cref="Budget"/> in decimal, exact for the objective as written: in binary floating point
    /// <c>1 - 99.9 / 100</c> is 0.0009999999999998899, which would make an error ratio of exactly 14.4 x 0.001 a burn
    /// rate above 14.4, a breach of a strict "faster than".
    /// </summary>
    public decimal ExactBudget => BudgetOf(Objective);

    /// <summary>The error budget <c>(100 - objective) / 100</c> in decimal (the objective as written: 15 significant digits).</summary>
    public static decimal BudgetOf(double objective) => (100m - (decimal)objective) / 100m;

    /// <summary>Every distinct window of the pairs, in the order the pairs name them (long before short).</summary>
    public IReadOnlyList<TimeSpan> DistinctWindows => Windows.SelectMany(w => (TimeSpan[])[w.Long, w.Short]).Distinct().ToArray();

    /// <summary><paramref name="query"/> with <see cref="WindowPlaceholder"/> replaced by <paramref name="window"/> in Prometheus syntax (<c>1h</c>).</summary>
    public static string Over(string query, TimeSpan window)
    {
        ArgumentNullException.ThrowIfNull(query);
        return query.Replace(WindowPlaceholder, PromDuration.Format(window), StringComparison.Ordinal);
    }

    // Records compare lists by reference and print their type name: the pairs are compared and printed by value, so a
    // reload that changes a pair is seen (PolicyComparer, the state machine's trigger fingerprint).
    public bool Equals(BurnRateCondition? other) =>
        other is not null
        && Objective.Equals(other.Objective)
        && Period == other.Period
        && Errors == other.Errors
        && Total == other.Total
        && MinTotal.Equals(other.MinTotal)
        && Windows.SequenceEqual(other.Windows);

    public override int GetHashCode() => HashCode.Combine(Objective, Period, Errors, Total, MinTotal, Windows.Count);

    protected override bool PrintMembers(System.Text.StringBuilder builder)
    {
        builder.Append(System.Globalization.CultureInfo.InvariantCulture, $"Objective = {Objective}, Period = {PromDuration.Format(Period)}, Errors = {Errors}, Total = {Total}, ")
            .Append("Windows = [").AppendJoin(", ", Windows.Select(w => $"{w} x{w.Factor.ToString(System.Globalization.CultureInfo.InvariantCulture)}")).Append("], ")
            .Append(System.Globalization.CultureInfo.InvariantCulture, $"MinTotal = {MinTotal}");
        return true;
    }
}

/// <summary>Breach when the value exceeds its baseline by <see cref="MaxRatio"/> and/or <see cref="MaxIncrease"/> (seconds).</summary>
public sealed record LatencyCondition(string Query, Baseline Baseline, double? MaxRatio, double? MaxIncrease) : TriggerCondition
{
    public override string Kind => "latency";
}

/// <summary>Breach when the value is below <see cref="Min"/>.</summary>
public sealed record AvailabilityCondition(string Query, double Min) : TriggerCondition
{
    public override string Kind => "availability";
}

/// <summary>Comparison operators of a threshold trigger.</summary>
public enum ComparisonOperator
{
    GreaterThan,
    GreaterOrEqual,
    LessThan,
    LessOrEqual,
}

/// <summary>Breach when <c>value op Value</c> holds.</summary>
public sealed record ThresholdCondition(string Query, ComparisonOperator Op, double Value) : TriggerCondition
{
    public override string Kind => "threshold";
}

/// <summary>What a latency value is compared with.</summary>
public abstract record Baseline;

/// <summary>Another query, typically the stable track.</summary>
public sealed record QueryBaseline(string Query) : Baseline;

/// <summary>The trigger's own query, evaluated <see cref="Offset"/> earlier (e.g. the same time yesterday).</summary>
public sealed record OffsetBaseline(TimeSpan Offset) : Baseline;

/// <summary>The trigger's own query averaged over <see cref="Window"/> before the deploy began.</summary>
public sealed record BeforeDeployBaseline(TimeSpan Window) : Baseline;

public static class ComparisonOperatorExtensions
{
    public static string Symbol(this ComparisonOperator op) => op switch
    {
        ComparisonOperator.GreaterThan => ">",
        ComparisonOperator.GreaterOrEqual => ">=",
        ComparisonOperator.LessThan => "<",
        ComparisonOperator.LessOrEqual => "<=",
        _ => throw new ArgumentOutOfRangeException(nameof(op), op, null),
    };

    public static bool Holds(this ComparisonOperator op, double left, double right) => op switch
    {
        ComparisonOperator.GreaterThan => left > right,
        ComparisonOperator.GreaterOrEqual => left >= right,
        ComparisonOperator.LessThan => left < right,
        ComparisonOperator.LessOrEqual => left <= right,
        _ => throw new ArgumentOutOfRangeException(nameof(op), op, null),
    };

    public static ComparisonOperator? FromSymbol(string? symbol) => symbol switch
    {
        ">" => ComparisonOperator.GreaterThan,
        ">=" => ComparisonOperator.GreaterOrEqual,
        "<" => ComparisonOperator.LessThan,
        "<=" => ComparisonOperator.LessOrEqual,
        _ => null,
    };
}
