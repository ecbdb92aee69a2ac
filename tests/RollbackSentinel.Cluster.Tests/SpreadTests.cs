using System.Diagnostics;
using RollbackSentinel.Cli.Tests.Daemon;

namespace RollbackSentinel.Cluster.Tests;

/// <summary>
/// Three sentinels share sixty policies: each policy slot is evaluated on one node, the slots are spread over all
/// three, and a breach is acted on once and told once, whichever nodes evaluate it.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class SpreadTests
{
    [Fact]
    public async Task ThreeNodes_SixtyPolicies_EvaluationsSpreadOverAllThree_EachSlotOnOneNode_ABreachDeliveredOnceAndPostedOnce()
    {
        var clock = Stopwatch.StartNew();
        await using var rig = await ClusterRig.StartAsync();

        // Every node evaluates some of the policies, and together they evaluate all of them.
        var counts = await Eventually.WaitAsync(
            async () =>
            {
                var perNode = await Task.WhenAll(rig.Nodes.Select(n => n.EvaluationsByPolicyAsync()));
                var all = perNode.SelectMany(c => c.Keys).ToHashSet(StringComparer.Ordinal);
                return perNode.All(c => c.Count >= 5) && all.SetEquals(ClusterRig.Policies) ? perNode : null;
            },
            ClusterRig.Generous,
            "every node to evaluate at least 5 policies and all 60 to be evaluated" + Environment.NewLine + rig.Logs());

        // No slot runs twice: over the whole run, a policy was evaluated at most once per interval in the whole cluster.
        var slots = (clock.Elapsed / ClusterRig.Interval) + 2;
        var counts2 = await Task.WhenAll(rig.Nodes.Select(n => n.EvaluationsByPolicyAsync()));
        var slotsAfter = (clock.Elapsed / ClusterRig.Interval) + 2;
        foreach (var policy in ClusterRig.Policies)
        {
            var total = counts2.Sum(c => c.GetValueOrDefault(policy));
            Assert.True(total <= slotsAfter, $"{policy} was evaluated {total} times in {clock.Elapsed.TotalSeconds:0} s at one slot per {ClusterRig.Interval.TotalSeconds:0} s: some slots ran on more than one node");
        }

        Assert.All(counts, c => Assert.True(c.Count >= 5));
        Assert.True(slots > 0);

        // /api/v1/cluster on every node: three nodes, all alive, each with evaluations in the last minute.
        foreach (var node in rig.Nodes)
        {
            var view = await Eventually.WaitAsync(
                async () =>
                {
                    var v = await node.ClusterViewAsync();
                    var nodes = v.GetProperty("nodes").EnumerateArray().ToArray();
                    return nodes.Length == 3 && nodes.All(n => n.GetProperty("alive").GetBoolean() && n.GetProperty("evaluationsLastMinute").GetInt32() > 0) ? (object)v : null;
                },
                ClusterRig.Generous,
                $"GET /api/v1/cluster on {node.Id} to list three alive nodes that all evaluated in the last minute" + Environment.NewLine + rig.Logs());
            var cluster = (System.Text.Json.JsonElement)view;
            Assert.Equal(node.Id, cluster.GetProperty("node").GetString());
            Assert.True(cluster.GetProperty("clustered").GetBoolean());
            Assert.Equal("2s", cluster.GetProperty("checkinInterval").GetString());
            Assert.False(cluster.GetProperty("mixedRules").GetBoolean());
            Assert.Equal(1, cluster.GetProperty("rulesVersions").GetInt32());
            var listed = cluster.GetProperty("nodes").EnumerateArray().ToArray();
            Assert.Equal(rig.Nodes.Select(n => n.Id).Order(), listed.Select(n => n.GetProperty("id").GetString()).Order());
            Assert.Equal(node.Id, Assert.Single(listed, n => n.GetProperty("self").GetBoolean()).GetProperty("id").GetString());
            Assert.Single(listed.Select(n => n.GetProperty("rulesVersion").GetString()).Distinct());
            Assert.StartsWith("sha256:", cluster.GetProperty("rulesVersion").GetString(), StringComparison.Ordinal);
        }

        // A breach: acted on once, told once, whichever nodes evaluate the policy.
        const string Policy = "guard-07";
        await rig.WaitForMoreEvaluationsAsync(Policy, 2);

        rig.Breach(Policy);
        var timeline = await rig.WaitForIncidentAsync(Policy, "acted");
        await Eventually.WaitAsync(() => Task.FromResult(rig.SlackPosts(Policy).Count > 0), ClusterRig.Generous, "the Slack message" + Environment.NewLine + rig.Logs());

        // Give a second delivery or message every chance to happen: three more evaluations of the breaching policy,
        // on any nodes, and the notification dispatchers of all three running meanwhile.
        await rig.WaitForMoreEvaluationsAsync(Policy, 3);

        var delivery = Assert.Single(rig.Webhook.Deliveries(Policy));
        var id = timeline.GetProperty("incident").GetProperty("id").GetInt64();
        Assert.Contains($"\"incident\":{id}", delivery.Body.Replace(" ", "", StringComparison.Ordinal), StringComparison.Ordinal);
        Assert.Single(await rig.Nodes[0].IncidentsOfAsync(Policy));
        var action = Assert.Single(timeline.GetProperty("actions").EnumerateArray());
        Assert.Equal("succeeded", action.GetProperty("status").GetString());

        // One Slack message; what followed were updates of that same message.
        Assert.Single(rig.SlackPosts(Policy));
        var updated = rig.Slack.Calls.Where(c => c.Method == "chat.update" && c.Body.Contains(Policy, StringComparison.Ordinal)).Select(c => c.Json["ts"]!.GetValue<string>());
        Assert.True(updated.Distinct().Count() <= 1, "chat.update of more than one message: " + string.Join(", ", updated.Distinct()));
        Assert.Empty(rig.Slack.Violations);

        // Nothing else breached, nothing else was rolled back.
        Assert.All(ClusterRig.Policies.Where(p => p != Policy), p => Assert.Empty(rig.Webhook.Deliveries(p)));
    }
}

[CollectionDefinition(Name)]
public sealed class ClusterCollection
{
    public const string Name = "Cluster of daemon processes";
}
