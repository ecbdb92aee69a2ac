using RollbackSentinel.Core.Cluster;
using RollbackSentinel.Core.Secrets;
using RollbackSentinel.Daemon;
using RollbackSentinel.Hosting;

namespace RollbackSentinel.Api;

/// <summary><c>GET /api/v1/cluster</c> (any token): every node, read from the store now, and whether they run the same rules.</summary>
internal static class ClusterEndpoints
{
    /// <summary>How long the listing may take before the answer is that the store does not answer.</summary>
    private static readonly TimeSpan ReadBudget = TimeSpan.FromSeconds(5);

    public static void MapClusterEndpoints(this RouteGroupBuilder api) => api.MapGet("/cluster", GetAsync);

    private static async Task<IResult> GetAsync(IClusterStore cluster, PolicyRegistry registry, SentinelOptions options, TimeProvider time, CancellationToken ct)
    {
        IReadOnlyList<ClusterNode> nodes;
        using var budget = CancellationTokenSource.CreateLinkedTokenSource(ct);
        budget.CancelAfter(ReadBudget);
        try
        {
            nodes = await cluster.ListNodesAsync(budget.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (!ct.IsCancellationRequested && e is not ArgumentException)
        {
            var why = e is OperationCanceledException ? $"no answer within {ReadBudget.TotalSeconds:0}s" : SecretRegistry.Shared.Redact($"{e.GetType().Name}: {e.Message}");
            return Results.Problem(title: "the store is unreachable", detail: $"the nodes cannot be listed: {why}", statusCode: StatusCodes.Status503ServiceUnavailable);
        }

        return Results.Ok(ClusterView.Of(nodes, options.Node.Id, registry.RulesVersion, options.Storage.UsesPostgres, options.CheckinIntervalValue, time.GetUtcNow()));
    }
}
