using System.Net;
using System.Text.Json;
using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Prometheus;
using RollbackSentinel.Testing.Prometheus;

namespace RollbackSentinel.Cli.Tests.Daemon;

/// <summary>The API's auth and errors, the rules reload, /metrics, and the status/incidents verbs, on a running daemon.</summary>
[Collection(StartupDaemonCollection.Name)]
public sealed class ApiAndReloadTests
{
    private static readonly TimeSpan Generous = TimeSpan.FromSeconds(45);

    [Fact]
    public async Task Api_RefusesMissingOrWrongTokensButLeavesProbesAndMetricsOpen()
    {
        await using var live = await LiveShop.StartAsync();
        using var workspace = new SentinelWorkspace(live.Prometheus.BaseAddress);
        workspace.WriteRule("shop.yaml", live.Policy());
        await using var sentinel = await SentinelProcess.StartAsync(workspace);
        using var anonymous = new SentinelApi(workspace.BaseAddress, token: null);
        using var wrong = new SentinelApi(workspace.BaseAddress, token: "not-the-token");

        using var noToken = await anonymous.Http.GetAsync("api/v1/policies");
        using var noTokenBadParameter = await anonymous.Http.GetAsync("api/v1/incidents?limit=abc");
        using var emptyToken = new HttpRequestMessage(HttpMethod.Get, "api/v1/policies");
        emptyToken.Headers.TryAddWithoutValidation("Authorization", "Bearer \u000b");
        using var emptyTokenResponse = await anonymous.Http.SendAsync(emptyToken);
        using var badToken = await wrong.Http.GetAsync("api/v1/incidents");
        using var health = await anonymous.Http.GetAsync("healthz");
        using var metrics = await anonymous.Http.GetAsync("metrics");

        Assert.Equal(HttpStatusCode.Unauthorized, noToken.StatusCode);
        Assert.Equal("Bearer realm=\"rollback-sentinel\"", noToken.Headers.WwwAuthenticate.ToString());
        Assert.Equal("application/problem+json", noToken.Content.Headers.ContentType?.MediaType);
        using var problem = JsonDocument.Parse(await noToken.Content.ReadAsStringAsync());
        Assert.Equal(401, problem.RootElement.GetProperty("status").GetInt32());
        Assert.Contains("Authorization: Bearer", problem.RootElement.GetProperty("detail").GetString());
        Assert.Equal(HttpStatusCode.Unauthorized, badToken.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, noTokenBadParameter.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, emptyTokenResponse.StatusCode);
        Assert.DoesNotContain(SentinelWorkspace.Token, await badToken.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        Assert.Equal(HttpStatusCode.OK, metrics.StatusCode);
        Assert.DoesNotContain(SentinelWorkspace.Token, sentinel.Log);
    }

    [Theory]
    [InlineData("api/v1/incidents?state=sleeping", HttpStatusCode.BadRequest, "'sleeping' is not an incident state")]
    [InlineData("api/v1/incidents?state=acting,acted", HttpStatusCode.BadRequest, "'acting,acted' is not an incident state")]
    [InlineData("api/v1/incidents?state=%20open", HttpStatusCode.BadRequest, "' open' is not an incident state")]
    [InlineData("api/v1/incidents?limit=0", HttpStatusCode.BadRequest, "limit must be between 1 and 1000")]
    [InlineData("api/v1/incidents/abc", HttpStatusCode.BadRequest, "'abc' is not an incident id")]
    [InlineData("api/v1/incidents/4242", HttpStatusCode.NotFound, "there is no incident 4242")]
    [InlineData("api/v1/no-such-thing", HttpStatusCode.NotFound, "")]
    [InlineData("api/v1/incidents?limit=abc", HttpStatusCode.BadRequest, "")]
    public async Task Api_BadRequests_AnswerWithProblemDetails(string path, HttpStatusCode status, string detail)
    {
        await using var live = await LiveShop.StartAsync();
        using var workspace = new SentinelWorkspace(live.Prometheus.BaseAddress);
        workspace.WriteRule("shop.yaml", live.Policy());
        await using var sentinel = await SentinelProcess.StartAsync(workspace);
        using var api = new SentinelApi(workspace.BaseAddress);

        using var response = await api.Http.GetAsync(path);

        Assert.Equal(status, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal((int)status, problem.RootElement.GetProperty("status").GetInt32());
        if (detail.Length > 0)
        {
            Assert.Contains(detail, problem.RootElement.GetProperty("detail").GetString());
        }
    }

    [Fact]
    public async Task Reload_ValidEditApplies_BrokenEditKeepsTheLastGoodPolicyAndReportsTheErrors()
    {
        await using var live = await LiveShop.StartAsync();
        using var workspace = new SentinelWorkspace(live.Prometheus.BaseAddress);
        workspace.WriteRule("shop.yaml", live.Policy(max: 0.1));
        await using var sentinel = await SentinelProcess.StartAsync(workspace);
        using var api = new SentinelApi(workspace.BaseAddress);
        await Eventually.WaitAsync(async () => await api.ThresholdAsync() == 0.1, Generous, "the first evaluation");

        workspace.WriteRule("shop.yaml", live.Policy(max: 0.3));
        await Eventually.WaitAsync(async () => await api.ThresholdAsync() == 0.3, Generous, "the edited threshold to be used" + Environment.NewLine + sentinel.Log);

        workspace.WriteRule("shop.yaml", live.Policy(max: 0.3).Replace("max: 0.3", "max: lots", StringComparison.Ordinal));
        var rules = await Eventually.WaitAsync(
            async () => (await api.GetJsonAsync("api/v1/rules")).EnumerateArray().FirstOrDefault(f => !f.GetProperty("valid").GetBoolean()) is { ValueKind: JsonValueKind.Object } f ? (object)f : null,
            Generous,
            "the broken edit to be reported");
        var error = Assert.Single(((JsonElement)rules).GetProperty("errors").EnumerateArray()).GetString();
        Assert.EndsWith("shop.yaml:17:14: spec.triggers[0].errorRate.max: must be a number, got 'lots'", error);

        // The last good version keeps running: still evaluated, with the 0.3 threshold.
        var before = await api.LastEvaluatedAtAsync();
        await Eventually.WaitAsync(async () => await api.LastEvaluatedAtAsync() > before, Generous, "evaluations to go on");
        Assert.Equal(0.3, await api.ThresholdAsync());
        Assert.Contains("spec.triggers[0].errorRate.max: must be a number", sentinel.Log);
    }

    [Fact]
    public async Task StatusAndIncidentsVerbs_PrintTablesFromTheRunningDaemon()
    {
        await using var live = await LiveShop.StartAsync();
        using var workspace = new SentinelWorkspace(live.Prometheus.BaseAddress);
        workspace.WriteRule("shop.yaml", live.Policy());
        await using var sentinel = await SentinelProcess.StartAsync(workspace);
        using var api = new SentinelApi(workspace.BaseAddress);
        live.Shop.ErrorShare = 0.5;
        await Eventually.WaitAsync(async () => (await api.IncidentsAsync()).Any(i => i.GetProperty("state").GetString() == "acted"), Generous, "the incident");
        var tokenFile = Path.Combine(workspace.Root, "token");
        await File.WriteAllTextAsync(tokenFile, SentinelWorkspace.Token);

        var status = await CliRun.RunAsync("status", "--url", workspace.BaseAddress.ToString(), "--token-file", tokenFile);
        var incidents = await CliRun.RunAsync("incidents", "--url", workspace.BaseAddress.ToString(), "--token-file", tokenFile);
        var refused = await CliRun.RunAsync("incidents", "--url", workspace.BaseAddress.ToString(), "--token-file", tokenFile + ".missing");

        Assert.True(status.ExitCode == 0, status.Error);
        Assert.StartsWith("POLICY  TRIGGER  SERIES  STATE   SINCE", status.Output);
        Assert.Contains("shop    errors   -       firing  ", status.Output);
        Assert.True(incidents.ExitCode == 0, incidents.Error);
        Assert.Matches(@"\n1\s+2\d{3}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z\s+shop\s+errors\s+-\s+rollback\s+acted\s+no change known\s+error ratio 0\.", incidents.Output);
        Assert.NotEqual(0, refused.ExitCode);
    }

    [Fact]
    public async Task Metrics_ExposeEvaluationsAndTheTriggersLastValueAndThreshold()
    {
        await using var live = await LiveShop.StartAsync();
        using var workspace = new SentinelWorkspace(live.Prometheus.BaseAddress);
        workspace.WriteRule("shop.yaml", live.Policy());
        await using var sentinel = await SentinelProcess.StartAsync(workspace);
        using var api = new SentinelApi(workspace.BaseAddress);
        const string passes = "rollback_sentinel_evaluations_total{policy=\"shop\",trigger=\"errors\",verdict=\"pass\"}";

        var text = await Eventually.WaitAsync(
            async () => await api.Http.GetStringAsync("metrics") is { } t && t.Contains(passes, StringComparison.Ordinal) ? t : null,
            Generous,
            "a passing evaluation to be counted");

        Assert.Matches(@"rollback_sentinel_trigger_value\{policy=""shop"",series=""\{\}"",trigger=""errors""\} 0(\.\d+)?\n", text);
        Assert.Contains("# TYPE rollback_sentinel_evaluation_duration_seconds histogram", text);
        Assert.Contains("rollback_sentinel_trigger_threshold{policy=\"shop\",series=\"{}\",trigger=\"errors\"} 0.1", text);
        Assert.Contains("rollback_sentinel_rules_valid{file=", text);
        Assert.Contains("# TYPE rollback_sentinel_schedule_lag_seconds histogram", text);

        // A real Prometheus scrapes the daemon and can graph what the sentinel sees.
        await using var scraper = await PrometheusServer.StartAsync(
            new PrometheusServerOptions
            {
                ScrapeConfigsYaml = $"- job_name: sentinel\n  scrape_interval: 1s\n  static_configs: [{{targets: ['127.0.0.1:{workspace.Port}']}}]",
            },
            CancellationToken.None);
        using var http = new HttpClient();
        var client = new PrometheusClient(http, new PrometheusOptions { BaseAddress = scraper.BaseAddress });
        var threshold = await Eventually.WaitAsync(
            async () => (await client.QueryAsync("rollback_sentinel_trigger_threshold{job=\"sentinel\",policy=\"shop\",trigger=\"errors\"}", TimeProvider.System.GetUtcNow(), CancellationToken.None)) is [var sample] ? (object)sample : null,
            Generous,
            "Prometheus to scrape the daemon");
        Assert.Equal(0.1, ((Sample)threshold).Value);
        var targets = await http.GetStringAsync(new Uri(scraper.BaseAddress, "api/v1/targets"));
        using var doc = JsonDocument.Parse(targets);
        var target = Assert.Single(doc.RootElement.GetProperty("data").GetProperty("activeTargets").EnumerateArray());
        Assert.Equal("up", target.GetProperty("health").GetString());
        Assert.Equal(string.Empty, target.GetProperty("lastError").GetString());
    }


}
