namespace RollbackSentinel.Storage.Postgres;

/// <summary>Migration 4: fencing: delivery claims per incident and channel.</summary>
internal static class PostgresFencingSchema
{
    // Issue 13: the store engineer writes this step (nothing is released yet, so it is still free to change).
    public static readonly PostgresMigration Migration = new(4, "fencing: delivery claims per incident and channel", """
        SELECT 1;
        """);
}
