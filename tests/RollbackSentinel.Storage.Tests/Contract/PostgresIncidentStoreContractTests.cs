using RollbackSentinel.Core.Incidents;
using RollbackSentinel.Storage.Postgres;
using RollbackSentinel.Storage.Tests.Postgres;
using RollbackSentinel.Testing.Postgres;

namespace RollbackSentinel.Storage.Tests.Contract;

/// <summary>The PostgreSQL store passes the store contract, on a real PostgreSQL with a fresh database per test.</summary>
[Collection(PostgresCollection.Name)]
public sealed class PostgresIncidentStoreContractTests(PostgresFixture postgres) : IncidentStoreContract
{
    private string? _connectionString;
    private IPostgresStore? _store;

    protected override async Task<IIncidentStore> CreateStoreAsync()
    {
        _connectionString = await postgres.Server.CreateDatabaseAsync(None);
        _store = PostgresStore.Create(_connectionString, TimeProvider.System);
        await _store.InitializeAsync(None);
        return _store;
    }

    protected override async Task CleanupAsync()
    {
        if (_store is not null)
        {
            await _store.DisposeAsync();
        }

        if (_connectionString is not null)
        {
            await postgres.Server.DropDatabaseAsync(_connectionString, None);
        }
    }
}
