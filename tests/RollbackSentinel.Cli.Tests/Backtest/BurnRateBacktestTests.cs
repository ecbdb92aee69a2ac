using System.Globalization;
using System.Text.Json;
using RollbackSentinel.Core.Policies;
using static RollbackSentinel.Cli.Tests.Backtest.BurnRateHistory;
using Decision = RollbackSentinel.Cli.Tests.Backtest.BacktestDecision;

namespace RollbackSentinel.Cli.Tests.Backtest;

/// <summary>
/// <c>backtest --format json</c> of burnRate triggers (99.9%: a budget of 0.1% of requests) against a real Prometheus
/// holding <see cref="BurnRateHistory"/>. Each expected detection is worked out from the scenario's rates as rate()
/// gives them (<see cref="FirstFiring"/>), then compared with what the backtest prints, and with the SRE workbook's
/// theory in the test's name. Evaluations run every scrape interval, from the burn on.
/// </summary>
public sealed class BurnRateBacktestTests(BurnRateHistory prometheus) : IClassFixture<BurnRateHistory>
{
    private static readonly (TimeSpan Long, TimeSpan Short, decimal Factor)[] WorkbookPairs =
        [(TimeSpan.FromHours(1), TimeSpan.FromMinutes(5), 14.4m), (TimeSpan.FromHours(6), TimeSpan.FromMinutes(30), 6m)];

    private static string Policy(string app, string extra = "minTotal: 0.5", string trigger = "action: rollback", string name = "checkout-slo") =>
        PolicyYaml.WithWebhook(app, $$$"""
            - name: {{{name}}}
              burnRate:
                objective: 99.9
                errors: sum(rate(http_requests_total{app="{{{app}}}",code=~"5.."}[{{window}}]))
                total: sum(rate(http_requests_total{app="{{{app}}}"}[{{window}}]))
                {{{extra}}}
              {{{trigger}}}
            """);

    private async Task<CliRun> BacktestAsync(Scenario s, string format, params (string Name, string Yaml)[] files)
    {
        using var rules = new RulesFolder(files);
        var run = await CliRun.RunAsync(
            "backtest", "--rules", rules.Path, "--prometheus", prometheus.BaseAddress.ToString(),
            "--from", At(BurnFrom), "--to", At(s.End), "--step", PromDuration.Format(s.Scrape), "--format", format, "--deployed-at", At(BurnFrom));
        Assert.True(run.ExitCode == 0, $"exit {run.ExitCode}: {run.Error}");
        return run;
    }

    private async Task<List<Decision>> DecisionsAsync(Scenario s, params (string Name, string Yaml)[] files) =>
        Decision.Read(await BacktestAsync(s, "json", files));

