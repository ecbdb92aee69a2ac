using System.Text;
using Refit;
using RollbackSentinel.Backends.Graphite;
using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Testing.Net;

namespace RollbackSentinel.Backends.Tests.Graphite;

/// <summary>What a real graphite-web cannot be made to do on demand: check credentials, answer like a proxy, stall, never end.</summary>
public sealed class GraphiteHttpTests
{
    private const string Target = "sumSeries(app.checkout.http.5xx)";
    private static readonly DateTimeOffset At = DateTimeOffset.FromUnixTimeSeconds(1_800_000_000);

    private static (IMetricsSource Source, HttpClient Http) Create(Uri baseAddress, Func<GraphiteOptions, GraphiteOptions>? configure = null)
    {
        var http = new HttpClient(GraphiteBackend.CreateHandler());
        var options = new GraphiteOptions { BaseAddress = baseAddress };
        return (GraphiteBackend.Create(http, configure?.Invoke(options) ?? options), http);
    }

    [Fact]
    public async Task Query_PostsTheTargetAndEpochSecondsUnderThePathPrefixWithCredentialsAndHeaders()
    {
        await using var server = LoopbackHttpServer.Start(new CannedResponse(200, "[]"));
        var (source, http) = Create(
            new Uri(server.BaseAddress, "graphite"),
            o => o with { BearerToken = "tok3n", Headers = new Dictionary<string, string> { ["X-Scope-OrgID"] = "team-a" } });
        using (http)
        {
            await source.QueryAsync(Target, At + TimeSpan.FromMilliseconds(900), CancellationToken.None);
        }

        var request = Assert.Single(server.Requests);
        Assert.Equal("POST", request.Method);
        Assert.Equal("/graphite/render", request.PathAndQuery);
        Assert.Equal("Bearer tok3n", request.Header("Authorization"));
        Assert.Equal("team-a", request.Header("X-Scope-OrgID"));
        Assert.Equal(
            new Dictionary<string, string>
            {
                ["target"] = Target,
                ["from"] = "1799999700", // the 5 minute lookback
                ["until"] = "1800000000",
                ["format"] = "json",
            },
            request.Form);
    }

