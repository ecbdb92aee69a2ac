using RollbackSentinel.Core.Incidents;
using Microsoft.Data.Sqlite;
using RollbackSentinel.Core.State;
using RollbackSentinel.Storage.Sqlite;
using RollbackSentinel.Storage.Tests.Support;
using static RollbackSentinel.Storage.Tests.Support.Samples;

namespace RollbackSentinel.Storage.Tests.Sqlite;

public sealed class SchemaTests : IAsyncLifetime
{
    private readonly TempDatabase _db = new();

    [Fact]
    public async Task Initialize_NewFile_CreatesFolderTablesIndexesAndRecordsVersion()
    {
        await _db.OpenStoreAsync();

        Assert.True(File.Exists(_db.FilePath));
        var tables = _db.Rows("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").Select(r => r[0]);
        Assert.Equal(["acknowledgments", "actions", "changes", "delivery_claims", "evaluations", "incident_events", "incidents", "notifications", "policy_state", "schema_version"], tables);
        var unique = _db.Rows("SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'ux_%' ORDER BY name").Select(r => r[0]);
        Assert.Equal(["ux_actions_idempotency_key", "ux_evaluations_policy_at_series", "ux_incident_events_once", "ux_incidents_open_key"], unique);
        var indexes = _db.Rows("SELECT name FROM sqlite_master WHERE type = 'index'").Select(r => r[0]).ToList();
        Assert.Contains("ix_evaluations_at", indexes);
        Assert.Contains("ix_changes_policy_at", indexes);

        var versions = _db.Rows("SELECT version, applied_at FROM schema_version");
        Assert.Equal([["1", "2026-11-20T14:30:00.0000000Z"], ["2", "2026-11-20T14:30:00.0000000Z"], ["3", "2026-11-20T14:30:00.0000000Z"], ["4", "2026-11-20T14:30:00.0000000Z"], ["5", "2026-11-20T14:30:00.0000000Z"], ["6", "2026-11-20T14:30:00.0000000Z"]], versions);
        Assert.Equal(6L, _db.Scalar<long>("PRAGMA user_version"));
        Assert.Equal("wal", _db.Scalar<string>("PRAGMA journal_mode"));
    }

    [Fact]
    public async Task Initialize_Reopened_AppliesNothingAgainAndKeepsData()
    {
        var first = await _db.OpenStoreAsync();
        await _db.Incidents(first).CommitEvaluationAsync(Commit(T0, Act(T0)), None);
        await first.DisposeAsync();
        _db.Clock.Advance(TimeSpan.FromHours(1));

        var second = await _db.OpenStoreAsync();
        await second.InitializeAsync(None);

        Assert.Equal(["1", "2", "3", "4", "5", "6"], _db.Rows("SELECT version, applied_at FROM schema_version").Select(r => r[0]));
        var incident = Assert.Single(await second.ListIncidentsAsync(null, 10, None));
        Assert.Equal(T0, incident.OpenedAt);
        Assert.NotNull(await second.LoadStateAsync(Policy, None));
    }

    [Fact]
    public async Task Initialize_DatabaseAtVersion1_MigratesToPlansAndKeepsItsActions()
    {
        // A store written by the first release: schema version 1, with an incident and its pending action.
        var v1 = new SqliteIncidentStore(SqliteIncidentStore.ForPath(_db.FilePath), _db.Clock, [SqliteSchema.Migrations[0]]);
        await v1.InitializeAsync(None);
        await v1.DisposeAsync();
        _db.Execute("""
            INSERT INTO incidents (id, policy, trigger, labels, labels_key, action, dry_run, status, opened_at, updated_at, summary, evidence, open_key)
            VALUES (1, 'checkout', 'errors', '{}', '', 'rollback', 0, 'Open', '2026-11-20T14:30:00.0000000Z', '2026-11-20T14:30:00.0000000Z', 's', '{}', 'k');
            INSERT INTO actions (id, incident_id, kind, target, idempotency_key, status, created_at)
            VALUES (1, 1, 'rollback', 'kubectl/checkout/shop', 'key-1', 'Pending', '2026-11-20T14:30:00.0000000Z');
            """);
        _db.Clock.Advance(TimeSpan.FromDays(3));

        var current = await _db.OpenStoreAsync();
        var plan = await _db.Incidents(current).SavePlanAsync(1, "{\"summary\":\"undo\"}", None);

        Assert.Equal("{\"summary\":\"undo\"}", plan);
        Assert.Equal(6L, _db.Scalar<long>("PRAGMA user_version"));
        Assert.Equal(["2", "2026-11-23T14:30:00.0000000Z"], _db.Rows("SELECT version, applied_at FROM schema_version ORDER BY version")[1]);
        var action = Assert.Single((await current.GetIncidentAsync(1, None))!.Actions);
        Assert.Equal(("key-1", ActionStatus.Pending, plan, null, null), (action.IdempotencyKey, action.Status, action.Plan, action.Before, action.After));
        await current.DisposeAsync();
    }

