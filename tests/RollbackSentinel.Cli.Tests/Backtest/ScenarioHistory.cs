using RollbackSentinel.Testing.Prometheus;

namespace RollbackSentinel.Cli.Tests.Backtest;

/// <summary>
/// A real Prometheus backfilled with one short history per scenario, each under its own <c>app</c> label:
/// scraped every 15 s from <see cref="T0"/> for 40 minutes (and the same 40 minutes a day earlier), with
/// the deploy at <see cref="DeployAt"/> = T0+10m. Values are chosen so the expected decisions can be
/// worked out by hand; each test says how.
/// </summary>
public sealed class ScenarioHistory : PrometheusFixture
{
    public static readonly DateTimeOffset T0 = new(2026, 11, 20, 10, 0, 0, TimeSpan.Zero);
    public static readonly DateTimeOffset DeployAt = T0.AddMinutes(10);
    public static readonly DateTimeOffset End = T0.AddMinutes(40);
    public static readonly TimeSpan Scrape = TimeSpan.FromSeconds(15);

    /// <summary>Bucket bounds of every latency histogram.</summary>
    private static readonly double[] Bounds = [0.05, 0.1, 0.25, 0.5, 1, double.PositiveInfinity];

    /// <summary>10 req/s, p95 ~ 0.097 s: cumulative per-second rates per bucket.</summary>
    public static readonly double[] Fast = [5, 9.8, 10, 10, 10, 10];

    /// <summary>10 req/s, p95 ~ 0.917 s.</summary>
    public static readonly double[] Slow = [1, 2, 4, 7, 10, 10];

    protected override PrometheusServerOptions CreateOptions() => new() { OpenMetricsHistory = Write().Render() };

