using Npgsql;
using RollbackSentinel.Core.Changes;
using RollbackSentinel.Core.Incidents;
using RollbackSentinel.Core.Secrets;

namespace RollbackSentinel.Storage.Postgres;

/// <summary>The PostgreSQL store as the daemon sees it: one object that is both its incident store and its change store.</summary>
public interface IPostgresStore : IIncidentStore, IChangeStore, Core.Cluster.IClusterStore, IAsyncDisposable
{
}

/// <summary>Creates the PostgreSQL store (<c>storage.postgres</c>).</summary>
public static class PostgresStore
{
    /// <summary>
    /// A store on the database <paramref name="connectionString"/> names; call <see cref="IIncidentStore.InitializeAsync"/>
    /// before use (it creates or migrates the schema). The connection string's password stays inside Npgsql: it is in no
    /// message, log or property of the store (<c>Persist Security Info</c> is forced off).
    /// </summary>
    /// <param name="timeProvider">Stamps when each migration was applied and when a change was recorded; every other time is an argument.</param>
    /// <exception cref="ArgumentException">The connection string cannot be parsed (the message does not repeat it).</exception>
    /// <remarks>The password and the whole string are registered with <see cref="SecretRegistry.Shared"/> first (<see cref="Describe"/>).</remarks>
    public static IPostgresStore Create(string connectionString, TimeProvider timeProvider)
    {
        ArgumentNullException.ThrowIfNull(timeProvider);
        var builder = Parse(connectionString, SecretRegistry.Shared);
        if (!SetsMaxPoolSize(connectionString))
        {
            builder.MaxPoolSize = DefaultMaxPoolSize;
        }

        if (!Sets(connectionString, "MaxAutoPrepare"))
        {
            builder.MaxAutoPrepare = DefaultMaxAutoPrepare;
        }

        return new PostgresIncidentStore(NpgsqlDataSource.Create(builder), timeProvider, PostgresSchema.Migrations);
    }

    /// <summary>
    /// Connections in the store's pool on each node unless the connection string sets <c>Maximum Pool Size</c>
    /// (Npgsql's default is 100 per pool). With Quartz's 15 (ClusteredScheduling.DefaultMaxPoolSize) a node opens at most
    /// 31, so three nodes stay at 93 of PostgreSQL's default <c>max_connections</c> (100).
    /// </summary>
    public const int DefaultMaxPoolSize = 16;

    /// <summary>
    /// Whether <paramref name="connectionString"/> sets the pool's maximum itself (<c>Maximum Pool Size</c> or
    /// <c>Max Pool Size</c>, any case or spacing), which then wins over this project's defaults.
    /// </summary>
    public static bool SetsMaxPoolSize(string connectionString) => Sets(connectionString, "MaximumPoolSize", "MaxPoolSize");

    /// <summary>
    /// Statements each pooled connection keeps prepared unless the connection string sets <c>Max Auto Prepare</c>
    /// (Npgsql's default is 0: none). A statement run 5 times on a connection is prepared there, so PostgreSQL parses and
    /// plans it once and answers without describing its rows again: every evaluation runs the same few statements.
    /// Behind a pooler in transaction mode that does not keep prepared statements (PgBouncer before 1.21, or without
    /// <c>max_prepared_statements</c>), set <c>Max Auto Prepare=0</c> in the connection string.
    /// </summary>
    public const int DefaultMaxAutoPrepare = 64;

    /// <summary>
    /// Whether <paramref name="connectionString"/> sets <paramref name="keys"/> (one setting's names, without spaces) itself,
    /// in any case or spacing: then it wins over this project's defaults.
    /// </summary>
    public static bool Sets(string connectionString, params string[] keys)
    {
        try
        {
            var set = new System.Data.Common.DbConnectionStringBuilder { ConnectionString = connectionString }.Keys;
            foreach (string key in set)
            {
                var k = key.Replace(" ", string.Empty, StringComparison.Ordinal);
                if (keys.Any(name => k.Equals(name, StringComparison.OrdinalIgnoreCase)))
                {
                    return true;
                }
            }

            return false;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    /// <summary>
    /// Where a connection string points, for messages: <c>host:port/database</c>, never the user or password. Parsing it
    /// registers its password and the whole string with <paramref name="secrets"/> (default <see cref="SecretRegistry.Shared"/>,
    /// the registry the log pipeline redacts with), so neither can reach a log line, whoever writes it.
    /// </summary>
    /// <exception cref="ArgumentException">The connection string cannot be parsed (the message does not repeat it).</exception>
    public static string Describe(string connectionString, SecretRegistry? secrets = null)
    {
        var builder = Parse(connectionString, secrets ?? SecretRegistry.Shared);
        return $"{builder.Host}:{builder.Port}/{builder.Database}";
    }

    private static NpgsqlConnectionStringBuilder Parse(string connectionString, SecretRegistry secrets)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        secrets.Register(connectionString);
        NpgsqlConnectionStringBuilder builder;
        try
        {
            builder = new NpgsqlConnectionStringBuilder(connectionString) { PersistSecurityInfo = false };
        }
        catch (ArgumentException)
        {
            // Npgsql's message may quote the offending part of the string, which can be the password.
            throw new ArgumentException("The PostgreSQL connection string cannot be parsed (it is not repeated here: it may hold a password).", nameof(connectionString));
        }

        secrets.Register(builder.Password);
        if (string.IsNullOrWhiteSpace(builder.Host))
        {
            throw new ArgumentException("The PostgreSQL connection string names no Host.", nameof(connectionString));
        }

        return builder;
    }
}
