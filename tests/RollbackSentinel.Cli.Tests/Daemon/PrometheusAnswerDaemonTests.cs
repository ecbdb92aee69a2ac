using System.Text.Json;
using RollbackSentinel.Testing.Net;

namespace RollbackSentinel.Cli.Tests.Daemon;

/// <summary>
/// The daemon against a Prometheus that redirects or floods: the verdict is an error saying why, nothing is
/// rolled back, and the settings' caps (<c>prometheus.limits</c>) are the ones applied.
/// </summary>
[Collection(StartupDaemonCollection.Name)]
public sealed class PrometheusAnswerDaemonTests
{
    private static readonly TimeSpan Generous = TimeSpan.FromSeconds(45);

    private static string Breaching(int series) =>
        """{"status":"success","data":{"resultType":"vector","result":["""
        + string.Join(",", Enumerable.Range(0, series).Select(i => $$"""{"metric":{"pod":"p{{i}}"},"value":[1795132800,"500"]}"""))
        + "]}}";

    private static string Policy(Uri webhook) => $"""
        apiVersion: rollback-sentinel/v1
        kind: RollbackPolicy
        metadata:
          name: shop
        spec:
          target:
            webhook:
              url: {webhook}rollback
          schedule:
            interval: 1s
          triggers:
            - name: latency
              threshold:
                query: max by (pod) (latency_ms)
                op: ">"
                value: 100
              action: rollback
          watch:
            outside: rollback
        """;

    /// <summary>
    /// The first error verdict about Prometheus's answer. An error for a query that got no answer in time (the daemon's
    /// first query on a loaded machine) says nothing about the answer, so the wait goes on past it.
    /// </summary>
    private static async Task<string> ErrorSummaryAsync(SentinelApi api, SentinelProcess sentinel) =>
        (string)await Eventually.WaitAsync(
            async () =>
            {
                var policy = (await api.GetJsonAsync("api/v1/policies")).EnumerateArray().Single();
                return policy.GetProperty("triggers")[0].GetProperty("series").EnumerateArray()
                    .Select(s => s.GetProperty("lastVerdict"))
                    .FirstOrDefault(v => v.ValueKind == JsonValueKind.Object && v.GetProperty("kind").GetString() == "error") is { ValueKind: JsonValueKind.Object } v
                    && v.GetProperty("summary").GetString() is { } summary
                    && !summary.Contains("no answer within", StringComparison.Ordinal)
                    ? summary
                    : null;
            },
            Generous,
            "an error verdict" + Environment.NewLine + sentinel.Log);

    [Fact]
    public async Task Run_PrometheusRedirectsToAnotherHost_ErrorVerdictAndTheOtherHostIsNeverAsked()
    {
        await using var webhook = LoopbackHttpServer.Start(new CannedResponse(200, "{}"));
        await using var elsewhere = LoopbackHttpServer.Start(new CannedResponse(200, Breaching(1)));
        await using var prometheus = LoopbackHttpServer.Start(
            new CannedResponse(307, string.Empty, "text/plain") { Headers = new Dictionary<string, string> { ["Location"] = new Uri(elsewhere.BaseAddress, "api/v1/query").AbsoluteUri } });
        using var workspace = new SentinelWorkspace(prometheus.BaseAddress);
        workspace.WriteRule("shop.yaml", Policy(webhook.BaseAddress));
        await using var sentinel = await SentinelProcess.StartAsync(workspace);
        using var api = new SentinelApi(workspace.BaseAddress);

        var summary = await ErrorSummaryAsync(api, sentinel);

        Assert.Contains($"answered HTTP 307 redirecting to http://{elsewhere.BaseAddress.Authority}/api/v1/query", summary, StringComparison.Ordinal);
        Assert.Contains("redirects are not followed", summary, StringComparison.Ordinal);
        Assert.Empty(elsewhere.Requests);
        Assert.Empty(webhook.Requests);
        Assert.Empty(await api.IncidentsAsync());
    }

    [Fact]
    public async Task Run_MoreSeriesThanTheSettingsAllow_ErrorVerdictNamingTheCapAndNoRollback()
    {
        await using var webhook = LoopbackHttpServer.Start(new CannedResponse(200, "{}"));
        await using var prometheus = LoopbackHttpServer.Start(new CannedResponse(200, Breaching(3)));
        using var workspace = new SentinelWorkspace(prometheus.BaseAddress);
        workspace.WriteRule("shop.yaml", Policy(webhook.BaseAddress));
        await using var sentinel = await SentinelProcess.StartAsync(
            workspace, ["run", "--config", workspace.ConfigPath], new Dictionary<string, string> { ["SENTINEL__PROMETHEUS__LIMITS__MAXSERIES"] = "2" });
        using var api = new SentinelApi(workspace.BaseAddress);

        var summary = await ErrorSummaryAsync(api, sentinel);

        Assert.Contains("it has 3 series, more than the maxSeries cap of 2", summary, StringComparison.Ordinal);
        Assert.Empty(webhook.Requests);
        Assert.Empty(await api.IncidentsAsync());
    }
}
