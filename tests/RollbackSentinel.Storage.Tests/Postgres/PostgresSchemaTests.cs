using Npgsql;
using RollbackSentinel.Storage.Postgres;
using RollbackSentinel.Testing.Postgres;
using RollbackSentinel.Testing.Time;

namespace RollbackSentinel.Storage.Tests.Postgres;

/// <summary>The PostgreSQL migrations: versioned, forward only, each applied once however many sentinels start together.</summary>
[Collection(PostgresCollection.Name)]
public sealed class PostgresSchemaTests(PostgresFixture postgres) : IAsyncLifetime
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 20, 14, 30, 0, TimeSpan.Zero);
    private string _connectionString = string.Empty;

    public async Task InitializeAsync() => _connectionString = await postgres.Server.CreateDatabaseAsync(CancellationToken.None);

    public Task DisposeAsync() => postgres.Server.DropDatabaseAsync(_connectionString, CancellationToken.None);

    [Fact]
    public async Task Migrate_ConcurrentlyFromEmpty_AppliesEachVersionOnceAndReportsLatest()
    {
        var versions = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => MigrateAsync()));

        Assert.All(versions, v => Assert.Equal(PostgresSchema.LatestVersion(PostgresSchema.Migrations), v));
        await using var connection = new NpgsqlConnection(_connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT version, applied_at FROM schema_version ORDER BY version", connection);
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new List<(int, DateTime)>();
        while (await reader.ReadAsync())
        {
            rows.Add((reader.GetInt32(0), reader.GetDateTime(1)));
        }

        Assert.Equal(PostgresSchema.Migrations.Select(m => (m.Version, T0.UtcDateTime)), rows);
    }

    [Fact]
    public async Task Migrate_DatabaseNewerThanBuild_RefusesAndChangesNothing()
    {
        await MigrateAsync();
        await using (var connection = new NpgsqlConnection(_connectionString))
        {
            await connection.OpenAsync();
            await using var bump = new NpgsqlCommand("INSERT INTO schema_version VALUES (99, 'from the future', now())", connection);
            await bump.ExecuteNonQueryAsync();
        }

        var error = await Assert.ThrowsAsync<InvalidOperationException>(MigrateAsync);

        Assert.Contains("schema version 99", error.Message, StringComparison.Ordinal);
    }

    private async Task<int> MigrateAsync()
    {
        await using var connection = new NpgsqlConnection(_connectionString);
        await connection.OpenAsync();
        return await PostgresSchema.MigrateAsync(connection, PostgresSchema.Migrations, new ManualTimeProvider(T0), CancellationToken.None);
    }
}
