using RollbackSentinel.Core.Metrics;

namespace RollbackSentinel.Core.Tests.Support;

/// <summary>
/// An in-memory metrics backend defined by a function of (query, time), answering instant and range queries
/// consistently, as Prometheus does: a range query's point at t equals the instant query at t. Records calls.
/// </summary>
internal sealed class FunctionMetricsSource(Func<string, DateTimeOffset, IReadOnlyList<Sample>> evaluate) : IMetricsSource
{
    public List<string> InstantCalls { get; } = [];

    public List<(string Query, DateTimeOffset Start, DateTimeOffset End, TimeSpan Step)> RangeCalls { get; } = [];

    public Func<string, MetricsQueryException?> Fail { get; init; } = _ => null;

    public Task<IReadOnlyList<Sample>> QueryAsync(string query, DateTimeOffset time, CancellationToken cancellationToken)
    {
        lock (InstantCalls)
        {
            InstantCalls.Add(query);
        }

        return Fail(query) is { } e ? Task.FromException<IReadOnlyList<Sample>>(e) : Task.FromResult(evaluate(query, time));
    }

    public Task<IReadOnlyList<RangeSeries>> QueryRangeAsync(string query, DateTimeOffset start, DateTimeOffset end, TimeSpan step, CancellationToken cancellationToken)
    {
        lock (RangeCalls)
        {
            RangeCalls.Add((query, start, end, step));
        }

        if (Fail(query) is { } e)
        {
            return Task.FromException<IReadOnlyList<RangeSeries>>(e);
        }

        var points = new Dictionary<LabelSet, List<Point>>();
        for (var t = start; t <= end; t += step)
        {
            foreach (var s in evaluate(query, t))
            {
                if (!points.TryGetValue(s.Labels, out var list))
                {
                    points[s.Labels] = list = [];
                }

                list.Add(new Point(t, s.Value));
            }
        }

        return Task.FromResult<IReadOnlyList<RangeSeries>>(points.Select(p => new RangeSeries(p.Key, p.Value)).ToArray());
    }
}
