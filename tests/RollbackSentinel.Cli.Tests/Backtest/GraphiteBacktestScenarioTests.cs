using System.Globalization;
using System.Text.Json;
using static RollbackSentinel.Cli.Tests.Backtest.GraphiteScenarioHistory;
using Decision = RollbackSentinel.Cli.Tests.Backtest.BacktestDecision;

namespace RollbackSentinel.Cli.Tests.Backtest;

/// <summary>
/// <c>backtest --config --format json</c> with the policies on a Graphite backend (<c>spec.backend: graphite</c>) holding
/// the good, bad, lowtraffic and gap scenarios of <see cref="BacktestScenarioTests"/> as Graphite stores them: per-second
/// rates every 10 s (<see cref="GraphiteScenarioHistory"/>). Each scenario asserts the exact decisions printed. Times are
/// relative to T0 (the current hour two days ago: see <see cref="GraphiteScenarioHistory"/> for why not 2026-11-20); the
/// deploy is at T0+10m; every policy is evaluated every 15 s from T0 to T0+40m (161 evaluations).
/// </summary>
/// <remarks>
/// There is no <c>rate()</c> to work out: the value of a target at t is its newest non-null point in (t - lookback, t]
/// (lookback 5m unless the backend sets one), and the error ratio at t is errors / requests of those points. The 10 s
/// points and the 15 s evaluations meet every 30 s: at T0+k*30s the value is the point at t itself, in between the point
/// 5 s before (at T0+15s, the one at T0+10s). A backtest sends one render request per query for the whole window (from
/// T0 - lookback to T0+40m) and resamples it at each evaluation.
/// </remarks>
public sealed class GraphiteBacktestScenarioTests(GraphiteScenarioHistory graphite) : IClassFixture<GraphiteScenarioHistory>
{
    private static readonly string Window = At(0);
    private static readonly string WindowEnd = At(40);

    /// <summary>The deploy every scenario's history has, as <c>--deployed-at</c>.</summary>
    private static readonly string[] Deployed = ["--deployed-at", At(10)];

    private static string Errors(string app) => $"sumSeries(seriesByTag('name=errors','app={app}'))";

    private static string Requests(string app) => $"sumSeries(seriesByTag('name=requests','app={app}'))";

    /// <summary>
    /// The error-rate policy of <see cref="BacktestScenarioTests"/> over the app's Graphite series, on the backend
    /// <paramref name="backend"/>. sumSeries keeps the tags its series share, so both sides are labelled <c>{app="APP"}</c>
    /// (the name tag and sumSeries' aggregatedBy marker are not labels) and pair up.
    /// </summary>
    private static string ErrorRatePolicy(string name, string app, string @for = "2m", string noData = "inconclusive", string backend = "graphite") =>
        PolicyYaml.WithWebhook(name, $"""
            - name: error-rate-spike
              errorRate:
                errors: {Errors(app)}
                total: {Requests(app)}
                max: 0.05
                minTotal: 0.5
              for: {@for}
              noData: {noData}
              action: rollback
            """).Replace("\nspec:\n", $"\nspec:\n  backend: {backend}\n", StringComparison.Ordinal);

    private static string At(int minutes, int seconds = 0) =>
        T0.AddMinutes(minutes).AddSeconds(seconds).UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    private async Task<CliRun> RunAsync(string[] args, params (string Name, string Yaml)[] policies)
    {
        using var rules = new RulesFolder(policies);
        return await CliRun.RunAsync(["backtest", "--rules", rules.Path, "--config", graphite.SettingsPath, "--from", Window, "--to", WindowEnd, .. args]);
    }

    private async Task<(List<Decision> Decisions, CliRun Run)> BacktestAsync(string yaml, params string[] extra)
    {
        var run = await RunAsync(["--format", "json", .. extra], ("policy.yaml", yaml));
        Assert.True(run.ExitCode == 0, $"exit {run.ExitCode}: {run.Error}");
        var decisions = Decision.Read(run);
        return (decisions, run);
    }

