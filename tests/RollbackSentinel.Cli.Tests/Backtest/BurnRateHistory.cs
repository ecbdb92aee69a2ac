using RollbackSentinel.Testing.Prometheus;

namespace RollbackSentinel.Cli.Tests.Backtest;

/// <summary>
/// A real Prometheus backfilled with burn-rate scenarios, each under its own <c>app</c> label: 6 hours of clean traffic
/// from <see cref="T0"/> (so every window of the default pairs, 6h the longest, is fully covered), then from
/// <see cref="BurnFrom"/> = T0+6h what the scenario is about. The fast scenarios are scraped every 15 s for an hour
/// after that, the slow burn every 60 s for 4 hours. Each scenario's per-second rates are kept here, so the tests can
/// work out from them what rate() gives (<see cref="BurnRateBacktestTests"/>).
/// </summary>
public sealed class BurnRateHistory : PrometheusFixture
{
    public static readonly DateTimeOffset T0 = new(2026, 11, 20, 0, 0, 0, TimeSpan.Zero);
    public static readonly DateTimeOffset BurnFrom = T0.AddHours(6);
    public static readonly TimeSpan Fast = TimeSpan.FromSeconds(15);
    public static readonly TimeSpan Slow = TimeSpan.FromSeconds(60);

    /// <summary>One app's requests: successful and failed requests per second from a time on, scraped every <see cref="Scrape"/> until <see cref="End"/>.</summary>
    public sealed record Scenario(string App, TimeSpan Scrape, DateTimeOffset End, Func<DateTimeOffset, double> Ok, Func<DateTimeOffset, double> Errors);

    private static bool Burning(DateTimeOffset t) => t >= BurnFrom;

    /// <summary>A scenario at 10 req/s with <paramref name="errorShare"/> of them failing while <paramref name="failing"/> holds.</summary>
    private static Scenario TenPerSecond(string app, double errorShare, Func<DateTimeOffset, bool> failing, TimeSpan? scrape = null, TimeSpan? after = null) =>
        new(app, scrape ?? Fast, BurnFrom + (after ?? TimeSpan.FromHours(1)), t => failing(t) ? 10 * (1 - errorShare) : 10, t => failing(t) ? 10 * errorShare : 0);

    /// <summary>Every request fails from the burn on.</summary>
    public static readonly Scenario Burst = TenPerSecond("burst", 1, Burning);

    /// <summary>10% of requests fail from the burn on.</summary>
    public static readonly Scenario TenPercent = TenPerSecond("ten", 0.1, Burning);

    /// <summary>2% of requests fail from the burn on.</summary>
    public static readonly Scenario TwoPercent = TenPerSecond("two", 0.02, Burning);

    /// <summary>Every request fails for 30 seconds (two scrape intervals), then none again.</summary>
    public static readonly Scenario Spike = TenPerSecond("spike", 1, t => Burning(t) && t < BurnFrom.AddSeconds(30));

    /// <summary>1% of requests fail from the burn on, for 4 hours, scraped every 60 s.</summary>
    public static readonly Scenario SlowBurn = TenPerSecond("slow", 0.01, Burning, Slow, TimeSpan.FromHours(4));

    /// <summary>0.2 req/s, half of them failing from the burn on: far above any factor, and far below minTotal 0.5.</summary>
    public static readonly Scenario LowTraffic = new("lowtraffic", Fast, BurnFrom.AddHours(1), t => Burning(t) ? 0.1 : 0.2, t => Burning(t) ? 0.1 : 0);

    /// <summary>Both series scraped, neither ever counting a request: 0/0 in every window.</summary>
    public static readonly Scenario Idle = new("idle", Fast, BurnFrom.AddHours(1), _ => 0, _ => 0);

    public static readonly IReadOnlyList<Scenario> All = [Burst, TenPercent, TwoPercent, Spike, SlowBurn, LowTraffic, Idle];

    protected override PrometheusServerOptions CreateOptions()
    {
        var w = new OpenMetricsWriter();
        foreach (var s in All)
        {
            w.Counter("http_requests", [("app", s.App), ("code", "200")], SyntheticSeries.Counter(T0, s.End, s.Scrape, t => s.Ok(t)));
            w.Counter("http_requests", [("app", s.App), ("code", "500")], SyntheticSeries.Counter(T0, s.End, s.Scrape, t => s.Errors(t)));
        }

        return new() { OpenMetricsHistory = w.Render() };
    }
}