    [Fact]
    public async Task Initialize_DatabaseAtVersion3_MigratesToChanges_KeepsItsIncidentsAndStateAndRecordsChanges()
    {
        // A store written by the release before changes: schema version 3, an open incident and a policy's state.
        var v3 = new SqliteIncidentStore(SqliteIncidentStore.ForPath(_db.FilePath), _db.Clock, SqliteSchema.Migrations.Take(3).ToList());
        await v3.InitializeAsync(None);
        await v3.DisposeAsync();
        _db.Execute("""
            INSERT INTO incidents (id, policy, trigger, labels, labels_key, action, dry_run, status, opened_at, updated_at, summary, evidence, open_key)
            VALUES (1, 'checkout-api', 'errors', '{"deployment":"cart"}', '{deployment="cart"}', 'rollback', 0, 'Open', '2026-11-20T14:30:00.0000000Z', '2026-11-20T14:30:00.0000000Z', 's', '{}', 'k');
            INSERT INTO policy_state (policy, state, updated_at)
            VALUES ('checkout-api', '{"format":1,"series":[],"lastActionAt":{},"lastEvaluatedAt":"2026-11-20T14:30:00+00:00","fingerprints":{}}', '2026-11-20T14:30:00.0000000Z');
            """);
        Assert.Equal(0L, _db.Scalar<long>("SELECT COUNT(*) FROM sqlite_master WHERE name = 'changes'"));
        _db.Clock.Advance(TimeSpan.FromDays(1));

        var current = await _db.OpenStoreAsync();
        var change = await current.RecordChangeAsync(new Core.Changes.Change { Policy = Policy, Labels = Cart, At = T0.AddDays(1), Source = Core.Changes.ChangeSource.Api, Revision = "v42" }, None);

        Assert.Equal(6L, _db.Scalar<long>("PRAGMA user_version"));
        Assert.Equal(["4", "2026-11-21T14:30:00.0000000Z"], _db.Rows("SELECT version, applied_at FROM schema_version ORDER BY version")[3]);
        var incident = (await current.GetIncidentAsync(1, None))!.Incident;
        Assert.Equal((IncidentStatus.Open, Cart), (incident.Status, incident.Labels));
        Assert.Null(incident.BlamedChange);
        Assert.Null(incident.DisarmedReason);
        Assert.Equal(1, Assert.Single(await current.ListOpenIncidentsAsync(Policy, None)).Id);
        var state = (await current.LoadStateAsync(Policy, None))!.State;
        Assert.Equal(T0, state.LastEvaluatedAt);
        Assert.Empty(state.Progress);
        Assert.Equal(("v42", true), (change.Change.Revision, change.Created));
        Assert.Equal("v42", Assert.Single(await current.ListChangesAsync(Policy, null, 10, None)).Revision);
    }