    private static string At(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    /// <summary>When a pair first fires, and its lower burn rate: what the backtest should print.</summary>
    private sealed record Firing(DateTimeOffset At, string Pair, double Value, double Factor)
    {
        public Decision Decision(string policy, string action = "rollback", string trigger = "checkout-slo") =>
            new(policy, trigger, BurnRateBacktestTests.At(At), action, Value, Factor, "{}");
    }

    /// <summary>
    /// The first evaluation from the burn on at which a pair fires, worked out from the scenario's rates in exact decimal
    /// arithmetic. Evaluations fall on the scrape grid, so Prometheus 2.42's range [t-w, t] holds the samples at both
    /// ends and rate() needs no extrapolation: it is the increase over the scrape intervals that start in [t-w, t),
    /// divided by w. A tie, a burn rate exactly at the factor, is not a breach, here as in the evaluator (whose budget
    /// is exact: 0.001 for 99.9).
    /// </summary>
    private static Firing? FirstFiring(Scenario s, (TimeSpan Long, TimeSpan Short, decimal Factor)[] pairs, decimal minTotal = 0)
    {
        for (var t = BurnFrom; t <= s.End; t += s.Scrape)
        {
            foreach (var (l, sh, f) in pairs)
            {
                var (burnLong, totalLong) = Burn(s, t, l);
                var (burnShort, totalShort) = Burn(s, t, sh);
                if (totalLong > 0 && totalShort > 0 && totalShort >= minTotal && burnLong > f && burnShort > f)
                {
                    return new(t, $"{PromDuration.Format(l)}/{PromDuration.Format(sh)}", Math.Round((double)Math.Min(burnLong, burnShort), 6), (double)f);
                }
            }
        }

        return null;
    }

    /// <summary>The burn rate over [t-w, t] (errors / total / 0.001) and the total per second, as rate() gives them.</summary>
    private static (decimal Burn, decimal Total) Burn(Scenario s, DateTimeOffset t, TimeSpan w)
    {
        decimal errors = 0, total = 0;
        for (var j = t - w; j < t; j += s.Scrape)
        {
            errors += (decimal)s.Errors(j);
            total += (decimal)s.Ok(j) + (decimal)s.Errors(j);
        }

        return total == 0 ? (0, 0) : (errors / total / 0.001m, total * (decimal)s.Scrape.TotalSeconds / (decimal)w.TotalSeconds);
    }

    private static JsonElement OnlyLine(CliRun run) => JsonDocument.Parse(Assert.Single(run.OutputLines)).RootElement;

    [Fact]
    public async Task Burst_EveryRequestFailing_IsDetectedByThe1h5mPairWithinAMinute()
    {
        // Theory: 14.4 x 0.1% = 1.44% of the hour's requests must fail, 51.8 s of a total outage. On the 15 s grid: 60 s.
        var expected = FirstFiring(Burst, WorkbookPairs)!;
        Assert.Equal((BurnFrom.AddSeconds(60), "1h/5m"), (expected.At, expected.Pair));

        var run = await BacktestAsync(Burst, "json", ("p.yaml", Policy("burst")));

        Assert.Equal([expected.Decision("burst")], Decision.Read(run));
        var line = OnlyLine(run);
        Assert.StartsWith("1h/5m fired: burn rate 1h 16.666667, 5m 200, both > 14.4; 6h/30m: burn rate 6h 2.777778, 30m 33.333333, not both > 6; error budget left over 30d: ", line.GetProperty("summary").GetString());
        var roles = line.GetProperty("queries").EnumerateArray().Select(q => q.GetProperty("role").GetString()!).ToArray();
        Assert.Equal(
            ["errors[1h]", "total[1h]", "errors[5m]", "total[5m]", "errors[6h]", "total[6h]", "errors[30m]", "total[30m]", "errors[30d]", "total[30d]",
                "burnRate[1h]", "burnRate[5m]", "burnRate[6h]", "burnRate[30m]", "budgetLeft[30d]", "pair[1h/5m]", "pair[6h/30m]"],
            roles);

        // Each window's range is fetched once: 4 windows and the period, errors and total each.
        Assert.Contains("1 policy, 10 Prometheus request(s)", run.Error);
    }

    /// <summary>Theory: the hour must reach 14.4 / (1000 x share), 8.64 min at 10% and 43.2 min at 2% (6h/30m: 21.6 and 108 min).</summary>
    [Theory]
    [InlineData("ten", 8.64)]
    [InlineData("two", 43.2)]
    public async Task SteadyErrors_AreDetectedByThe1h5mPairAfterTheWorkbooksTime(string app, double minutes)
    {
        var scenario = All.Single(s => s.App == app);
        var expected = FirstFiring(scenario, WorkbookPairs)!;
        Assert.Equal("1h/5m", expected.Pair);
        Assert.InRange(expected.At - BurnFrom, TimeSpan.FromMinutes(minutes), TimeSpan.FromMinutes(minutes) + Fast);

        Assert.Equal([expected.Decision(app)], await DecisionsAsync(scenario, ("p.yaml", Policy(app))));
    }

    [Fact]
    public async Task SlowBurnOfOnePercent_IsDetectedByThe6h30mPairAfterAbout3Point6Hours_AndNeverBy1h5m()
    {
        // Theory: a burn rate of 10; 6 / 10 of 6 hours = 3.6 h; over 1h it stays at 10 < 14.4. Exactly 216 of the 360
        // minutes of the 6h window burning is a burn rate of exactly 6, not above it: the first evaluation after, at
        // 217 minutes, fires (6h: 217 / 360 x 10 = 6.027778).
        var expected = FirstFiring(SlowBurn, WorkbookPairs)!;
        Assert.Equal((BurnFrom.AddMinutes(217), "6h/30m"), (expected.At, expected.Pair));
        Assert.Null(FirstFiring(SlowBurn, WorkbookPairs[..1]));

        var run = await BacktestAsync(
            SlowBurn,
            "json",
            ("p.yaml", Policy("slow")),
            ("q.yaml", Policy("slow", "minTotal: 0.5\n    windows: [{long: 1h, short: 5m, factor: 14.4}]").Replace("name: slow", "name: slow-1h5m-only", StringComparison.Ordinal)));

        // Hours after the deploy: past the default watch window of 1h, the rollback trigger pages instead.
        Assert.Equal([expected.Decision("slow", action: "page")], Decision.Read(run));
        var line = OnlyLine(run);
        Assert.True(line.GetProperty("disarmed").GetBoolean());
        Assert.StartsWith("1h/5m: burn rate 1h 10, 5m 10, not both > 14.4; 6h/30m fired: burn rate 6h 6.027778, 30m 10, both > 6; ", line.GetProperty("summary").GetString());
    }

    [Fact]
    public async Task ThirtySecondSpikeOfEveryRequestFailing_NeverFires()
    {
        // 30 s of errors is 0.83% of the hour's requests: a burn rate of 8.3 over 1h, under 14.4.
        Assert.Null(FirstFiring(Spike, WorkbookPairs));

        Assert.Empty(await DecisionsAsync(Spike, ("p.yaml", Policy("spike"))));
    }

    [Fact]
    public async Task LowTraffic_BelowMinTotal_IsInconclusiveAndNeverActs_ButWithoutMinTotalOneErrorInTwoWouldRollBack()
    {
        var run = await BacktestAsync(LowTraffic, "table", ("p.yaml", Policy("lowtraffic")));

        Assert.DoesNotContain("rollback", run.Output, StringComparison.Ordinal);
        Assert.Contains("inconclusive run", run.Output, StringComparison.Ordinal);
        Assert.Contains("4 evaluations in a row without a verdict: 1h/5m inconclusive: low traffic: total over 5m 0.2 < minTotal 0.5; 6h/30m inconclusive: low traffic: total over 30m 0.2 < minTotal 0.5", run.Output, StringComparison.Ordinal);
        Assert.Contains("lowtraffic  241          241       0     0       241", run.Output, StringComparison.Ordinal);

        var unguarded = FirstFiring(LowTraffic, WorkbookPairs)!;
        Assert.Equal([unguarded.Decision("lowtraffic")], await DecisionsAsync(LowTraffic, ("p.yaml", Policy("lowtraffic", extra: "minTotal: 0"))));
    }

    [Fact]
    public async Task NoTrafficAtAll_ZeroOverZero_IsInconclusiveNeverABreachOrAPass()
    {
        var run = await BacktestAsync(Idle, "table", ("p.yaml", Policy("idle", extra: "minTotal: 0")));

        Assert.Contains("4 evaluations in a row without a verdict: 1h/5m inconclusive: no traffic over 5m: total is 0 (0/0); 6h/30m inconclusive: no traffic over 30m: total is 0 (0/0)", run.Output, StringComparison.Ordinal);
        Assert.Contains("idle    241          241       0     0       241", run.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task For_TenPercentErrorsHeldForTwoMinutes_FiresTwoMinutesAfterTheFirstBreach()
    {
        var breach = FirstFiring(TenPercent, WorkbookPairs)!;

        var run = await BacktestAsync(TenPercent, "json", ("p.yaml", Policy("ten", trigger: "for: 2m\n  action: rollback")));

        var fired = breach with { At = breach.At.AddMinutes(2), Value = FirstFiringValueAt(TenPercent, breach.At.AddMinutes(2)) };
        Assert.Equal([fired.Decision("ten")], Decision.Read(run));
        Assert.Equal(At(breach.At), OnlyLine(run).GetProperty("since").GetString());
    }

    /// <summary>The 1h/5m pair's lower burn rate at <paramref name="t"/> (the 1h one while errors have lasted less than an hour).</summary>
    private static double FirstFiringValueAt(Scenario s, DateTimeOffset t) =>
        Math.Round((double)Math.Min(Burn(s, t, TimeSpan.FromHours(1)).Burn, Burn(s, t, TimeSpan.FromMinutes(5)).Burn), 6);
}
