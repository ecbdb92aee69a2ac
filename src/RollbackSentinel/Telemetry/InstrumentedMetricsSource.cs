using RollbackSentinel.Core.Metrics;

namespace RollbackSentinel.Telemetry;

public static class MetricsSourceTelemetryExtensions
{
    /// <summary>
    /// Wraps <paramref name="source"/> so each request's duration goes to
    /// <c>rollback_sentinel_backend_request_duration_seconds</c> and each failure to
    /// <c>rollback_sentinel_backend_request_errors_total</c>. Cancellation by the caller is neither.
    /// </summary>
    public static IMetricsSource WithMetrics(this IMetricsSource source, SentinelMetrics metrics, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(metrics);
        ArgumentNullException.ThrowIfNull(time);
        return new InstrumentedMetricsSource(source, metrics, time);
    }
}

internal sealed class InstrumentedMetricsSource(IMetricsSource inner, SentinelMetrics metrics, TimeProvider time) : IMetricsSource
{
    public Task<IReadOnlyList<Sample>> QueryAsync(string query, DateTimeOffset at, CancellationToken cancellationToken) =>
        MeasureAsync(SentinelMetrics.BackendEndpoints.Query, () => inner.QueryAsync(query, at, cancellationToken));

    public Task<IReadOnlyList<RangeSeries>> QueryRangeAsync(
        string query, DateTimeOffset start, DateTimeOffset end, TimeSpan step, CancellationToken cancellationToken) =>
        MeasureAsync(SentinelMetrics.BackendEndpoints.QueryRange, () => inner.QueryRangeAsync(query, start, end, step, cancellationToken));

    private async Task<T> MeasureAsync<T>(string endpoint, Func<Task<T>> call)
    {
        var started = time.GetTimestamp();
        try
        {
            var result = await call().ConfigureAwait(false);
            metrics.RecordBackendRequest(endpoint, time.GetElapsedTime(started));
            return result;
        }
        catch (MetricsQueryException e)
        {
            metrics.RecordBackendRequest(endpoint, time.GetElapsedTime(started), e.Kind);
            throw;
        }
    }
}
