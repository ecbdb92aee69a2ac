using RollbackSentinel.Storage.Postgres;
using RollbackSentinel.Testing.Postgres;

namespace RollbackSentinel.Storage.Tests.Postgres;

/// <summary>
/// Several sentinels' stores on one new database of the fixture's server, each its own store and connection pool,
/// initialized at once (the migrations are applied once: the others wait on the advisory lock and find them applied).
/// Disposing closes them and drops the database.
/// </summary>
internal sealed class PostgresNodes : IAsyncDisposable
{
    private readonly PostgresServer _server;

    private PostgresNodes(PostgresServer server, string connectionString, IReadOnlyList<IPostgresStore> stores)
    {
        _server = server;
        ConnectionString = connectionString;
        Stores = stores;
    }

    public string ConnectionString { get; }

    public IReadOnlyList<IPostgresStore> Stores { get; }

    public static async Task<PostgresNodes> StartAsync(PostgresServer server, int count)
    {
        var connectionString = await server.CreateDatabaseAsync(CancellationToken.None);
        var stores = Enumerable.Range(0, count).Select(_ => PostgresStore.Create(connectionString, TimeProvider.System)).ToArray();
        await Task.WhenAll(stores.Select(s => s.InitializeAsync(CancellationToken.None)));
        return new PostgresNodes(server, connectionString, stores);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var store in Stores)
        {
            await store.DisposeAsync();
        }

        await _server.DropDatabaseAsync(ConnectionString, CancellationToken.None);
    }
}