    [Fact]
    public async Task Query_WithUsernameAndPassword_SendsBasicAuth()
    {
        await using var server = LoopbackHttpServer.Start(new CannedResponse(200, "[]"));
        var (source, http) = Create(server.BaseAddress, o => o with { Username = "sre", Password = "pa55" });
        using (http)
        {
            await source.QueryAsync(Target, At, CancellationToken.None);
        }

        Assert.Equal("Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes("sre:pa55")), server.Requests[0].Header("Authorization"));
    }

    [Fact]
    public async Task QueryRange_IsOneRequestFromStartMinusLookbackToEnd()
    {
        await using var server = LoopbackHttpServer.Start(new CannedResponse(200, """[{"target": "a", "datapoints": [[1, 1799999990], [null, 1800000000], [2, 1800000030]]}]"""));
        var (source, http) = Create(server.BaseAddress, o => o with { Lookback = TimeSpan.FromMinutes(1) });
        IReadOnlyList<RangeSeries> series;
        using (http)
        {
            series = await source.QueryRangeAsync(Target, At, At + TimeSpan.FromHours(6), TimeSpan.FromSeconds(20), CancellationToken.None);
        }

        var request = Assert.Single(server.Requests);
        Assert.Equal(("1799999940", "1800021600"), (request.Form["from"], request.Form["until"]));
        Assert.Equal(
            [new Point(At, 1), new Point(At + TimeSpan.FromSeconds(20), 1), new Point(At + TimeSpan.FromSeconds(40), 2), new Point(At + TimeSpan.FromSeconds(60), 2), new Point(At + TimeSpan.FromSeconds(80), 2)],
            Assert.Single(series).Points);
    }

    [Theory]
    [InlineData(401, "requires authentication (HTTP 401)")]
    [InlineData(403, "denied access (HTTP 403)")]
    public async Task Query_Refused_IsUnauthorized(int status, string expected)
    {
        await using var server = LoopbackHttpServer.Start(new CannedResponse(status, "no", "text/plain"));
        var (source, http) = Create(server.BaseAddress);
        using var _ = http;

        var ex = await Assert.ThrowsAsync<MetricsQueryException>(() => source.QueryAsync(Target, At, CancellationToken.None));

        Assert.Equal(MetricsErrorKind.Unauthorized, ex.Kind);
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Query_ProxyErrorPage_IsServerErrorNamingTheServerAndMaskingSecrets()
    {
        await using var server = LoopbackHttpServer.Start(new CannedResponse(502, "<html><body>502 Bad Gateway for tok3n</body></html>", "text/html"));
        var (source, http) = Create(server.BaseAddress, o => o with { BearerToken = "tok3n" });
        using var _ = http;

        var ex = await Assert.ThrowsAsync<MetricsQueryException>(() => source.QueryAsync(Target, At, CancellationToken.None));

        Assert.Equal(MetricsErrorKind.ServerError, ex.Kind);
        Assert.Contains($"Graphite at {server.BaseAddress} answered HTTP 502", ex.Message, StringComparison.Ordinal);
        Assert.Contains("for ***", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("tok3n", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Query_WrongBaseAddress_IsInvalidResponse()
    {
        await using var server = LoopbackHttpServer.Start(new CannedResponse(404, "<h1>Not Found</h1>", "text/html"));
        var (source, http) = Create(server.BaseAddress);
        using var _ = http;

        var ex = await Assert.ThrowsAsync<MetricsQueryException>(() => source.QueryAsync(Target, At, CancellationToken.None));

        Assert.Equal(MetricsErrorKind.InvalidResponse, ex.Kind);
        Assert.Contains("check the base address", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Query_NobodyListening_IsUnreachableNotRefitsException()
    {
        var (source, http) = Create(new Uri($"http://127.0.0.1:{FreePort.Next()}/"));
        using var _ = http;

        var ex = await Assert.ThrowsAsync<MetricsQueryException>(() => source.QueryAsync(Target, At, CancellationToken.None));

        Assert.Equal(MetricsErrorKind.Unreachable, ex.Kind);
        Assert.IsType<HttpRequestException>(ex.InnerException);
    }

    [Fact]
    public async Task Query_SlowServer_TimesOut()
    {
        await using var server = LoopbackHttpServer.Start(async (_, ct) =>
        {
            await Task.Delay(TimeSpan.FromSeconds(30), ct);
            return new CannedResponse(200, "[]");
        });
        var (source, http) = Create(server.BaseAddress, o => o with { Timeout = TimeSpan.FromMilliseconds(200) });
        using var _ = http;

        var ex = await Assert.ThrowsAsync<MetricsQueryException>(() => source.QueryAsync(Target, At, CancellationToken.None));

        Assert.Equal(MetricsErrorKind.Timeout, ex.Kind);
        Assert.Contains("did not answer within 0.2 s", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Query_EndlessBody_StopsReadingAtTheCap()
    {
        await using var server = EndlessHttpServer.Start(declaredLength: null);
        var (source, http) = Create(server.BaseAddress, o => o with { MaxResponseBytes = 1024 * 1024 });
        using var _ = http;

        var ex = await Assert.ThrowsAsync<MetricsQueryException>(() => source.QueryAsync(Target, At, CancellationToken.None));

        Assert.Equal(MetricsErrorKind.InvalidResponse, ex.Kind);
        Assert.Contains("maxResponseBytes cap of 1048576 bytes (1 MiB)", ex.Message, StringComparison.Ordinal);
        Assert.Contains("raise backends.graphite.limits.maxResponseBytes", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CheckSyntax_ServerFailure_ThrowsInsteadOfBlamingTheTarget()
    {
        const string page = "<p>Graphite encountered an unexpected error while handling your request.</p><pre>\nOSError: disk\n</pre>";
        await using var server = LoopbackHttpServer.Start(new CannedResponse(500, page, "text/html"));
        var (source, http) = Create(server.BaseAddress);
        using var _ = http;

        var ex = await Assert.ThrowsAsync<MetricsQueryException>(() => ((IQueryChecker)source).CheckSyntaxAsync(Target, CancellationToken.None));

        Assert.Equal(MetricsErrorKind.ServerError, ex.Kind);
        Assert.Contains("OSError: disk", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Create_BuildsTheSourceGeneratedRefitClient()
    {
        using var http = new HttpClient { BaseAddress = new Uri("http://127.0.0.1:1/") };

        var api = RestService.For<IGraphiteApi>(http);

        // The generator emits the implementation into the assembly that declares the interface.
        Assert.Equal(typeof(IGraphiteApi).Assembly, api.GetType().Assembly);
    }
}
