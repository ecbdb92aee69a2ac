using RollbackSentinel.Testing.Prometheus;

namespace RollbackSentinel.Prometheus.Tests.RealServer;

/// <summary>
/// One real Prometheus for every test in <see cref="RealPrometheusCollection"/>, backfilled with a
/// few hours of synthetic history at fixed timestamps so expected values can be computed by hand.
/// </summary>
public sealed class HistoryFixture : PrometheusFixture
{
    public static readonly DateTimeOffset T0 = new(2026, 11, 20, 0, 0, 0, TimeSpan.Zero);
    public static readonly TimeSpan Scrape = TimeSpan.FromSeconds(15);

    /// <summary>Gauge <c>queue_depth</c> spans this long, so a 1 s-step range over it exceeds 11,000 points.</summary>
    public static readonly TimeSpan LongSpan = TimeSpan.FromHours(4);

    /// <summary>A label value that needs every OpenMetrics escape.</summary>
    public const string AwkwardLabelValue = "a \"quoted\" \\path\\\nsecond line";

    public static readonly IReadOnlyDictionary<(string App, string Code), double> RequestRates = new Dictionary<(string, string), double>
    {
        [("checkout", "200")] = 10,
        [("checkout", "500")] = 0.5,
        [("cart", "200")] = 4,
    };

    protected override PrometheusServerOptions CreateOptions()
    {
        var oneHour = T0 + TimeSpan.FromHours(1);
        var writer = new OpenMetricsWriter();
        foreach (var ((app, code), rate) in RequestRates)
        {
            writer.Counter("http_requests", [("app", app), ("code", code)], SyntheticSeries.Counter(T0, oneHour, Scrape, _ => rate));
        }

        // queue_depth = index of the scrape: 0, 1, 2, ... every 15 s.
        writer.Gauge("queue_depth", [("queue", "orders")], SyntheticSeries.Gauge(T0, T0 + LongSpan, Scrape, t => (t - T0) / Scrape));

        // 60% of requests under 0.1 s, 90% under 0.5 s, 10 requests/s in all.
        foreach (var (le, rate) in new[] { (0.1, 6.0), (0.5, 9.0), (double.PositiveInfinity, 10.0) })
        {
            writer.HistogramBucket(
                "http_request_duration_seconds", [("app", "checkout")], le, SyntheticSeries.Counter(T0, oneHour, Scrape, _ => rate));
        }

        writer.Gauge("awkward_labels", [("path", AwkwardLabelValue)], [new MetricPoint(T0, 1)]);
        return new PrometheusServerOptions { OpenMetricsHistory = writer.Render() };
    }
}

[CollectionDefinition(Name)]
public sealed class RealPrometheusCollection : ICollectionFixture<HistoryFixture>
{
    public const string Name = "Real Prometheus with backfilled history";
}
