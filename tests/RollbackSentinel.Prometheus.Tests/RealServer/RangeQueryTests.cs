using RollbackSentinel.Core.Metrics;
using static RollbackSentinel.Prometheus.Tests.RealServer.HistoryFixture;

namespace RollbackSentinel.Prometheus.Tests.RealServer;

[Collection(RealPrometheusCollection.Name)]
public sealed class RangeQueryTests(HistoryFixture prometheus)
{
    private static readonly LabelSet OrdersQueue = LabelSet.Of(("queue", "orders"));

    [Fact]
    public async Task QueryRangeAsync_GaugeAtMinuteSteps_ReturnsValueAtEachExactStep()
    {
        using var test = new TestClient(prometheus.BaseAddress);
        var start = T0 + TimeSpan.FromMinutes(1);

        var series = await test.Client.QueryRangeAsync(
            "queue_depth", start, start + TimeSpan.FromMinutes(4), TimeSpan.FromMinutes(1), CancellationToken.None);

        var only = Assert.Single(series);
        Assert.Equal(OrdersQueue, only.Labels);
        Assert.Equal(
            [
                new Point(T0 + TimeSpan.FromMinutes(1), 4),
                new Point(T0 + TimeSpan.FromMinutes(2), 8),
                new Point(T0 + TimeSpan.FromMinutes(3), 12),
                new Point(T0 + TimeSpan.FromMinutes(4), 16),
                new Point(T0 + TimeSpan.FromMinutes(5), 20),
            ],
            only.Points);
    }

    [Fact]
    public async Task QueryRangeAsync_RateOverSeveralSeries_ReturnsOneSeriesPerLabelSet()
    {
        using var test = new TestClient(prometheus.BaseAddress);
        var start = T0 + TimeSpan.FromMinutes(10);

        var series = await test.Client.QueryRangeAsync(
            "rate(http_requests_total[1m])", start, start + TimeSpan.FromMinutes(2), TimeSpan.FromSeconds(30), CancellationToken.None);

        Assert.Equal(RequestRates.Count, series.Count);
        foreach (var s in series)
        {
            var rate = RequestRates[(s.Labels["app"], s.Labels["code"])];
            Assert.Equal(5, s.Points.Count);
            Assert.All(s.Points, p => Assert.Equal(rate, p.Value, 9));
            Assert.Equal(start, s.Points[0].Timestamp);
        }
    }

    [Fact]
    public async Task QueryRangeAsync_EndNotOnStep_StopsAtLastStepBeforeEnd()
    {
        using var test = new TestClient(prometheus.BaseAddress);

        var series = await test.Client.QueryRangeAsync(
            "queue_depth", T0, T0 + TimeSpan.FromSeconds(50), TimeSpan.FromSeconds(15), CancellationToken.None);

        Assert.Equal(
            [new Point(T0, 0), new Point(T0.AddSeconds(15), 1), new Point(T0.AddSeconds(30), 2), new Point(T0.AddSeconds(45), 3)],
            Assert.Single(series).Points);
    }

    [Fact]
    public async Task QueryRangeAsync_NoMatchingSeries_ReturnsEmpty()
    {
        using var test = new TestClient(prometheus.BaseAddress);

        var series = await test.Client.QueryRangeAsync(
            "queue_depth{queue=\"nope\"}", T0, T0.AddHours(1), TimeSpan.FromMinutes(1), CancellationToken.None);

        Assert.Empty(series);
    }

    [Fact]
    public async Task QueryRangeAsync_Scalar_ReturnsOneUnlabelledSeries()
    {
        using var test = new TestClient(prometheus.BaseAddress);

        var series = await test.Client.QueryRangeAsync("2 * 21", T0, T0.AddMinutes(2), TimeSpan.FromMinutes(1), CancellationToken.None);

        var only = Assert.Single(series);
        Assert.Same(LabelSet.Empty, only.Labels);
        Assert.Equal([new Point(T0, 42), new Point(T0.AddMinutes(1), 42), new Point(T0.AddMinutes(2), 42)], only.Points);
    }

    [Fact]
    public async Task QueryRangeAsync_MoreThanElevenThousandSteps_ReturnsEveryPointExactlyOnceFromSeveralRequests()
    {
        using var test = new TestClient(prometheus.BaseAddress);
        const int steps = 12_000;

        var series = await test.Client.QueryRangeAsync(
            "queue_depth", T0, T0.AddSeconds(steps), TimeSpan.FromSeconds(1), CancellationToken.None);

        var points = Assert.Single(series).Points;
        Assert.Equal(steps + 1, points.Count);
        for (var k = 0; k <= steps; k++)
        {
            // A 15 s scrape seen every second: the latest sample at or before T0+k.
            Assert.Equal(new Point(T0.AddSeconds(k), k / 15), points[k]);
        }

        Assert.Equal(2, test.Client.RequestCount);
    }

    [Fact]
    public async Task QueryRangeAsync_SyntaxError_ThrowsBadQuery()
    {
        using var test = new TestClient(prometheus.BaseAddress);

        var ex = await Assert.ThrowsAsync<MetricsQueryException>(
            () => test.Client.QueryRangeAsync("rate(queue_depth)", T0, T0.AddMinutes(5), TimeSpan.FromMinutes(1), CancellationToken.None));

        Assert.Equal(MetricsErrorKind.BadQuery, ex.Kind);
        Assert.Contains("expected type range vector", ex.Message, StringComparison.Ordinal);
    }
}
