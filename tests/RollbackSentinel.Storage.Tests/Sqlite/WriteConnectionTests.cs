using System.Data;
using Microsoft.Data.Sqlite;
using RollbackSentinel.Core.Changes;
using RollbackSentinel.Core.Incidents;
using RollbackSentinel.Core.Secrets;
using RollbackSentinel.Core.State;
using RollbackSentinel.Storage.Sqlite;
using RollbackSentinel.Storage.Tests.Support;
using SQLitePCL;
using static RollbackSentinel.Storage.Tests.Support.Samples;

namespace RollbackSentinel.Storage.Tests.Sqlite;

/// <summary>
/// Writes run on one connection the store keeps, its statements prepared once; a failed or cancelled write leaves
/// it (or, after a SQLite failure, a fresh one) ready for the next, and disposing the store lets go of the file.
/// </summary>
public sealed class WriteConnectionTests : IAsyncLifetime
{
    private const int StatementRuns = 6; // SQLITE_STMTSTATUS_RUN: how many times a statement ran to its reset

    private readonly TempDatabase _db = new();
    private SqliteIncidentStore _store = null!;

    /// <summary>The test database on a connection of its own (not from the pool the store's reads share).</summary>
    private string Unpooled => new SqliteConnectionStringBuilder { DataSource = _db.FilePath, Pooling = false }.ConnectionString;

    [Fact]
    public async Task Writes_ManyInARow_RunOnOneConnectionWithoutPreparingAgain()
    {
        await _store.ApplyAsync(StateBatch(0), None); // inserts the state
        await _store.ApplyAsync(StateBatch(1), None); // updates it, as every later write does
        var writer = _store.WriteConnection;
        Assert.NotNull(writer);
        var prepared = writer.Prepared;

        for (var version = 2; version <= 20; version++)
        {
            await _store.ApplyAsync(StateBatch(version), None);
        }

        Assert.Same(writer, _store.WriteConnection);
        Assert.Equal(prepared, writer.Prepared);
        Assert.Equal(21, (await _store.LoadStateAsync(Policy, None))!.Version);
        Assert.Equal(21L, _db.Scalar<long>("SELECT COUNT(*) FROM evaluations"));
    }

    [Fact]
    public async Task Command_OnAPreparedConnection_RunsTheSameStatementEveryTimeWithNewValues()
    {
        await using var connection = new PreparedConnection(Unpooled);
        await connection.OpenAsync();

        var (values, statements) = await SelectFiveTimesAsync(connection);

        Assert.Equal([1L, 2L, 3L, 4L, 5L], values);
        Assert.All(statements, s => Assert.Same(statements[0], s));
        Assert.Equal(5, raw.sqlite3_stmt_status(statements[0], StatementRuns, 0));
        Assert.Equal(1, connection.Prepared);
        Assert.All(connection.Idle, c => Assert.Null(c.Transaction));
        Assert.All(connection.Idle, c => Assert.Empty(c.Parameters));
    }

