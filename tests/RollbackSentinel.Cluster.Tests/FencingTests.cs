using System.Text.Json;
using RollbackSentinel.Cli.Tests.Daemon;
using Xunit.Abstractions;

namespace RollbackSentinel.Cluster.Tests;

/// <summary>
/// A node frozen (SIGSTOP, as a long GC pause or a frozen VM) for longer than the check-in threshold is declared dead;
/// the others take over. Woken (SIGCONT) with evaluations under way, it is fenced: what it had in flight is refused,
/// and nothing is done twice.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class FencingTests(ITestOutputHelper output)
{
    private const string Fenced = "rollback_sentinel_fenced_total";

    [Fact]
    public async Task SigStop_PastTheCheckInThreshold_ThenSigCont_TheNodeIsFenced_NothingIsDoneTwice()
    {
        // sentinel-c reads Prometheus through a slow proxy: it always has evaluations under way when frozen.
        await using var rig = await ClusterRig.StartAsync(slowPrometheusFor: 2);
        var frozen = rig.Nodes[2];
        var others = rig.Nodes.Take(2).ToArray();
        await Eventually.WaitAsync(
            async () => (await frozen.EvaluationsByPolicyAsync()).Count >= 5,
            ClusterRig.Generous,
            $"{frozen.Id} to evaluate some policies" + Environment.NewLine + rig.Logs());
        var fencedBefore = (await frozen.MetricsAsync()).Sum(Fenced);

        // Breach, and freeze the slow node at once: it may be evaluating the policy, or hold its next slot.
        const string Policy = "guard-41";
        rig.Breach(Policy);
        await frozen.FreezeAsync();
        var frozenAt = TimeProvider.System.GetUtcNow();
        output.WriteLine($"froze {frozen.Id} at {frozenAt:O}");

        // The others see it dead once its check-ins stop for 3 x checkinInterval, take over its policies, and act.
        foreach (var node in others)
        {
            await Eventually.WaitAsync(
                async () => (await node.ClusterViewAsync()).GetProperty("nodes").EnumerateArray().Any(n => n.GetProperty("id").GetString() == frozen.Id && !n.GetProperty("alive").GetBoolean()),
                ClusterRig.Generous,
                $"{node.Id} to see {frozen.Id} dead" + Environment.NewLine + rig.Logs());
        }

        var timeline = await rig.WaitForIncidentAsync(Policy, "acted");
        var takenOver = await FailoverTests.TakeOverTimesAsync(rig, frozenAt);
        output.WriteLine($"every policy evaluated by the others within {ClusterRig.Seconds(takenOver.Values.Max())} of the freeze");

        // Every policy has been committed by the others since the freeze: whatever the frozen node had under way is stale.
        await frozen.WakeAsync();
        output.WriteLine($"woke {frozen.Id} after {ClusterRig.Seconds(TimeProvider.System.GetUtcNow() - frozenAt)}");
        var fenced = await Eventually.WaitAsync(
            async () =>
            {
                // Its silence outlasted the failover threshold (the others saw it dead): it must say so itself, as a node
                // fenced out of the cluster (event 1170, what="node"), not merely show some other fenced write.
                var metrics = await frozen.MetricsAsync();
                return metrics.SumBy(Fenced, "what").GetValueOrDefault("node") > 0 && frozen.Log.Contains("fenced", StringComparison.OrdinalIgnoreCase) ? metrics : null;
            },
            ClusterRig.Generous,
            $"{frozen.Id} to say it was fenced (a log line and {Fenced}{{what=\"node\"}})" + Environment.NewLine + rig.Logs());
        Assert.True(fenced.Sum(Fenced) > fencedBefore);
        output.WriteLine($"{Fenced} on {frozen.Id}: {string.Join(", ", fenced.SumBy(Fenced, "what").Select(w => $"{w.Key}={w.Value}"))}");
        output.WriteLine(string.Join(Environment.NewLine, frozen.Log.Split('\n').Where(l => l.Contains("fenced", StringComparison.OrdinalIgnoreCase)).Take(5)));

        // It rejoins: alive again for the others, evaluating again.
        foreach (var node in others)
        {
            await Eventually.WaitAsync(
                async () => (await node.ClusterViewAsync()).GetProperty("nodes").EnumerateArray().Any(n => n.GetProperty("id").GetString() == frozen.Id && n.GetProperty("alive").GetBoolean()),
                ClusterRig.Generous,
                $"{node.Id} to see {frozen.Id} alive again" + Environment.NewLine + rig.Logs());
        }

        // Nothing done twice: one rollback, one incident, one Slack message for the breach, nothing else rolled back.
        await rig.WaitForMoreEvaluationsAsync(Policy, 3);
        Assert.Single(rig.Webhook.Deliveries(Policy));
        Assert.Equal("succeeded", Assert.Single(timeline.GetProperty("actions").EnumerateArray()).GetProperty("status").GetString());
        Assert.Single(await others[0].IncidentsOfAsync(Policy));
        Assert.Single(rig.SlackPosts(Policy));
        Assert.Empty(rig.Slack.Violations);
        Assert.All(ClusterRig.Policies.Where(p => p != Policy), p => Assert.Empty(rig.Webhook.Deliveries(p)));
        Assert.Single(await rig.Nodes[0].Api.IncidentsAsync());
    }
}
