namespace RollbackSentinel.Storage.Postgres;

/// <summary>Migration 3: cluster membership: each sentinel's check-in (cluster_nodes).</summary>
internal static class PostgresClusterSchema
{
    // One row per node.id, replaced at every check-in and deleted when the node stops on purpose; a crashed node's row
    // stays with its last check-in, so readers see it dead. Whether a node is alive is the reader's decision.
    public static readonly PostgresMigration Migration = new(3, "cluster membership: each sentinel's check-in (cluster_nodes)", """
        CREATE TABLE cluster_nodes (
            node_id                 text NOT NULL PRIMARY KEY,
            last_checkin            timestamptz NOT NULL,
            started_at              timestamptz NOT NULL,
            rules_version           text NOT NULL,
            evaluations_last_minute integer NOT NULL,
            sentinel_version        text NOT NULL
        );
        """);
}
