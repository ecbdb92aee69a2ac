using System.Globalization;
using System.Text.Json;
using static RollbackSentinel.Cli.Tests.Backtest.ScenarioHistory;
using Decision = RollbackSentinel.Cli.Tests.Backtest.BacktestDecision;

namespace RollbackSentinel.Cli.Tests.Backtest;

/// <summary>
/// <c>backtest --format json</c> against a real Prometheus holding <see cref="ScenarioHistory"/>: each
/// scenario asserts the exact decisions printed. Times are relative to T0 = 2026-11-20T10:00:00Z; the
/// deploy is at T0+10m; every policy is evaluated every 15 s from T0 to T0+40m (161 evaluations).
/// Prometheus 2.42 range selectors include both ends, so rate(x[1m]) at t spans the 4 scrape intervals
/// ending at t. Scenarios that expect a rollback say when the deploy was (<c>--deployed-at</c>): with no change known
/// a rollback trigger pages instead (<see cref="BacktestChangesTests"/>).
/// </summary>
public sealed class BacktestScenarioTests(ScenarioHistory prometheus) : IClassFixture<ScenarioHistory>
{
    private const string Window = "2026-11-20T10:00:00Z";
    private const string WindowEnd = "2026-11-20T10:40:00Z";

    private static string ErrorRatePolicy(string name, string app, string @for = "2m", string noData = "inconclusive", string by = "") =>
        PolicyYaml.WithWebhook(name, $"""
            - name: error-rate-spike
              errorRate:
                errors: sum {by}(rate(http_requests_total{"{"}app="{app}",code=~"5.."{"}"}[1m]))
                total: sum {by}(rate(http_requests_total{"{"}app="{app}"{"}"}[1m]))
                max: 0.05
                minTotal: 0.5
              for: {@for}
              noData: {noData}
              action: rollback
            """);

    private static string P95(string app, string track) =>
        $"histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket{{app=\"{app}\",track=\"{track}\"}}[2m])))";

    private static string LatencyPolicy(string name, string app, string baseline) =>
        PolicyYaml.WithWebhook(name, $"""
            - name: p95
              latency:
                query: {P95(app, "canary")}
                baseline:
                  {baseline}
                maxRatio: 1.5
                maxIncrease: 50ms
              for: 2m
              action: page
            """);

    /// <summary>The deploy every scenario's history has, as <c>--deployed-at</c>.</summary>
    private static readonly string[] Deployed = ["--deployed-at", "2026-11-20T10:10:00Z"];

    private async Task<(List<Decision> Decisions, CliRun Run)> BacktestAsync(string yaml, params string[] extra)
    {
        using var rules = new RulesFolder(("policy.yaml", yaml));
        var run = await CliRun.RunAsync(
        [
            "backtest", "--rules", rules.Path, "--prometheus", prometheus.BaseAddress.ToString(),
            "--from", Window, "--to", WindowEnd, "--format", "json", .. extra,
        ]);
        Assert.True(run.ExitCode == 0, $"exit {run.ExitCode}: {run.Error}");
        var decisions = Decision.Read(run);
        return (decisions, run);
    }

    private static string At(int minutes, int seconds = 0) =>
        T0.AddMinutes(minutes).AddSeconds(seconds).UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    [Fact]
    public async Task GoodDeploy_PrintsNoDecision()
    {
        var (decisions, run) = await BacktestAsync(ErrorRatePolicy("good", "good"));

        Assert.Empty(decisions);
        Assert.Contains("1 policy, 2 Prometheus request(s)", run.Error);
    }

    [Fact]
    public async Task BadDeploy_RollsBackOnceWhenTheBreachHasHeldForTwoMinutes()
    {
        // At T0+10m15s one of the 4 intervals in the window is bad: (3*0.75+30)/600 = 0.05375 > 0.05, the
        // first breach. It holds, so the trigger fires 2m later, by when the whole window is at 20%.
        var (decisions, _) = await BacktestAsync(ErrorRatePolicy("bad", "bad"), Deployed);

        Assert.Equal([new Decision("bad", "error-rate-spike", At(12, 15), "rollback", 0.2, 0.05, "{}")], decisions);
    }

