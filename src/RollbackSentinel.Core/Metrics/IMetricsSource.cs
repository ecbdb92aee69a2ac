namespace RollbackSentinel.Core.Metrics;

/// <summary>
/// The metrics backend as the engine sees it: PromQL instant and range queries. Implementations do the
/// I/O; failures surface as <see cref="MetricsQueryException"/> so the engine can turn them into an
/// <c>error</c> verdict, never a pass.
/// </summary>
public interface IMetricsSource
{
    /// <summary>Evaluates <paramref name="query"/> at <paramref name="time"/>. A scalar result is one sample with no labels.</summary>
    Task<IReadOnlyList<Sample>> QueryAsync(string query, DateTimeOffset time, CancellationToken cancellationToken);

    /// <summary>Evaluates <paramref name="query"/> at start, start+step, ... up to end (inclusive), like <c>/api/v1/query_range</c>.</summary>
    Task<IReadOnlyList<RangeSeries>> QueryRangeAsync(
        string query, DateTimeOffset start, DateTimeOffset end, TimeSpan step, CancellationToken cancellationToken);
}