    [Fact]
    public async Task GoodDeploy_PrintsNoDecision()
    {
        // 0.05 / 10 = 0.005 at every evaluation with a point; T0 itself has none (the first point is T0+10s): no data,
        // inconclusive.
        var (decisions, run) = await BacktestAsync(ErrorRatePolicy("good", "good"), Deployed);

        Assert.Empty(decisions);
        Assert.Contains("backtest: 1 policy, 2 Graphite request(s), ", run.Error);
    }

    [Fact]
    public async Task BadDeploy_RollsBackWhenTheBreachHasHeldForTwoMinutes_AsOnPrometheus()
    {
        // The first bad point is T0+10m10s (the 10 s after the deploy): at T0+10m the value is still the point at 10m,
        // 0.05/10 = 0.005; at T0+10m15s it is the point at 10m10s, 2/10 = 0.2 > 0.05, the first breach. Every later point
        // is as bad, so 2m later, at T0+12m15s (point 12m10s), the trigger fires: the same time as on Prometheus, whose
        // rate[1m] first sees a bad scrape interval at 10m15s too, but here the value is already the full 0.2 at the
        // first breach (a point is one interval, rate[1m] averages four).
        var (decisions, run) = await BacktestAsync(ErrorRatePolicy("bad", "bad"), Deployed);

        Assert.Equal([new Decision("bad", "error-rate-spike", At(12, 15), "rollback", 0.2, 0.05, """{"app":"bad"}""")], decisions);
        using var doc = JsonDocument.Parse(Assert.Single(run.OutputLines));
        var r = doc.RootElement;
        Assert.Equal(At(10, 15), r.GetProperty("since").GetString());
        Assert.Equal("breach", r.GetProperty("verdict").GetString());
        Assert.StartsWith("error ratio 0.2 (2/10) > max 0.05", r.GetProperty("summary").GetString());
        var queries = r.GetProperty("queries").EnumerateArray().ToArray();
        Assert.Equal(["errors", "total"], queries.Select(q => q.GetProperty("role").GetString()));
        Assert.Equal(Errors("bad"), queries[0].GetProperty("query").GetString());
        Assert.Equal(2, queries[0].GetProperty("value").GetDouble(), 6);
        Assert.Equal(Requests("bad"), queries[1].GetProperty("query").GetString());
        Assert.Equal(10, queries[1].GetProperty("value").GetDouble(), 6);
        Assert.Equal(At(12, 15), queries[1].GetProperty("at").GetString());
        Assert.Contains("backtest: 1 policy, 2 Graphite request(s), ", run.Error);
    }

    [Fact]
    public async Task LowTraffic_HalfTheRequestsFailingBelowMinTotal_NeverActsButReportsTheInconclusiveRun()
    {
        var (decisions, _) = await BacktestAsync(ErrorRatePolicy("lowtraffic", "lowtraffic"));
        Assert.Empty(decisions);

        var table = await RunAsync([], ("policy.yaml", ErrorRatePolicy("lowtraffic", "lowtraffic")));

        // T0 has no point yet: no data, an inconclusive evaluation of the label-less "no series" state. From T0+15s the
        // target answers {app="lowtraffic"} at 0.2 req/s (0.1 failing) < minTotal 0.5, and that series' run starts anew:
        // the label-less state is dropped once labelled data is back, so its evaluation at T0 does not count. The series'
        // 4th inconclusive evaluation in a row is T0+1m (15s, 30s, 45s, 1m), 15 s later than on Prometheus, whose T0
        // evaluation (one sample, an empty rate) and the following ones are all label-less (sum without by). The total is
        // the stored 0.2 itself, where Prometheus' rate[1m] extrapolated 0.15 at T0+45s.
        Assert.True(table.ExitCode == 0, table.Error);
        Assert.Contains($"{At(1)}  lowtraffic  error-rate-spike  {{app=\"lowtraffic\"}}  inconclusive run  -      0.05       4 evaluations in a row without a verdict: low traffic: total 0.2 < minTotal 0.5", table.Output);
        Assert.Contains("lowtraffic  161          161       0     0       161           0      0        0           1", table.Output);
        Assert.Contains("1 policy, 2 Graphite request(s), ", table.Output);
    }