    [Fact]
    public async Task Initialize_DatabaseAtVersion4_MigratesToVersionsAndLeases_KeepsEveryRecordUsable()
    {
        // A store written by the release before versions and leases: a started action (no lease), a policy's state, a
        // change the incident blames, and a change the channels were not told about yet.
        var v4 = new SqliteIncidentStore(SqliteIncidentStore.ForPath(_db.FilePath), _db.Clock, SqliteSchema.Migrations.Take(4).ToList());
        await v4.InitializeAsync(None);
        await v4.DisposeAsync();
        _db.Execute("""
            INSERT INTO changes (id, policy, labels, labels_key, at, source, revision, recorded_at)
            VALUES (1, 'checkout-api', '{"deployment":"cart"}', '{deployment="cart"}', '2026-11-20T14:00:00.0000000Z', 'Api', 'v41', '2026-11-20T14:00:00.0000000Z');
            INSERT INTO incidents (id, policy, trigger, labels, labels_key, action, dry_run, status, opened_at, updated_at, summary, evidence, open_key, change_seq, notified_seq, change_id)
            VALUES (1, 'checkout-api', 'errors', '{"deployment":"cart"}', '{deployment="cart"}', 'rollback', 0, 'Acting', '2026-11-20T14:30:00.0000000Z', '2026-11-20T14:30:00.0000000Z', 's', '{}', 'k', 3, 2, 1);
            INSERT INTO actions (id, incident_id, kind, target, idempotency_key, status, created_at, started_at)
            VALUES (1, 1, 'rollback', 'kubectl/checkout/shop', 'key-1', 'Started', '2026-11-20T14:30:00.0000000Z', '2026-11-20T14:30:01.0000000Z');
            INSERT INTO policy_state (policy, state, updated_at)
            VALUES ('checkout-api', '{"format":1,"series":[],"lastActionAt":{},"lastEvaluatedAt":"2026-11-20T14:30:00+00:00","fingerprints":{}}', '2026-11-20T14:30:00.0000000Z');
            """);
        _db.Clock.Advance(TimeSpan.FromDays(1));

        var current = await _db.OpenStoreAsync();

        Assert.Equal(6L, _db.Scalar<long>("PRAGMA user_version"));
        Assert.Equal(["5", "2026-11-21T14:30:00.0000000Z"], _db.Rows("SELECT version, applied_at FROM schema_version ORDER BY version")[4]);
        var indexes = _db.Rows("SELECT name FROM sqlite_master WHERE type = 'index'").Select(r => r[0]).ToList();
        Assert.Contains("ix_incidents_policy_status", indexes);
        Assert.Contains("ix_incidents_unnotified", indexes);

        // A stored state is at version 1: a writer that loaded it commits once, a stale one is refused.
        var state = (await current.LoadStateAsync(Policy, None))!;
        Assert.Equal((1L, T0), (state.Version, state.State.LastEvaluatedAt!.Value));
        await current.ApplyAsync(new StoreBatch(new PolicyStateWrite(Policy, state.State, T0.AddDays(1), 1), [], []), None);
        await Assert.ThrowsAsync<PolicyStateConflictException>(() => current.ApplyAsync(new StoreBatch(new PolicyStateWrite(Policy, state.State, T0.AddDays(1), 1), [], []), None));

        // The incident is at revision 0 with its blamed change; its started action has no lease (the lifecycle treats it as anyone's).
        var record = (await current.LoadIncidentOfActionAsync(1, None))!;
        Assert.Equal((0L, IncidentStatus.Acting, 3L, "v41"), (record.Revision, record.Incident.Status, record.Incident.Version, record.Incident.BlamedChange!.Revision));
        var (started, lease) = Assert.Single(await current.ListStartedActionsAsync(None));
        Assert.Equal(("key-1", T0.AddSeconds(1)), (started.IdempotencyKey, started.StartedAt!.Value));
        Assert.Null(lease);

        // Unleased, and not told yet: claimable.
        Assert.Equal([1L], (await current.ClaimToNotifyAsync(false, 10, NotifyLease, T0.AddDays(1), None)).Select(i => i.Id));
        var moved = Assert.Single(await current.ApplyAsync(
            StoreBatch.Of(new IncidentUpdate(1, 0, [new MoveIncident(IncidentStatus.Acting, IncidentStatus.ActionInterrupted, T0.AddDays(1))])),
            None));
        Assert.Equal((1L, IncidentStatus.ActionInterrupted, 4L), (moved.Revision, moved.Incident.Status, moved.Incident.Version));
        await current.DisposeAsync();
    }

