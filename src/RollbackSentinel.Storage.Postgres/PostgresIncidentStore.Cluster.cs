using RollbackSentinel.Core.Cluster;

namespace RollbackSentinel.Storage.Postgres;

/// <summary>Cluster membership: each sentinel's check-in, in <c>cluster_nodes</c> (migration 3).</summary>
internal sealed partial class PostgresIncidentStore
{
    // Issue 13: the membership engineer implements these (and their tests on the real PostgreSQL).
    public Task CheckInAsync(NodeCheckIn checkIn, CancellationToken cancellationToken) =>
        throw new NotSupportedException("issue 13: not implemented yet");

    public Task<IReadOnlyList<ClusterNode>> ListNodesAsync(CancellationToken cancellationToken) =>
        throw new NotSupportedException("issue 13: not implemented yet");

    public Task LeaveAsync(string nodeId, CancellationToken cancellationToken) =>
        throw new NotSupportedException("issue 13: not implemented yet");
}