    [Fact]
    public async Task BadDeploy_JsonLineCarriesTheEvidence()
    {
        var (_, run) = await BacktestAsync(ErrorRatePolicy("bad", "bad"), Deployed);

        using var doc = JsonDocument.Parse(Assert.Single(run.OutputLines));
        var r = doc.RootElement;
        Assert.False(r.GetProperty("dryRun").GetBoolean());
        Assert.False(r.GetProperty("disarmed").GetBoolean());
        Assert.Equal(JsonValueKind.Null, r.GetProperty("reason").ValueKind);
        Assert.Equal(
            """{"id":0,"policy":"bad","labels":{},"at":"2026-11-20T10:10:00Z","source":"api","revision":null,"previousRevision":null,"by":"--deployed-at","description":"backtest --deployed-at","recordedAt":null}""",
            r.GetProperty("change").GetRawText());
        Assert.Equal(At(10, 15), r.GetProperty("since").GetString());
        Assert.Equal("breach", r.GetProperty("verdict").GetString());
        Assert.StartsWith("error ratio 0.2 (2/10) > max 0.05", r.GetProperty("summary").GetString());
        var queries = r.GetProperty("queries").EnumerateArray().ToArray();
        Assert.Equal(["errors", "total"], queries.Select(q => q.GetProperty("role").GetString()));
        Assert.Equal("sum (rate(http_requests_total{app=\"bad\"}[1m]))", queries[1].GetProperty("query").GetString());
        Assert.Equal(10, queries[1].GetProperty("value").GetDouble(), 6);
        Assert.Equal(At(12, 15), queries[1].GetProperty("at").GetString());
    }

    [Fact]
    public async Task LowTraffic_HalfTheRequestsFailingBelowMinTotal_NeverActsButReportsTheInconclusiveRun()
    {
        var (decisions, _) = await BacktestAsync(ErrorRatePolicy("lowtraffic", "lowtraffic"));
        Assert.Empty(decisions);

        using var rules = new RulesFolder(("policy.yaml", ErrorRatePolicy("lowtraffic", "lowtraffic")));
        var table = await CliRun.RunAsync("backtest", "--rules", rules.Path, "--prometheus", prometheus.BaseAddress.ToString(), "--from", Window, "--to", WindowEnd);

        // The 4th inconclusive evaluation is reported. At T0+45s the series is only 45 s old and Prometheus
        // extrapolates no further back than its zero start, so rate[1m] reads 0.2 * 45/60 = 0.15.
        Assert.Equal(0, table.ExitCode);
        Assert.Contains("2026-11-20T10:00:45Z  lowtraffic  error-rate-spike  -       inconclusive run  -      0.05       4 evaluations in a row without a verdict: low traffic: total 0.15 < minTotal 0.5", table.Output);
        Assert.Contains("lowtraffic  161          161       0     0       161           0      0        0           1", table.Output);
    }

    [Fact]
    public async Task ShortBlip_BreachingForLessThanFor_NeverActs()
    {
        // 30% errors for one minute: rate[1m] breaches from T0+10m15s to T0+11m45s, 1m30s < for 2m.
        var (decisions, _) = await BacktestAsync(ErrorRatePolicy("blip", "blip"), Deployed);

        Assert.Empty(decisions);
    }

    [Fact]
    public async Task ShortBlip_WithAShorterFor_DoesAct()
    {
        // The same history with for: 1m fires: this is what makes the test above mean something.
        var (decisions, _) = await BacktestAsync(ErrorRatePolicy("blip", "blip", @for: "1m"), Deployed);

        Assert.Equal([At(11, 15)], decisions.Select(d => d.At));
    }

    [Fact]
    public async Task GapInTheData_NeverActs()
    {
        var (decisions, _) = await BacktestAsync(ErrorRatePolicy("gap", "gap"));

        Assert.Empty(decisions);
    }

    [Fact]
    public async Task GapInTheData_WithNoDataBreach_ActsOnceTheGapHasLastedFor()
    {
        // Last scrape before the gap: T0+9m45s. rate[1m] needs two samples, so it is empty from T0+10m45s;
        // that counts as a breach here, and after for: 1m the trigger fires.
        var (decisions, _) = await BacktestAsync(ErrorRatePolicy("gap", "gap", @for: "1m", noData: "breach"), Deployed);

        Assert.Equal([new Decision("gap", "error-rate-spike", At(11, 45), "rollback", null, 0.05, "{}")], decisions);
    }

    [Fact]
    public async Task SeveralDeploymentsInOneQuery_OnlyTheBadOneRollsBackWithItsLabels()
    {
        var (decisions, _) = await BacktestAsync(ErrorRatePolicy("perdeploy", "perdeploy", by: "by (deployment) "), Deployed);

        Assert.Equal([new Decision("perdeploy", "error-rate-spike", At(12, 15), "rollback", 0.2, 0.05, "{\"deployment\":\"cart\"}")], decisions);
    }

