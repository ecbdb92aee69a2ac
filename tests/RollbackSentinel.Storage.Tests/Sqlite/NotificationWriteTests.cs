using Microsoft.Data.Sqlite;
using RollbackSentinel.Core.Incidents;
using RollbackSentinel.Storage.Tests.Support;
using static RollbackSentinel.Storage.Tests.Support.Samples;

namespace RollbackSentinel.Storage.Tests.Sqlite;

/// <summary>
/// The dispatcher polls every few seconds: an idle claim and a mark that changes nothing write nothing (no
/// <c>BEGIN IMMEDIATE</c>, no fsync). Writes are seen through <c>PRAGMA data_version</c> on a second connection, which
/// moves only when another connection commits.
/// </summary>
public sealed class NotificationWriteTests : IAsyncLifetime
{
    private readonly TempDatabase _db = new();
    private SqliteIncidentStore _store = null!;
    private IncidentService _incidents = null!;
    private SqliteConnection _watcher = null!;

    public async Task InitializeAsync()
    {
        _store = await _db.OpenStoreAsync();
        _incidents = _db.Incidents(_store);
        _watcher = _db.OpenRaw();
    }

    public async Task DisposeAsync()
    {
        await _watcher.DisposeAsync();
        await _db.DisposeAsync();
    }

    [Fact]
    public async Task ClaimToNotify_NothingToClaim_WritesNothing_SomethingToClaimWrites()
    {
        var idle = DataVersion();
        Assert.Empty(await _store.ClaimToNotifyAsync(includeOpen: true, 10, NotifyLease, T0, None));
        var afterIdle = DataVersion();

        // An idle claim only reads: it answers while another process holds the write lock (a claim that began a write
        // transaction first would wait out the busy timeout and fail with SQLITE_BUSY).
        using (var writer = _watcher.CreateCommand())
        {
            writer.CommandText = "BEGIN IMMEDIATE";
            writer.ExecuteNonQuery();
            try
            {
                Assert.Empty(await _store.ClaimToNotifyAsync(includeOpen: true, 10, NotifyLease, T0, None));
            }
            finally
            {
                writer.CommandText = "ROLLBACK";
                writer.ExecuteNonQuery();
            }
        }

        var opened = Assert.Single(await _incidents.CommitEvaluationAsync(Commit(T0, Act(T0)), None));
        var beforeClaim = DataVersion();
        Assert.Equal([opened.Incident.Id], (await _store.ClaimToNotifyAsync(includeOpen: false, 10, NotifyLease, T0, None)).Select(i => i.Id));

        Assert.Equal(idle, afterIdle);
        Assert.NotEqual(beforeClaim, DataVersion());
    }

    [Fact]
    public async Task MarkNotified_NothingChanges_WritesNothing_AnotherOwnersLeaseIsKept()
    {
        var opened = Assert.Single(await _incidents.CommitEvaluationAsync(Commit(T0, Act(T0)), None));
        await _store.ClaimToNotifyAsync(includeOpen: false, 10, new ActionLease("node-a", T0.AddMinutes(5)), T0, None);
        await _store.MarkNotifiedAsync(opened.Incident.Id, opened.Incident.Version, "node-a", None);

        var told = DataVersion();
        await _store.MarkNotifiedAsync(opened.Incident.Id, opened.Incident.Version, "node-a", None); // told already, no lease
        await _store.MarkNotifiedAsync(opened.Incident.Id, opened.Incident.Version - 1, "node-b", None);
        var afterNoOps = DataVersion();
        await _store.ClaimToNotifyAsync(includeOpen: true, 10, new ActionLease("node-a", T0.AddMinutes(5)), T0, None);
        await _store.MarkNotifiedAsync(opened.Incident.Id, opened.Incident.Version, "node-b", None); // not node-b's lease, told already

        Assert.Equal(told, afterNoOps);
        Assert.Equal([["node-a", $"{opened.Incident.Version}"]], _db.Rows($"SELECT notify_owner, notified_seq FROM incidents WHERE id = {opened.Incident.Id}"));
    }

    private long DataVersion()
    {
        using var command = _watcher.CreateCommand();
        command.CommandText = "PRAGMA data_version";
        return (long)command.ExecuteScalar()!;
    }
}
