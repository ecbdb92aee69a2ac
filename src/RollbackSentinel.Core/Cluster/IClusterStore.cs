namespace RollbackSentinel.Core.Cluster;

/// <summary>What one sentinel reports about itself each time it checks in (every <c>cluster.checkinInterval</c>).</summary>
/// <param name="NodeId">Its <c>node.id</c> (also its Quartz instance id).</param>
/// <param name="At">When it checked in (its clock).</param>
/// <param name="StartedAt">When this process started.</param>
/// <param name="RulesVersion">The version of the rules it evaluates (a digest of its loaded policies, <c>sha256:</c> and 12 hex digits).</param>
/// <param name="EvaluationsLastMinute">Policy evaluations it ran in the minute before <paramref name="At"/>.</param>
/// <param name="SentinelVersion">The program's version.</param>
public sealed record NodeCheckIn(string NodeId, DateTimeOffset At, DateTimeOffset StartedAt, string RulesVersion, int EvaluationsLastMinute, string SentinelVersion)
{
    /// <summary>
    /// A random token this process drew at start, the same at each of its check-ins: two processes started with the same
    /// <c>node.id</c> have different tokens, so each can tell that another wrote its row. Null: not reported.
    /// </summary>
    public string? InstanceToken { get; init; }

    /// <summary>Its clock minus the store's, in seconds, as it last measured it (signed; null: not measured).</summary>
    public double? ClockSkewSeconds { get; init; }
}

/// <summary>A sentinel as the cluster last heard of it: its latest check-in, as stored.</summary>
public sealed record ClusterNode(string NodeId, DateTimeOffset LastCheckIn, DateTimeOffset StartedAt, string RulesVersion, int EvaluationsLastMinute, string SentinelVersion)
{
    /// <summary>The token of the process that wrote the row (<see cref="NodeCheckIn.InstanceToken"/>); null: not reported.</summary>
    public string? InstanceToken { get; init; }

    /// <summary>Its clock minus the store's, in seconds, as it reported it (<see cref="NodeCheckIn.ClockSkewSeconds"/>).</summary>
    public double? ClockSkewSeconds { get; init; }
}

/// <summary>What the store answered to a check-in, read in the same statement.</summary>
/// <param name="PreviousToken">The instance token the node's row held before this check-in replaced it (null: no row, or none recorded).</param>
/// <param name="StoreTime">The store's clock while it wrote the check-in.</param>
public sealed record CheckInReceipt(string? PreviousToken, DateTimeOffset StoreTime);

/// <summary>One node's row (null: none) and the store's clock when it was read.</summary>
public sealed record NodeReading(ClusterNode? Node, DateTimeOffset StoreTime);

/// <summary>
/// Who is in the cluster: each sentinel records its check-in, and every one of them can list all. Storage only: whether a
/// node counts as alive (its last check-in against the interval) is decided by the reader. The PostgreSQL store keeps it in
/// a table every node shares; a single daemon on SQLite lists only itself.
/// </summary>
public interface IClusterStore
{
    /// <summary>Records (inserts or replaces) the node's check-in; answers what the row held before and the store's clock.</summary>
    Task<CheckInReceipt> CheckInAsync(NodeCheckIn checkIn, CancellationToken cancellationToken);

    /// <summary>Every node that has checked in and not left, ordered by id.</summary>
    Task<IReadOnlyList<ClusterNode>> ListNodesAsync(CancellationToken cancellationToken);

    /// <summary>One node's row as stored now (null: none), with the store's clock.</summary>
    Task<NodeReading> ReadNodeAsync(string nodeId, CancellationToken cancellationToken);

    /// <summary>
    /// The node stopped on purpose (SIGTERM): its row goes, unless another process (another <paramref name="instanceToken"/>)
    /// wrote it since; a node that crashed stays listed with its last check-in.
    /// </summary>
    Task LeaveAsync(string nodeId, string? instanceToken, CancellationToken cancellationToken);

    /// <summary>The node's row goes, whichever process wrote it.</summary>
    Task LeaveAsync(string nodeId, CancellationToken cancellationToken) => LeaveAsync(nodeId, null, cancellationToken);
}