    [Fact]
    public async Task DatabaseDeletedWhileRunning_TheNextWriteFails_InsteadOfGoingToTheDeletedFile()
    {
        // Each write used to open its own connection, so a deleted database made the next write fail (an empty file has no
        // tables) and /readyz say so. The kept connection would have written on into the deleted file, and lost it all.
        await _store.ApplyAsync(StateBatch(0), None);
        Assert.NotNull(_store.WriteConnection);
        foreach (var file in new[] { _db.FilePath, _db.FilePath + "-wal", _db.FilePath + "-shm" })
        {
            File.Delete(file);
        }

        await Assert.ThrowsAsync<SqliteException>(() => _store.ApplyAsync(StateBatch(1), None));
        Assert.Contains("writing", _store.Failure, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CommandUse_DisposedTwice_KeepsItsCommandOnceAndUsable()
    {
        await using var connection = new PreparedConnection(Unpooled);
        await connection.OpenAsync();
        using var tx = connection.BeginTransaction();

        var use = tx.Command("SELECT $n", ("$n", 1L));
        Assert.Equal(1L, await use.Command.ExecuteScalarAsync());
        use.Dispose();
        use.Dispose();

        Assert.Single(connection.Idle);
        using var again = tx.Command("SELECT $n", ("$n", 2L));
        Assert.Equal(2L, await again.Command.ExecuteScalarAsync());
        Assert.Equal(1, connection.Prepared);
    }

    [Fact]
    public async Task Command_OnAPlainConnection_PreparesEveryTime()
    {
        await using var connection = new SqliteConnection(Unpooled);
        await connection.OpenAsync();

        var (values, statements) = await SelectFiveTimesAsync(connection);

        Assert.Equal([1L, 2L, 3L, 4L, 5L], values);
        Assert.Equal(5, statements.Distinct(ReferenceEqualityComparer.Instance).Count());
    }

    [Fact]
    public async Task Command_UsedAgain_RedactsFreeTextEveryTime()
    {
        var secret = "R0utingKey" + Guid.NewGuid().ToString("N"); // unique: the registry is process-wide
        SecretRegistry.Shared.Register(secret);
        await _store.RecordChangeAsync(ApiChange(T0, "warm-up", "bob"), None);
        var prepared = _store.WriteConnection!.Prepared;

        await _store.RecordChangeAsync(ApiChange(T0.AddMinutes(1), $"first {secret}", $"alice {secret}"), None);
        await _store.RecordChangeAsync(ApiChange(T0.AddMinutes(2), $"second {secret}", $"carol {secret}"), None);

        Assert.Equal(prepared, _store.WriteConnection!.Prepared);
        Assert.Equal(
            [["warm-up", "bob"], [$"first {SecretRegistry.Marker}", $"alice {SecretRegistry.Marker}"], [$"second {SecretRegistry.Marker}", $"carol {SecretRegistry.Marker}"]],
            _db.Rows("SELECT description, changed_by FROM changes ORDER BY id"));
    }

    [Fact]
    public async Task Write_ConflictAfterItsFirstStatements_IsRolledBackAndTheNextWriteRunsOnTheSameConnection()
    {
        await _store.ApplyAsync(StateBatch(0), None);
        var writer = _store.WriteConnection;

        // The state and the verdict are written, then the update of an incident that does not exist conflicts.
        var conflicting = StateBatch(1) with { Updates = [new IncidentUpdate(999, 1, [new MarkChanged(T0)])] };
        await Assert.ThrowsAsync<StoreConflictException>(() => _store.ApplyAsync(conflicting, None));

        Assert.Same(writer, _store.WriteConnection);
        Assert.Equal(1, (await _store.LoadStateAsync(Policy, None))!.Version);
        Assert.Equal(1L, _db.Scalar<long>("SELECT COUNT(*) FROM evaluations"));

        await _store.ApplyAsync(StateBatch(1), None);

        Assert.Same(writer, _store.WriteConnection);
        Assert.Equal(2, (await _store.LoadStateAsync(Policy, None))!.Version);
        Assert.Equal(2L, _db.Scalar<long>("SELECT COUNT(*) FROM evaluations"));
        Assert.Null(_store.Failure);
    }

    [Fact]
    public async Task Write_CancelledAfterItsFirstStatement_IsRolledBackAndLeavesTheConnectionReady()
    {
        await _store.ApplyAsync(StateBatch(0), None);
        var writer = _store.WriteConnection!;
        using var cancel = new CancellationTokenSource();

        // Cancelled the moment SQLite writes the state row: the verdict insert after it never runs.
        raw.sqlite3_update_hook(writer.Handle, (strdelegate_update)((_, _, _, _, _) => cancel.Cancel()), null);
        try
        {
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => _store.ApplyAsync(StateBatch(1), cancel.Token));
        }
        finally
        {
            raw.sqlite3_update_hook(writer.Handle, (strdelegate_update?)null, null);
        }

        Assert.True(cancel.IsCancellationRequested);
        Assert.Same(writer, _store.WriteConnection);
        Assert.NotEmpty(writer.Idle);
        Assert.All(writer.Idle, c => Assert.Null(c.Transaction));
        Assert.Equal(1, (await _store.LoadStateAsync(Policy, None))!.Version);
        Assert.Equal(1L, _db.Scalar<long>("SELECT COUNT(*) FROM evaluations"));

        await _store.ApplyAsync(StateBatch(1), None);

        Assert.Same(writer, _store.WriteConnection);
        Assert.Equal(2, (await _store.LoadStateAsync(Policy, None))!.Version);
        Assert.Equal(2L, _db.Scalar<long>("SELECT COUNT(*) FROM evaluations"));
    }

    [Fact]
    public async Task Write_FailingInSqlite_ClosesTheConnectionAndTheNextWriteOpensAFreshOne()
    {
        await _store.RecordChangeAsync(ApiChange(T0, "before", "bob"), None);
        var writer = _store.WriteConnection!;
        _db.Execute("CREATE TRIGGER refuse BEFORE INSERT ON changes BEGIN SELECT RAISE(ABORT, 'refused by the test'); END");

        var error = await Assert.ThrowsAsync<SqliteException>(() => _store.RecordChangeAsync(ApiChange(T0.AddMinutes(1), "refused", "bob"), None));

        Assert.Contains("refused by the test", error.Message, StringComparison.Ordinal);
        Assert.Null(_store.WriteConnection);
        Assert.Equal(ConnectionState.Closed, writer.State);
        Assert.NotNull(_store.Failure);

        _db.Execute("DROP TRIGGER refuse");
        await _store.RecordChangeAsync(ApiChange(T0.AddMinutes(2), "after", "bob"), None);

        Assert.NotNull(_store.WriteConnection);
        Assert.NotSame(writer, _store.WriteConnection);
        Assert.Equal([["before"], ["after"]], _db.Rows("SELECT description FROM changes ORDER BY id"));
        Assert.Null(_store.Failure);
    }

    [Fact]
    public async Task DisposeAsync_DuringAWrite_LetsItCommitThenReleasesTheFile()
    {
        await _store.ApplyAsync(StateBatch(0), None);
        var writer = _store.WriteConnection!;
        Task? disposing = null;
        var completedDuringTheWrite = true;
        raw.sqlite3_update_hook(
            writer.Handle,
            (strdelegate_update)((_, _, _, _, _) =>
            {
                if (disposing is null)
                {
                    disposing = _store.DisposeAsync().AsTask();
                    completedDuringTheWrite = disposing.IsCompleted;
                }
            }),
            null);

        await _store.ApplyAsync(StateBatch(1), None);
        Assert.NotNull(disposing);
        await disposing;

        Assert.False(completedDuringTheWrite);
        Assert.Null(_store.WriteConnection);
        Assert.Equal(ConnectionState.Closed, writer.State);
        Assert.Equal([["2"]], _db.Rows("SELECT version FROM policy_state"));
        Assert.Equal(1L, _db.Scalar<long>("SELECT COUNT(*) FROM evaluations WHERE at = '" + DbTime.Format(T0.AddSeconds(1)) + "'"));
    }

    [Fact]
    public async Task DisposeAsync_AfterWritesAndReads_ReleasesTheDatabaseFile()
    {
        await _store.ApplyAsync(StateBatch(0), None);
        await _store.ApplyAsync(StateBatch(1), None);
        Assert.Equal(2, (await _store.LoadStateAsync(Policy, None))!.Version);
        if (OperatingSystem.IsLinux())
        {
            Assert.NotEmpty(DescriptorsOfTheDatabase()); // the check sees the store's connections while they are open
        }

        await _store.DisposeAsync();

        Assert.Null(_store.WriteConnection);
        Assert.Empty(DescriptorsOfTheDatabase());
        File.Delete(_db.FilePath);
        Assert.False(File.Exists(_db.FilePath));
    }

    [Fact]
    public async Task OpenConnection_ThePooledConnectionAgain_KeepsItsSettingsWithoutRunningThePragmasAgain()
    {
        sqlite3 handle;
        var statements = new List<string>();
        await using (var first = await _store.OpenConnectionAsync(None))
        {
            handle = first.Handle!;
            raw.sqlite3_trace(handle, (strdelegate_trace)((_, sql) => statements.Add(sql)), null);
        }

        await using (var again = await _store.OpenConnectionAsync(None))
        {
            Assert.Same(handle, again.Handle);
            await using var command = again.CreateCommand();
            command.CommandText = "SELECT (SELECT * FROM pragma_busy_timeout), (SELECT * FROM pragma_synchronous), (SELECT * FROM pragma_foreign_keys)";
            await using var reader = await command.ExecuteReaderAsync();
            Assert.True(await reader.ReadAsync());
            Assert.Equal((5000L, 2L, 1L), (reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2)));
            raw.sqlite3_trace(handle, (strdelegate_trace?)null, null);
        }

        Assert.Contains(statements, s => s.Contains("pragma_busy_timeout", StringComparison.Ordinal)); // the trace sees this connection's statements
        Assert.DoesNotContain(statements, s => s.Contains("PRAGMA busy_timeout =", StringComparison.Ordinal));
    }

