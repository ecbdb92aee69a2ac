using RollbackSentinel.Core.Incidents;
using RollbackSentinel.Storage.Tests.Support;

namespace RollbackSentinel.Storage.Tests.Contract;

/// <summary>The SQLite store passes the store contract, on a fresh database file per test.</summary>
public sealed class SqliteIncidentStoreContractTests : IncidentStoreContract
{
    private readonly TempDatabase _db = new();

    protected override async Task<IIncidentStore> CreateStoreAsync() => await _db.OpenStoreAsync();

    protected override Task CleanupAsync() => _db.DisposeAsync();
}
