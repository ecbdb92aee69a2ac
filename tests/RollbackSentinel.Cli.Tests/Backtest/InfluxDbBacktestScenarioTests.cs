using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using static RollbackSentinel.Cli.Tests.Backtest.ScenarioHistory;
using Decision = RollbackSentinel.Cli.Tests.Backtest.BacktestDecision;

namespace RollbackSentinel.Cli.Tests.Backtest;

/// <summary>
/// <c>backtest --config --format json</c> with the policies on an InfluxDB backend (<c>spec.backend: influx</c>) holding
/// the error-rate scenarios of <see cref="BacktestScenarioTests"/> as per-second rates (<see cref="InfluxDbScenarioHistory"/>):
/// each scenario asserts the exact decisions printed. Times are relative to T0 = 2026-11-20T10:00:00Z; the deploy is at
/// T0+10m; every policy is evaluated every 15 s from T0 to T0+40m (161 evaluations).
/// </summary>
/// <remarks>
/// <para>The queries are <c>SELECT mean("errors")</c> (and <c>mean("requests")</c>) <c>... GROUP BY time(1m)</c>: one value
/// per minute, the counterpart of <c>rate(x[1m])</c>. InfluxDB labels a bucket by its <b>start</b>: the bucket 10:10:00
/// holds the points at 10:10:00, :15, :30 and :45.</para>
/// <para>The adapter counts each bucket at its <b>end</b>, when its value is complete: the bucket 10:10:00 is the value
/// from 10:11:00, and the value at t is the newest bucket that ended in (t - lookback, t]. The backtest sends each query
/// once for the whole window (one request per day of it); the daemon asks at each t for the window ending at t, whose
/// newest bucket is cut off at t and so has not ended: both read the same complete buckets, and the backtest never
/// uses a point written after t. The price is up to one bucket of delay: a 1m bucket is seen a minute after it began.</para>
/// <para>Empty buckets (<c>fill(null)</c>, InfluxDB's default) are gaps, never zeros; the bucket before one stays the
/// value for the lookback. The lookback must be at least the bucket width: with 30s a 1m bucket ending at m:00 is too old
/// at m:30 and m:45, two evaluations of every minute have no data, and a breach cannot hold (see the influx30s tests).
/// The first minute (10:00:00 to 10:00:45) has no complete bucket yet: no data.</para>
/// </remarks>
public sealed class InfluxDbBacktestScenarioTests(InfluxDbScenarioHistory influx) : IClassFixture<InfluxDbScenarioHistory>
{
    private const string Window = "2026-11-20T10:00:00Z";
    private const string WindowEnd = "2026-11-20T10:40:00Z";

    /// <summary>The deploy every scenario's history has, as <c>--deployed-at</c>.</summary>
    private static readonly string[] Deployed = ["--deployed-at", "2026-11-20T10:10:00Z"];

    private static string Query(string field, string app) =>
        $"""SELECT mean("{field}") FROM "http" WHERE "app" = '{app}' AND $timeFilter GROUP BY time(1m)""";

    /// <summary>The error-rate policy of <see cref="BacktestScenarioTests"/> in InfluxQL, on <paramref name="backend"/>.</summary>
    private static string ErrorRatePolicy(string name, string app, string @for = "2m", string noData = "inconclusive", string backend = "influx")
    {
        var yaml = PolicyYaml.WithWebhook(name, $"""
            - name: error-rate-spike
              errorRate:
                errors: {Query("errors", app)}
                total: {Query("requests", app)}
                max: 0.05
                minTotal: 0.5
              for: {@for}
              noData: {noData}
              action: rollback
            """);
        return yaml.Replace("\nspec:\n", $"\nspec:\n  backend: {backend}\n", StringComparison.Ordinal);
    }

    private static string At(int minutes, int seconds = 0) =>
        T0.AddMinutes(minutes).AddSeconds(seconds).UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    private async Task<CliRun> RunAsync(string yaml, params string[] extra)
    {
        using var rules = new RulesFolder(("policy.yaml", yaml));
        return await CliRun.RunAsync(["backtest", "--rules", rules.Path, "--config", influx.SettingsPath, "--from", Window, "--to", WindowEnd, .. extra]);
    }

    private async Task<(List<Decision> Decisions, CliRun Run)> BacktestAsync(string yaml, params string[] extra)
    {
        var run = await RunAsync(yaml, ["--format", "json", .. extra]);
        Assert.True(run.ExitCode == 0, $"exit {run.ExitCode}: {run.Error}");
        var decisions = Decision.Read(run);
        return (decisions, run);
    }

