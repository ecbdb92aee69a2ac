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
