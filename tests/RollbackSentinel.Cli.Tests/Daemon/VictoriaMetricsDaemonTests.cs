using System.Text.Json;
using RollbackSentinel.Testing.Net;
using RollbackSentinel.Testing.VictoriaMetrics;

namespace RollbackSentinel.Cli.Tests.Daemon;

/// <summary>
/// The daemon as a real process deciding live on a real VictoriaMetrics (<c>backends: {vm: ...}</c>, <c>spec.backend: vm</c>),
/// fed the shop's counters every second: when the errors rise, it fires once, rolls back through the webhook and records
/// the incident with the value VictoriaMetrics answered.
/// </summary>
[Collection(IncidentDaemonCollection.Name)]
public sealed class VictoriaMetricsDaemonTests
{
    private static readonly TimeSpan Generous = TimeSpan.FromSeconds(45);

    /// <summary>
    /// The shop's error-ratio policy on the backend <c>vm</c>. <c>for: 10s</c> is longer than the 5 s window and the sample
    /// before it, so when it fires every sample it reads is after the errors rose: the value is exactly the new share.
    /// </summary>
    private static string Policy(Uri webhook) => $"""
        apiVersion: rollback-sentinel/v1
        kind: RollbackPolicy
        metadata:
          name: shop
        spec:
          backend: vm
          target:
            webhook:
              url: {webhook}rollback
          schedule:
            interval: 1s
          cooldown: 1h
          watch: {LiveShop.AlwaysArmed}
          triggers:
            - name: errors
              errorRate:
                errors: sum(rate(http_requests_total{"{"}job="shop",code=~"5.."{"}"}[5s]))
                total: sum(rate(http_requests_total{"{"}job="shop"{"}"}[5s]))
                max: 0.1
                minTotal: 1
              for: 10s
              action: rollback
        """;

    [Fact]
    public async Task Run_OnVictoriaMetrics_ErrorRateRises_RollsBackOnceWithTheValueVictoriaMetricsAnswered()
    {
        await using var vm = await VictoriaMetricsServer.StartAsync(CancellationToken.None);
        await using var feed = await VictoriaMetricsLiveFeed.StartAsync(vm);
        await using var webhook = LoopbackHttpServer.Start(new CannedResponse(200, "{\"ok\":true}"));

        // The prometheus: block (the default backend) points at a port nothing listens on: only VictoriaMetrics can answer.
        using var workspace = new SentinelWorkspace(
            new Uri($"http://127.0.0.1:{FreePort.Next()}"),
            $"backends:\n  vm:\n    type: victoriametrics\n    url: {vm.BaseAddress}\n");
        workspace.WriteRule("shop.yaml", Policy(webhook.BaseAddress));
        await using var sentinel = await SentinelProcess.StartAsync(workspace);
        using var api = new SentinelApi(workspace.BaseAddress);

        await Eventually.WaitAsync(
            async () => await api.PhaseAsync("shop", "errors") == "ok" && await api.LastVerdictAsync() == "pass",
            Generous,
            $"a passing evaluation (feed: {feed.Failure?.Message ?? "ok"})" + Environment.NewLine + sentinel.Log);
        feed.ErrorShare = 0.5;
        var timeline = await api.WaitForIncidentAsync(Generous, () => $"feed: {feed.Failure?.Message ?? "ok"}{Environment.NewLine}{sentinel.Log}{Environment.NewLine}{vm.RecentLog}", "acted");

        var rollback = Assert.Single(webhook.Requests, r => r.PathAndQuery.StartsWith("/rollback", StringComparison.Ordinal));
        using var body = JsonDocument.Parse(rollback.Body);
        Assert.Equal("shop", body.RootElement.GetProperty("policy").GetString());
        Assert.Equal("errors", body.RootElement.GetProperty("trigger").GetString());
        Assert.Equal(0.5, body.RootElement.GetProperty("value").GetDouble(), 6);
        Assert.StartsWith("error ratio 0.5 (10/20) > max 0.1", timeline.GetProperty("incident").GetProperty("summary").GetString());
        Assert.Equal("succeeded", Assert.Single(timeline.GetProperty("actions").EnumerateArray()).GetProperty("status").GetString());

        // The decision is logged after its actions ran.
        await sentinel.WaitForLogAsync("Decision shop/errors {}: Act", Generous);
        Assert.Single(webhook.Requests, r => r.PathAndQuery.StartsWith("/rollback", StringComparison.Ordinal));
    }
}
