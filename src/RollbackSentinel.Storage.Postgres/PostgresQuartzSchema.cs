namespace RollbackSentinel.Storage.Postgres;

/// <summary>Migration 2: Quartz.NET's clustered ADO.NET job store, in its own schema (quartz.qrtz_*).</summary>
internal static class PostgresQuartzSchema
{
    // Issue 13: the quartz engineer writes this step (nothing is released yet, so it is still free to change).
    public static readonly PostgresMigration Migration = new(2, "Quartz.NET's clustered ADO.NET job store, in its own schema (quartz.qrtz_*)", """
        SELECT 1;
        """);
}