    [Fact]
    public async Task LatencyRegressionAgainstStableTrack_PagesWithBaselineAndThreshold()
    {
        // Stable p95 = 0.05 + 0.05*(9.5-5)/(9.8-5) = 0.096875; threshold = max(x1.5, +50ms) = 0.146875.
        // One slow interval of the 8 in rate[2m] already puts the canary at 0.4167 (T0+10m15s); the
        // page comes 2m later, when the canary's p95 is the slow 0.5 + 0.5*(9.5-7)/3 = 0.916667.
        var (decisions, run) = await BacktestAsync(LatencyPolicy("latency", "latency", $"query: {P95("latency", "stable")}"));

        Assert.Equal([new Decision("latency", "p95", At(12, 15), "page", 0.916667, 0.146875, "{}")], decisions);
        using var doc = JsonDocument.Parse(run.OutputLines[0]);
        Assert.Equal(0.096875, doc.RootElement.GetProperty("baseline").GetDouble(), 6);
    }

    [Fact]
    public async Task SlowdownSharedByBothTracks_NeverPages()
    {
        var (decisions, _) = await BacktestAsync(LatencyPolicy("shared", "shared", $"query: {P95("shared", "stable")}"));

        Assert.Empty(decisions);
    }

    [Fact]
    public async Task LatencyAgainstTheSameTimeYesterday_PagesOnARegression()
    {
        var (decisions, run) = await BacktestAsync(LatencyPolicy("daily-regression", "daily-regression", "offset: 1d"));

        Assert.Equal([new Decision("daily-regression", "p95", At(12, 15), "page", 0.916667, 0.146875, "{}")], decisions);
        using var doc = JsonDocument.Parse(run.OutputLines[0]);
        var baseline = doc.RootElement.GetProperty("queries").EnumerateArray().Single(q => q.GetProperty("role").GetString() == "baseline");
        Assert.Equal("2026-11-19T10:12:15Z", baseline.GetProperty("at").GetString());
    }

    [Fact]
    public async Task LatencyAgainstTheSameTimeYesterday_NightlySlowdownSeenYesterdayToo_NeverPages()
    {
        var (decisions, _) = await BacktestAsync(LatencyPolicy("daily-batch", "daily-batch", "offset: 1d"));

        Assert.Empty(decisions);
    }

    [Fact]
    public async Task LatencyAgainstTheMinutesBeforeTheDeploy_PagesWithTheAveragedBaseline()
    {
        var (decisions, run) = await BacktestAsync(LatencyPolicy("before-deploy", "latency", "beforeDeploy: 5m"), "--deployed-at", At(10));

        Assert.Equal([new Decision("before-deploy", "p95", At(12, 15), "page", 0.916667, 0.146875, "{}")], decisions);
        Assert.Contains("1 policy, 2 Prometheus request(s)", run.Error);
    }

    [Fact]
    public async Task LatencyAgainstTheMinutesBeforeTheDeploy_WithoutDeployTime_NeverPages()
    {
        var (decisions, _) = await BacktestAsync(LatencyPolicy("before-deploy", "latency", "beforeDeploy: 5m"));

        Assert.Empty(decisions);
    }

    [Fact]
    public async Task AvailabilityDrop_RollsBackAfterOneMinute()
    {
        var yaml = PolicyYaml.WithWebhook("availability", """
            - name: availability
              availability:
                query: avg(up{job="availability"})
                min: 0.95
              for: 1m
              action: rollback
            """);

        var (decisions, _) = await BacktestAsync(yaml, Deployed);

        Assert.Equal([new Decision("availability", "availability", At(11), "rollback", 0.5, 0.95, "{}")], decisions);
    }

    [Fact]
    public async Task AllScenariosTogether_OneRunPrintsEveryDecisionInTimeOrder()
    {
        using var rules = new RulesFolder(
            ("a.yaml", ErrorRatePolicy("bad", "bad")),
            ("b.yaml", ErrorRatePolicy("good", "good")),
            ("c.yaml", LatencyPolicy("latency", "latency", $"query: {P95("latency", "stable")}")),
            ("d.yaml", ErrorRatePolicy("gap", "gap", @for: "1m", noData: "breach")));

        var run = await CliRun.RunAsync("backtest", "--rules", rules.Path, "--prometheus", prometheus.BaseAddress.ToString(), "--from", Window, "--to", WindowEnd, "--format", "json", Deployed[0], Deployed[1]);

        Assert.Equal(0, run.ExitCode);
        Assert.Equal(
            ["gap@" + At(11, 45) + ":rollback", "bad@" + At(12, 15) + ":rollback", "latency@" + At(12, 15) + ":page"],
            run.OutputLines.Select(l => JsonDocument.Parse(l).RootElement).Select(r => $"{r.GetProperty("policy").GetString()}@{r.GetProperty("at").GetString()}:{r.GetProperty("action").GetString()}"));
        Assert.Contains("4 policies, 8 Prometheus request(s)", run.Error);
    }
}
