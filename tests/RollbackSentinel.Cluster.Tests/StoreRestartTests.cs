using RollbackSentinel.Cli.Tests.Daemon;
using Xunit.Abstractions;

namespace RollbackSentinel.Cluster.Tests;

/// <summary>
/// PostgreSQL restarted while three nodes evaluate sixty policies: during the outage nothing passes and no node is
/// ready; nothing recorded before is lost; every node recovers by itself and a breach during the outage is acted on
/// once afterwards.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class StoreRestartTests(ITestOutputHelper output)
{
    private const string Passes = ClusterProbes.Evaluations;

    [Fact]
    public async Task PostgresRestartedUnderLoad_EvaluationsNeverPassMeanwhile_NothingIsLost_AllNodesRecover()
    {
        await using var rig = await ClusterRig.StartAsync();
        const string Before = "guard-05";
        const string During = "guard-06";
        rig.Breach(Before);
        var acted = await rig.WaitForIncidentAsync(Before, "acted");
        var incidentId = acted.GetProperty("incident").GetProperty("id").GetInt64();
        await Eventually.WaitAsync(() => Task.FromResult(rig.SlackPosts(Before).Count > 0), ClusterRig.Generous, "the Slack message" + Environment.NewLine + rig.Logs());

        await rig.Postgres.StopAsync();
        var stoppedAt = TimeProvider.System.GetUtcNow();
        output.WriteLine($"PostgreSQL stopped at {stoppedAt:O}");
        rig.Breach(During);

        // No node is ready while its store is unreachable, and each says so on /metrics.
        foreach (var node in rig.Nodes)
        {
            await Eventually.WaitAsync(async () => await node.ReadinessStatusAsync() == 503, ClusterRig.Generous, $"{node.Id}'s /readyz to answer 503" + Environment.NewLine + rig.Logs());
            await Eventually.WaitAsync(
                async () => (await node.MetricsAsync()) is var m && m.Has("rollback_sentinel_store_up") && m.Sum("rollback_sentinel_store_up") == 0,
                ClusterRig.Generous,
                $"{node.Id}'s rollback_sentinel_store_up to be 0");
        }

        // Through several policy intervals of outage, no evaluation passes anywhere.
        var passesAtOutage = await PassesAsync(rig);
        await Task.Delay(3 * ClusterRig.Interval);
        var passesLate = await PassesAsync(rig);
        foreach (var node in rig.Nodes)
        {
            Assert.True(node.IsRunning && !node.Process.HasExited, $"{node.Id} exited during the outage" + Environment.NewLine + node.Log);
            Assert.True(passesLate[node.Id] == passesAtOutage[node.Id], $"{node.Id} recorded {passesLate[node.Id] - passesAtOutage[node.Id]} passing verdicts while its store was down");
            Assert.Equal(503, await node.ReadinessStatusAsync());
        }

        await rig.Postgres.StartAsync();
        output.WriteLine($"PostgreSQL started again after {ClusterRig.Seconds(TimeProvider.System.GetUtcNow() - stoppedAt)}");

        // Every node recovers by itself: ready, and evaluating (passing) again.
        foreach (var node in rig.Nodes)
        {
            await Eventually.WaitAsync(async () => await node.ReadinessStatusAsync() == 200, ClusterRig.Generous, $"{node.Id}'s /readyz to answer 200 again" + Environment.NewLine + rig.Logs());
            await Eventually.WaitAsync(async () => (await PassesAsync(rig))[node.Id] > passesLate[node.Id], ClusterRig.Generous, $"{node.Id} to evaluate again" + Environment.NewLine + rig.Logs());
        }

        // Nothing is lost: the incident from before is there as it was; the breach during the outage is acted on, once.
        var before = await rig.Nodes[1].Api.GetJsonAsync($"api/v1/incidents/{incidentId}");
        Assert.Equal("acted", before.GetProperty("incident").GetProperty("state").GetString());
        Assert.Equal("succeeded", Assert.Single(before.GetProperty("actions").EnumerateArray()).GetProperty("status").GetString());
        await rig.WaitForIncidentAsync(During, "acted");
        await rig.WaitForMoreEvaluationsAsync(During, 3);
        Assert.Single(rig.Webhook.Deliveries(Before));
        Assert.Single(rig.Webhook.Deliveries(During));
        Assert.Single(await rig.Nodes[2].IncidentsOfAsync(Before));
        Assert.Single(await rig.Nodes[2].IncidentsOfAsync(During));
        await Eventually.WaitAsync(() => Task.FromResult(rig.SlackPosts(During).Count > 0), ClusterRig.Generous, "the Slack message of the breach during the outage" + Environment.NewLine + rig.Logs());
        Assert.Single(rig.SlackPosts(Before));
        Assert.Single(rig.SlackPosts(During));
        Assert.Empty(rig.Slack.Violations);
    }

    /// <summary>Passing verdicts each node has counted so far, by node id.</summary>
    private static async Task<IReadOnlyDictionary<string, double>> PassesAsync(ClusterRig rig)
    {
        var result = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var node in rig.Nodes)
        {
            result[node.Id] = (await node.MetricsAsync()).Sum(Passes, ("verdict", "pass"));
        }

        return result;
    }
}
