using RollbackSentinel.Testing.HAProxy;

namespace RollbackSentinel.Cli.Tests.Daemon;

/// <summary>
/// The daemon acting through a real adapter on a real server: a real HAProxy in front of a blue and a green
/// server, the daemon process, a real Prometheus. The breach switches traffic back to blue; the incident
/// records the plan and the weights before and after.
/// </summary>
[Collection(IncidentDaemonCollection.Name)]
public sealed class AdapterDaemonTests
{
    private static readonly TimeSpan Generous = TimeSpan.FromSeconds(45);

    [Fact]
    public async Task Run_FiringRollbackTrigger_SwitchesHAProxyBackToBlueAndRecordsBeforeAndAfter()
    {
        await using var blueGreen = await BlueGreenSetup.StartAsync(blueWeight: 0, greenWeight: 100);
        var haproxy = blueGreen.HAProxy;
        Assert.Equal("green", await blueGreen.ColorAsync());

        await using var live = await LiveShop.StartAsync();
        using var workspace = new SentinelWorkspace(live.Prometheus.BaseAddress);
        workspace.WriteRule("shop.yaml", live.Policy(target: $"    haproxy:\n      runtimeApi: {haproxy.RuntimeApi}\n      backend: shop\n      weights:\n        blue: 100\n        green: 0"));
        await using var sentinel = await SentinelProcess.StartAsync(workspace);
        using var api = new SentinelApi(workspace.BaseAddress);
        await api.WaitForPassAsync(Generous);

        live.Shop.ErrorShare = 0.5;
        var timeline = await api.WaitForIncidentAsync(Generous, () => sentinel.Log, "acted", "actionfailed");

        var id = timeline.GetProperty("incident").GetProperty("id").GetInt64();
        var action = Assert.Single(timeline.GetProperty("actions").EnumerateArray());
        Assert.True(action.GetProperty("status").GetString() == "succeeded", action.ToString());
        Assert.Equal("switch backend shop to blue=100 green=0", action.GetProperty("plan").GetProperty("summary").GetString());
        Assert.Equal("backend shop: blue weight 0 ready, green weight 100 ready", action.GetProperty("before").GetString());
        Assert.Equal("backend shop: blue weight 100 ready, green weight 0 ready", action.GetProperty("after").GetString());

        // Real requests through HAProxy now all reach blue.
        for (var i = 0; i < 10; i++)
        {
            Assert.Equal("blue", await blueGreen.ColorAsync());
        }

        // The line is written after the action's result is stored (which the API showed): wait for it, do not race it.
        await sentinel.WaitForLogAsync("Action rollback for shop/errors (incident " + id + ") done", Generous);
    }
}