    public async Task InitializeAsync() => _store = await _db.OpenStoreAsync();

    public Task DisposeAsync() => _db.DisposeAsync();

    /// <summary>A state write with its expected version and one verdict, evaluated <paramref name="expectedVersion"/> seconds after T0.</summary>
    private static StoreBatch StateBatch(long expectedVersion) =>
        new(new PolicyStateWrite(Policy, PolicyState.Empty, T0.AddSeconds(expectedVersion), expectedVersion), [Row(Trigger, Breach(Cart))], []);

    private static Change ApiChange(DateTimeOffset at, string description, string by) =>
        new() { Policy = Policy, Labels = Cart, At = at, Source = ChangeSource.Api, Revision = "v42", Description = description, By = by };

    private static async Task<(List<long> Values, List<sqlite3_stmt> Statements)> SelectFiveTimesAsync(SqliteConnection connection)
    {
        var values = new List<long>();
        var statements = new List<sqlite3_stmt>();
        for (var n = 1L; n <= 5; n++)
        {
            using var transaction = connection.BeginTransaction();
            values.AddRange(await transaction.QueryAsync(
                "SELECT $n",
                r =>
                {
                    statements.Add(r.Handle!);
                    return r.GetInt64(0);
                },
                None,
                ("$n", n)));
            transaction.Commit();
        }

        return (values, statements);
    }

    /// <summary>The process's open file descriptors on the database, its WAL or its shared memory (Linux; none elsewhere).</summary>
    private List<string> DescriptorsOfTheDatabase()
    {
        if (!OperatingSystem.IsLinux())
        {
            return [];
        }

        var targets = new List<string>();
        foreach (var descriptor in Directory.GetFiles("/proc/self/fd"))
        {
            try
            {
                if (new FileInfo(descriptor).LinkTarget is { } target && target.StartsWith(_db.FilePath, StringComparison.Ordinal))
                {
                    targets.Add(target);
                }
            }
            catch (IOException)
            {
                // Closed while listed.
            }
        }

        return targets;
    }
}