    private static string Since(CliRun run) => JsonDocument.Parse(Assert.Single(run.OutputLines)).RootElement.GetProperty("since").GetString()!;

    [Fact]
    public async Task GoodDeploy_PrintsNoDecision()
    {
        // Every bucket: 0.05 / 10 = 0.005, far below 0.05. Each query is one request (the window is within a day).
        var (decisions, run) = await BacktestAsync(ErrorRatePolicy("good", "good"), Deployed);

        Assert.Empty(decisions);
        Assert.Contains("backtest: 1 policy, 2 InfluxDB request(s), ", run.Error);
    }

    [Fact]
    public async Task BadDeploy_RollsBackTwoMinutesAfterTheDeploysMinuteEnds()
    {
        // The bucket 10:10:00 ends at 10:11:00: the mean of the points at 10:10:00 (still 0.05 errors/s: it carries
        // 10:09:45-10:10:00) and 10:10:15, :30, :45 (2 errors/s): (0.05 + 3*2)/4 = 1.5125 of 10 req/s, 0.15125 > 0.05, the
        // first breach, at 10:11:00. Until then the value is the healthy bucket 10:09:00. It holds, and 2m later, at
        // 10:13:00, the newest complete bucket (10:12:00) is all at 2/10 = 0.2. On Prometheus (rate[1m] over the 4
        // intervals ending at t) the first breach is at 10:10:15 and the rollback at 10:12:15: a 1m bucket costs up to a
        // minute. The daemon on this InfluxDB decides at the same times as this backtest (see the class remarks).
        var (decisions, run) = await BacktestAsync(ErrorRatePolicy("bad", "bad"), Deployed);

        Assert.Equal([new Decision("bad", "error-rate-spike", At(13), "rollback", 0.2, 0.05, "{}")], decisions);
        using var doc = JsonDocument.Parse(Assert.Single(run.OutputLines));
        var r = doc.RootElement;
        Assert.Equal(At(11), r.GetProperty("since").GetString());
        Assert.Equal("breach", r.GetProperty("verdict").GetString());
        Assert.StartsWith("error ratio 0.2 (2/10) > max 0.05", r.GetProperty("summary").GetString());
        var queries = r.GetProperty("queries").EnumerateArray().ToArray();
        Assert.Equal(["errors", "total"], queries.Select(q => q.GetProperty("role").GetString()));
        Assert.Equal(Query("requests", "bad"), queries[1].GetProperty("query").GetString());
        Assert.Equal(10, queries[1].GetProperty("value").GetDouble(), 6);
        Assert.Equal(2, queries[0].GetProperty("value").GetDouble(), 6);
        Assert.Contains("backtest: 1 policy, 2 InfluxDB request(s), ", run.Error);
    }

    [Fact]
    public async Task BadDeploy_WithALookbackShorterThanTheBuckets_NeverActs()
    {
        // lookback: 30s. At m:00 and m:15 the bucket that ended at m:00 is the value (its end is in (t-30s, t]); at m:30
        // and m:45 it is not, and the next bucket has not ended: no data, inconclusive. A pending breach that meets an
        // inconclusive evaluation resets, so from 10:11:00 the trigger breaches twice a minute and never for 2m: the bad
        // deploy goes unnoticed. Of the 161 evaluations 82 are inconclusive (the whole first minute, which has no
        // complete bucket, reported as one inconclusive run at its 4th evaluation, and m:30 and m:45 of minutes 1-39),
        // 20 pass (m:00 and m:15 of minutes 1-10) and 59 breach (m:00 and m:15 of minutes 11-39, and 10:40:00 itself).
        var (decisions, _) = await BacktestAsync(ErrorRatePolicy("bad", "bad", backend: "influx30s"), Deployed);
        Assert.Empty(decisions);

        var table = await RunAsync(ErrorRatePolicy("bad", "bad", backend: "influx30s"), Deployed);
        Assert.True(table.ExitCode == 0, table.Error);
        Assert.Contains("2026-11-20T10:00:45Z  bad     error-rate-spike  -       inconclusive run  -      0.05       4 evaluations in a row without a verdict: total query returned no series", table.Output);
        Assert.Matches(new Regex(@"(?m)^bad +161 +161 +20 +59 +82 +0 +0 +0 +1 *$"), table.Output);
    }