    /// <summary>
    /// Every scenario's series and samples. Prometheus is backfilled with their OpenMetrics text (<see cref="OpenMetricsWriter.Render"/>);
    /// <see cref="VictoriaMetricsScenarioHistory"/> imports the same samples (<see cref="OpenMetricsWriter.RenderPrometheusText"/>).
    /// </summary>
    public static OpenMetricsWriter Write()
    {
        var w = new OpenMetricsWriter();
        bool After(DateTimeOffset t, DateTimeOffset at) => t >= at;

        // good: 10 req/s, 0.5% errors throughout.
        Requests(w, "good", ok: _ => 9.95, errors: _ => 0.05);

        // bad: 0.5% errors, then 20% from the deploy on.
        Requests(w, "bad", ok: t => After(t, DeployAt) ? 8 : 9.95, errors: t => After(t, DeployAt) ? 2 : 0.05);

        // lowtraffic: 0.2 req/s, half of them failing, all along.
        Requests(w, "lowtraffic", ok: _ => 0.1, errors: _ => 0.1);

        // blip: 30% errors for one minute after the deploy, then healthy again.
        Requests(w, "blip", ok: t => After(t, DeployAt) && t < DeployAt.AddMinutes(1) ? 7 : 9.95, errors: t => After(t, DeployAt) && t < DeployAt.AddMinutes(1) ? 3 : 0.05);

        // gap: healthy, but nothing was scraped from the deploy until T0+20m.
        double? Gap(DateTimeOffset t, double rate) => After(t, DeployAt) && t < T0.AddMinutes(20) ? null : rate;
        Requests(w, "gap", ok: t => Gap(t, 9.95), errors: t => Gap(t, 0.05));

        // perdeploy: two deployments in one query; only cart goes bad at the deploy.
        Requests(w, "perdeploy", ok: _ => 9.95, errors: _ => 0.05, extra: ("deployment", "search"));
        Requests(w, "perdeploy", ok: t => After(t, DeployAt) ? 8 : 9.95, errors: t => After(t, DeployAt) ? 2 : 0.05, extra: ("deployment", "cart"));

        // latency: the canary slows down at the deploy, the stable track does not.
        Latency(w, "latency", "canary", (T0, t => After(t, DeployAt) ? Slow : Fast));
        Latency(w, "latency", "stable", (T0, _ => Fast));

        // shared: both tracks slow down together (a dependency, not the release).
        Latency(w, "shared", "canary", (T0, t => After(t, DeployAt) ? Slow : Fast));
        Latency(w, "shared", "stable", (T0, t => After(t, DeployAt) ? Slow : Fast));

        // daily-*: today slows down at T0+10m. Yesterday at the same hour, "daily-batch" slowed down too
        // (a nightly job), "daily-regression" did not.
        var yesterday = T0.AddDays(-1);
        Latency(w, "daily-batch", "canary", (yesterday, t => After(t, DeployAt.AddDays(-1)) ? Slow : Fast), (T0, t => After(t, DeployAt) ? Slow : Fast));
        Latency(w, "daily-regression", "canary", (yesterday, _ => Fast), (T0, t => After(t, DeployAt) ? Slow : Fast));

        // availability: 4 instances; 2 go down at the deploy.
        foreach (var instance in new[] { "a", "b", "c", "d" })
        {
            var fails = instance is "c" or "d";
            w.Gauge("up", [("job", "availability"), ("instance", instance)], SyntheticSeries.Gauge(T0, End, Scrape, t => fails && After(t, DeployAt) ? 0 : 1));
        }

        // detected: the deploy is only seen in the rollout's generation (cart 5 -> 6 at the deploy; search stays at 3);
        // cart's errors climb to 20% five minutes after it.
        w.Gauge("kube_deployment_status_observed_generation", [("app", "detected"), ("deployment", "cart")], SyntheticSeries.Gauge(T0, End, Scrape, t => After(t, DeployAt) ? 6 : 5));
        w.Gauge("kube_deployment_status_observed_generation", [("app", "detected"), ("deployment", "search")], SyntheticSeries.Gauge(T0, End, Scrape, _ => 3));
        var broken = DeployAt.AddMinutes(5);
        Requests(w, "detected", ok: _ => 9.95, errors: _ => 0.05, extra: ("deployment", "search"));
        Requests(w, "detected", ok: t => After(t, broken) ? 8 : 9.95, errors: t => After(t, broken) ? 2 : 0.05, extra: ("deployment", "cart"));

        // latency's deploy, as its generation (7 -> 8 at the deploy) shows it.
        w.Gauge("kube_deployment_status_observed_generation", [("app", "latency"), ("deployment", "checkout")], SyntheticSeries.Gauge(T0, End, Scrape, t => After(t, DeployAt) ? 8 : 7));

        return w;
    }

    private static void Requests(
        OpenMetricsWriter w, string app, Func<DateTimeOffset, double?> ok, Func<DateTimeOffset, double?> errors, (string, string)? extra = null)
    {
        (string, string)[] Labels(string code) => extra is { } e ? [("app", app), e, ("code", code)] : [("app", app), ("code", code)];
        w.Counter("http_requests", Labels("200"), SyntheticSeries.Counter(T0, End, Scrape, ok));
        w.Counter("http_requests", Labels("500"), SyntheticSeries.Counter(T0, End, Scrape, errors));
    }

    /// <summary>A latency histogram scraped over one or more 40-minute periods (each starting its counters at 0).</summary>
    private static void Latency(OpenMetricsWriter w, string app, string track, params (DateTimeOffset From, Func<DateTimeOffset, double[]> CumulativeRates)[] periods)
    {
        for (var i = 0; i < Bounds.Length; i++)
        {
            var bucket = i;
            w.HistogramBucket(
                "http_request_duration_seconds",
                [("app", app), ("track", track)],
                Bounds[i],
                periods.SelectMany(p => SyntheticSeries.Counter(p.From, p.From + (End - T0), Scrape, t => p.CumulativeRates(t)[bucket])));
        }
    }
}
