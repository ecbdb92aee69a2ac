namespace RollbackSentinel.Storage.Postgres;

/// <summary>Migration 5: cluster membership: each process's instance token and its measured clock skew (cluster_nodes).</summary>
internal static class PostgresMembershipSchema
{
    // instance_token: drawn at random by each process at start, so two processes started with the same node.id (one
    // Quartz instance identity) can tell that the other wrote their row. clock_skew_seconds: the node's clock minus the
    // database's, as the node measured it (its check-in reads the database's clock). Both NULL on rows of older nodes.
    public static readonly PostgresMigration Migration = new(5, "cluster membership: instance token and clock skew of each node (cluster_nodes)", """
        ALTER TABLE cluster_nodes ADD COLUMN instance_token text;
        ALTER TABLE cluster_nodes ADD COLUMN clock_skew_seconds double precision;
        """);
}