    [Fact]
    public async Task Initialize_DatabaseAtVersion5_MigratesToDeliveryClaims_KeepsNotificationsAndLeases()
    {
        // A store written by the release before delivery claims: an incident a sentinel is telling the channels about
        // (its notification lease) and what Slack last showed.
        var v5 = new SqliteIncidentStore(SqliteIncidentStore.ForPath(_db.FilePath), _db.Clock, SqliteSchema.Migrations.Take(5).ToList());
        await v5.InitializeAsync(None);
        await v5.DisposeAsync();
        _db.Execute("""
            INSERT INTO incidents (id, policy, trigger, labels, labels_key, action, dry_run, status, opened_at, updated_at, summary, evidence, open_key, change_seq, notified_seq, notify_owner, notify_lease_until)
            VALUES (1, 'checkout-api', 'errors', '{"deployment":"cart"}', '{deployment="cart"}', 'rollback', 0, 'Open', '2026-11-20T14:30:00.0000000Z', '2026-11-20T14:30:00.0000000Z', 's', '{}', 'k', 2, 1, 'node-a', '2026-11-21T15:30:00.0000000Z');
            INSERT INTO notifications (incident_id, channel, reference, state, at) VALUES (1, 'slack', 'ts-1', 'Open', '2026-11-20T14:30:05.0000000Z');
            """);
        _db.Clock.Advance(TimeSpan.FromDays(1));

        var current = await _db.OpenStoreAsync();

        Assert.Equal(6L, _db.Scalar<long>("PRAGMA user_version"));
        Assert.Equal(["6", "2026-11-21T14:30:00.0000000Z"], _db.Rows("SELECT version, applied_at FROM schema_version ORDER BY version")[5]);
        Assert.Equal([new NotificationRecord(1, "slack", "ts-1", "Open", T0.AddSeconds(5))], await current.GetNotificationsAsync(1, None));

        // No claim is stored yet: the first asks get it; node-a's notification lease is still node-a's.
        Assert.True(await current.ClaimDeliveryAsync(1, "slack", new ActionLease("node-b", T0.AddDays(1).AddMinutes(5)), T0.AddDays(1), None));
        Assert.False(await current.ClaimDeliveryAsync(1, "slack", new ActionLease("node-a", T0.AddDays(1).AddMinutes(5)), T0.AddDays(1), None));
        Assert.Empty(await current.ClaimToNotifyAsync(false, 10, new ActionLease("node-b", T0.AddDays(1).AddMinutes(5)), T0.AddDays(1), None));
        await current.DisposeAsync();
    }

    [Fact]
    public async Task Initialize_DatabaseFromANewerVersion_IsRefusedClearlyAndLeftAlone()
    {
        var store = await _db.OpenStoreAsync();
        await store.DisposeAsync();
        _db.Execute("INSERT INTO schema_version (version, description, applied_at) VALUES (7, 'from the future', '2027-01-01T00:00:00.0000000Z')");

        var older = new SqliteIncidentStore(_db.FilePath, _db.Clock);
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => older.InitializeAsync(None));

        // Refused means unusable, not half open.
        var notReady = await Assert.ThrowsAsync<InvalidOperationException>(() => older.ListIncidentsAsync(null, 1, None));
        Assert.Contains("InitializeAsync", notReady.Message, StringComparison.Ordinal);
        await older.DisposeAsync();

