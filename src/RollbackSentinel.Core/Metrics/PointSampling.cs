namespace RollbackSentinel.Core.Metrics;

/// <summary>
/// For backends that answer stored points rather than evaluating at an instant (Graphite, InfluxDB, Datadog): the value of
/// a series at an instant is its newest point at or before that instant and newer than the lookback, as Prometheus does.
/// A missing point (Graphite's null) is a gap: it is never a zero, and past the lookback the series has no value.
/// </summary>
public static class PointSampling
{
    /// <summary>The newest point in (<paramref name="at"/> - <paramref name="lookback"/>, <paramref name="at"/>]; false when there is none.</summary>
    /// <param name="points">The series' points in time order.</param>
    public static bool TryValueAt(IReadOnlyList<Point> points, DateTimeOffset at, TimeSpan lookback, out double value)
    {
        ArgumentNullException.ThrowIfNull(points);
        var i = LastAtOrBefore(points, at);
        if (i >= 0 && points[i].Timestamp > at - lookback)
        {
            value = points[i].Value;
            return true;
        }

        value = double.NaN;
        return false;
    }

    /// <summary>
    /// The series as a range query answers it: a point at <paramref name="start"/>, start + step, ... up to
    /// <paramref name="end"/> (inclusive) wherever <see cref="TryValueAt"/> finds a value.
    /// </summary>
    public static IReadOnlyList<Point> Resample(IReadOnlyList<Point> points, DateTimeOffset start, DateTimeOffset end, TimeSpan step, TimeSpan lookback)
    {
        ArgumentNullException.ThrowIfNull(points);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(step, TimeSpan.Zero);
        var sampled = new List<Point>();
        var i = -1;
        for (var at = start; at <= end; at += step)
        {
            // The instants only move forward, so the newest point at or before each one only moves forward too.
            while (i + 1 < points.Count && points[i + 1].Timestamp <= at)
            {
                i++;
            }

            if (i >= 0 && points[i].Timestamp > at - lookback)
            {
                sampled.Add(new Point(at, points[i].Value));
            }
        }

        return sampled;
    }

    /// <summary>The instant query's answer from stored series: one sample per series that has a value at <paramref name="at"/>.</summary>
    public static IReadOnlyList<Sample> ValuesAt(IReadOnlyList<RangeSeries> series, DateTimeOffset at, TimeSpan lookback)
    {
        ArgumentNullException.ThrowIfNull(series);
        var samples = new List<Sample>(series.Count);
        foreach (var s in series)
        {
            if (TryValueAt(s.Points, at, lookback, out var value))
            {
                samples.Add(new Sample(s.Labels, value));
            }
        }

        return samples;
    }

    /// <summary>
    /// The range query's answer from stored series: each series <see cref="Resample"/>d; a series with no value at any
    /// instant is left out, as Prometheus leaves it out.
    /// </summary>
    public static IReadOnlyList<RangeSeries> ResampleAll(IReadOnlyList<RangeSeries> series, DateTimeOffset start, DateTimeOffset end, TimeSpan step, TimeSpan lookback)
    {
        ArgumentNullException.ThrowIfNull(series);
        var result = new List<RangeSeries>(series.Count);
        foreach (var s in series)
        {
            var points = Resample(s.Points, start, end, step, lookback);
            if (points.Count > 0)
            {
                result.Add(new RangeSeries(s.Labels, points));
            }
        }

        return result;
    }

    private static int LastAtOrBefore(IReadOnlyList<Point> points, DateTimeOffset at)
    {
        int lo = 0, hi = points.Count - 1, found = -1;
        while (lo <= hi)
        {
            var mid = lo + ((hi - lo) / 2);
            if (points[mid].Timestamp <= at)
            {
                found = mid;
                lo = mid + 1;
            }
            else
            {
                hi = mid - 1;
            }
        }

        return found;
    }
}
