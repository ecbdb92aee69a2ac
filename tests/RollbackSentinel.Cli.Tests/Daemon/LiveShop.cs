using RollbackSentinel.Testing.Net;
using RollbackSentinel.Testing.Prometheus;

namespace RollbackSentinel.Cli.Tests.Daemon;

/// <summary>
/// A live setting for the daemon: the fake shop scraped every second by a real Prometheus, and a webhook
/// receiver standing in for the rollback endpoint. Everything on loopback, all stopped on dispose.
/// </summary>
internal sealed class LiveShop : IAsyncDisposable
{
    private LiveShop(FakeShopTarget shop, PrometheusServer prometheus, LoopbackHttpServer webhook)
    {
        Shop = shop;
        Prometheus = prometheus;
        Webhook = webhook;
    }

    public FakeShopTarget Shop { get; }

    public PrometheusServer Prometheus { get; }

    public LoopbackHttpServer Webhook { get; }

    /// <summary>The HTTP status the webhook receiver answers with (200 unless a test breaks it).</summary>
    public int WebhookStatus { get; set; } = 200;

    public IReadOnlyList<RecordedRequest> Rollbacks => Webhook.Requests.Where(r => r.PathAndQuery.StartsWith("/rollback", StringComparison.Ordinal)).ToArray();

    /// <param name="webhookDelay">How long the webhook takes to answer (to catch the daemon mid-action).</param>
    public static async Task<LiveShop> StartAsync(TimeSpan? webhookDelay = null)
    {
        var shop = new FakeShopTarget();
        LiveShop? live = null;
        var webhook = LoopbackHttpServer.Start(async (_, ct) =>
        {
            if (webhookDelay is { } d)
            {
                await Task.Delay(d, ct);
            }

            return new CannedResponse(live?.WebhookStatus ?? 200, "{\"ok\":true}");
        });
        try
        {
            var prometheus = await PrometheusServer.StartAsync(
                new PrometheusServerOptions
                {
                    ScrapeConfigsYaml = $"- job_name: shop\n  scrape_interval: 1s\n  static_configs: [{{targets: ['{shop.Address}']}}]",
                },
                CancellationToken.None);
            live = new LiveShop(shop, prometheus, webhook);
            return live;
        }
        catch
        {
            await shop.DisposeAsync();
            await webhook.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// <c>spec.watch</c> of a policy whose test is not about changes: its rollback trigger is armed with no change
    /// known, on purpose (the default, <c>outside: page</c>, would page instead).
    /// </summary>
    public const string AlwaysArmed = "{outside: rollback}";

    /// <summary>
    /// A policy guarding the shop's error ratio, evaluated every second, rolling back through the webhook
    /// (or through <paramref name="target"/>, a target block indented by four spaces). <paramref name="spec"/> adds
    /// fields to the spec, indented by two spaces (e.g. a <c>confirm</c> block). <paramref name="watch"/> is its
    /// <c>spec.watch</c> (a flow mapping), <see cref="AlwaysArmed"/> unless the test is about changes; null: none (the defaults).
    /// </summary>
    public string Policy(string name = "shop", string @for = "2s", double max = 0.1, string? target = null, bool dryRun = false, string action = "rollback", string? spec = null, string interval = "1s", string? watch = AlwaysArmed) => $"""
        apiVersion: rollback-sentinel/v1
        kind: RollbackPolicy
        metadata:
          name: {name}
        spec:
          target:
        {target ?? $"    webhook:\n      url: {Webhook.BaseAddress}rollback"}
          schedule:
            interval: {interval}
          cooldown: 1h
          triggers:
            - name: errors
              errorRate:
                errors: sum(rate(http_requests_total{"{"}job="shop",code=~"5.."{"}"}[5s]))
                total: sum(rate(http_requests_total{"{"}job="shop"{"}"}[5s]))
                max: {max.ToString(System.Globalization.CultureInfo.InvariantCulture)}
                minTotal: 1
              for: {@for}
              action: {action}
          dryRun: {(dryRun ? "true" : "false")}
        {(watch is null ? "" : $"  watch: {watch}")}
        {spec ?? ""}
        """;

    public async ValueTask DisposeAsync()
    {
        await Prometheus.DisposeAsync();
        await Shop.DisposeAsync();
        await Webhook.DisposeAsync();
    }
}
