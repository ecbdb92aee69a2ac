using RollbackSentinel.Core.Cluster;

namespace RollbackSentinel.Storage.Postgres;

/// <summary>Cluster membership: each sentinel's check-in, in <c>cluster_nodes</c> (migrations 3 and 5).</summary>
internal sealed partial class PostgresIncidentStore
{
    private const string NodeColumns = "node_id, last_checkin, started_at, rules_version, evaluations_last_minute, sentinel_version, instance_token, clock_skew_seconds";

    /// <inheritdoc />
    /// <remarks>
    /// An upsert: the node's row is inserted at its first check-in and replaced at every later one. The same statement
    /// answers the token the row held before (its sub-select sees the row as it was before the statement) and the
    /// database's clock (<c>clock_timestamp()</c>: the time it runs, not the transaction's start).
    /// </remarks>
    public Task<CheckInReceipt> CheckInAsync(NodeCheckIn checkIn, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(checkIn);
        ArgumentException.ThrowIfNullOrWhiteSpace(checkIn.NodeId, nameof(checkIn));
        ThrowIfNotReady();
        return WriteAsync(
            async tx => (await tx.QueryAsync(
                """
                WITH previous AS (SELECT instance_token FROM cluster_nodes WHERE node_id = @node)
                INSERT INTO cluster_nodes (node_id, last_checkin, started_at, rules_version, evaluations_last_minute, sentinel_version, instance_token, clock_skew_seconds)
                VALUES (@node, @at, @startedAt, @rulesVersion, @evaluations, @sentinelVersion, @token, @skew)
                ON CONFLICT (node_id) DO UPDATE SET
                    last_checkin = excluded.last_checkin,
                    started_at = excluded.started_at,
                    rules_version = excluded.rules_version,
                    evaluations_last_minute = excluded.evaluations_last_minute,
                    sentinel_version = excluded.sentinel_version,
                    instance_token = excluded.instance_token,
                    clock_skew_seconds = excluded.clock_skew_seconds
                RETURNING (SELECT instance_token FROM previous), clock_timestamp()
                """,
                r => new CheckInReceipt(r.GetNullableString(0), r.GetTime(1)),
                cancellationToken,
                ("node", checkIn.NodeId),
                ("at", checkIn.At),
                ("startedAt", checkIn.StartedAt),
                ("rulesVersion", checkIn.RulesVersion),
                ("evaluations", checkIn.EvaluationsLastMinute),
                ("sentinelVersion", checkIn.SentinelVersion),
                ("token", checkIn.InstanceToken),
                ("skew", checkIn.ClockSkewSeconds)).ConfigureAwait(false))[0],
            cancellationToken);
    }

    /// <inheritdoc />
    public Task<IReadOnlyList<ClusterNode>> ListNodesAsync(CancellationToken cancellationToken) =>
        ReadAsync(
            async tx => (IReadOnlyList<ClusterNode>)await tx.QueryAsync(
                $"""SELECT {NodeColumns} FROM cluster_nodes ORDER BY node_id COLLATE "C" """,
                ReadNode,
                cancellationToken).ConfigureAwait(false),
            cancellationToken);

    /// <inheritdoc />
    public Task<NodeReading> ReadNodeAsync(string nodeId, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(nodeId);
        return ReadAsync(
            async tx =>
            {
                var rows = await tx.QueryAsync(
                    $"SELECT {NodeColumns}, clock_timestamp() FROM cluster_nodes RIGHT JOIN (SELECT 1) AS one ON node_id = @node",
                    r => new NodeReading(r.IsDBNull(0) ? null : ReadNode(r), r.GetTime(8)),
                    cancellationToken,
                    ("node", nodeId)).ConfigureAwait(false);
                return rows[0];
            },
            cancellationToken);
    }

    /// <inheritdoc />
    public Task LeaveAsync(string nodeId, string? instanceToken, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(nodeId);
        ThrowIfNotReady();
        return WriteAsync(
            tx => tx.ExecuteAsync(
                "DELETE FROM cluster_nodes WHERE node_id = @node AND (@token::text IS NULL OR instance_token IS NULL OR instance_token = @token)",
                cancellationToken,
                ("node", nodeId),
                ("token", instanceToken)),
            cancellationToken);
    }

    private static ClusterNode ReadNode(Npgsql.NpgsqlDataReader r) =>
        new(r.GetString(0), r.GetTime(1), r.GetTime(2), r.GetString(3), r.GetInt32(4), r.GetString(5))
        {
            InstanceToken = r.GetNullableString(6),
            ClockSkewSeconds = r.IsDBNull(7) ? null : r.GetDouble(7),
        };
}
