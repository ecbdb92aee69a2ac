using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Testing.Net;
using static RollbackSentinel.Prometheus.Tests.RealServer.HistoryFixture;

namespace RollbackSentinel.Prometheus.Tests.RealServer;

[Collection(RealPrometheusCollection.Name)]
public sealed class InstantQueryTests(HistoryFixture prometheus)
{
    private static readonly DateTimeOffset HalfHour = T0 + TimeSpan.FromMinutes(30);

    [Fact]
    public async Task QueryAsync_CounterWithSeveralSeries_ReturnsEveryLabelSetWithItsValue()
    {
        using var test = new TestClient(prometheus.BaseAddress);

        var samples = await test.Client.QueryAsync("http_requests_total", HalfHour, CancellationToken.None);

        // 30 minutes of a constant rate: value = rate * 1800 s.
        var expected = RequestRates.ToDictionary(r => LabelSet.Of(("app", r.Key.App), ("code", r.Key.Code)), r => r.Value * 1800);
        Assert.Equal(expected, samples.ToDictionary(s => s.Labels, s => s.Value));
    }

    [Fact]
    public async Task QueryAsync_RateAggregatedByApp_ReturnsPerAppRates()
    {
        using var test = new TestClient(prometheus.BaseAddress);

        var samples = await test.Client.QueryAsync("sum by (app) (rate(http_requests_total[1m]))", HalfHour, CancellationToken.None);

        var byApp = samples.ToDictionary(s => s.Labels["app"], s => s.Value);
        Assert.Equal(["cart", "checkout"], byApp.Keys.Order());
        Assert.Equal(10.5, byApp["checkout"], 9);
        Assert.Equal(4, byApp["cart"], 9);
    }

    [Fact]
    public async Task QueryAsync_Scalar_ReturnsOneSampleWithoutLabels()
    {
        using var test = new TestClient(prometheus.BaseAddress);

        var samples = await test.Client.QueryAsync("1+1", HalfHour, CancellationToken.None);

        var sample = Assert.Single(samples);
        Assert.Same(LabelSet.Empty, sample.Labels);
        Assert.Equal(2, sample.Value);
    }

    [Theory]
    [InlineData("0/0", double.NaN)]
    [InlineData("1/0", double.PositiveInfinity)]
    [InlineData("-1/0", double.NegativeInfinity)]
    [InlineData("vector(0/0)", double.NaN)]
    [InlineData("vector(1/0)", double.PositiveInfinity)]
    public async Task QueryAsync_NonFiniteResult_ParsesNaNAndInfinities(string query, double expected)
    {
        using var test = new TestClient(prometheus.BaseAddress);

        var samples = await test.Client.QueryAsync(query, HalfHour, CancellationToken.None);

        Assert.Equal(expected, Assert.Single(samples).Value);
    }

    [Fact]
    public async Task QueryAsync_NoMatchingSeries_ReturnsEmpty()
    {
        using var test = new TestClient(prometheus.BaseAddress);

        var samples = await test.Client.QueryAsync("http_requests_total{app=\"does-not-exist\"}", HalfHour, CancellationToken.None);

        Assert.Empty(samples);
    }

    [Fact]
    public async Task QueryAsync_HistogramBuckets_HistogramQuantileInterpolatesWithinBucket()
    {
        using var test = new TestClient(prometheus.BaseAddress);

        var samples = await test.Client.QueryAsync(
            "histogram_quantile(0.5, sum by (le) (rate(http_request_duration_seconds_bucket[1m])))", HalfHour, CancellationToken.None);

        // Rank 5 of 10 lies in the first bucket (6 of 10 below 0.1 s): 0.1 * 5/6.
        Assert.Equal(0.1 * 5 / 6, Assert.Single(samples).Value, 9);
    }

    [Fact]
    public async Task QueryAsync_LabelValueWithEscapes_RoundTripsThroughBackfill()
    {
        using var test = new TestClient(prometheus.BaseAddress);

        var samples = await test.Client.QueryAsync("awkward_labels", T0, CancellationToken.None);

        Assert.Equal(LabelSet.Of(("path", AwkwardLabelValue)), Assert.Single(samples).Labels);
    }

    [Fact]
    public async Task QueryAsync_MillisecondTime_IsSentWithMillisecondPrecision()
    {
        using var test = new TestClient(prometheus.BaseAddress);

        var samples = await test.Client.QueryAsync("time()", T0 + TimeSpan.FromMilliseconds(1234), CancellationToken.None);

        Assert.Equal(T0.ToUnixTimeSeconds() + 1.234, Assert.Single(samples).Value, 6);
    }