    [Fact]
    public async Task GapInTheData_NeverActs()
    {
        // From T0+15m (5m after the last point, 9m50s) to T0+19m45s there is no data: inconclusive, never a breach.
        var (decisions, _) = await BacktestAsync(ErrorRatePolicy("gap", "gap"), Deployed);

        Assert.Empty(decisions);
    }

    [Fact]
    public async Task GapInTheData_WithNoDataBreach_ActsOnceTheLookbackHasRunOutAndTheGapHasLastedFor()
    {
        // The last point before the gap is T0+9m50s. With the default 5m lookback it stays the value while it is newer
        // than t - 5m: up to T0+14m45s (9m50s > 9m45s) the target reads a healthy 0.005. At T0+15m (9m50s is not after
        // 10m00s) there is no data, a breach here; after for: 1m the trigger fires at T0+16m, with no value. The gap began
        // at 10m: a lookback as long as Prometheus' hides the first 5 minutes of a gap in point-based data, where
        // Prometheus' rate[1m] fired at 11m45s. The decision has no labels: in the gap the target answers no series at
        // all, so the breach is the label-less "no series" state's, not {app="gap"}'s.
        var (decisions, run) = await BacktestAsync(ErrorRatePolicy("gap", "gap", @for: "1m", noData: "breach"), Deployed);

        Assert.Equal([new Decision("gap", "error-rate-spike", At(16), "rollback", null, 0.05, "{}")], decisions);
        Assert.Equal(At(15), JsonDocument.Parse(run.OutputLines[0]).RootElement.GetProperty("since").GetString());
    }

    [Fact]
    public async Task GapInTheData_WithNoDataBreach_OnALookbackOf30s_ActsSoonAfterTheLastPoint()
    {
        // lookback: 30s (backend graphite-30s): the point at 9m50s is the value up to T0+10m15s (9m50s > 9m45s) and gone
        // at T0+10m30s (not after 10m00s). No data since 10m30s, for: 1m, so the trigger fires at T0+11m30s. A lookback
        // of 3 storage steps still bridges one missing point (a late flush) but sees a real gap within 30 s.
        var (decisions, run) = await BacktestAsync(ErrorRatePolicy("gap", "gap", @for: "1m", noData: "breach", backend: "graphite-30s"), Deployed);

        Assert.Equal([new Decision("gap", "error-rate-spike", At(11, 30), "rollback", null, 0.05, "{}")], decisions);
        Assert.Equal(At(10, 30), JsonDocument.Parse(run.OutputLines[0]).RootElement.GetProperty("since").GetString());
        Assert.Contains("backtest: 1 policy, 2 Graphite request(s), ", run.Error);
    }

    [Fact]
    public async Task AllScenariosTogether_OneRunPrintsEveryDecisionInTimeOrder()
    {
        var run = await RunAsync(
            ["--format", "json", .. Deployed],
            ("a.yaml", ErrorRatePolicy("bad", "bad")),
            ("b.yaml", ErrorRatePolicy("good", "good")),
            ("c.yaml", ErrorRatePolicy("lowtraffic", "lowtraffic")),
            ("d.yaml", ErrorRatePolicy("gap", "gap", @for: "1m", noData: "breach")));

        Assert.True(run.ExitCode == 0, run.Error);
        Assert.Equal(
            ["bad@" + At(12, 15) + ":rollback", "gap@" + At(16) + ":rollback"],
            run.OutputLines.Select(l => JsonDocument.Parse(l).RootElement).Select(r => $"{r.GetProperty("policy").GetString()}@{r.GetProperty("at").GetString()}:{r.GetProperty("action").GetString()}"));
        Assert.Contains("backtest: 4 policies, 8 Graphite request(s), ", run.Error);
    }
}
