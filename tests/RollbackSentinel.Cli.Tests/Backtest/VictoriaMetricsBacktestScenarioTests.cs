using System.Globalization;
using System.Text.Json;
using static RollbackSentinel.Cli.Tests.Backtest.ScenarioHistory;
using Decision = RollbackSentinel.Cli.Tests.Backtest.BacktestDecision;

namespace RollbackSentinel.Cli.Tests.Backtest;

/// <summary>
/// <c>backtest --config --format json</c> with the policies on a VictoriaMetrics backend (<c>spec.backend: vm</c>) holding
/// the very samples <see cref="BacktestScenarioTests"/> backfill into Prometheus: each scenario asserts the exact decisions
/// printed. Times are relative to T0 = 2026-11-20T10:00:00Z; the deploy is at T0+10m; every policy is evaluated every 15 s
/// from T0 to T0+40m (161 evaluations).
/// </summary>
/// <remarks>
/// MetricsQL's <c>rate(x[1m])</c> at t is <c>(last sample in (t-1m, t] - last sample before t-1m) / (their time apart)</c>:
/// the window is open at its start, and the sample before it counts only when it is at most ~1.5 scrape intervals (here
/// 22.5 s) older than the window's start. Prometheus' window is closed, <c>[t-1m, t]</c>, and it extrapolates the samples in
/// it to the window's ends. On 15 s scrapes aligned with the evaluations both read the same 4 intervals ending at t, so
/// steady traffic gives the same values; they part at a series' first samples and around a gap (see the tests), where
/// VictoriaMetrics' answer at t also depends on how far past t the range it was asked for reaches.
/// </remarks>
public sealed class VictoriaMetricsBacktestScenarioTests(VictoriaMetricsScenarioHistory vm) : IClassFixture<VictoriaMetricsScenarioHistory>
{
    private const string Window = "2026-11-20T10:00:00Z";
    private const string WindowEnd = "2026-11-20T10:40:00Z";

    /// <summary>The deploy every scenario's history has, as <c>--deployed-at</c>.</summary>
    private static readonly string[] Deployed = ["--deployed-at", "2026-11-20T10:10:00Z"];

    /// <summary>The error-rate policy of <see cref="BacktestScenarioTests"/>, on the backend <c>vm</c> (null: the settings' default).</summary>
    private static string ErrorRatePolicy(string name, string app, string @for = "2m", string noData = "inconclusive", string? backend = "vm")
    {
        var yaml = PolicyYaml.WithWebhook(name, $"""
            - name: error-rate-spike
              errorRate:
                errors: sum(rate(http_requests_total{"{"}app="{app}",code=~"5.."{"}"}[1m]))
                total: sum(rate(http_requests_total{"{"}app="{app}"{"}"}[1m]))
                max: 0.05
                minTotal: 0.5
              for: {@for}
              noData: {noData}
              action: rollback
            """);
        return backend is null ? yaml : yaml.Replace("\nspec:\n", $"\nspec:\n  backend: {backend}\n", StringComparison.Ordinal);
    }

    private static string At(int minutes, int seconds = 0) =>
        T0.AddMinutes(minutes).AddSeconds(seconds).UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    /// <summary><c>backtest</c> from T0 to <paramref name="to"/> (T0+40m when null).</summary>
    private static async Task<CliRun> RunAsync(string yaml, string settings, string? to, params string[] extra)
    {
        using var rules = new RulesFolder(("policy.yaml", yaml));
        return await CliRun.RunAsync(["backtest", "--rules", rules.Path, "--config", settings, "--from", Window, "--to", to ?? WindowEnd, .. extra]);
    }

    private async Task<(List<Decision> Decisions, CliRun Run)> BacktestAsync(string yaml, params string[] extra) =>
        await BacktestWithAsync(vm.SettingsPath, null, yaml, extra);

    private static async Task<(List<Decision> Decisions, CliRun Run)> BacktestWithAsync(string settings, string? to, string yaml, params string[] extra)
    {
        var run = await RunAsync(yaml, settings, to, ["--format", "json", .. extra]);
        Assert.True(run.ExitCode == 0, $"exit {run.ExitCode}: {run.Error}");
        var decisions = Decision.Read(run);
        return (decisions, run);
    }

    [Fact]
    public async Task GoodDeploy_PrintsNoDecision()
    {
        var (decisions, run) = await BacktestAsync(ErrorRatePolicy("good", "good"), Deployed);

        Assert.Empty(decisions);
        Assert.Contains("backtest: 1 policy, 2 VictoriaMetrics request(s), ", run.Error);
    }

    [Fact]
    public async Task GoodDeploy_OnTheDefaultBackend_AsksVictoriaMetricsToo()
    {
        // No spec.backend: defaultBackend: vm sends the queries to VictoriaMetrics (the prometheus: block is unreachable).
        var (decisions, run) = await BacktestWithAsync(vm.DefaultVmSettingsPath, null, ErrorRatePolicy("good", "good", backend: null), Deployed);

        Assert.Empty(decisions);
        Assert.Contains("backtest: 1 policy, 2 VictoriaMetrics request(s), ", run.Error);
    }

