using RollbackSentinel.Backends.Datadog;
using RollbackSentinel.Backends.Http;
using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Testing.Datadog;
using RollbackSentinel.Testing.Time;

namespace RollbackSentinel.Backends.Tests.Datadog;

/// <summary>The Datadog backend against <see cref="DatadogApiEmulator"/>, which checks the key headers and answers Datadog's shapes.</summary>
public sealed class DatadogSourceTests : IAsyncLifetime
{
    private const string Errors = "trace.http.request.errors";
    private const string Hits = "trace.http.request.hits";

    private static readonly DateTimeOffset T = new(2026, 11, 20, 12, 0, 0, TimeSpan.Zero);

    private readonly HttpClient _http = new(BackendHttp.CreateHandler());
    private DatadogApiEmulator _datadog = null!;

    public Task InitializeAsync()
    {
        _datadog = DatadogApiEmulator.Start();
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        _http.Dispose();
        await _datadog.DisposeAsync();
    }

    [Fact]
    public async Task Query_SendsBothKeysAndTheLookbackWindow()
    {
        _datadog.AddPoints(Errors, ["service:checkout"], (T.AddSeconds(-30), 4));

        var samples = await Source().QueryAsync($"sum:{Errors}{{service:checkout}}", T, CancellationToken.None);

        Assert.Equal([new Sample(LabelSet.Empty, 4)], samples);
        var call = Assert.Single(_datadog.Calls);
        Assert.Equal((_datadog.ApiKey, _datadog.ApplicationKey, 200), (call.ApiKey, call.ApplicationKey, call.Status));
        Assert.Equal((T.AddMinutes(-5).ToUnixTimeSeconds().ToString(), T.ToUnixTimeSeconds().ToString()), (call.From, call.To));
        Assert.Equal($"sum:{Errors}{{service:checkout}}", call.Query);
    }

    [Fact]
    public async Task Query_IsTheNewestPointWithinTheLookback_PerGroup()
    {
        _datadog.AddPoints(Errors, ["service:checkout", "code:500"], (T.AddSeconds(-120), 1), (T.AddSeconds(-60), 2), (T.AddSeconds(30), 99));
        _datadog.AddPoints(Errors, ["service:checkout", "code:503"], (T.AddSeconds(-200), 7));
        _datadog.AddPoints(Errors, ["service:search", "code:500"], (T.AddSeconds(-10), 5));

        var samples = await Source().QueryAsync($"sum:{Errors}{{service:checkout}} by {{code}}.as_count()", T, CancellationToken.None);

        Assert.Equal(
            [new Sample(LabelSet.Of(("code", "500")), 2), new Sample(LabelSet.Of(("code", "503")), 7)],
            samples.OrderBy(s => s.Labels.ToString()));
    }

    [Fact]
    public async Task Query_NullPointsAreGaps_NeverZero()
    {
        // The newest point is null: the value is the older one in the lookback, not 0.
        _datadog.AddPoints(Errors, ["service:checkout"], (T.AddSeconds(-90), 3), (T.AddSeconds(-30), null));
        // Only nulls in the lookback, and a real point older than it: no value at all.
        _datadog.AddPoints(Errors, ["service:search"], (T.AddMinutes(-7), 8), (T.AddSeconds(-60), null));

        var samples = await Source().QueryAsync($"sum:{Errors}{{*}} by {{service}}", T, CancellationToken.None);

        Assert.Equal([new Sample(LabelSet.Of(("service", "checkout")), 3)], samples);
    }

    [Fact]
    public async Task Query_PointOlderThanTheLookback_IsNoValue()
    {
        _datadog.AddPoints(Errors, ["service:checkout"], (T.AddMinutes(-5), 3));

        var samples = await Source().QueryAsync($"sum:{Errors}{{service:checkout}}", T, CancellationToken.None);

        Assert.Empty(samples);
    }

    [Fact]
    public async Task Query_Division_IsPerGroup()
    {
        _datadog.AddPoints(Errors, ["service:checkout"], (T.AddSeconds(-20), 5));
        _datadog.AddPoints(Hits, ["service:checkout"], (T.AddSeconds(-20), 200));
        _datadog.AddPoints(Errors, ["service:search"], (T.AddSeconds(-20), 1));
        _datadog.AddPoints(Hits, ["service:search"], (T.AddSeconds(-20), 100));

        var samples = await Source().QueryAsync(
            $"sum:{Errors}{{*}} by {{service}} / sum:{Hits}{{*}} by {{service}}", T, CancellationToken.None);

        Assert.Equal(
            [new Sample(LabelSet.Of(("service", "checkout")), 0.025), new Sample(LabelSet.Of(("service", "search")), 0.01)],
            samples.OrderBy(s => s.Labels.ToString()));
    }