    [Fact]
    public async Task LowTraffic_HalfTheRequestsFailingBelowMinTotal_NeverActsButReportsTheInconclusiveRun()
    {
        var (decisions, _) = await BacktestAsync(ErrorRatePolicy("lowtraffic", "lowtraffic"));
        Assert.Empty(decisions);

        var table = await RunAsync(ErrorRatePolicy("lowtraffic", "lowtraffic"));

        // The first minute has no complete bucket: no series, inconclusive; its 4th evaluation, T0+45s, is reported as an
        // inconclusive run. From T0+1m every bucket reads 0.1 of 0.2 req/s: a total below minTotal 0.5, inconclusive (low
        // traffic), the same run going on. Never a verdict, never an action.
        Assert.True(table.ExitCode == 0, table.Error);
        Assert.Contains("2026-11-20T10:00:45Z  lowtraffic  error-rate-spike  -       inconclusive run  -      0.05       4 evaluations in a row without a verdict: total query returned no series", table.Output);
        Assert.Contains("lowtraffic  161          161       0     0       161           0      0        0           1", table.Output);
        Assert.Contains("1 policy, 2 InfluxDB request(s), ", table.Output);
    }

    [Fact]
    public async Task GapInTheData_NeverActs()
    {
        // The buckets 10:10:00 to 10:19:00 are empty. With the default lookback (5m) the bucket 10:09:00 (all healthy, ended
        // 10:10:00) stays the value until 10:14:45; from 10:15:00 to 10:20:45 there is no data, inconclusive; from 10:21:00
        // the buckets are healthy again. Nothing ever breaches.
        var (decisions, _) = await BacktestAsync(ErrorRatePolicy("gap", "gap"), Deployed);

        Assert.Empty(decisions);
    }

    [Fact]
    public async Task GapInTheData_WithNoDataBreach_ActsFiveMinutesLateWithTheDefaultLookback()
    {
        // lookback 5m: the bucket 10:09:00 (ended 10:10:00) is the value while its end is after t-5m, up to 10:14:45. From
        // 10:15:00 no data, a breach here; after for: 1m the trigger fires at 10:16:00, with no value. (Prometheus: 10:11:45.)
        var (decisions, run) = await BacktestAsync(ErrorRatePolicy("gap", "gap", @for: "1m", noData: "breach"), Deployed);

        Assert.Equal([new Decision("gap", "error-rate-spike", At(16), "rollback", null, 0.05, "{}")], decisions);
        Assert.Equal(At(15), Since(run));
    }

    [Fact]
    public async Task GapInTheData_WithNoDataBreach_LookbackOfOneBucket_ActsOneMinuteAfterTheGapStarts()
    {
        // lookback 1m, the bucket width: every evaluation reads the bucket that ended last, and the gap shows as soon as a
        // bucket ends empty. At 10:11:00 the bucket 10:10:00 has ended with no point and 10:09:00 ended at 10:10:00, not
        // after t-1m: no data, a breach, held for 1m at 10:12:00. The earliest a 1m bucket can show a gap.
        var (decisions, run) = await BacktestAsync(ErrorRatePolicy("gap", "gap", @for: "1m", noData: "breach", backend: "influx1m"), Deployed);

        Assert.Equal([new Decision("gap", "error-rate-spike", At(12), "rollback", null, 0.05, "{}")], decisions);
        Assert.Equal(At(11), Since(run));
    }

    [Fact]
    public async Task GapInTheData_WithNoDataBreach_LookbackShorterThanTheBuckets_ActsButHasNoDataHalfOfEveryMinute()
    {
        // lookback 30s, shorter than the 1m buckets: every minute's evaluations at m:30 and m:45 have no data (see
        // BadDeploy_WithALookbackShorterThanTheBuckets_NeverActs), a breach here, which the bucket ending at the next m:00
        // ends 15 s later, before for: 1m. In the gap no bucket ends with a point: the bucket 10:09:00 (ended 10:10:00) is
        // the value at 10:10:00 and 10:10:15, then no data from 10:10:30 on, held for 1m at 10:11:30. Half a minute
        // sooner than lookback 1m, but every minute outside the gap breaches twice: keep the lookback at least the bucket
        // width, or a shorter for: would act on the holes the lookback makes.
        var (decisions, run) = await BacktestAsync(ErrorRatePolicy("gap", "gap", @for: "1m", noData: "breach", backend: "influx30s"), Deployed);

        Assert.Equal([new Decision("gap", "error-rate-spike", At(11, 30), "rollback", null, 0.05, "{}")], decisions);
        using var doc = JsonDocument.Parse(Assert.Single(run.OutputLines));
        var r = doc.RootElement;
        Assert.Equal(At(10, 30), r.GetProperty("since").GetString());
        Assert.False(r.GetProperty("disarmed").GetBoolean());
        Assert.Equal("total query returned no series (counted as a breach: noData: breach)", r.GetProperty("summary").GetString());
    }
}