    [Fact]
    public async Task BadDeploy_RollsBackWhenTheBreachHasHeldForTwoMinutes_AsOnPrometheus()
    {
        // At T0+10m15s VictoriaMetrics reads (sample at 10m15s - sample at 9m15s) / 60 s: the same 4 intervals as
        // Prometheus, one of them bad, (3*0.75+30)/600 = 0.05375 > 0.05. It holds; 2m later the window is all at 20%.
        var (decisions, run) = await BacktestAsync(ErrorRatePolicy("bad", "bad"), Deployed);

        Assert.Equal([new Decision("bad", "error-rate-spike", At(12, 15), "rollback", 0.2, 0.05, "{}")], decisions);
        using var doc = JsonDocument.Parse(Assert.Single(run.OutputLines));
        var r = doc.RootElement;
        Assert.Equal(At(10, 15), r.GetProperty("since").GetString());
        Assert.Equal("breach", r.GetProperty("verdict").GetString());
        Assert.StartsWith("error ratio 0.2 (2/10) > max 0.05", r.GetProperty("summary").GetString());
        var total = r.GetProperty("queries").EnumerateArray().Single(q => q.GetProperty("role").GetString() == "total");
        Assert.Equal("sum(rate(http_requests_total{app=\"bad\"}[1m]))", total.GetProperty("query").GetString());
        Assert.Equal(10, total.GetProperty("value").GetDouble(), 6);
        Assert.Contains("backtest: 1 policy, 2 VictoriaMetrics request(s), ", run.Error);
    }

    [Fact]
    public async Task LowTraffic_HalfTheRequestsFailingBelowMinTotal_NeverActsButReportsTheInconclusiveRun()
    {
        var (decisions, _) = await BacktestAsync(ErrorRatePolicy("lowtraffic", "lowtraffic"));
        Assert.Empty(decisions);

        var table = await RunAsync(ErrorRatePolicy("lowtraffic", "lowtraffic"), vm.SettingsPath, null);

        // The same 4th inconclusive evaluation as on Prometheus, with another value. VictoriaMetrics does not extrapolate:
        // at T0+45s there is no sample before the window, so it takes the window's first (T0) instead and reads the exact
        // (v(45s) - v(0)) / 45 s = 0.2, where Prometheus reads 0.2 * 45/60 = 0.15 (it extrapolates to the window's start,
        // but no further back than where the counter was 0).
        Assert.True(table.ExitCode == 0, table.Error);
        Assert.Contains("2026-11-20T10:00:45Z  lowtraffic  error-rate-spike  -       inconclusive run  -      0.05       4 evaluations in a row without a verdict: low traffic: total 0.2 < minTotal 0.5", table.Output);
        Assert.Contains("lowtraffic  161          161       0     0       161           0      0        0           1", table.Output);
        Assert.Contains("1 policy, 2 VictoriaMetrics request(s), ", table.Output);
    }

    [Fact]
    public async Task GapInTheData_NeverActs()
    {
        var (decisions, _) = await BacktestAsync(ErrorRatePolicy("gap", "gap"), Deployed);

        Assert.Empty(decisions);
    }

    [Fact]
    public async Task GapInTheData_WithNoDataBreach_ActsLaterThanOnPrometheus()
    {
        // Last sample before the gap: T0+9m45s; the next: T0+20m. Prometheus' rate[1m] is empty from T0+10m45s (one sample
        // in [t-1m, t]), so it fires at 11m45s. VictoriaMetrics still answers at 10m45s and 11m: no sample in (t-1m, t], but
        // the one before the window (9m45s) is at most 22.5 s older than its start and the range fetched has samples after
        // it (20m on), so the counter is taken as unchanged: rate 0, a total of 0 below minTotal, inconclusive (low
        // traffic), not "no data". From 11m15s 9m45s is too old: no data, a breach here, and after for: 1m the trigger
        // fires at 12m15s, 30 s later than on Prometheus.
        var (decisions, run) = await BacktestAsync(ErrorRatePolicy("gap", "gap", @for: "1m", noData: "breach"), Deployed);

        Assert.Equal([new Decision("gap", "error-rate-spike", At(12, 15), "rollback", null, 0.05, "{}")], decisions);
        Assert.Equal(At(11, 15), JsonDocument.Parse(run.OutputLines[0]).RootElement.GetProperty("since").GetString());
    }

    [Fact]
    public async Task GapInTheData_WithNoDataBreach_WindowEndingInTheGap_ActsAsOnPrometheus()
    {
        // VictoriaMetrics takes the sample before the window only when the data it fetched for the query also has one at or
        // after the window's start. A backtest ending before the gap does (--to T0+19m45s): nothing after 9m45s is fetched,
        // so 10m45s is already "no data", as on Prometheus, and the trigger fires at 11m45s. An instant query, as the
        // daemon sends live at 10m45s, fetches nothing after 10m45s either: live, VictoriaMetrics decides as here, and a
        // backtest whose window reaches past a gap can act up to ~1.5 scrape intervals later than the daemon did.
        var (decisions, _) = await BacktestWithAsync(
            vm.SettingsPath, "2026-11-20T10:19:45Z", ErrorRatePolicy("gap", "gap", @for: "1m", noData: "breach"), Deployed);

        Assert.Equal([new Decision("gap", "error-rate-spike", At(11, 45), "rollback", null, 0.05, "{}")], decisions);
    }
}
