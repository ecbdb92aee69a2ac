using RollbackSentinel.Core.Metrics;

namespace RollbackSentinel.Core.Evaluation;

/// <summary>Resolves queries with instant queries against the live backend, as the daemon does.</summary>
public sealed class InstantQueryResolver : IQueryResolver
{
    private readonly IMetricsSource _source;
    private readonly Func<DateTimeOffset?> _deployedAt;

    /// <param name="source">The metrics backend.</param>
    /// <param name="deployedAt">When the watched deploy began, if known (for before-deploy baselines).</param>
    public InstantQueryResolver(IMetricsSource source, Func<DateTimeOffset?> deployedAt)
    {
        _source = source;
        _deployedAt = deployedAt;
    }

    public async ValueTask<QueryOutcome> ResolveAsync(QuerySpec spec, DateTimeOffset at, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(spec);
        switch (spec.Time)
        {
            case OffsetQueryTime o:
                return await InstantAsync(spec, at - o.Offset, cancellationToken).ConfigureAwait(false);

            case BeforeDeployQueryTime b:
                if (_deployedAt() is not { } deployedAt)
                {
                    return QueryOutcome.NotAvailable(spec, NoDeployTime);
                }

                if (at < deployedAt)
                {
                    return QueryOutcome.NotAvailable(spec, DeployNotBegun);
                }

                var step = BeforeDeployStep(b.Window);
                var window = Rfc3339.Range(deployedAt - b.Window, deployedAt);
                try
                {
                    var series = await _source.QueryRangeAsync(spec.Expression, deployedAt - b.Window, deployedAt, step, cancellationToken).ConfigureAwait(false);
                    return QueryOutcome.Success(spec, window, AverageEachSeries(series));
                }
                catch (MetricsQueryException e)
                {
                    return QueryOutcome.Failure(spec, window, e.Message);
                }

            default:
                return await InstantAsync(spec, at, cancellationToken).ConfigureAwait(false);
        }
    }

    public const string NoDeployTime = "no deploy time is known for a before-deploy baseline";

    /// <summary>Before the deploy there is nothing to compare with "before the deploy" (and its window is not over yet).</summary>
    public const string DeployNotBegun = "the deploy has not begun yet";

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
