using RollbackSentinel.Daemon;

namespace RollbackSentinel.Hosting;

/// <summary>Cluster membership: the check-ins (<see cref="ClusterCheckIn"/>), what they count and what they find out about the store.</summary>
internal static class ClusterMembership
{
    /// <summary>
    /// Registers the evaluation counter, the store's reachability and the check-in service. Register it after the store
    /// is opened (<see cref="DaemonStartup"/>) and before the scheduler, so the node checks in once its store is open and
    /// leaves only after its last evaluation.
    /// </summary>
    public static IServiceCollection AddClusterMembership(this IServiceCollection services)
    {
        services.AddSingleton<EvaluationCounter>();
        services.AddSingleton<StoreReachability>();
        services.AddSingleton<ClockSkew>();
        services.AddSingleton<NodeInstance>();
        services.AddSingleton<ClusterCheckIn>();
        services.AddHostedService(sp => sp.GetRequiredService<ClusterCheckIn>());
        return services;
    }
}
