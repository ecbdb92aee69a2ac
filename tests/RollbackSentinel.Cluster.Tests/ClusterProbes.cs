using System.Text.Json;
using RollbackSentinel.Cli.Tests.Daemon;

namespace RollbackSentinel.Cluster.Tests;

/// <summary>What the tests read from the cluster's nodes: evaluation counts, incidents, the cluster view.</summary>
internal static class ClusterProbes
{
    public const string Evaluations = "rollback_sentinel_evaluations_total";

    /// <summary>Verdicts counted by <paramref name="node"/>, per policy (one series per policy here: one per evaluation).</summary>
    public static async Task<IReadOnlyDictionary<string, double>> EvaluationsByPolicyAsync(this ClusterNode node) =>
        (await node.MetricsAsync()).SumBy(Evaluations, "policy");

    /// <summary>How many times <paramref name="policy"/> was evaluated, summed over the running nodes.</summary>
    public static async Task<double> EvaluationsOfAsync(this ClusterRig rig, string policy)
    {
        var total = 0.0;
        foreach (var node in rig.Running)
        {
            total += (await node.MetricsAsync()).Sum(Evaluations, ("policy", policy));
        }

        return total;
    }

    /// <summary>Waits until <paramref name="policy"/> has been evaluated <paramref name="more"/> more times in the cluster.</summary>
    public static async Task WaitForMoreEvaluationsAsync(this ClusterRig rig, string policy, int more)
    {
        var before = (double)await Eventually.WaitAsync<object>(async () => await rig.EvaluationsOfAsync(policy), ClusterRig.Generous, $"the evaluation count of {policy}");
        await Eventually.WaitAsync(async () => await rig.EvaluationsOfAsync(policy) >= before + more, ClusterRig.Generous, $"{more} more evaluations of {policy}" + Environment.NewLine + rig.Logs());
    }

    /// <summary>The incidents of <paramref name="policy"/>, as <paramref name="node"/> reads them from the shared store.</summary>
    public static async Task<JsonElement[]> IncidentsOfAsync(this ClusterNode node, string policy) =>
        [.. (await node.Api.IncidentsAsync()).Where(i => i.GetProperty("policy").GetString() == policy)];

    /// <summary>Waits for <paramref name="policy"/>'s incident in one of <paramref name="states"/> and returns its timeline.</summary>
    public static async Task<JsonElement> WaitForIncidentAsync(this ClusterRig rig, string policy, params string[] states)
    {
        var found = await Eventually.WaitAsync(
            async () =>
            {
                foreach (var node in rig.Running)
                {
                    try
                    {
                        var incident = (await node.IncidentsOfAsync(policy)).FirstOrDefault(i => states.Contains(i.GetProperty("state").GetString()));
                        if (incident.ValueKind == JsonValueKind.Object)
                        {
                            return (object)await node.Api.GetJsonAsync($"api/v1/incidents/{incident.GetProperty("id").GetInt64()}");
                        }
                    }
                    catch (HttpRequestException)
                    {
                        // That node cannot answer now (its store is down, or it is frozen): ask the next one.
                    }
                }

                return null;
            },
            ClusterRig.Generous,
            $"an incident of {policy} in state {string.Join(" or ", states)}" + Environment.NewLine + rig.Logs());
        return (JsonElement)found;
    }

    /// <summary>GET /api/v1/cluster on <paramref name="node"/>.</summary>
    public static Task<JsonElement> ClusterViewAsync(this ClusterNode node) => node.Api.GetJsonAsync("api/v1/cluster");
}
