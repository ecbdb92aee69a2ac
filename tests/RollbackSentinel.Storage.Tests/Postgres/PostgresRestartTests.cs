using Npgsql;
using RollbackSentinel.Core.Incidents;
using RollbackSentinel.Core.State;
using RollbackSentinel.Storage.Postgres;
using RollbackSentinel.Testing.Postgres;

namespace RollbackSentinel.Storage.Tests.Postgres;

/// <summary>
/// PostgreSQL restarts under a running store (its pooled connections break): calls throw while it is down, never
/// succeed silently, and succeed again once it is back, on the same store object (no restart of the daemon).
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class PostgresRestartTests(PostgresFixture postgres) : IAsyncLifetime
{
    private const int Pooled = 4;
    private static readonly DateTimeOffset T0 = new(2026, 11, 20, 14, 30, 0, TimeSpan.Zero);
    private static readonly CancellationToken None = CancellationToken.None;

    private string _connectionString = string.Empty;
    private IPostgresStore? _store;

    private IPostgresStore Store => _store!;

    public async Task InitializeAsync()
    {
        var database = await postgres.Server.CreateDatabaseAsync(None);

        // As a daemon runs it: pooled connections (the fixture's strings turn pooling off), a short connect timeout.
        _connectionString = new NpgsqlConnectionStringBuilder(database) { Pooling = true, Timeout = 5 }.ConnectionString;
        _store = PostgresStore.Create(_connectionString, TimeProvider.System);
        await _store.InitializeAsync(None);
    }

    public async Task DisposeAsync()
    {
        await postgres.Server.StartAsync(); // if a failed assertion left it stopped
        await Store.DisposeAsync();
        await postgres.Server.DropDatabaseAsync(_connectionString, None);
    }

    [Fact]
    public async Task Restart_CallsThrowWhileDown_AndSucceedOnceBack_NothingLost()
    {
        await FillThePoolAsync();

        await postgres.Server.StopAsync();
        var write = await Assert.ThrowsAnyAsync<NpgsqlException>(() => WriteStateAsync("during", T0.AddMinutes(1), expectedVersion: 0));
        await Assert.ThrowsAnyAsync<NpgsqlException>(() => Store.LoadStateAsync("policy-0", None));
        await Assert.ThrowsAnyAsync<NpgsqlException>(() => Store.ClaimDeliveryAsync(1, "slack", new ActionLease("node-a", T0.AddMinutes(5)), T0, None));
        Assert.NotNull(((PostgresIncidentStore)Store).Failure);
        Assert.DoesNotContain("Password", write.Message, StringComparison.OrdinalIgnoreCase);

        await postgres.Server.StartAsync();

        // The same store object: the next calls succeed.
        await WriteStateAsync("after", T0.AddMinutes(2), expectedVersion: 0);
        Assert.Equal(1, await Store.LoadStateVersionAsync("after", None));
        Assert.Null(((PostgresIncidentStore)Store).Failure); // a write and a read succeeded since
        Assert.Equal(0, await Store.LoadStateVersionAsync("during", None)); // the write that threw was not applied
        for (var i = 0; i < Pooled; i++)
        {
            Assert.Equal(1, await Store.LoadStateVersionAsync($"policy-{i}", None)); // what was committed before is there
        }
    }

    [Fact]
    public async Task Restart_WithNoCallWhileDown_TheFirstCallsAfterItSucceed()
    {
        await FillThePoolAsync();

        // Every pooled connection now points at a server process that is gone.
        await postgres.Server.StopAsync();
        await postgres.Server.StartAsync();

        await Task.WhenAll(Enumerable.Range(0, Pooled).Select(i => WriteStateAsync($"policy-{i}", T0.AddMinutes(1), expectedVersion: 1)));
        Assert.Equal(Enumerable.Repeat(2L, Pooled), await Task.WhenAll(Enumerable.Range(0, Pooled).Select(i => Store.LoadStateVersionAsync($"policy-{i}", None))));
        Assert.Null(((PostgresIncidentStore)Store).Failure);
    }

    /// <summary>Several calls at once, so the pool holds several idle connections afterwards.</summary>
    private Task FillThePoolAsync() =>
        Task.WhenAll(Enumerable.Range(0, Pooled).Select(i => WriteStateAsync($"policy-{i}", T0, expectedVersion: 0)));

    private Task WriteStateAsync(string policy, DateTimeOffset at, long expectedVersion) =>
        Store.ApplyAsync(new StoreBatch(new PolicyStateWrite(policy, PolicyState.Empty with { LastEvaluatedAt = at }, at, expectedVersion), [], []), None);
}
