using RollbackSentinel.Testing.Prometheus;

namespace RollbackSentinel.Prometheus.Tests.Fixtures;

public sealed class SyntheticSeriesTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 20, 0, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan Scrape = TimeSpan.FromSeconds(10);

    [Fact]
    public void Counter_ConstantRate_IntegratesFromZero()
    {
        var points = SyntheticSeries.Counter(T0, T0.AddSeconds(30), Scrape, _ => 2);

        Assert.Equal([new(T0, 0), new(T0.AddSeconds(10), 20), new(T0.AddSeconds(20), 40), new(T0.AddSeconds(30), 60)], points);
    }

    [Fact]
    public void Counter_NullRate_LeavesAGapAndDoesNotIncrease()
    {
        var gap = T0.AddSeconds(20);

        var points = SyntheticSeries.Counter(T0, T0.AddSeconds(40), Scrape, t => t == gap ? null : (t - T0).TotalSeconds);

        // Rates 0, 10, (gap), 30, 40: each sample is the sum of rate*10 s over the earlier samples.
        Assert.Equal([new(T0, 0), new(T0.AddSeconds(10), 0), new(T0.AddSeconds(30), 100), new(T0.AddSeconds(40), 400)], points);
    }

    [Fact]
    public void Counter_NegativeRate_ThrowsNamingTheTime()
    {
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => SyntheticSeries.Counter(T0, T0.AddSeconds(10), Scrape, _ => -1));

        Assert.Contains(T0.ToString("O"), ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Gauge_NullValue_LeavesAGap()
    {
        var points = SyntheticSeries.Gauge(T0, T0.AddSeconds(20), Scrape, t => t == T0.AddSeconds(10) ? null : 5);

        Assert.Equal([new(T0, 5), new(T0.AddSeconds(20), 5)], points);
    }
}
