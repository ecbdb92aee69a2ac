using RollbackSentinel.Core.Changes;
using RollbackSentinel.Core.Metrics;

namespace RollbackSentinel.Core.Evaluation;

/// <summary>Resolves queries with instant queries against the live backend, as the daemon does.</summary>
public sealed class InstantQueryResolver : IQueryResolver
{
    private readonly IMetricsSource _source;
    private readonly ChangeHistory _changes;

    /// <param name="source">The metrics backend.</param>
    /// <param name="changes">The policy's changes: before-deploy baselines are measured before the latest change of each series.</param>
    public InstantQueryResolver(IMetricsSource source, ChangeHistory changes)
    {
        _source = source;
        _changes = changes;
    }

    public async ValueTask<QueryOutcome> ResolveAsync(QuerySpec spec, DateTimeOffset at, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(spec);
        switch (spec.Time)
        {
            case OffsetQueryTime o:
                return await InstantAsync(spec, at - o.Offset, cancellationToken).ConfigureAwait(false);

            case BeforeDeployQueryTime b:
                var ends = ChangeBaselines.WindowEnds(_changes, at);
                if (ends.Count == 0)
                {
                    return QueryOutcome.NotAvailable(spec, ChangeBaselines.NoChangeKnown);
                }

                var step = BeforeDeployStep(b.Window);
                var windows = string.Join(", ", ends.Select(e => Rfc3339.Range(e - b.Window, e)));
                var averages = new Dictionary<DateTimeOffset, IReadOnlyList<Sample>>();
                try
                {
                    foreach (var end in ends)
                    {
                        var series = await _source.QueryRangeAsync(spec.Expression, end - b.Window, end, step, cancellationToken).ConfigureAwait(false);
                        averages[end] = AverageEachSeries(series);
                    }

                    return QueryOutcome.Success(spec, windows, ChangeBaselines.Select(_changes, at, averages));
                }
                catch (MetricsQueryException e)
                {
                    return QueryOutcome.Failure(spec, windows, e.Message);
                }

            default:
                return await InstantAsync(spec, at, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>The before-deploy window is sampled at 30 points, at least a second apart.</summary>
    public static TimeSpan BeforeDeployStep(TimeSpan window) =>
        TimeSpan.FromSeconds(Math.Max(1, Math.Floor(window.TotalSeconds / 30)));

    /// <summary>Each series' mean over its finite points; a series with none drops out.</summary>
    public static IReadOnlyList<Sample> AverageEachSeries(IReadOnlyList<RangeSeries> series) =>
        series
            .Select(s => (s.Labels, Finite: s.Points.Where(p => double.IsFinite(p.Value)).Select(p => p.Value).ToArray()))
            .Where(s => s.Finite.Length > 0)
            .Select(s => new Sample(s.Labels, s.Finite.Average()))
            .ToArray();

    private async ValueTask<QueryOutcome> InstantAsync(QuerySpec spec, DateTimeOffset time, CancellationToken cancellationToken)
    {
        try
        {
            var samples = await _source.QueryAsync(spec.Expression, time, cancellationToken).ConfigureAwait(false);
            return QueryOutcome.Success(spec, Rfc3339.Format(time), samples);
        }
        catch (MetricsQueryException e)
        {
            return QueryOutcome.Failure(spec, Rfc3339.Format(time), e.Message);
        }
    }
}
