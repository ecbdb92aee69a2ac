namespace RollbackSentinel.Cli.Tests.Daemon;

/// <summary>Incident states and wording that say what really happened, through the daemon as a process.</summary>
[Collection(IncidentDaemonCollection.Name)]
public sealed class IncidentStateDaemonTests
{
    private static readonly TimeSpan Generous = TimeSpan.FromSeconds(45);

    [Fact]
    public async Task Run_PageWithNoPagerConfigured_WarnsAtStartAndTheIncidentIsFailedNotActed()
    {
        await using var live = await LiveShop.StartAsync();
        using var workspace = new SentinelWorkspace(live.Prometheus.BaseAddress);
        workspace.WriteRule("shop.yaml", live.Policy(action: "page"));
        workspace.WriteRule("quiet.yaml", live.Policy(name: "quiet", action: "notify"));
        workspace.WriteRule("armed.yaml", live.Policy(name: "armed", max: 0.99));
        workspace.WriteRule("watched.yaml", live.Policy(name: "watched", max: 0.99, watch: "{for: 1h}")); // pages outside its watch window
        await using var sentinel = await SentinelProcess.StartAsync(workspace);
        using var api = new SentinelApi(workspace.BaseAddress);

        await Eventually.WaitAsync(() => Task.FromResult(sentinel.Log.Contains("No paging channel is configured", StringComparison.Ordinal)), Generous, "the warning" + Environment.NewLine + sentinel.Log);
        var warning = Assert.Single(sentinel.Log.Split('\n'), l => l.Contains("No paging channel is configured", StringComparison.Ordinal));
        Assert.Contains(" WRN No paging channel is configured (notifications: slack, pagerDuty or alertmanager), but 2 polic(ies) page: shop, watched. Their pages reach nobody", warning, StringComparison.Ordinal);

        live.Shop.ErrorShare = 0.5;
        var timeline = await Eventually.WaitAsync(
            async () =>
            {
                foreach (var i in await api.IncidentsAsync())
                {
                    if (i.GetProperty("policy").GetString() == "shop" && i.GetProperty("state").GetString() is "actionfailed" or "acted")
                    {
                        return (object)await api.GetJsonAsync($"api/v1/incidents/{i.GetProperty("id").GetInt64()}");
                    }
                }

                return null;
            },
            Generous,
            "the page's incident" + Environment.NewLine + sentinel.Log);

        var page = (System.Text.Json.JsonElement)timeline;
        Assert.Equal("actionfailed", page.GetProperty("incident").GetProperty("state").GetString());
        var action = Assert.Single(page.GetProperty("actions").EnumerateArray());
        Assert.Equal(("page", "failed"), (action.GetProperty("kind").GetString(), action.GetProperty("status").GetString()));
        Assert.Equal("nobody was paged: no paging channel is configured (notifications: slack, pagerDuty or alertmanager); only the log has it", action.GetProperty("outcome").GetString());
        Assert.StartsWith("page: error ratio", page.GetProperty("events")[0].GetProperty("message").GetString(), StringComparison.Ordinal);
        await Eventually.WaitAsync(() => Task.FromResult(sentinel.Log.Contains("FTL PAGE shop/errors (incident ", StringComparison.Ordinal)), Generous, "the page in the log" + Environment.NewLine + sentinel.Log);
        // What is paged about is the target as the cooldown knows it: a webhook is named with its policy and URL.
        Assert.Matches(@"\): page about webhook/shop/\S+ failed: nobody was paged", sentinel.Log);
        Assert.DoesNotContain("page for confirmation", sentinel.Log, StringComparison.Ordinal);

        // A notify with no channel is recorded as what it is: logged only.
        var notified = await api.WaitForIncidentAsync(Generous, () => sentinel.Log, "acted");
        Assert.Equal("quiet", notified.GetProperty("incident").GetProperty("policy").GetString());
        Assert.Equal("logged only: no notification channel is configured (notifications: slack, pagerDuty or alertmanager)", notified.GetProperty("actions")[0].GetProperty("outcome").GetString());
    }

    [Fact]
    public async Task Run_DryRunWhoseRollbackCannotBePlanned_IsDryRunFailedNotActed()
    {
        await using var live = await LiveShop.StartAsync();
        using var workspace = new SentinelWorkspace(live.Prometheus.BaseAddress);
        var socket = Path.Combine(workspace.Root, "no-haproxy.sock");
        workspace.WriteRule("shop.yaml", live.Policy(dryRun: true, target: $"    haproxy:\n      runtimeApi: unix://{socket}\n      backend: web\n      weights:\n        blue: 0"));
        await using var sentinel = await SentinelProcess.StartAsync(workspace);
        using var api = new SentinelApi(workspace.BaseAddress);
        await api.WaitForPassAsync(Generous);

        live.Shop.ErrorShare = 0.5;
        var timeline = await api.WaitForIncidentAsync(Generous, () => sentinel.Log, "dryrunfailed", "acted");

        Assert.Equal("dryrunfailed", timeline.GetProperty("incident").GetProperty("state").GetString());
        Assert.True(timeline.GetProperty("incident").GetProperty("dryRun").GetBoolean());
        var action = Assert.Single(timeline.GetProperty("actions").EnumerateArray());
        Assert.Equal("skipped", action.GetProperty("status").GetString());
        Assert.StartsWith("dry-run: a rollback would fail: ", action.GetProperty("outcome").GetString(), StringComparison.Ordinal);
        Assert.Contains("shows the rollback would fail", sentinel.Log, StringComparison.Ordinal);
        Assert.Empty(await ListAsync(api, "acted"));
    }

    private static async Task<System.Text.Json.JsonElement[]> ListAsync(SentinelApi api, string state) =>
        [.. (await api.GetJsonAsync($"api/v1/incidents?state={state}")).EnumerateArray()];
}
