using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Prometheus;

namespace RollbackSentinel.Backends.Tests.VictoriaMetrics;

/// <summary>The Prometheus client pointed at a real VictoriaMetrics (backend type <c>victoriametrics</c>).</summary>
public sealed class PrometheusClientOnVictoriaMetricsTests(VictoriaMetricsFixture vm) : IClassFixture<VictoriaMetricsFixture>, IDisposable
{
    private const string Rate = "sum by (code) (rate(http_requests_total{app=\"checkout\"}[5m]))";

    private readonly HttpClient _http = new(PrometheusClient.CreateHandler());

    public void Dispose() => _http.Dispose();

    [Fact]
    public async Task Query_RateOfLoadedHistory_IsPerSeries()
    {
        var samples = await Client().QueryAsync(Rate, vm.T, CancellationToken.None);

        AssertRates(samples);
    }

    [Fact]
    public async Task QueryRange_FewerThanFiftyPoints_AreAtStartPlusKStep()
    {
        var start = vm.T.AddMinutes(-10).AddSeconds(7);

        var series = await Client().QueryRangeAsync(
            "http_requests_total{code=\"500\"}", start, vm.T, TimeSpan.FromMinutes(1), CancellationToken.None);

        var only = Assert.Single(series);
        Assert.Equal(LabelSet.Of(("app", "checkout"), ("code", "500")), only.Labels);
        Assert.Equal(Enumerable.Range(0, 10).Select(k => start.AddMinutes(k)), only.Points.Select(p => p.Timestamp));

        // The newest sample at or before each instant (one every 15 s, growing 1/s): at 3007 + 60k s into the hour, 3000 + 60k.
        Assert.Equal(Enumerable.Range(0, 10).Select(k => 3000.0 + (60 * k)), only.Points.Select(p => p.Value));
    }

    [Fact]
    public async Task QueryRange_FiftyPointsOrMore_VictoriaMetricsAlignsThemToTheStep()
    {
        // A known divergence from Prometheus: for 50 points or more VictoriaMetrics rounds start and end to multiples of
        // the step (its rollup cache) unless it runs with -search.disableCache or the request says nocache=1.
        var start = vm.T.AddMinutes(-59).AddSeconds(7);

        var series = await Client().QueryRangeAsync(
            "http_requests_total{code=\"500\"}", start, vm.T, TimeSpan.FromMinutes(1), CancellationToken.None);

        var points = Assert.Single(series).Points;
        Assert.All(points, p => Assert.Equal(0, p.Timestamp.ToUnixTimeSeconds() % 60));
        Assert.DoesNotContain(points, p => p.Timestamp == start);
    }

    [Fact]
    public async Task QueryRange_FiftyPointsOrMore_Uncached_AreAtStartPlusKStep()
    {
        // What backends of type victoriametrics send (nocache=1): the backtest's points are exactly start + k*step.
        var start = vm.T.AddMinutes(-59).AddSeconds(7);
        var client = new PrometheusClient(_http, new PrometheusOptions { BaseAddress = vm.Server.BaseAddress, UncachedRanges = true, ServerKind = "VictoriaMetrics" });

        var series = await client.QueryRangeAsync("http_requests_total{code=\"500\"}", start, vm.T, TimeSpan.FromMinutes(1), CancellationToken.None);

        var points = Assert.Single(series).Points;
        Assert.Equal(Enumerable.Range(0, 59).Select(k => start.AddMinutes(k)), points.Select(p => p.Timestamp));
        Assert.Equal(3000, points[49].Value); // the same instant as the first point of the uncached short range above
    }

    [Fact]
    public async Task Query_MetricsQlWithTemplate_IsEvaluated()
    {
        var samples = await Client().QueryAsync(
            "WITH (r = rate(http_requests_total{app=\"checkout\"}[5m])) sum(r) by (code)", vm.T, CancellationToken.None);

        AssertRates(samples);
    }

    [Theory]
    [InlineData("range_median(sum by (code) (rate(http_requests_total{app=\"checkout\"}[5m])))")]
    [InlineData("median_over_time((sum by (code) (rate(http_requests_total{app=\"checkout\"}[5m])))[10m:1m])")]
    public async Task Query_MetricsQlOnlyFunction_IsEvaluated(string query)
    {
        // The rates are constant, so the median of any window of them is the rate.
        AssertRates(await Client().QueryAsync(query, vm.T, CancellationToken.None));
    }

    [Fact]
    public async Task Query_SyntaxError_IsBadQueryWithVictoriaMetricsMessage()
    {
        var ex = await Assert.ThrowsAsync<MetricsQueryException>(() => Client().QueryAsync("sum(rate(http_requests_total[5m])", vm.T, CancellationToken.None));

        Assert.Equal((MetricsErrorKind.BadQuery, 422, "422"), (ex.Kind, ex.StatusCode, ex.ErrorType));
        Assert.Contains("unexpected token", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Query_NoSuchSeries_IsAnEmptyResult()
    {
        Assert.Empty(await Client().QueryAsync("http_requests_total{app=\"nope\"}", vm.T, CancellationToken.None));
    }

    [Fact]
    public async Task Query_NaN_IsDroppedByVictoriaMetrics_InfinityIsKept()
    {
        // Prometheus answers 0/0 as one NaN sample; VictoriaMetrics treats NaN as no value and answers no sample.
        Assert.Empty(await Client().QueryAsync("0/0", vm.T, CancellationToken.None));
        Assert.Equal([new Sample(LabelSet.Empty, double.PositiveInfinity)], await Client().QueryAsync("1/0", vm.T, CancellationToken.None));
    }

    [Fact]
    public async Task CheckSyntax_ValidQuery_IsNull()
    {
        Assert.Null(await Client().CheckSyntaxAsync(Rate, CancellationToken.None));
        Assert.Null(await Client().CheckSyntaxAsync("WITH (r = rate(x[5m])) range_median(r)", CancellationToken.None));
    }

    [Theory]
    [InlineData("sum(rate(x[5m])", "argList: unexpected token \"\"; want \",\", \")\"; unparsed data: \"\"")]
    [InlineData("nosuchfunc(x)", "unknown func \"nosuchfunc\"")]
    [InlineData("x{", "labelFilterExpr: unexpected token \"\"; want \"ident\"; unparsed data: \"\"")]
    public async Task CheckSyntax_InvalidQuery_IsTheParseErrorWithoutVictoriaMetricsPrefix(string query, string expected)
    {
        Assert.Equal(expected, await Client().CheckSyntaxAsync(query, CancellationToken.None));
    }

    private PrometheusClient Client() => new(_http, new PrometheusOptions { BaseAddress = vm.Server.BaseAddress });

    private static void AssertRates(IReadOnlyList<Sample> samples)
    {
        var byCode = samples.ToDictionary(s => s.Labels["code"], s => s.Value);
        Assert.Equal(["200", "500"], byCode.Keys.Order());
        Assert.Equal(10, byCode["200"], 9);
        Assert.Equal(1, byCode["500"], 9);
    }
}