    [Fact]
    public async Task QueryRange_SamplesAtStartPlusKStep_InOneRequest()
    {
        // A point a minute, one of them null; the range starts before the first point.
        _datadog.AddPoints(
            Errors,
            ["service:checkout"],
            (T.AddMinutes(-10), 1), (T.AddMinutes(-9), 2), (T.AddMinutes(-8), null), (T.AddMinutes(-7), 4));

        var series = await Source().QueryRangeAsync(
            $"sum:{Errors}{{service:checkout}}", T.AddMinutes(-11), T.AddMinutes(-6), TimeSpan.FromSeconds(90), CancellationToken.None);

        var only = Assert.Single(series);
        Assert.Equal(LabelSet.Empty, only.Labels);
        Assert.Equal(
            [
                // -11:00 has no point yet; -9:30 sees -10; -8:00 sees -9 (the -8 point is null); -6:30 sees -7.
                new Point(T.AddSeconds(-570), 1),
                new Point(T.AddSeconds(-480), 2),
                new Point(T.AddSeconds(-390), 4),
            ],
            only.Points);
        var call = Assert.Single(_datadog.Calls);
        Assert.Equal((T.AddMinutes(-16).ToUnixTimeSeconds().ToString(), T.AddMinutes(-6).ToUnixTimeSeconds().ToString()), (call.From, call.To));
    }

    [Fact]
    public async Task QueryRange_SeriesWithoutAnyValueInTheRange_IsLeftOut()
    {
        _datadog.AddPoints(Errors, ["service:checkout"], (T.AddMinutes(-3), 1));
        _datadog.AddPoints(Errors, ["service:search"], (T.AddMinutes(-3), null));

        var series = await Source().QueryRangeAsync($"sum:{Errors}{{*}} by {{service}}", T.AddMinutes(-2), T, TimeSpan.FromMinutes(1), CancellationToken.None);

        var only = Assert.Single(series);
        Assert.Equal(LabelSet.Of(("service", "checkout")), only.Labels);
        Assert.Equal(3, only.Points.Count);
    }

