namespace RollbackSentinel.Core.Cluster;

/// <summary>What one sentinel reports about itself each time it checks in (every <c>cluster.checkinInterval</c>).</summary>
/// <param name="NodeId">Its <c>node.id</c> (also its Quartz instance id).</param>
/// <param name="At">When it checked in (its clock).</param>
/// <param name="StartedAt">When this process started.</param>
/// <param name="RulesVersion">The version of the rules it evaluates (a digest of its loaded policies, <c>sha256:</c> and 12 hex digits).</param>
/// <param name="EvaluationsLastMinute">Policy evaluations it ran in the minute before <paramref name="At"/>.</param>
/// <param name="SentinelVersion">The program's version.</param>
public sealed record NodeCheckIn(string NodeId, DateTimeOffset At, DateTimeOffset StartedAt, string RulesVersion, int EvaluationsLastMinute, string SentinelVersion);

/// <summary>A sentinel as the cluster last heard of it: its latest check-in, as stored.</summary>
public sealed record ClusterNode(string NodeId, DateTimeOffset LastCheckIn, DateTimeOffset StartedAt, string RulesVersion, int EvaluationsLastMinute, string SentinelVersion);

/// <summary>
/// Who is in the cluster: each sentinel records its check-in, and every one of them can list all. Storage only: whether a
/// node counts as alive (its last check-in against the interval) is decided by the reader. The PostgreSQL store keeps it in
/// a table every node shares; a single daemon on SQLite lists only itself.
/// </summary>
public interface IClusterStore
{
    /// <summary>Records (inserts or replaces) the node's check-in.</summary>
    Task CheckInAsync(NodeCheckIn checkIn, CancellationToken cancellationToken);

    /// <summary>Every node that has checked in and not left, ordered by id.</summary>
    Task<IReadOnlyList<ClusterNode>> ListNodesAsync(CancellationToken cancellationToken);

    /// <summary>The node stopped on purpose (SIGTERM): its row goes; a node that crashed stays listed with its last check-in.</summary>
    Task LeaveAsync(string nodeId, CancellationToken cancellationToken);
}
