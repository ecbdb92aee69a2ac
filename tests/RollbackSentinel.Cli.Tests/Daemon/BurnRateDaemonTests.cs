using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using RollbackSentinel.Cli.Tests.Api;
using RollbackSentinel.Testing.Prometheus;

namespace RollbackSentinel.Cli.Tests.Daemon;

/// <summary>
/// A real Prometheus backfilled with the last 7 hours up to a few seconds from now: app <c>shop</c> at 10 req/s, every
/// request failing for the last 10 minutes; app <c>other</c> healthy. The daemon evaluates at "now", live.
/// </summary>
public sealed class LiveBurnHistory : PrometheusFixture
{
    private static readonly TimeSpan Scrape = TimeSpan.FromSeconds(15);

    protected override PrometheusServerOptions CreateOptions()
    {
        // The last scrape a little ahead of now, so rate() at now still has fresh samples while the test runs.
        var now = TimeProvider.System.GetUtcNow();
        var end = DateTimeOffset.FromUnixTimeSeconds(now.ToUnixTimeSeconds() / 15 * 15).AddSeconds(30);
        var from = end.AddHours(-7);
        var failing = end.AddMinutes(-10);
        var w = new OpenMetricsWriter();
        w.Counter("http_requests", [("app", "shop"), ("code", "200")], SyntheticSeries.Counter(from, end, Scrape, t => t >= failing ? 0 : 10));
        w.Counter("http_requests", [("app", "shop"), ("code", "500")], SyntheticSeries.Counter(from, end, Scrape, t => t >= failing ? 10 : 0));
        w.Counter("http_requests", [("app", "other"), ("code", "200")], SyntheticSeries.Counter(from, end, Scrape, _ => 10));
        return new() { OpenMetricsHistory = w.Render() };
    }
}

public sealed partial class BurnRateDaemonTests(LiveBurnHistory prometheus) : IClassFixture<LiveBurnHistory>
{
    private static string Policy(string name, Uri webhook) => $$$"""
        apiVersion: rollback-sentinel/v1
        kind: RollbackPolicy
        metadata:
          name: {{{name}}}
        spec:
          target:
            webhook:
              url: {{{webhook}}}rollback-{{{name}}}
          schedule:
            interval: 1s
          watch:
            outside: rollback
          triggers:
            - name: slo
              burnRate:
                objective: 99.9
                errors: sum(rate(http_requests_total{app="{{{name}}}",code=~"5.."}[{{window}}]))
                total: sum(rate(http_requests_total{app="{{{name}}}"}[{{window}}]))
                minTotal: 0.5
              action: rollback
        """;

    [Fact]
    public async Task Daemon_BurnRateTrigger_RollsBackLiveOnThe1h5mPairAndShowsTheBurnRateOnMetrics()
    {
        await using var sentinel = await InProcessSentinel.StartAsync(policy: Policy, prometheus: prometheus.BaseAddress);

        await Eventually.WaitAsync(() => Task.FromResult(sentinel.Webhook.Requests.Count > 0), TimeSpan.FromSeconds(30), "the burn-rate rollback");

        // About ten minutes of a total outage: the hour burns at ~10/60 x 1000 = 167 (less the seconds to the last
        // scrape), the last 5 minutes at 1000; the 6h/30m pair fires too, and the first pair in the list is reported.
        var request = Assert.Single(sentinel.Webhook.Requests);
        Assert.Equal("/rollback-shop", request.PathAndQuery);
        using var body = JsonDocument.Parse(request.Body);
        Assert.Matches(@"^1h/5m fired: burn rate 1h 1\d\d(\.\d+)?, 5m 1000, both > 14\.4; 6h/30m fired: ", body.RootElement.GetProperty("summary").GetString());
        Assert.Equal(14.4, body.RootElement.GetProperty("threshold").GetDouble());
        Assert.InRange(body.RootElement.GetProperty("value").GetDouble(), 150, 167);
        using var http = new HttpClient { BaseAddress = sentinel.BaseAddress };
        var metrics = await http.GetStringAsync("metrics");
        Assert.Equal("14.4", TriggerGauge("threshold", "shop").Match(metrics).Groups[1].Value);
        Assert.InRange(double.Parse(TriggerGauge("value", "shop").Match(metrics).Groups[1].Value, CultureInfo.InvariantCulture), 150, 167);

        // The healthy app passes: its value is the pair closest to firing, a burn rate of 0.
        Assert.Equal("0", TriggerGauge("value", "other").Match(metrics).Groups[1].Value);
    }

    private static Regex TriggerGauge(string gauge, string policy) =>
        new($@"^rollback_sentinel_trigger_{gauge}\{{policy=""{policy}"",series=""\{{\}}"",trigger=""slo""\}} (\S+)$", RegexOptions.Multiline);
}
