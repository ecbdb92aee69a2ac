namespace RollbackSentinel.Storage.Postgres;

/// <summary>Migration 3: cluster membership: each sentinel's check-in (cluster_nodes).</summary>
internal static class PostgresClusterSchema
{
    // Issue 13: the membership engineer writes this step (nothing is released yet, so it is still free to change).
    public static readonly PostgresMigration Migration = new(3, "cluster membership: each sentinel's check-in (cluster_nodes)", """
        SELECT 1;
        """);
}