        Assert.Contains("schema version 7, newer than the 6 this build", error.Message, StringComparison.Ordinal);
        Assert.Contains(_db.FilePath, error.Message, StringComparison.Ordinal);
        Assert.Equal(["1", "2", "3", "4", "5", "6", "7"], _db.Rows("SELECT version FROM schema_version ORDER BY version").Select(r => r[0]));
    }

    [Fact]
    public async Task Operations_BeforeInitialize_AreRefused()
    {
        await using var store = new SqliteIncidentStore(_db.FilePath, _db.Clock);

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => store.LoadStateAsync(Policy, None));

        Assert.Contains("InitializeAsync", error.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(_db.FilePath));
    }

    [Fact]
    public async Task Migrate_StepThatFails_RollsBackThatStepOnly_AndAFixedStepAppliesLater()
    {
        Migration broken = new(7, "broken", "CREATE TABLE extra (a TEXT); INSERT INTO no_such_table VALUES (1);");
        var builder = new SqliteConnectionStringBuilder { DataSource = _db.FilePath };
        await using (var store = new SqliteIncidentStore(builder, _db.Clock, [.. SqliteSchema.Migrations, broken]))
        {
            await Assert.ThrowsAsync<SqliteException>(() => store.InitializeAsync(None));
        }

        Assert.Equal(["1", "2", "3", "4", "5", "6"], _db.Rows("SELECT version FROM schema_version ORDER BY version").Select(r => r[0]));
        Assert.Equal(0L, _db.Scalar<long>("SELECT COUNT(*) FROM sqlite_master WHERE name = 'extra'"));

        Migration fixedStep = new(7, "extra table", "CREATE TABLE extra (a TEXT);");
        await using (var store = new SqliteIncidentStore(builder, _db.Clock, [.. SqliteSchema.Migrations, fixedStep]))
        {
            await store.InitializeAsync(None);
        }

        Assert.Equal(["1", "2", "3", "4", "5", "6", "7"], _db.Rows("SELECT version, description FROM schema_version ORDER BY version").Select(r => r[0]));
        Assert.Equal("extra table", _db.Rows("SELECT description FROM schema_version WHERE version = 7")[0][0]);
        Assert.Equal(7L, _db.Scalar<long>("PRAGMA user_version"));
    }

    [Fact]
    public async Task Connections_AreDurableAndCheckForeignKeys()
    {
        var store = await _db.OpenStoreAsync();
        await using var connection = await store.OpenConnectionAsync(None);

        Assert.Equal("wal", Pragma(connection, "journal_mode"));
        Assert.Equal("2", Pragma(connection, "synchronous")); // FULL
        Assert.Equal("1", Pragma(connection, "foreign_keys"));
        Assert.Equal("5000", Pragma(connection, "busy_timeout"));
    }

    [Fact]
    public async Task ForeignKeys_ActionOfAMissingIncident_IsRejected()
    {
        var store = await _db.OpenStoreAsync();
        await using var connection = await store.OpenConnectionAsync(None);
        await using var command = connection.CreateCommand();
        command.CommandText = "INSERT INTO actions (incident_id, kind, target, idempotency_key, status, created_at) VALUES (999, 'rollback', 'x', 'k', 'Pending', 't')";

        var error = await Assert.ThrowsAsync<SqliteException>(() => command.ExecuteNonQueryAsync());

        Assert.Contains("FOREIGN KEY", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Data Source=:memory:")]
    [InlineData("Data Source=shared;Mode=Memory;Cache=Shared")]
    [InlineData("Data Source=x.db;Mode=ReadOnly")]
    public void FromConnectionString_WithoutAWritableFile_IsRefused(string connectionString)
    {
        Assert.Throws<ArgumentException>(() => SqliteIncidentStore.FromConnectionString(connectionString, _db.Clock));
    }

    [Fact]
    public async Task FromConnectionString_FileDatabase_Works()
    {
        await using var store = SqliteIncidentStore.FromConnectionString($"Data Source={_db.FilePath}", _db.Clock);
        await store.InitializeAsync(None);
        await _db.Incidents(store).CommitEvaluationAsync(Commit(T0, PolicyState.Empty), None);

        Assert.Equal(_db.FilePath, store.DataSource);
        var state = (await store.LoadStateAsync(Policy, None))?.State;
        Assert.NotNull(state);
        Assert.Empty(state.Series);
    }

    public Task InitializeAsync() => _db.InitializeAsync();

    public Task DisposeAsync() => _db.DisposeAsync();

    private static string Pragma(SqliteConnection connection, string name)
    {
        using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA " + name;
        return Convert.ToString(command.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture)!;
    }
}
