using Microsoft.Data.Sqlite;
using RollbackSentinel.Core.Incidents;
using RollbackSentinel.Core.State;
using RollbackSentinel.Storage.Tests.Support;
using static RollbackSentinel.Storage.Tests.Support.Samples;

namespace RollbackSentinel.Storage.Tests.Sqlite;

/// <summary>What the SQLite file does when it is damaged, missing a table, or used after the store is disposed.</summary>
public sealed class RobustnessTests : IAsyncLifetime
{
    private readonly TempDatabase _db = new();

    [Fact]
    public async Task Initialize_EmptyFile_IsRefusedSayingWhatIsLost()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(_db.FilePath)!);
        await File.WriteAllBytesAsync(_db.FilePath, []);

        var error = await Assert.ThrowsAsync<InvalidDataException>(_db.OpenStoreAsync);

        Assert.Contains("exists but is empty (0 bytes)", error.Message, StringComparison.Ordinal);
        Assert.Equal(0, new FileInfo(_db.FilePath).Length);
    }

    [Fact]
    public async Task Initialize_NotADatabase_FailsQuickCheck()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(_db.FilePath)!);
        await File.WriteAllTextAsync(_db.FilePath, new string('x', 4096));

        var error = await Assert.ThrowsAsync<InvalidDataException>(_db.OpenStoreAsync);

        Assert.Contains("fails PRAGMA quick_check", error.Message, StringComparison.Ordinal);
        Assert.Contains(_db.FilePath, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Failure_AWriteFailingInSqlite_IsSaid_AConflictIsNot_TheNextWriteClearsIt()
    {
        var store = await _db.OpenStoreAsync();
        await store.ApplyAsync(new StoreBatch(new PolicyStateWrite(Policy, PolicyState.Empty, T0, 0), [], []), None);
        _db.Execute("DROP TABLE evaluations");

        await Assert.ThrowsAsync<SqliteException>(() => store.ApplyAsync(new StoreBatch(null, [Row(Trigger, Breach(Cart))], []) { Policy = Policy, At = T0 }, None));
        var failing = store.Failure;
        await Assert.ThrowsAsync<PolicyStateConflictException>(() => store.ApplyAsync(new StoreBatch(new PolicyStateWrite(Policy, PolicyState.Empty, T0, 0), [], []), None));
        var afterConflict = store.Failure;
        await store.ApplyAsync(new StoreBatch(new PolicyStateWrite(Policy, PolicyState.Empty, T0, 1), [], []), None);

        Assert.StartsWith($"writing {_db.FilePath} failed: ", failing, StringComparison.Ordinal);
        Assert.Contains("evaluations", failing, StringComparison.Ordinal);
        Assert.Equal(failing, afterConflict);
        Assert.Null(store.Failure);
        Assert.Equal(2, (await store.LoadStateAsync(Policy, None))!.Version);
    }

    [Fact]
    public async Task Operations_AfterDispose_ThrowObjectDisposed()
    {
        var store = await _db.OpenStoreAsync();
        await store.DisposeAsync();

        await Assert.ThrowsAsync<ObjectDisposedException>(() => store.ApplyAsync(StoreBatch.Of(), None));
        await Assert.ThrowsAsync<ObjectDisposedException>(() => store.LoadIncidentAsync(1, None));
        await Assert.ThrowsAsync<ObjectDisposedException>(() => store.ClaimToNotifyAsync(true, 10, NotifyLease, T0, None));
        await Assert.ThrowsAsync<ObjectDisposedException>(() => store.ListStartedActionsAsync(None));
    }

    [Fact]
    public async Task Apply_MalformedUpdate_IsRefusedBeforeAnythingIsWritten()
    {
        var store = await _db.OpenStoreAsync();
        var opened = Assert.Single(await _db.Incidents(store).CommitEvaluationAsync(Commit(T0, Act(T0)), None));
        var open = new OpenIncident(opened.Incident with { Id = 0 }, "another-key", opened.Action with { Id = 0, IncidentId = 0, IdempotencyKey = "another" }, null);

        await Assert.ThrowsAsync<ArgumentException>(() => store.ApplyAsync(
            new StoreBatch(new PolicyStateWrite(Policy, PolicyState.Empty, T0, null), [], [new IncidentUpdate(opened.Incident.Id, 1, [new MarkChanged(T0), open])]),
            None));
        await Assert.ThrowsAsync<ArgumentException>(() => store.ApplyAsync(StoreBatch.Of(new IncidentUpdate(0, 0, [new MarkChanged(T0)])), None));
        await Assert.ThrowsAsync<ArgumentException>(() => store.ApplyAsync(new StoreBatch(null, [Row(Trigger, Breach(Cart))], []), None));

        Assert.Equal(1, (await store.LoadStateAsync(Policy, None))!.Version);
        Assert.Single(await store.ListIncidentsAsync(null, 10, None));
        Assert.Equal(1L, _db.Scalar<long>("SELECT COUNT(*) FROM evaluations"));
    }

    public Task InitializeAsync() => _db.InitializeAsync();

    public Task DisposeAsync() => _db.DisposeAsync();
}
