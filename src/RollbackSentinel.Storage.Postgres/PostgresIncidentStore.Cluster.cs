using RollbackSentinel.Core.Cluster;

namespace RollbackSentinel.Storage.Postgres;

/// <summary>Cluster membership: each sentinel's check-in, in <c>cluster_nodes</c> (migration 3).</summary>
internal sealed partial class PostgresIncidentStore
{
    /// <inheritdoc />
    /// <remarks>An upsert: the node's row is inserted at its first check-in and replaced at every later one.</remarks>
    public Task CheckInAsync(NodeCheckIn checkIn, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(checkIn);
        ArgumentException.ThrowIfNullOrWhiteSpace(checkIn.NodeId, nameof(checkIn));
        ThrowIfNotReady();
        return WriteAsync(
            tx => tx.ExecuteAsync(
                """
                INSERT INTO cluster_nodes (node_id, last_checkin, started_at, rules_version, evaluations_last_minute, sentinel_version)
                VALUES (@node, @at, @startedAt, @rulesVersion, @evaluations, @sentinelVersion)
                ON CONFLICT (node_id) DO UPDATE SET
                    last_checkin = excluded.last_checkin,
                    started_at = excluded.started_at,
                    rules_version = excluded.rules_version,
                    evaluations_last_minute = excluded.evaluations_last_minute,
                    sentinel_version = excluded.sentinel_version
                """,
                cancellationToken,
                ("node", checkIn.NodeId),
                ("at", checkIn.At),
                ("startedAt", checkIn.StartedAt),
                ("rulesVersion", checkIn.RulesVersion),
                ("evaluations", checkIn.EvaluationsLastMinute),
                ("sentinelVersion", checkIn.SentinelVersion)),
            cancellationToken);
    }

    /// <inheritdoc />
    public Task<IReadOnlyList<ClusterNode>> ListNodesAsync(CancellationToken cancellationToken) =>
        ReadAsync(
            async tx => (IReadOnlyList<ClusterNode>)await tx.QueryAsync(
                """
                SELECT node_id, last_checkin, started_at, rules_version, evaluations_last_minute, sentinel_version
                FROM cluster_nodes ORDER BY node_id COLLATE "C"
                """,
                r => new ClusterNode(r.GetString(0), r.GetTime(1), r.GetTime(2), r.GetString(3), r.GetInt32(4), r.GetString(5)),
                cancellationToken).ConfigureAwait(false),
            cancellationToken);

    /// <inheritdoc />
    public Task LeaveAsync(string nodeId, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(nodeId);
        ThrowIfNotReady();
        return WriteAsync(
            tx => tx.ExecuteAsync("DELETE FROM cluster_nodes WHERE node_id = @node", cancellationToken, ("node", nodeId)),
            cancellationToken);
    }
}
