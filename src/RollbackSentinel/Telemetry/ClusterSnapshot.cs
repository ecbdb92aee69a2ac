namespace RollbackSentinel.Telemetry;

/// <summary>
/// The cluster as this node sees it at a scrape: nodes alive and dead and the distinct rules versions among the alive ones
/// (null before the first check-in listed them), this node's rules version, and whether the store answered its last
/// check-in (null before the first).
/// </summary>
public sealed record ClusterSnapshot(int? Alive, int? Dead, int? RulesVersions, string? RulesVersion, int? StoreUp)
{
    /// <summary>This node's clock minus the store's, in seconds (0 on SQLite; null before the first measurement).</summary>
    public double? ClockSkewSeconds { get; init; }
}
