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

    [Fact]
    public async Task StopAndStart_KeepPortAndData_AndRefuseConnectionsBetween()
    {
        var connectionString = await postgres.Server.CreateDatabaseAsync(CancellationToken.None);
        var port = postgres.Server.Port;
        try
        {
            await ExecuteAsync(connectionString, "CREATE TABLE kept (value text); INSERT INTO kept VALUES ('before the restart')");

            await postgres.Server.StopAsync();
            var refused = await Assert.ThrowsAnyAsync<NpgsqlException>(() => ExecuteAsync(connectionString, "SELECT 1"));
            Assert.IsNotType<PostgresException>(refused); // no server answered: the connection itself failed

            await postgres.Server.StartAsync();
            Assert.Equal(port, postgres.Server.Port);
            await using var connection = new NpgsqlConnection(connectionString);
            await connection.OpenAsync();
            await using var read = new NpgsqlCommand("SELECT value FROM kept", connection);
            Assert.Equal("before the restart", await read.ExecuteScalarAsync());
        }
        finally
        {
            await postgres.Server.StartAsync();
            await postgres.Server.DropDatabaseAsync(connectionString, CancellationToken.None);
        }
    }

    [Fact]
    public async Task CreateDatabaseWithLogin_AcceptsItsPassword_AndRefusesAnother()
    {
        var connectionString = await postgres.Server.CreateDatabaseWithLoginAsync("right-horse-battery", CancellationToken.None);
        try
        {
            var builder = new NpgsqlConnectionStringBuilder(connectionString);
            Assert.Equal("right-horse-battery", builder.Password);
            await ExecuteAsync(connectionString, "CREATE TABLE owned (id int)"); // the login owns its database

            builder.Password = "wrong-horse-battery";
            var refused = await Assert.ThrowsAsync<PostgresException>(() => ExecuteAsync(builder.ConnectionString, "SELECT 1"));
            Assert.Equal(PostgresErrorCodes.InvalidPassword, refused.SqlState);
        }
        finally
        {
            await postgres.Server.DropDatabaseAsync(connectionString, CancellationToken.None);
        }
    }

    private static async Task ExecuteAsync(string connectionString, string sql)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }
}
