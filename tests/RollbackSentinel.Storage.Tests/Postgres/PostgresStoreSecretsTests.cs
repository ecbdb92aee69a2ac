using Npgsql;
using RollbackSentinel.Storage.Postgres;
using RollbackSentinel.Testing.Net;
using RollbackSentinel.Testing.Postgres;

namespace RollbackSentinel.Storage.Tests.Postgres;

/// <summary>The connection string's password reaches no message or property of the store, whatever fails.</summary>
[Collection(PostgresCollection.Name)]
public sealed class PostgresStoreSecretsTests(PostgresFixture postgres)
{
    private const string Password = "hunter2-s3cret";

    [Fact]
    public void Create_UnparsableConnectionString_MessageLeavesThePasswordOut()
    {
        var error = Assert.Throws<ArgumentException>(() => PostgresStore.Create($"Host=127.0.0.1;Password={Password};No Such Key=1", TimeProvider.System));

        Assert.DoesNotContain(Password, error.ToString(), StringComparison.Ordinal);
        Assert.Contains("cannot be parsed", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Initialize_NothingListening_FailsWithoutThePassword()
    {
        var connectionString = new NpgsqlConnectionStringBuilder
        {
            Host = "127.0.0.1",
            Port = FreePort.Next(),
            Username = "sentinel",
            Password = Password,
            Database = "sentinel",
            Timeout = 2,
        }.ConnectionString;
        await using var store = PostgresStore.Create(connectionString, TimeProvider.System);

        var error = await Assert.ThrowsAnyAsync<Exception>(() => store.InitializeAsync(CancellationToken.None));

        Assert.DoesNotContain(Password, error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Initialize_WrongPassword_FailsWithoutThePassword()
    {
        // The fixture trusts loopback, so any password is accepted there: ask for one the server never sees, on a role that does not exist.
        var builder = new NpgsqlConnectionStringBuilder(postgres.Server.ConnectionString()) { Username = "no_such_role", Password = Password };
        await using var store = PostgresStore.Create(builder.ConnectionString, TimeProvider.System);

        var error = await Assert.ThrowsAnyAsync<NpgsqlException>(() => store.InitializeAsync(CancellationToken.None));

        Assert.Contains("no_such_role", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(Password, error.ToString(), StringComparison.Ordinal);
    }
}