    [Fact]
    public async Task Query_ParseError_IsBadQueryWithDatadogsMessage()
    {
        var ex = await Assert.ThrowsAsync<MetricsQueryException>(() => Source().QueryAsync($"sum:{Errors}{{service:checkout", T, CancellationToken.None));

        Assert.Equal(MetricsErrorKind.BadQuery, ex.Kind);
        Assert.Equal(400, ex.StatusCode);
        Assert.Contains("Datadog rejected query", ex.Message, StringComparison.Ordinal);
        Assert.Contains("Error parsing query", ex.Message, StringComparison.Ordinal);
        Assert.Contains("Rule 'scope_expr' didn't match", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Query_StatusErrorBody_IsBadQueryWithItsMessage()
    {
        _datadog.FailNext(400, """{"status":"error","res_type":"time_series","series":[],"error":"Unknown function: p99"}""");

        var ex = await Assert.ThrowsAsync<MetricsQueryException>(() => Source().QueryAsync("p99:x{*}", T, CancellationToken.None));

        Assert.Equal(MetricsErrorKind.BadQuery, ex.Kind);
        Assert.Contains("Unknown function: p99", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Query_OkStatusWithAnError_IsBadQuery()
    {
        _datadog.FailNext(200, """{"status":"error","error":"Query timed out: too many series"}""");

        var ex = await Assert.ThrowsAsync<MetricsQueryException>(() => Source().QueryAsync("sum:x{*}", T, CancellationToken.None));

        Assert.Equal((MetricsErrorKind.BadQuery, 200), (ex.Kind, ex.StatusCode));
        Assert.Contains("Query timed out: too many series", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Query_WrongApplicationKey_IsUnauthorized_NamingTheKeysNotTheirValues()
    {
        var source = Source(_datadog.ApiKey, "wrong-application-key-1234567890");

        var ex = await Assert.ThrowsAsync<MetricsQueryException>(() => source.QueryAsync("sum:x{*}", T, CancellationToken.None));

        Assert.Equal((MetricsErrorKind.Unauthorized, 403), (ex.Kind, ex.StatusCode));
        Assert.Contains("denied access (HTTP 403) (Forbidden)", ex.Message, StringComparison.Ordinal);
        Assert.Contains("DD-API-KEY", ex.Message, StringComparison.Ordinal);
        Assert.Contains("DD-APPLICATION-KEY", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(_datadog.ApiKey, ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("wrong-application-key-1234567890", ex.Message, StringComparison.Ordinal);
        Assert.Equal(403, Assert.Single(_datadog.Calls).Status);
    }

    [Fact]
    public async Task Query_RateLimited_SaysWhenTheLimitResets_AndIsNotRetried()
    {
        _datadog.RateLimitNext(resetSeconds: 42, limit: 1600, periodSeconds: 3600);

        var ex = await Assert.ThrowsAsync<MetricsQueryException>(() => Source().QueryAsync("sum:x{*}", T, CancellationToken.None));

        Assert.Equal((MetricsErrorKind.ServerError, 429), (ex.Kind, ex.StatusCode));
        Assert.Contains("rate-limited", ex.Message, StringComparison.Ordinal);
        Assert.Contains("of 1600 queries per 3600 s", ex.Message, StringComparison.Ordinal);
        Assert.Contains("resets in 42 s", ex.Message, StringComparison.Ordinal);
        Assert.Single(_datadog.Calls);
    }

    [Fact]
    public async Task Query_ProxyErrorPage_IsServerErrorShowingThePage()
    {
        _datadog.FailNext(502, "<html><body>Bad Gateway</body></html>", "text/html");

        var ex = await Assert.ThrowsAsync<MetricsQueryException>(() => Source().QueryAsync("sum:x{*}", T, CancellationToken.None));

        Assert.Equal((MetricsErrorKind.ServerError, 502), (ex.Kind, ex.StatusCode));
        Assert.Contains("Bad Gateway", ex.Message, StringComparison.Ordinal);
        Assert.Contains("instead of a Datadog API response", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Errors_EchoingTheKeys_AreMasked()
    {
        _datadog.FailNext(400, DatadogApiEmulator.Errors($"bad request with api key {_datadog.ApiKey} and app key {_datadog.ApplicationKey}"));

        var ex = await Assert.ThrowsAsync<MetricsQueryException>(() => Source().QueryAsync("sum:x{*}", T, CancellationToken.None));

        Assert.Contains("bad request with api key *** and app key ***", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(_datadog.ApiKey, ex.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain(_datadog.ApplicationKey, ex.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task CheckSyntax_ValidQuery_IsNull_AndQueriesTheLastMinute()
    {
        var time = new ManualTimeProvider(T);

        var error = await Checker(time).CheckSyntaxAsync($"sum:{Errors}{{*}} by {{service}}.as_rate()", CancellationToken.None);

        Assert.Null(error);
        var call = Assert.Single(_datadog.Calls);
        Assert.Equal((T.AddMinutes(-1).ToUnixTimeSeconds().ToString(), T.ToUnixTimeSeconds().ToString()), (call.From, call.To));
    }

    [Fact]
    public async Task CheckSyntax_InvalidQuery_IsDatadogsMessage()
    {
        var error = await Checker().CheckSyntaxAsync($"sum:{Errors}{{*}} by service", CancellationToken.None);

        Assert.Equal($"Error parsing query: unable to parse sum:{Errors}{{*}} by service: Rule 'group_by' didn't match at 'service' (line 1, column {Errors.Length + 12}).", error);
    }

    [Fact]
    public async Task CheckSyntax_BadKeys_Throws()
    {
        var checker = (IQueryChecker)Source("wrong-api-key-0000000000000000", _datadog.ApplicationKey);

        var ex = await Assert.ThrowsAsync<MetricsQueryException>(() => checker.CheckSyntaxAsync("sum:x{*}", CancellationToken.None));

        Assert.Equal(MetricsErrorKind.Unauthorized, ex.Kind);
    }

    [Fact]
    public async Task CheckSyntax_RateLimited_Throws()
    {
        _datadog.RateLimitNext(resetSeconds: 5);

        var ex = await Assert.ThrowsAsync<MetricsQueryException>(() => Checker().CheckSyntaxAsync("sum:x{*}", CancellationToken.None));

        Assert.Equal(429, ex.StatusCode);
    }

    [Fact]
    public async Task Create_SharedHttpClientWithAnotherBaseAddress_QueriesTheConfiguredAddress()
    {
        // The given client is only sent through: its own base address (here a closed port) is not where queries go.
        using var other = new HttpClient(Http.BackendHttp.CreateHandler()) { BaseAddress = new Uri("http://127.0.0.1:1/") };
        var checker = (IQueryChecker)DatadogBackend.Create(other, Options(_datadog.ApiKey, _datadog.ApplicationKey));

        Assert.Null(await checker.CheckSyntaxAsync("sum:x{*}", CancellationToken.None));
    }

    private IMetricsSource Source(string? apiKey = null, string? applicationKey = null, TimeProvider? time = null) =>
        DatadogBackend.Create(_http, Options(apiKey ?? _datadog.ApiKey, applicationKey ?? _datadog.ApplicationKey), time ?? TimeProvider.System);

    private IQueryChecker Checker(TimeProvider? time = null) => (IQueryChecker)Source(time: time);

    private DatadogOptions Options(string apiKey, string applicationKey) =>
        new() { BaseAddress = _datadog.BaseAddress, ApiKey = apiKey, ApplicationKey = applicationKey, LimitsKey = "backends.datadog.limits" };
}
