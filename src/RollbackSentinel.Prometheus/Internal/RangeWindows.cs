using RollbackSentinel.Core.Metrics;

namespace RollbackSentinel.Prometheus.Internal;

/// <summary>
/// Splits a range query into windows Prometheus accepts (it refuses more than 11,000 points per
/// series) and merges the answers back into one series per label set.
/// </summary>
internal static class RangeWindows
{
    /// <summary>Points per request; below Prometheus' 11,000 limit with room to spare.</summary>
    public const int MaxPointsPerRequest = 10_000;

    /// <summary>
    /// Windows covering start, start+step, ... up to end. Each window starts on that grid, so every
    /// evaluation timestamp is exactly start + k*step, and windows do not share a point.
    /// </summary>
    public static IEnumerable<(long StartMs, long EndMs)> Split(long startMs, long endMs, long stepMs, int maxPoints = MaxPointsPerRequest)
    {
        var lastIndex = (endMs - startMs) / stepMs;
        for (long first = 0; first <= lastIndex; first += maxPoints)
        {
            var last = Math.Min(first + maxPoints - 1, lastIndex);
            yield return (startMs + (first * stepMs), startMs + (last * stepMs));
        }
    }

    /// <summary>Concatenates each series' points across windows, in window order, dropping repeated timestamps.</summary>
    public static IReadOnlyList<RangeSeries> Merge(IEnumerable<List<ParsedSeries>> windows)
    {
        var order = new List<ParsedSeries>();
        var byIdentity = new Dictionary<string, ParsedSeries>(StringComparer.Ordinal);
        foreach (var window in windows)
        {
            foreach (var series in window)
            {
                if (!byIdentity.TryGetValue(series.Identity, out var merged))
                {
                    byIdentity.Add(series.Identity, series);
                    order.Add(series);
                    continue;
                }

                merged.Points.AppendAfterLast(series.Points);
            }
        }

        return order.Select(s => new RangeSeries(s.Labels, s.Points)).ToList();
    }
}
