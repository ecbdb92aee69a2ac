namespace RollbackSentinel.Testing.Prometheus;

/// <summary>Builds sample sequences from functions of time, scraped at a fixed interval.</summary>
public static class SyntheticSeries
{
    /// <summary>
    /// A counter whose increase follows <paramref name="perSecondRate"/>: scraped at from, from+interval,
    /// ... up to to (inclusive), starting at 0; the value at each scrape is the sum of rate*interval over
    /// the earlier scrapes. A null rate means the target was not scraped then (a gap): no sample, and
    /// no increase for that interval. So a constant rate r gives <c>rate(x[1m]) == r</c>.
    /// </summary>
    public static IReadOnlyList<MetricPoint> Counter(
        DateTimeOffset from, DateTimeOffset to, TimeSpan scrapeInterval, Func<DateTimeOffset, double?> perSecondRate)
    {
        ArgumentNullException.ThrowIfNull(perSecondRate);
        var points = new List<MetricPoint>();
        var total = 0.0;
        foreach (var t in ScrapeTimes(from, to, scrapeInterval))
        {
            if (perSecondRate(t) is not { } rate)
            {
                continue;
            }

            if (rate < 0 || double.IsNaN(rate))
            {
                throw new ArgumentOutOfRangeException(nameof(perSecondRate), rate, $"A counter's rate must be >= 0; got {rate} at {t:O}.");
            }

            points.Add(new MetricPoint(t, total));
            total += rate * scrapeInterval.TotalSeconds;
        }

        return points;
    }

    /// <summary>A gauge scraped at from, from+interval, ... up to to (inclusive); a null value is a gap.</summary>
    public static IReadOnlyList<MetricPoint> Gauge(
        DateTimeOffset from, DateTimeOffset to, TimeSpan scrapeInterval, Func<DateTimeOffset, double?> value)
    {
        ArgumentNullException.ThrowIfNull(value);
        return ScrapeTimes(from, to, scrapeInterval)
            .Select(t => (Time: t, Value: value(t)))
            .Where(s => s.Value.HasValue)
            .Select(s => new MetricPoint(s.Time, s.Value!.Value))
            .ToList();
    }

    private static IEnumerable<DateTimeOffset> ScrapeTimes(DateTimeOffset from, DateTimeOffset to, TimeSpan interval)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(interval, TimeSpan.FromMilliseconds(1), nameof(interval));
        ArgumentOutOfRangeException.ThrowIfLessThan(to, from, nameof(to));
        for (var t = from; t <= to; t += interval)
        {
            yield return t;
        }
    }
}
