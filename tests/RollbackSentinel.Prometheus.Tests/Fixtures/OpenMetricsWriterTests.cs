using RollbackSentinel.Testing.Prometheus;

namespace RollbackSentinel.Prometheus.Tests.Fixtures;

public sealed class OpenMetricsWriterTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 20, 0, 0, 0, TimeSpan.Zero);

    [Fact]
    public void Render_CounterGaugeAndBuckets_WritesFamiliesTogetherWithSecondTimestampsAndEof()
    {
        var writer = new OpenMetricsWriter()
            .Counter("http_requests", [("app", "a"), ("code", "500")], [new(T0, 0), new(T0.AddSeconds(15), 7.5)])
            .Gauge("queue_depth", [], [new(T0.AddMilliseconds(250), double.NaN)])
            .Counter("http_requests_total", [("app", "b")], [new(T0, 1)])
            .HistogramBucket("latency_seconds", [("app", "a")], 0.25, [new(T0, 3)])
            .HistogramBucket("latency_seconds", [("app", "a")], double.PositiveInfinity, [new(T0, 4)]);

        Assert.Equal(
            """
            # TYPE http_requests counter
            http_requests_total{app="a",code="500"} 0 1795132800
            http_requests_total{app="a",code="500"} 7.5 1795132815
            http_requests_total{app="b"} 1 1795132800
            # TYPE queue_depth gauge
            queue_depth NaN 1795132800.25
            # TYPE latency_seconds histogram
            latency_seconds_bucket{app="a",le="0.25"} 3 1795132800
            latency_seconds_bucket{app="a",le="+Inf"} 4 1795132800
            # EOF

            """.ReplaceLineEndings("\n"),
            writer.Render());
        Assert.Equal(5, writer.SeriesCount);
    }

    [Fact]
    public void Render_LabelValueWithQuoteBackslashAndNewline_EscapesThem()
    {
        var text = new OpenMetricsWriter().Gauge("g", [("v", "a\"b\\c\nd")], [new(T0, -1.5e-7)]).Render();

        Assert.Contains("g{v=\"a\\\"b\\\\c\\nd\"} -1.5E-07 1795132800\n", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Render_Nothing_WritesOnlyEof() => Assert.Equal("# EOF\n", new OpenMetricsWriter().Render());

    [Fact]
    public void Add_TimestampsNotIncreasing_ThrowsNamingTheSeries()
    {
        var writer = new OpenMetricsWriter();

        var ex = Assert.Throws<ArgumentException>(() => writer.Gauge("g", [], [new(T0, 1), new(T0, 2)]));

        Assert.Contains("'g' must have strictly increasing timestamps", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Add_SameSeriesTwiceInAnyLabelOrder_Throws()
    {
        var writer = new OpenMetricsWriter().Gauge("g", [("a", "1"), ("b", "2")], [new(T0, 1)]);

        var ex = Assert.Throws<ArgumentException>(() => writer.Gauge("g", [("b", "2"), ("a", "1")], [new(T0.AddSeconds(1), 1)]));

        Assert.Contains("already added", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Add_FamilyWithAnotherType_Throws()
    {
        var writer = new OpenMetricsWriter().Gauge("requests", [], [new(T0, 1)]);

        var ex = Assert.Throws<ArgumentException>(() => writer.Counter("requests", [("x", "y")], [new(T0, 1)]));

        Assert.Contains("was added as Gauge, not Counter", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("1metric", "ok")]
    [InlineData("metric-name", "ok")]
    [InlineData("metric", "bad-label")]
    [InlineData("metric", "__reserved")]
    public void Add_InvalidNames_Throws(string metric, string label) =>
        Assert.Throws<ArgumentException>(() => new OpenMetricsWriter().Gauge(metric, [(label, "v")], [new(T0, 1)]));

    [Fact]
    public void HistogramBucket_LeAsLabel_Throws() =>
        Assert.Throws<ArgumentException>(() => new OpenMetricsWriter().HistogramBucket("h", [("le", "1")], 1, [new(T0, 1)]));
}