    [Fact]
    public async Task QueryAsync_RangeVectorSelector_ThrowsInvalidResponseExplainingTheResultType()
    {
        using var test = new TestClient(prometheus.BaseAddress);

        var ex = await Assert.ThrowsAsync<MetricsQueryException>(
            () => test.Client.QueryAsync("queue_depth[1m]", HalfHour, CancellationToken.None));

        Assert.Equal(MetricsErrorKind.InvalidResponse, ex.Kind);
        Assert.Contains("range vector", ex.Message, StringComparison.Ordinal);
        Assert.Contains("\"queue_depth[1m]\"", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task QueryAsync_StringResult_ThrowsInvalidResponse()
    {
        using var test = new TestClient(prometheus.BaseAddress);

        var ex = await Assert.ThrowsAsync<MetricsQueryException>(
            () => test.Client.QueryAsync("\"just text\"", HalfHour, CancellationToken.None));

        Assert.Equal(MetricsErrorKind.InvalidResponse, ex.Kind);
        Assert.Contains("string", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task QueryAsync_SyntaxError_ThrowsBadQueryWithParseError()
    {
        using var test = new TestClient(prometheus.BaseAddress);
        const string query = "sum(rate(http_requests_total[1m])";

        var ex = await Assert.ThrowsAsync<MetricsQueryException>(() => test.Client.QueryAsync(query, HalfHour, CancellationToken.None));

        Assert.Equal(MetricsErrorKind.BadQuery, ex.Kind);
        Assert.Equal("bad_data", ex.ErrorType);
        Assert.Equal(400, ex.StatusCode);
        Assert.Equal(query, ex.Query);
        Assert.Contains("parse error: unclosed left parenthesis", ex.Message, StringComparison.Ordinal);
        Assert.Contains($"\"{query}\"", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task QueryAsync_ManyToManyMatch_ThrowsServerErrorWithExecutionErrorType()
    {
        using var test = new TestClient(prometheus.BaseAddress);

        var ex = await Assert.ThrowsAsync<MetricsQueryException>(
            () => test.Client.QueryAsync("http_requests_total + on(code) http_requests_total", HalfHour, CancellationToken.None));

        Assert.Equal(MetricsErrorKind.ServerError, ex.Kind);
        Assert.Equal("execution", ex.ErrorType);
        Assert.Equal(422, ex.StatusCode);
        Assert.Contains("many-to-many matching not allowed", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CheckSyntaxAsync_ValidQuery_ReturnsNull()
    {
        using var test = new TestClient(prometheus.BaseAddress);

        var error = await test.Client.CheckSyntaxAsync(
            "histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{app=\"checkout\"}[5m])))",
            CancellationToken.None);

        Assert.Null(error);
    }

    [Fact]
    public async Task CheckSyntaxAsync_ValidQueryThatFailsOnData_ReturnsNull()
    {
        using var test = new TestClient(prometheus.BaseAddress);

        // Many-to-many fails on the fixture's data, but the check evaluates where there is none.
        var error = await test.Client.CheckSyntaxAsync("http_requests_total + on(code) http_requests_total", CancellationToken.None);

        Assert.Null(error);
    }

    [Theory]
    [InlineData("sum(rate(http_requests_total[1m])", "1:34: parse error: unclosed left parenthesis")]
    [InlineData("rate(http_requests_total)", "expected type range vector in call to function \"rate\", got instant vector")]
    public async Task CheckSyntaxAsync_InvalidQuery_ReturnsParseErrorWithoutParameterPrefix(string query, string expected)
    {
        using var test = new TestClient(prometheus.BaseAddress);

        var error = await test.Client.CheckSyntaxAsync(query, CancellationToken.None);

        Assert.NotNull(error);
        Assert.Contains(expected, error, StringComparison.Ordinal);
        Assert.DoesNotContain("invalid parameter", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CheckSyntaxAsync_ServerUnreachable_ThrowsInsteadOfReportingValid()
    {
        using var test = new TestClient(new Uri($"http://127.0.0.1:{FreePort.Next()}/"));

        var ex = await Assert.ThrowsAsync<MetricsQueryException>(() => test.Client.CheckSyntaxAsync("up", CancellationToken.None));

        Assert.Equal(MetricsErrorKind.Unreachable, ex.Kind);
    }

    [Fact]
    public async Task QueryAsync_NothingListening_ThrowsUnreachableNamingTheServer()
    {
        var port = FreePort.Next();
        using var test = new TestClient(new Uri($"http://127.0.0.1:{port}/"));

        var ex = await Assert.ThrowsAsync<MetricsQueryException>(() => test.Client.QueryAsync("up", HalfHour, CancellationToken.None));

        Assert.Equal(MetricsErrorKind.Unreachable, ex.Kind);
        Assert.Null(ex.StatusCode);
        Assert.Contains($"127.0.0.1:{port}", ex.Message, StringComparison.Ordinal);
        Assert.Contains("\"up\"", ex.Message, StringComparison.Ordinal);
        Assert.IsType<HttpRequestException>(ex.InnerException);
    }

    [Fact]
    public async Task RequestCount_AfterSuccessfulAndFailedQueries_CountsEveryRequest()
    {
        using var test = new TestClient(prometheus.BaseAddress);

        await test.Client.QueryAsync("1", HalfHour, CancellationToken.None);
        await test.Client.QueryAsync("queue_depth", HalfHour, CancellationToken.None);
        await Assert.ThrowsAsync<MetricsQueryException>(() => test.Client.QueryAsync("sum(", HalfHour, CancellationToken.None));
        await test.Client.CheckSyntaxAsync("up", CancellationToken.None);

        Assert.Equal(4, test.Client.RequestCount);
    }
}
