using RollbackSentinel.Storage.Postgres;
using RollbackSentinel.Testing.Postgres;

namespace RollbackSentinel.Storage.Tests.Postgres;

/// <summary>Each test gets a database of its own on the fixture's server, with a store initialised on it; dropped after.</summary>
public abstract class FreshDatabaseTests(PostgresFixture postgres) : IAsyncLifetime
{
    protected static readonly CancellationToken None = CancellationToken.None;

    private IPostgresStore? _store;

    /// <summary>The test's database (the fixture's strings turn pooling off).</summary>
    protected string ConnectionString { get; private set; } = string.Empty;

    protected IPostgresStore Store => _store!;

    public async Task InitializeAsync()
    {
        ConnectionString = await postgres.Server.CreateDatabaseAsync(None);
        _store = PostgresStore.Create(ConnectionString, TimeProvider.System);
        await _store.InitializeAsync(None);
    }

    public async Task DisposeAsync()
    {
        await Store.DisposeAsync();
        await postgres.Server.DropDatabaseAsync(ConnectionString, None);
    }
}
