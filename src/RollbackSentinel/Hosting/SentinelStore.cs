using RollbackSentinel.Core.Changes;
using RollbackSentinel.Core.Cluster;
using RollbackSentinel.Core.Incidents;
using RollbackSentinel.Storage;
using RollbackSentinel.Storage.Postgres;

namespace RollbackSentinel.Hosting;

/// <summary>
/// The store: one SQLite file (the embedded default) or one PostgreSQL database shared by several sentinels
/// (<c>storage.postgres</c>), one instance serving incidents, changes and cluster membership; and the incident rules over it.
/// </summary>
internal static class SentinelStore
{
    /// <summary>
    /// Registers the store once as <see cref="IIncidentStore"/> and <see cref="IChangeStore"/>: the same singleton, so
    /// it is initialized once (at start-up, through <see cref="IIncidentStore"/>). Every incident write goes through the
    /// one <see cref="IncidentService"/> over it, owned by this sentinel's <c>node.id</c> (the leases it takes).
    /// <see cref="IClusterStore"/> is the PostgreSQL store's table of check-ins, or, on SQLite, this daemon alone.
    /// </summary>
    public static IServiceCollection AddSentinelStore(this IServiceCollection services, SentinelOptions options)
    {
        if (options.Storage.UsesPostgres)
        {
            services.AddSingleton(sp => PostgresStore.Create(options.ResolvePostgresConnectionString()!, sp.GetRequiredService<TimeProvider>()));
            services.AddSingleton<IIncidentStore>(sp => sp.GetRequiredService<IPostgresStore>());
            services.AddSingleton<IChangeStore>(sp => sp.GetRequiredService<IPostgresStore>());
            services.AddSingleton<IClusterStore>(sp => sp.GetRequiredService<IPostgresStore>());
        }
        else
        {
            services.AddSingleton(sp => new SqliteIncidentStore(options.Storage.Path, sp.GetRequiredService<TimeProvider>()));
            services.AddSingleton<IIncidentStore>(sp => sp.GetRequiredService<SqliteIncidentStore>());
            services.AddSingleton<IChangeStore>(sp => sp.GetRequiredService<SqliteIncidentStore>());
            services.AddSingleton<IClusterStore, LocalClusterStore>();
        }

        services.AddSingleton(sp => new IncidentService(
            sp.GetRequiredService<IIncidentStore>(),
            sp.GetRequiredService<IChangeStore>(),
            sp.GetRequiredService<TimeProvider>(),
            options.Node.Id));
        return services;
    }
}

/// <summary>
/// A daemon on SQLite is a cluster of one: it lists only itself, from memory. Its store runs in its process, on its
/// clock: the skew between the two is 0 by construction, and no other process can share its row (SQLite's lock file).
/// </summary>
internal sealed class LocalClusterStore(TimeProvider time) : IClusterStore
{
    private readonly object _gate = new();
    private NodeCheckIn? _self;

    public Task<CheckInReceipt> CheckInAsync(NodeCheckIn checkIn, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(checkIn);
        lock (_gate)
        {
            var previous = _self?.NodeId == checkIn.NodeId ? _self.InstanceToken : null;
            _self = checkIn;
            return Task.FromResult(new CheckInReceipt(previous, time.GetUtcNow()));
        }
    }

    public Task<IReadOnlyList<ClusterNode>> ListNodesAsync(CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            IReadOnlyList<ClusterNode> nodes = _self is { } s ? [Node(s)] : [];
            return Task.FromResult(nodes);
        }
    }

    public Task<NodeReading> ReadNodeAsync(string nodeId, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            return Task.FromResult(new NodeReading(_self is { } s && s.NodeId == nodeId ? Node(s) : null, time.GetUtcNow()));
        }
    }

    public Task LeaveAsync(string nodeId, string? instanceToken, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (_self?.NodeId == nodeId)
            {
                _self = null;
            }
        }

        return Task.CompletedTask;
    }

    private static ClusterNode Node(NodeCheckIn s) =>
        new(s.NodeId, s.At, s.StartedAt, s.RulesVersion, s.EvaluationsLastMinute, s.SentinelVersion) { InstanceToken = s.InstanceToken, ClockSkewSeconds = s.ClockSkewSeconds };
}
