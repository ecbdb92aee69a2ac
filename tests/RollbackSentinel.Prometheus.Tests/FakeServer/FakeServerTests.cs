using System.Diagnostics;
using System.Text;
using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Testing.Net;

namespace RollbackSentinel.Prometheus.Tests.FakeServer;

/// <summary>What a real Prometheus cannot be made to do on demand: check credentials, sit behind a proxy, stall.</summary>
public sealed class FakeServerTests
{
    private const string OneSampleVector =
        """{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"up","job":"api"},"value":[1795132800,"1"]}]}}""";

    private const string EmptyMatrix = """{"status":"success","data":{"resultType":"matrix","result":[]}}""";

    private static readonly DateTimeOffset At = new(2026, 11, 20, 0, 0, 0, TimeSpan.Zero);

    [Fact]
    public async Task QueryAsync_Always_PostsFormWithQueryAndMillisecondTime()
    {
        await using var server = LoopbackHttpServer.Start(new CannedResponse(200, OneSampleVector));
        using var test = new TestClient(server.BaseAddress);

        var samples = await test.Client.QueryAsync("up{job=\"api\"} == 1", At.AddMilliseconds(123), CancellationToken.None);

        Assert.Equal([new Sample(LabelSet.Of(("job", "api")), 1)], samples);
        var request = Assert.Single(server.Requests);
        Assert.Equal("POST", request.Method);
        Assert.Equal("/api/v1/query", request.PathAndQuery);
        Assert.StartsWith("application/x-www-form-urlencoded", request.Header("Content-Type"), StringComparison.Ordinal);
        Assert.Equal(new Dictionary<string, string> { ["query"] = "up{job=\"api\"} == 1", ["time"] = "1795132800.123" }, request.Form);
        Assert.Null(request.Header("Authorization"));
    }

    [Fact]
    public async Task QueryRangeAsync_Always_PostsStartEndAndStepInSeconds()
    {
        await using var server = LoopbackHttpServer.Start(new CannedResponse(200, EmptyMatrix));
        using var test = new TestClient(server.BaseAddress);

        await test.Client.QueryRangeAsync("up", At, At.AddMinutes(10), TimeSpan.FromMilliseconds(15_250), CancellationToken.None);

        var request = Assert.Single(server.Requests);
        Assert.Equal("/api/v1/query_range", request.PathAndQuery);
        Assert.Equal(
            new Dictionary<string, string>
            {
                ["query"] = "up",
                ["start"] = "1795132800",
                ["end"] = "1795133394.75", // the last step at or before the end: 39 * 15.25 s
                ["step"] = "15.25",
            },
            request.Form);
    }

    [Theory]
    [InlineData("prometheus")]
    [InlineData("prometheus/")]
    [InlineData("monitoring/prometheus/")]
    public async Task QueryAsync_BaseAddressWithPathPrefix_KeepsThePrefix(string prefix)
    {
        await using var server = LoopbackHttpServer.Start(new CannedResponse(200, OneSampleVector));
        using var test = new TestClient(new Uri(server.BaseAddress, prefix));

        await test.Client.QueryAsync("up", At, CancellationToken.None);

        Assert.Equal($"/{prefix.TrimEnd('/')}/api/v1/query", Assert.Single(server.Requests).PathAndQuery);
    }

    [Fact]
    public async Task QueryAsync_BearerToken_SendsAuthorizationBearer()
    {
        await using var server = LoopbackHttpServer.Start(new CannedResponse(200, OneSampleVector));
        using var test = new TestClient(new PrometheusOptions { BaseAddress = server.BaseAddress, BearerToken = "tok-123" });

        await test.Client.QueryAsync("up", At, CancellationToken.None);

        Assert.Equal("Bearer tok-123", Assert.Single(server.Requests).Header("Authorization"));
    }

