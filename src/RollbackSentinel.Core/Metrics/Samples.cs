namespace RollbackSentinel.Core.Metrics;

/// <summary>One series' value at one instant. The value may be NaN or infinite: Prometheus returns both.</summary>
public readonly record struct Sample(LabelSet Labels, double Value);

/// <summary>One point of a range series.</summary>
public readonly record struct Point(DateTimeOffset Timestamp, double Value);

/// <summary>One series of a range query: its labels and its points in time order.</summary>
public sealed record RangeSeries(LabelSet Labels, IReadOnlyList<Point> Points);
