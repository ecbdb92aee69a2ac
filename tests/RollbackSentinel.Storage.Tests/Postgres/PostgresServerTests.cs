using Npgsql;
using RollbackSentinel.Testing.Postgres;

namespace RollbackSentinel.Storage.Tests.Postgres;

/// <summary>The fixture itself: a real server on loopback, databases that are fresh and go away.</summary>
[Collection(PostgresCollection.Name)]
public sealed class PostgresServerTests(PostgresFixture postgres)
{
    [Fact]
    public async Task CreateDatabase_IsEmptyAndServedOnLoopbackByVersion15()
    {
        var connectionString = await postgres.Server.CreateDatabaseAsync(CancellationToken.None);
        try
        {
            await using var connection = new NpgsqlConnection(connectionString);
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand(
                "SELECT current_setting('server_version_num')::int / 10000, current_setting('listen_addresses'), "
                + "(SELECT count(*) FROM pg_tables WHERE schemaname = 'public')",
                connection);
            await using var reader = await command.ExecuteReaderAsync();
            Assert.True(await reader.ReadAsync());
            Assert.Equal(15, reader.GetInt32(0));
            Assert.Equal("127.0.0.1", reader.GetString(1));
            Assert.Equal(0, reader.GetInt64(2));
        }
        finally
        {
            await postgres.Server.DropDatabaseAsync(connectionString, CancellationToken.None);
        }

        await using var admin = new NpgsqlConnection(postgres.Server.ConnectionString());
        await admin.OpenAsync();
        await using var exists = new NpgsqlCommand("SELECT count(*) FROM pg_database WHERE datname = @name", admin);
        exists.Parameters.AddWithValue("name", new NpgsqlConnectionStringBuilder(connectionString).Database!);
        Assert.Equal(0L, await exists.ExecuteScalarAsync());
    }
}
