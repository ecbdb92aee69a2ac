using System.Diagnostics;
using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Core.Policies;

namespace RollbackSentinel.Daemon;

/// <summary>
/// Gives one evaluation's queries a shared time budget. A query that would run past it fails as a timeout,
/// which the engine turns into an <c>error</c> verdict: a hung Prometheus then shows up as errors (reported,
/// resetting pending triggers) instead of evaluations that silently never finish.
/// </summary>
/// <param name="inner">The backend.</param>
/// <param name="budget">The evaluation's budget.</param>
/// <param name="spent">What of it earlier queries of the same evaluation used already (the detect query's).</param>
internal sealed class DeadlineMetricsSource(IMetricsSource inner, TimeSpan budget, TimeSpan spent = default) : IMetricsSource
{
    private readonly long _started = Stopwatch.GetTimestamp();

    public Task<IReadOnlyList<Sample>> QueryAsync(string query, DateTimeOffset time, CancellationToken cancellationToken) =>
        WithinBudgetAsync(query, ct => inner.QueryAsync(query, time, ct), cancellationToken);

    public Task<IReadOnlyList<RangeSeries>> QueryRangeAsync(string query, DateTimeOffset start, DateTimeOffset end, TimeSpan step, CancellationToken cancellationToken) =>
        WithinBudgetAsync(query, ct => inner.QueryRangeAsync(query, start, end, step, ct), cancellationToken);

    private async Task<T> WithinBudgetAsync<T>(string query, Func<CancellationToken, Task<T>> call, CancellationToken cancellationToken)
    {
        var remaining = budget - spent - Stopwatch.GetElapsedTime(_started);
        if (remaining <= TimeSpan.Zero)
        {
            throw new MetricsQueryException(MetricsErrorKind.Timeout, query, $"the evaluation's time budget ({PromDuration.Format(budget)}) was used up before this query ran");
        }

        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(remaining);
        try
        {
            return await call(deadline.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new MetricsQueryException(MetricsErrorKind.Timeout, query, $"no answer within the evaluation's time budget ({PromDuration.Format(budget)})");
        }
    }
}
