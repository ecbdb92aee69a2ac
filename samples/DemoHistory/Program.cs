using RollbackSentinel.Testing.Prometheus;

// One hour of a shop's history, scraped every 15 s, for backtesting the example policies in rules/:
//   14:05  checkout: a one-minute blip of 12% errors (shorter than the policy's for: 2m)
//   14:20  checkout canary v42 deployed (scripts/demo-backtest gives this change as a deploy marker, --changes):
//          its p95 latency regresses against the stable track
//   14:30  checkout: errors climb to 9%
//   14:37  shop/cart rolled out: its Deployment's observed generation goes 11 -> 12 (found by the policy's detect query)
//   14:40  shop/cart: errors climb to 8%; shop/search stays healthy; shop/idle sees 0.3 req/s, half failing
var t0 = new DateTimeOffset(2026, 11, 20, 14, 0, 0, TimeSpan.Zero);
var end = t0.AddHours(1);
var scrape = TimeSpan.FromSeconds(15);
DateTimeOffset At(int minutes) => t0.AddMinutes(minutes);
bool Between(DateTimeOffset t, int from, int to) => t >= At(from) && t < At(to);

var w = new OpenMetricsWriter();

double CheckoutErrorShare(DateTimeOffset t) => Between(t, 5, 6) ? 0.12 : t >= At(30) ? 0.09 : 0.004;
foreach (var track in new[] { "stable", "canary" })
{
    var rate = track == "stable" ? 18.0 : 2.0;
    w.Counter("http_requests", [("app", "checkout"), ("track", track), ("code", "200")], SyntheticSeries.Counter(t0, end, scrape, t => rate * (1 - CheckoutErrorShare(t))));
    w.Counter("http_requests", [("app", "checkout"), ("track", track), ("code", "500")], SyntheticSeries.Counter(t0, end, scrape, t => rate * CheckoutErrorShare(t)));
}

double[] bounds = [0.05, 0.1, 0.25, 0.5, 1, double.PositiveInfinity];
double[] fast = [0.5, 0.98, 1, 1, 1, 1];
double[] slow = [0.1, 0.3, 0.6, 0.9, 1, 1];
foreach (var track in new[] { "stable", "canary" })
{
    var perSecond = track == "stable" ? 18.0 : 2.0;
    for (var i = 0; i < bounds.Length; i++)
    {
        var bucket = i;
        var isCanary = track == "canary";
        w.HistogramBucket(
            "http_request_duration_seconds",
            [("app", "checkout"), ("track", track)],
            bounds[i],
            SyntheticSeries.Counter(t0, end, scrape, t => perSecond * (isCanary && t >= At(20) ? slow : fast)[bucket]));
    }
}

foreach (var instance in new[] { "10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080" })
{
    w.Gauge("up", [("job", "checkout"), ("instance", instance)], SyntheticSeries.Gauge(t0, end, scrape, _ => 1));
}

w.Gauge("queue_depth", [("app", "checkout")], SyntheticSeries.Gauge(t0, end, scrape, t => 200 + ((t - t0).TotalMinutes * 5)));

foreach (var (deployment, total, share) in new (string, double, Func<DateTimeOffset, double>)[]
{
    ("cart", 12, t => t >= At(40) ? 0.08 : 0.003),
    ("search", 30, _ => 0.002),
    ("idle", 0.3, _ => 0.5),
})
{
    w.Counter("http_requests", [("namespace", "shop"), ("deployment", deployment), ("code", "200")], SyntheticSeries.Counter(t0, end, scrape, t => total * (1 - share(t))));
    w.Counter("http_requests", [("namespace", "shop"), ("deployment", deployment), ("code", "503")], SyntheticSeries.Counter(t0, end, scrape, t => total * share(t)));
}

foreach (var (deployment, generation) in new (string, Func<DateTimeOffset, double?>)[] { ("cart", t => t >= At(37) ? 12 : 11), ("search", _ => 4), ("idle", _ => 2) })
{
    w.Gauge("kube_deployment_status_observed_generation", [("namespace", "shop"), ("deployment", deployment)], SyntheticSeries.Gauge(t0, end, scrape, generation));
}

var output = args.Length > 0 ? args[0] : "history.om";
File.WriteAllText(output, w.Render());
Console.WriteLine($"wrote {w.SeriesCount} series from {t0:yyyy-MM-ddTHH:mm:ssZ} to {end:yyyy-MM-ddTHH:mm:ssZ} to {output}");
