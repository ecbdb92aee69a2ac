using Npgsql;
using RollbackSentinel.Core.Changes;
using RollbackSentinel.Core.Incidents;

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
    public static IPostgresStore Create(string connectionString, TimeProvider timeProvider)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        ArgumentNullException.ThrowIfNull(timeProvider);
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

        return new PostgresIncidentStore(NpgsqlDataSource.Create(builder), timeProvider, PostgresSchema.Migrations);
    }
}
