namespace RollbackSentinel.Testing.Prometheus;

/// <summary>One sample of a synthetic series. Timestamps are stored at millisecond resolution, as in Prometheus.</summary>
public readonly record struct MetricPoint(DateTimeOffset Timestamp, double Value);

/// <summary>An OpenMetrics family type, as written in <c># TYPE</c>.</summary>
public enum MetricType
{
    Counter,
    Gauge,
    Histogram,
    Summary,
    Unknown,
}