    [Fact]
    public async Task QueryAsync_UsernameAndPassword_SendsBasicAuth()
    {
        await using var server = LoopbackHttpServer.Start(new CannedResponse(200, OneSampleVector));
        using var test = new TestClient(new PrometheusOptions { BaseAddress = server.BaseAddress, Username = "sre", Password = "pä:ss" });

        await test.Client.QueryAsync("up", At, CancellationToken.None);

        var expected = "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes("sre:pä:ss"));
        Assert.Equal(expected, Assert.Single(server.Requests).Header("Authorization"));
    }

    [Theory]
    [InlineData(401)]
    [InlineData(403)]
    public async Task QueryAsync_CredentialsRefused_ThrowsUnauthorizedWithoutTheSecret(int status)
    {
        // A careless proxy that echoes the header it refused.
        await using var server = LoopbackHttpServer.Start(
            (request, _) => Task.FromResult(new CannedResponse(status, $"denied: {request.Header("Authorization")}", "text/plain")));
        using var test = new TestClient(new PrometheusOptions { BaseAddress = server.BaseAddress, BearerToken = "super-secret-token" });

        var ex = await Assert.ThrowsAsync<MetricsQueryException>(() => test.Client.QueryAsync("up", At, CancellationToken.None));

        Assert.Equal(MetricsErrorKind.Unauthorized, ex.Kind);
        Assert.Equal(status, ex.StatusCode);
        Assert.Contains($"HTTP {status}", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("super-secret-token", ex.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task QueryAsync_ProxyAnswersHtml502_ThrowsServerErrorWithStatusAndBodyPrefix()
    {
        const string html = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n"
            + "<hr><center>nginx/1.22.1</center>\r\n</body>\r\n</html>\r\n";
        await using var server = LoopbackHttpServer.Start(new CannedResponse(502, html, "text/html"));
        using var test = new TestClient(server.BaseAddress);

        var ex = await Assert.ThrowsAsync<MetricsQueryException>(() => test.Client.QueryAsync("up", At, CancellationToken.None));

        Assert.Equal(MetricsErrorKind.ServerError, ex.Kind);
        Assert.Equal(502, ex.StatusCode);
        Assert.Null(ex.ErrorType);
        Assert.Contains("HTTP 502", ex.Message, StringComparison.Ordinal);
        Assert.Contains("<html> <head><title>502 Bad Gateway</title></head>", ex.Message, StringComparison.Ordinal);
        Assert.Contains("\"up\"", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task QueryAsync_VeryLongHtmlBody_QuotesOnlyAShortPrefix()
    {
        var body = "<html>" + new string('x', 100_000) + "</html>";
        await using var server = LoopbackHttpServer.Start(new CannedResponse(200, body, "text/html"));
        using var test = new TestClient(server.BaseAddress);

        var ex = await Assert.ThrowsAsync<MetricsQueryException>(() => test.Client.QueryAsync("up", At, CancellationToken.None));

        Assert.Equal(MetricsErrorKind.InvalidResponse, ex.Kind);
        Assert.Contains("<html>xxxx", ex.Message, StringComparison.Ordinal);
        Assert.True(ex.Message.Length < 600, $"message is {ex.Message.Length} characters long");
    }

    [Theory]
    [InlineData(503, "unavailable", "TSDB not ready")]
    [InlineData(503, "timeout", "query timed out in expression evaluation")]
    [InlineData(422, "execution", "found duplicate series for the match group")]
    [InlineData(500, "internal", "something broke")]
    [InlineData(500, null, "no type given")]
    public async Task QueryAsync_ErrorEnvelope_ThrowsServerErrorWithTypeStatusAndMessage(int status, string? errorType, string error)
    {
        var typeMember = errorType is null ? string.Empty : $",\"errorType\":\"{errorType}\"";
        await using var server = LoopbackHttpServer.Start(new CannedResponse(status, $"{{\"status\":\"error\"{typeMember},\"error\":\"{error}\"}}"));
        using var test = new TestClient(server.BaseAddress);

        var ex = await Assert.ThrowsAsync<MetricsQueryException>(() => test.Client.QueryAsync("up", At, CancellationToken.None));

        Assert.Equal(MetricsErrorKind.ServerError, ex.Kind);
        Assert.Equal(status, ex.StatusCode);
        Assert.Equal(errorType, ex.ErrorType);
        Assert.Contains(error, ex.Message, StringComparison.Ordinal);
        Assert.Contains($"HTTP {status}", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task QueryAsync_VeryLongQuery_IsShortenedInTheMessageButKeptWhole()
    {
        await using var server = LoopbackHttpServer.Start(
            new CannedResponse(400, """{"status":"error","errorType":"bad_data","error":"parse error"}"""));
        using var test = new TestClient(server.BaseAddress);
        var query = "sum(\n  " + string.Join(" + ", Enumerable.Range(0, 200).Select(i => $"metric_{i}")) + "\n)";

        var ex = await Assert.ThrowsAsync<MetricsQueryException>(() => test.Client.QueryAsync(query, At, CancellationToken.None));

        Assert.Equal(query, ex.Query);
        Assert.Contains("\"sum( metric_0 + metric_1 + ", ex.Message, StringComparison.Ordinal);
        Assert.Contains($"...\" ({query.Length} characters)", ex.Message, StringComparison.Ordinal);
        Assert.True(ex.Message.Length < 500, $"message is {ex.Message.Length} characters long");
    }

    [Theory]
    [InlineData("""{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1795132800,"abc"]}]}}""", "\"abc\" is not a number")]
    [InlineData("""{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1795132800]}]}}""", "[timestamp, \"value\"]")]
    [InlineData("""{"status":"success","data":{"resultType":"vector"}}""", "no \"result\"")]
    [InlineData("""{"status":"success"}""", "no \"data\"")]
    [InlineData("""{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"histogram":[1,{}]}]}}""", "native histogram")]
    [InlineData("""[1,2,3]""", "instead of a Prometheus API response")]
    [InlineData("", "an empty body")]
    public async Task QueryAsync_MalformedSuccessBody_ThrowsInvalidResponseSayingWhat(string body, string expected)
    {
        await using var server = LoopbackHttpServer.Start(new CannedResponse(200, body));
        using var test = new TestClient(server.BaseAddress);

        var ex = await Assert.ThrowsAsync<MetricsQueryException>(() => test.Client.QueryAsync("up", At, CancellationToken.None));

        Assert.Equal(MetricsErrorKind.InvalidResponse, ex.Kind);
        Assert.Equal(200, ex.StatusCode);
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task QueryAsync_SpecialValueSpellings_ParseToNaNAndInfinities()
    {
        const string body = """
            {"status":"success","data":{"resultType":"vector","result":[
              {"metric":{"v":"a"},"value":[1795132800,"NaN"]},
              {"metric":{"v":"b"},"value":[1795132800,"+Inf"]},
              {"metric":{"v":"c"},"value":[1795132800,"-Inf"]},
              {"metric":{"v":"d"},"value":[1795132800,"Inf"]},
              {"metric":{"v":"e"},"value":[1795132800,"1e-3"]}]}}
            """;
        await using var server = LoopbackHttpServer.Start(new CannedResponse(200, body));
        using var test = new TestClient(server.BaseAddress);

        var samples = await test.Client.QueryAsync("x", At, CancellationToken.None);

        Assert.Equal(
            [double.NaN, double.PositiveInfinity, double.NegativeInfinity, double.PositiveInfinity, 0.001],
            samples.Select(s => s.Value));
        Assert.Equal(["a", "b", "c", "d", "e"], samples.Select(s => s.Labels["v"]));
    }

    [Fact]
    public async Task QueryAsync_ServerSlowerThanTimeout_ThrowsTimeoutWithoutWaitingForTheServer()
    {
        await using var server = LoopbackHttpServer.Start(async (_, ct) =>
        {
            await Task.Delay(TimeSpan.FromSeconds(5), ct);
            return new CannedResponse(200, OneSampleVector);
        });
        using var test = new TestClient(server.BaseAddress, TimeSpan.FromMilliseconds(200));
        var clock = Stopwatch.StartNew();

        var ex = await Assert.ThrowsAsync<MetricsQueryException>(() => test.Client.QueryAsync("up", At, CancellationToken.None));

        Assert.Equal(MetricsErrorKind.Timeout, ex.Kind);
        Assert.Contains("did not answer within 0.2 s", ex.Message, StringComparison.Ordinal);
        Assert.Contains("\"up\"", ex.Message, StringComparison.Ordinal);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(4), $"took {clock.Elapsed}");
    }

    [Fact]
    public async Task QueryAsync_CallerCancelsWhileWaiting_PropagatesOperationCanceled()
    {
        var requestArrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = LoopbackHttpServer.Start(async (_, ct) =>
        {
            requestArrived.SetResult();
            await Task.Delay(TimeSpan.FromSeconds(5), ct);
            return new CannedResponse(200, OneSampleVector);
        });
        using var test = new TestClient(server.BaseAddress, TimeSpan.FromSeconds(5));
        using var caller = new CancellationTokenSource();

        var query = test.Client.QueryAsync("up", At, caller.Token);
        await requestArrived.Task;
        await caller.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => query);
    }

    [Fact]
    public async Task QueryAsync_AlreadyCanceled_ThrowsOperationCanceled()
    {
        await using var server = LoopbackHttpServer.Start(new CannedResponse(200, OneSampleVector));
        using var test = new TestClient(server.BaseAddress);

        await Assert.ThrowsAnyAsync<OperationCanceledException>(
            () => test.Client.QueryAsync("up", At, new CancellationToken(canceled: true)));

        Assert.Empty(server.Requests);
    }

    [Fact]
    public async Task QueryRangeAsync_SeveralWindows_MergesSeriesByLabelsInTimeOrder()
    {
        // Each window answers one point per series at its start and end, plus a series only the
        // second window has; the client must fetch three windows and stitch them.
        await using var server = LoopbackHttpServer.Start((request, _) =>
        {
            var start = request.Form["start"];
            var end = request.Form["end"];
            var onlyLate = start == "1795142800" ? $$""",{"metric":{"s":"late"},"values":[[{{end}},"7"]]}""" : string.Empty;
            return Task.FromResult(new CannedResponse(200, $$$"""
                {"status":"success","data":{"resultType":"matrix","result":[
                  {"metric":{"s":"a"},"values":[[{{{start}}},"1"],[{{{end}}},"2"]]},
                  {"metric":{"__name__":"x","s":"b"},"values":[[{{{start}}},"3"]]}{{{onlyLate}}}]}}
                """));
        });
        using var test = new TestClient(server.BaseAddress);

        // 25,000 steps of 1 s: windows of 10,000, 10,000 and 5,001 points.
        var series = await test.Client.QueryRangeAsync("x", At, At.AddSeconds(25_000), TimeSpan.FromSeconds(1), CancellationToken.None);

        Assert.Equal(
            [("1795132800", "1795142799"), ("1795142800", "1795152799"), ("1795152800", "1795157800")],
            server.Requests.Select(r => (r.Form["start"], r.Form["end"])));
        Assert.Equal(3, test.Client.RequestCount);
        Assert.Equal([LabelSet.Of(("s", "a")), LabelSet.Of(("s", "b")), LabelSet.Of(("s", "late"))], series.Select(s => s.Labels));
        Assert.Equal(
            [
                new Point(At, 1), new Point(At.AddSeconds(9_999), 2),
                new Point(At.AddSeconds(10_000), 1), new Point(At.AddSeconds(19_999), 2),
                new Point(At.AddSeconds(20_000), 1), new Point(At.AddSeconds(25_000), 2),
            ],
            series[0].Points);
        Assert.Equal([At, At.AddSeconds(10_000), At.AddSeconds(20_000)], series[1].Points.Select(p => p.Timestamp));
        Assert.Equal([new Point(At.AddSeconds(19_999), 7)], series[2].Points);
    }
}
