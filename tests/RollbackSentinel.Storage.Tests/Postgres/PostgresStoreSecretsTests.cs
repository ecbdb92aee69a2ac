using Npgsql;
using RollbackSentinel.Core.Secrets;
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

    [Fact]
    public async Task Initialize_WrongPasswordOfARealLogin_FailsWithoutEitherPassword()
    {
        const string Right = "the-right-one-2718";
        var connectionString = await postgres.Server.CreateDatabaseWithLoginAsync(Right, CancellationToken.None);
        try
        {
            var wrong = new NpgsqlConnectionStringBuilder(connectionString) { Password = Password }.ConnectionString;
            await using var store = PostgresStore.Create(wrong, TimeProvider.System);

            var error = await Assert.ThrowsAsync<PostgresException>(() => store.InitializeAsync(CancellationToken.None));

            Assert.Equal(PostgresErrorCodes.InvalidPassword, error.SqlState);
            Assert.DoesNotContain(Password, error.ToString(), StringComparison.Ordinal);
            Assert.DoesNotContain(Right, error.ToString(), StringComparison.Ordinal);
        }
        finally
        {
            await postgres.Server.DropDatabaseAsync(connectionString, CancellationToken.None);
        }
    }

    [Fact]
    public void Describe_NamesHostPortAndDatabaseOnly_AndRegistersThePasswordAndTheString()
    {
        var secrets = new SecretRegistry();
        var connectionString = $"Host=db.internal;Port=6543;Database=sentinel;Username=rs_user;Password={Password}";

        var where = PostgresStore.Describe(connectionString, secrets);

        Assert.Equal("db.internal:6543/sentinel", where);
        Assert.Equal($"login failed for {SecretRegistry.Marker}", secrets.Redact($"login failed for {Password}"));
        Assert.Equal($"using {SecretRegistry.Marker}", secrets.Redact($"using {connectionString}"));
    }

    [Fact]
    public void Describe_NoHost_IsRefusedWithoutRepeatingTheString()
    {
        var error = Assert.Throws<ArgumentException>(() => PostgresStore.Describe($"Database=sentinel;Password={Password}", new SecretRegistry()));

        Assert.Contains("names no Host", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(Password, error.ToString(), StringComparison.Ordinal);
    }
}
