using System.Data;
using System.Globalization;
using System.Runtime.CompilerServices;
using Microsoft.Data.Sqlite;
using RollbackSentinel.Core.Changes;
using RollbackSentinel.Core.Evaluation;
using RollbackSentinel.Core.Incidents;
using RollbackSentinel.Core.Policies;
using RollbackSentinel.Core.State;
using RollbackSentinel.Storage.Serialization;
using RollbackSentinel.Storage.Sqlite;
using SQLitePCL;
using static RollbackSentinel.Storage.Serialization.StoredColumns;
using static RollbackSentinel.Storage.Sqlite.StoredRows;

namespace RollbackSentinel.Storage;

/// <summary>
/// The daemon's durable record in one SQLite file: trigger state, evaluation history, incidents with their
/// timeline, write-ahead action records, and changes (<see cref="IChangeStore"/>).
/// </summary>
/// <remarks>
/// <para>
/// Every read takes its own pooled connection, so any number of jobs may read at once. Writes pass one in-process
/// gate (SQLite has one writer at a time; waiting on a semaphore is cheaper than spinning on SQLITE_BUSY) and run,
/// in <c>BEGIN IMMEDIATE</c> transactions, on one connection the store keeps open with its statements prepared
/// (<see cref="PreparedConnection"/>: each write's SQL is parsed once, not at every evaluation), so a
/// read-then-write never meets a concurrent writer half way. Other processes (a CLI reading incidents) are covered
/// by <c>busy_timeout</c>. Reads run in deferred transactions: a consistent snapshot that never blocks writers (WAL).
/// </para>
/// <para>
/// Durability: WAL with <c>synchronous=FULL</c>. In WAL mode <c>NORMAL</c> syncs the log only at checkpoints,
/// so a power loss can drop the last commits, and with them an action recorded as pending or started; FULL
/// syncs every commit, which costs one fsync per evaluation, a small price next to a lost action record.
/// </para>
/// <para>
/// Storage only: it applies what <see cref="IncidentService"/> decided (<see cref="ApplyAsync"/>), checking versions and
/// revisions so a stale writer gets a <see cref="StoreConflictException"/>; no rule about incidents and no sentence
/// people read lives here. Several sentinels may share the file: started actions and notifications carry leases.
/// </para>
/// </remarks>
public sealed partial class SqliteIncidentStore : IIncidentStore, IChangeStore, IAsyncDisposable
{
    /// <summary>How long a statement waits for another process's write lock before giving up.</summary>
    internal const int BusyTimeoutMilliseconds = 5000;

    /// <summary>Evaluation rows deleted per transaction when pruning, so a large prune never holds the write lock long.</summary>
    internal const int PruneBatchSize = 5000;

    // Per physical connection: set when one is first opened. The pool hands the same sqlite3 handle out again with
    // them still set (nothing in the store changes them), so they are not parsed and run again at every read.
    private static readonly ConditionalWeakTable<sqlite3, object> _configured = new();
    private static readonly object _configuredMarker = new();
    private static readonly string _connectionPragmas = string.Create(
        CultureInfo.InvariantCulture,
        $"PRAGMA busy_timeout = {BusyTimeoutMilliseconds}; PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL;");

    private readonly string _connectionString;
    private readonly string _writeConnectionString;
    private readonly TimeProvider _timeProvider;
    private readonly IReadOnlyList<Migration> _migrations;
    private readonly SemaphoreSlim _writeGate = new(1, 1);
    private PreparedConnection? _writer; // under _writeGate; opened by the first write, closed by DisposeAsync
    private volatile bool _initialized;
    private int _disposed;

    /// <summary>A store on the database file at <paramref name="databasePath"/> (created, with its folder, by <see cref="InitializeAsync"/>).</summary>
    /// <param name="databasePath">The SQLite file; relative paths are resolved against the current directory now.</param>
    /// <param name="timeProvider">Only stamps when each schema migration was applied (default: the system clock); every other time is an argument.</param>
    public SqliteIncidentStore(string databasePath, TimeProvider? timeProvider = null)
        : this(ForPath(databasePath), timeProvider ?? TimeProvider.System, SqliteSchema.Migrations)
    {
    }

    internal SqliteIncidentStore(SqliteConnectionStringBuilder connection, TimeProvider timeProvider, IReadOnlyList<Migration> migrations)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentNullException.ThrowIfNull(timeProvider);
        ArgumentNullException.ThrowIfNull(migrations);
        if (string.IsNullOrWhiteSpace(connection.DataSource)
            || connection.DataSource == ":memory:"
            || connection.Mode == SqliteOpenMode.Memory)
        {
            throw new ArgumentException("The incident store needs a database file; an in-memory database would lose every record on restart.", nameof(connection));
        }

        if (connection.Mode == SqliteOpenMode.ReadOnly)
        {
            throw new ArgumentException("The incident store writes; it cannot use a read-only connection.", nameof(connection));
        }

        var builder = new SqliteConnectionStringBuilder(connection.ConnectionString)
        {
            Pooling = true,
            ForeignKeys = true,
        };
        _connectionString = builder.ConnectionString;
        _writeConnectionString = new SqliteConnectionStringBuilder(builder.ConnectionString) { Pooling = false }.ConnectionString;
        DataSource = builder.DataSource;
        _timeProvider = timeProvider;
        _migrations = migrations;
    }

    /// <summary>The database file, for logs.</summary>
    public string DataSource { get; }

    /// <summary>A store from a Microsoft.Data.Sqlite connection string (a file database; pooling and foreign keys are always on).</summary>
    public static SqliteIncidentStore FromConnectionString(string connectionString, TimeProvider? timeProvider = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        return new SqliteIncidentStore(new SqliteConnectionStringBuilder(connectionString), timeProvider ?? TimeProvider.System, SqliteSchema.Migrations);
    }

    /// <inheritdoc />
    /// <exception cref="InvalidOperationException">The file has a newer schema than this build knows, or cannot use WAL.</exception>
    /// <exception cref="InvalidDataException">The file exists but is empty, is not a database, or fails <c>PRAGMA quick_check</c>.</exception>
    public async Task InitializeAsync(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        var folder = Path.GetDirectoryName(Path.GetFullPath(DataSource));
        if (!string.IsNullOrEmpty(folder))
        {
            Directory.CreateDirectory(folder);
        }

        // SQLite treats an empty file as a new database: starting on it would silently forget every cooldown and
        // interrupted action. Only a missing file means "start fresh".
        if (new FileInfo(DataSource) is { Exists: true, Length: 0 })
        {
            throw new InvalidDataException(
                $"{DataSource} exists but is empty (0 bytes), so its cooldowns and interrupted actions are gone; restore it from a backup, or delete it to start with an empty store");
        }

        await _writeGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            using var connection = await OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
            await QuickCheckAsync(connection, cancellationToken).ConfigureAwait(false);

            // Persistent in the file; cannot change inside a transaction, so before the migrations.
            using (var wal = connection.CreateCommand())
            {
                wal.CommandText = "PRAGMA journal_mode = WAL";
                var mode = (string?)await wal.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
                if (!string.Equals(mode, "wal", StringComparison.OrdinalIgnoreCase))
                {
                    throw new InvalidOperationException(
                        $"The database {DataSource} could not switch to WAL journal mode (it reports '{mode}'); put it on a local file system.");
                }
            }

            await SqliteSchema.MigrateAsync(connection, _migrations, _timeProvider, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _writeGate.Release();
        }

        _initialized = true;
    }

    /// <inheritdoc />
    /// <remarks>True: the daemon holds <c>sentinel.lock</c> next to the database while it runs (one daemon per store).</remarks>
    public bool ExclusiveToOneProcess => true;

    /// <inheritdoc />
    public Task<long> LoadStateVersionAsync(string policy, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(policy);
        return ReadAsync(
            async tx => await tx.ScalarAsync("SELECT version FROM policy_state WHERE policy = $policy", cancellationToken, ("$policy", policy)).ConfigureAwait(false) is long v ? v : 0L,
            cancellationToken);
    }

    /// <inheritdoc />
    /// <exception cref="InvalidDataException">The stored state cannot be read.</exception>
    public async Task<StoredPolicyState?> LoadStateAsync(string policy, CancellationToken cancellationToken) =>
        (await LoadStateUnlessAtAsync(policy, null, cancellationToken).ConfigureAwait(false)).State;

    /// <inheritdoc />
    public Task<(long Version, StoredPolicyState? State)> LoadStateUnlessAtAsync(string policy, long? knownVersion, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(policy);
        return ReadAsync(
            async tx =>
            {
                var rows = await tx.QueryAsync(
                    "SELECT version, CASE WHEN version = $known THEN NULL ELSE state END FROM policy_state WHERE policy = $policy",
                    r => (Version: r.GetInt64(0), Json: r.IsDBNull(1) ? null : r.GetString(1)),
                    cancellationToken,
                    ("$policy", policy),
                    ("$known", knownVersion ?? -1L)).ConfigureAwait(false); // versions are >= 0: none known matches none
                return rows.Count == 0 ? (0L, null) : (rows[0].Version, PolicyStateJson.Read(policy, rows[0].Json, rows[0].Version));
            },
            cancellationToken);
    }

    /// <inheritdoc />
    public Task<IncidentRecord?> LoadIncidentAsync(long id, CancellationToken cancellationToken) =>
        ReadAsync(tx => LoadRecordAsync(tx, id, cancellationToken), cancellationToken);

    /// <inheritdoc />
    public Task<IncidentRecord?> LoadIncidentOfActionAsync(long actionId, CancellationToken cancellationToken) =>
        ReadAsync(
            async tx => await tx.ScalarAsync("SELECT incident_id FROM actions WHERE id = $id", cancellationToken, ("$id", actionId)).ConfigureAwait(false) is long id
                ? await LoadRecordAsync(tx, id, cancellationToken).ConfigureAwait(false)
                : null,
            cancellationToken);

    /// <inheritdoc />
    public Task<IReadOnlyList<IncidentRecord>> LoadActiveAsync(string policy, DateTimeOffset deniedSince, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(policy);
        return ReadAsync(
            async tx =>
            {
                var rows = await QueryIncidentsAsync(
                    tx,
                    """
                    WHERE policy = $policy AND (status NOT IN ('Resolved', 'Denied') OR (status = 'Denied' AND resolved_at >= $since))
                    ORDER BY opened_at DESC, id DESC
                    """,
                    cancellationToken,
                    ("$policy", policy),
                    ("$since", DbTime.Format(deniedSince))).ConfigureAwait(false);
                return await WithActionsAsync(tx, rows, cancellationToken).ConfigureAwait(false);
            },
            cancellationToken);
    }

    /// <inheritdoc />
    /// <remarks>
    /// One <c>BEGIN IMMEDIATE</c> transaction: a conflict (or any failure) rolls the whole batch back. Everything that
    /// can fail without the database (serialising the state) fails before the write lock is taken.
    /// </remarks>
    public async Task<IReadOnlyList<IncidentRecord>> ApplyAsync(StoreBatch batch, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(batch);
        ThrowIfNotReady();
        var state = batch.State is { } write ? PolicyStateJson.Serialize(write.State) : null;
        var policy = batch.Policy ?? batch.State?.Policy;
        var at = batch.At ?? batch.State?.At;
        if (batch.Verdicts.Count > 0 && (policy is null || at is null))
        {
            throw new ArgumentException("Verdicts are stored with their policy and evaluation time: set StoreBatch.Policy and At (or State).", nameof(batch));
        }

        foreach (var update in batch.Updates)
        {
            StoreBatchShape.Check(update);
        }

        return await WriteAsync(
            async tx =>
            {
                if (batch.State is { } s)
                {
                    await WriteStateAsync(tx, s, state!, cancellationToken).ConfigureAwait(false);
                }

                if (batch.Verdicts.Count > 0)
                {
                    await InsertEvaluationsAsync(tx, policy!, DbTime.Format(at!.Value), batch.Verdicts, cancellationToken).ConfigureAwait(false);
                }

                var ids = new List<long>(batch.Updates.Count);
                foreach (var update in batch.Updates)
                {
                    ids.Add(await ApplyUpdateAsync(tx, update, cancellationToken).ConfigureAwait(false));
                }

                var records = new List<IncidentRecord>(ids.Count);
                foreach (var id in ids)
                {
                    records.Add(await LoadRecordAsync(tx, id, cancellationToken).ConfigureAwait(false)
                        ?? throw new InvalidDataException($"Incident {id} vanished inside a transaction."));
                }

                return (IReadOnlyList<IncidentRecord>)records;
            },
            cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public Task<IReadOnlyList<(ActionRecord Action, ActionLease? Lease)>> ListStartedActionsAsync(CancellationToken cancellationToken) =>
        ReadAsync(
            async tx => (IReadOnlyList<(ActionRecord, ActionLease?)>)await tx.QueryAsync(
                $"SELECT {ActionColumns}, lease_owner, lease_until FROM actions WHERE status = 'Started' ORDER BY started_at, id",
                r => (ReadAction(r), r.IsDBNull(ActionColumnCount) ? null : new ActionLease(r.GetString(ActionColumnCount), DbTime.Parse(r.GetString(ActionColumnCount + 1)))),
                cancellationToken).ConfigureAwait(false),
            cancellationToken);

    /// <remarks>Newest first (by opening time).</remarks>
    public Task<IReadOnlyList<ActionRecord>> ListPendingActionsAsync(CancellationToken cancellationToken)
    {
        ThrowIfNotReady();
        return ReadAsync(
            async tx => (IReadOnlyList<ActionRecord>)await tx.QueryAsync(
                $"SELECT {ActionColumns} FROM actions WHERE status = 'Pending' ORDER BY created_at, id", ReadAction, cancellationToken).ConfigureAwait(false),
            cancellationToken);
    }

    /// <inheritdoc />
    public Task<IReadOnlyList<Incident>> ListIncidentsAsync(IncidentStatus? status, int limit, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(limit);
        return ReadAsync(
            async tx =>
            {
                var where = status is null ? string.Empty : "WHERE status = $status ";
                var rows = await QueryIncidentsAsync(
                    tx,
                    $"{where}ORDER BY opened_at DESC, id DESC LIMIT $limit",
                    cancellationToken,
                    ("$status", status?.ToString()),
                    ("$limit", limit)).ConfigureAwait(false);
                return (IReadOnlyList<Incident>)rows.Select(r => r.Incident).ToList();
            },
            cancellationToken);
    }

    /// <inheritdoc />
    public Task<IReadOnlyList<Incident>> ListOpenIncidentsAsync(string policy, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(policy);
        return ReadAsync(
            async tx => (IReadOnlyList<Incident>)(await QueryIncidentsAsync(
                tx,
                "WHERE policy = $policy AND status NOT IN ('Resolved', 'Denied') ORDER BY opened_at DESC, id DESC",
                cancellationToken,
                ("$policy", policy)).ConfigureAwait(false)).Select(r => r.Incident).ToList(),
            cancellationToken);
    }

    /// <inheritdoc />
    /// <remarks>Events, actions and acknowledgments each in time order (ties in the order they were recorded).</remarks>
    public Task<IncidentTimeline?> GetIncidentAsync(long id, CancellationToken cancellationToken) =>
        ReadAsync(
            async tx =>
            {
                var incident = await FindIncidentAsync(tx, "id = $id", cancellationToken, ("$id", id)).ConfigureAwait(false);
                if (incident is null)
                {
                    return null;
                }

                var events = await tx.QueryAsync(
                    $"SELECT {EventColumns} FROM incident_events WHERE incident_id = $id ORDER BY at, id", ReadEvent, cancellationToken, ("$id", id)).ConfigureAwait(false);
                var actions = await tx.QueryAsync(
                    $"SELECT {ActionColumns} FROM actions WHERE incident_id = $id ORDER BY created_at, id", ReadAction, cancellationToken, ("$id", id)).ConfigureAwait(false);
                var acknowledgments = await tx.QueryAsync(
                    $"SELECT {AcknowledgmentColumns} FROM acknowledgments WHERE incident_id = $id ORDER BY at, id", ReadAcknowledgment, cancellationToken, ("$id", id)).ConfigureAwait(false);
                return new IncidentTimeline(incident.Incident, events, actions, acknowledgments);
            },
            cancellationToken);

    /// <inheritdoc />

    /// <inheritdoc />
    public Task<IReadOnlyList<Incident>> ListOverdueAsync(DateTimeOffset at, CancellationToken cancellationToken) =>
        ReadAsync(
            async tx => (IReadOnlyList<Incident>)(await QueryIncidentsAsync(
                tx,
                "WHERE status = 'AwaitingConfirmation' AND answer_deadline IS NOT NULL AND answer_deadline <= $at ORDER BY answer_deadline, id",
                cancellationToken,
                ("$at", DbTime.Format(at))).ConfigureAwait(false)).Select(r => r.Incident).ToList(),
            cancellationToken);

    /// <inheritdoc />
    /// <remarks>
    /// The claim (choosing the rows and leasing them) is one write transaction: two owners never both get one. A read
    /// comes first and the write transaction is opened only when there is something to claim: an idle dispatcher
    /// polling every few seconds costs no write (no <c>BEGIN IMMEDIATE</c>, no fsync).
    /// </remarks>
    public async Task<IReadOnlyList<Incident>> ClaimToNotifyAsync(bool includeOpen, int limit, ActionLease lease, DateTimeOffset at, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(limit);
        ArgumentNullException.ThrowIfNull(lease);
        ThrowIfNotReady();
        var where = $"""
            WHERE (change_seq > notified_seq {(includeOpen ? "OR status NOT IN ('Resolved', 'Denied')" : "")})
              AND (notify_owner IS NULL OR notify_owner = $owner OR notify_lease_until <= $at)
            ORDER BY updated_at DESC, id DESC LIMIT $limit
            """;
        var parameters = new (string, object?)[] { ("$owner", lease.Owner), ("$at", DbTime.Format(at)), ("$limit", limit) };
        var candidates = await ReadAsync(async tx => (await QueryIncidentsAsync(tx, where, cancellationToken, parameters).ConfigureAwait(false)).Count, cancellationToken).ConfigureAwait(false);
        if (candidates == 0)
        {
            return [];
        }

        return await WriteAsync(
            async tx =>
            {
                var rows = await QueryIncidentsAsync(tx, where, cancellationToken, parameters).ConfigureAwait(false);
                if (rows.Count > 0)
                {
                    await tx.ExecuteAsync(
                        "UPDATE incidents SET notify_owner = $owner, notify_lease_until = $until WHERE id IN (SELECT value FROM json_each($ids))",
                        cancellationToken,
                        ("$owner", lease.Owner),
                        ("$until", DbTime.Format(lease.Until)),
                        ("$ids", IdList(rows.Select(r => r.Incident.Id)))).ConfigureAwait(false);
                }

                return (IReadOnlyList<Incident>)rows.ConvertAll(r => r.Incident);
            },
            cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public Task MarkNotifiedAsync(long incidentId, long version, string owner, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(owner);
        ThrowIfNotReady();
        return WriteAsync(
            tx => tx.ExecuteAsync(
                """
                UPDATE incidents
                SET notified_seq = MAX(notified_seq, $version),
                    notify_owner = CASE WHEN notify_owner = $owner THEN NULL ELSE notify_owner END,
                    notify_lease_until = CASE WHEN notify_owner = $owner THEN NULL ELSE notify_lease_until END
                WHERE id = $id AND (notified_seq < $version OR notify_owner = $owner)
                """,
                cancellationToken,
                ("$id", incidentId),
                ("$version", version),
                ("$owner", owner)),
            cancellationToken);
    }

    /// <inheritdoc />
    public Task ReleaseNotificationLeasesAsync(string owner, IReadOnlyCollection<long> incidentIds, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(owner);
        ArgumentNullException.ThrowIfNull(incidentIds);
        ThrowIfNotReady();
        if (incidentIds.Count == 0)
        {
            return Task.CompletedTask;
        }

        return WriteAsync(
            tx => tx.ExecuteAsync(
                "UPDATE incidents SET notify_owner = NULL, notify_lease_until = NULL WHERE notify_owner = $owner AND id IN (SELECT value FROM json_each($ids))",
                cancellationToken,
                ("$owner", owner),
                ("$ids", IdList(incidentIds))),
            cancellationToken);
    }

    /// <inheritdoc />
    public Task ReleaseAllNotificationLeasesAsync(CancellationToken cancellationToken)
    {
        ThrowIfNotReady();
        return WriteAsync(
            async tx =>
            {
                await tx.ExecuteAsync("DELETE FROM delivery_claims", cancellationToken).ConfigureAwait(false);
                return await tx.ExecuteAsync("UPDATE incidents SET notify_owner = NULL, notify_lease_until = NULL WHERE notify_owner IS NOT NULL", cancellationToken).ConfigureAwait(false);
            },
            cancellationToken);
    }

    /// <inheritdoc />
    /// <remarks>One conditional <c>UPDATE</c>: the check and the renewal are one statement.</remarks>
    public Task<bool> RenewActionLeaseAsync(long actionId, ActionLease lease, DateTimeOffset at, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(lease);
        ThrowIfNotReady();
        return WriteAsync(
            async tx => await tx.ExecuteAsync(
                "UPDATE actions SET lease_until = $until WHERE id = $id AND status = 'Started' AND lease_owner = $owner AND lease_until > $at",
                cancellationToken,
                ("$id", actionId),
                ("$owner", lease.Owner),
                ("$until", DbTime.Format(lease.Until)),
                ("$at", DbTime.Format(at))).ConfigureAwait(false) == 1,
            cancellationToken);
    }

    /// <inheritdoc />
    /// <remarks>One <c>INSERT ... ON CONFLICT DO UPDATE ... WHERE</c>: a row is written only where no other owner's claim runs at <paramref name="at"/>.</remarks>
    public Task<bool> ClaimDeliveryAsync(long incidentId, string channel, ActionLease lease, DateTimeOffset at, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(channel);
        ArgumentNullException.ThrowIfNull(lease);
        ThrowIfNotReady();
        return WriteAsync(
            async tx => await tx.ExecuteAsync(
                """
                INSERT INTO delivery_claims (incident_id, channel, lease_owner, lease_until) VALUES ($id, $channel, $owner, $until)
                ON CONFLICT (incident_id, channel) DO UPDATE SET lease_owner = excluded.lease_owner, lease_until = excluded.lease_until
                WHERE delivery_claims.lease_owner = excluded.lease_owner OR delivery_claims.lease_until <= $at
                """,
                cancellationToken,
                ("$id", incidentId),
                ("$channel", channel),
                ("$owner", lease.Owner),
                ("$until", DbTime.Format(lease.Until)),
                ("$at", DbTime.Format(at))).ConfigureAwait(false) == 1,
            cancellationToken);
    }

    /// <inheritdoc />
    /// <remarks>An <c>UPDATE</c> only: a claim that is gone is never written again.</remarks>
    public Task<bool> RenewDeliveryClaimAsync(long incidentId, string channel, ActionLease lease, DateTimeOffset at, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(channel);
        ArgumentNullException.ThrowIfNull(lease);
        ThrowIfNotReady();
        return WriteAsync(
            async tx => await tx.ExecuteAsync(
                """
                UPDATE delivery_claims SET lease_until = $until
                WHERE incident_id = $id AND channel = $channel AND lease_owner = $owner AND lease_until > $at
                """,
                cancellationToken,
                ("$id", incidentId),
                ("$channel", channel),
                ("$owner", lease.Owner),
                ("$until", DbTime.Format(lease.Until)),
                ("$at", DbTime.Format(at))).ConfigureAwait(false) == 1,
            cancellationToken);
    }

    public Task<ActionRecord?> FindRollbackSinceAsync(string target, DateTimeOffset since, long excludingActionId, CancellationToken cancellationToken) =>
        ReadAsync(
            async tx =>
            {
                var rows = await tx.QueryAsync(
                    $"SELECT {ActionColumns} FROM actions WHERE kind = 'rollback' AND target = $target AND id <> $id AND status IN ('Started', 'Succeeded', 'Interrupted') AND started_at >= $since ORDER BY started_at DESC LIMIT 1",
                    ReadAction,
                    cancellationToken,
                    ("$target", target),
                    ("$id", excludingActionId),
                    ("$since", DbTime.Format(since))).ConfigureAwait(false);
                return rows.Count == 0 ? null : rows[0];
            },
            cancellationToken);

    /// <inheritdoc />
    public Task<IReadOnlyList<NotificationRecord>> GetNotificationsAsync(long incidentId, CancellationToken cancellationToken) =>
        ReadAsync(
            async tx => (IReadOnlyList<NotificationRecord>)await tx.QueryAsync(
                $"SELECT {NotificationColumns} FROM notifications WHERE incident_id = $id ORDER BY channel", ReadNotification, cancellationToken, ("$id", incidentId)).ConfigureAwait(false),
            cancellationToken);

    /// <inheritdoc />
    public Task SaveNotificationAsync(NotificationRecord record, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(record);
        ThrowIfNotReady();
        return WriteAsync(
            async tx =>
            {
                await tx.ExecuteAsync(
                    """
                    INSERT INTO notifications (incident_id, channel, reference, state, at) VALUES ($id, $channel, $reference, $state, $at)
                    ON CONFLICT (incident_id, channel) DO UPDATE SET reference = excluded.reference, state = excluded.state, at = excluded.at
                    WHERE notifications.at <= excluded.at
                    """,
                    cancellationToken,
                    ("$id", record.IncidentId),
                    ("$channel", record.Channel),
                    ("$reference", record.Reference),
                    ("$state", record.State),
                    ("$at", DbTime.Format(record.At))).ConfigureAwait(false);
                return await tx.ExecuteAsync(
                    "DELETE FROM delivery_claims WHERE incident_id = $id AND channel = $channel",
                    cancellationToken,
                    ("$id", record.IncidentId),
                    ("$channel", record.Channel)).ConfigureAwait(false);
            },
            cancellationToken);
    }

    /// <inheritdoc />
    public async Task<int> PruneEvaluationsAsync(DateTimeOffset olderThan, CancellationToken cancellationToken)
    {
        ThrowIfNotReady();
        var cutoff = DbTime.Format(olderThan);
        var total = 0;
        while (true)
        {
            var deleted = await WriteAsync(
                tx => tx.ExecuteAsync(
                    "DELETE FROM evaluations WHERE id IN (SELECT id FROM evaluations WHERE at < $cutoff LIMIT $batch)",
                    cancellationToken,
                    ("$cutoff", cutoff),
                    ("$batch", PruneBatchSize)),
                cancellationToken).ConfigureAwait(false);
            total += deleted;
            if (deleted < PruneBatchSize)
            {
                // Changes go with the history they explain, but never one a watch window, a baseline or an incident needs.
                await PruneChangesAsync(olderThan, cancellationToken).ConfigureAwait(false);
                return total;
            }
        }
    }

    /// <summary>
    /// Why the store is failing now: its last write, or its last read, failed in SQLite (corrupt pages, disk full, the
    /// file locked by another process past the busy timeout). Null while it works; the next success clears it.
    /// </summary>
    public string? Failure => _writeFailure ?? _readFailure;

    private volatile string? _writeFailure;
    private volatile string? _readFailure;

    /// <summary>Refuses a file that is not a database or whose pages are damaged, rather than failing every evaluation later.</summary>
    private async Task QuickCheckAsync(SqliteConnection connection, CancellationToken cancellationToken)
    {
        var problems = new List<string>();
        try
        {
            using var check = connection.CreateCommand();
            check.CommandText = "PRAGMA quick_check(5)";
            using var reader = await check.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                problems.Add(reader.GetString(0));
            }
        }
        catch (SqliteException e) when (e.SqliteErrorCode is 11 or 26)
        {
            // SQLITE_CORRUPT, SQLITE_NOTADB
            throw new InvalidDataException($"{DataSource} fails PRAGMA quick_check ({e.Message}); restore it from a backup, or move it away to start with an empty store", e);
        }

        if (problems is not ["ok"])
        {
            throw new InvalidDataException(
                $"{DataSource} fails PRAGMA quick_check ({string.Join("; ", problems)}); restore it from a backup, or move it away to start with an empty store");
        }
    }

    /// <summary>Closes the write connection and releases the pooled ones, and with them the database file. Calls in flight finish first.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        // After the write in flight, if any: it runs on this connection.
        await _writeGate.WaitAsync().ConfigureAwait(false);
        try
        {
            if (_writer is { } writer)
            {
                _writer = null;
                await CloseQuietlyAsync(writer).ConfigureAwait(false);
            }
        }
        finally
        {
            _writeGate.Release();
        }

        using var connection = new SqliteConnection(_connectionString);
        SqliteConnection.ClearPool(connection);
    }

    /// <summary>The connection writes run on while the store keeps one; for tests.</summary>
    internal PreparedConnection? WriteConnection => _writer;

    /// <summary>A pooled connection with the store's per-connection settings; for the store and its tests.</summary>
    internal Task<SqliteConnection> OpenConnectionAsync(CancellationToken cancellationToken) =>
        OpenAsync(new SqliteConnection(_connectionString), cancellationToken);

    private static async Task<T> OpenAsync<T>(T connection, CancellationToken cancellationToken)
        where T : SqliteConnection
    {
        try
        {
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            var handle = connection.Handle!;
            if (!_configured.TryGetValue(handle, out _))
            {
                using var pragmas = connection.CreateCommand();
                pragmas.CommandText = _connectionPragmas;
                await pragmas.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
                _configured.AddOrUpdate(handle, _configuredMarker);
            }

            return connection;
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// Whether the write connection may carry the next write after <paramref name="failure"/>: only when the store
    /// or its caller stopped the write (a conflict, a cancellation; both between statements, every reader closed) and
    /// the rollback left SQLite out of the transaction. After anything SQLite or Microsoft.Data.Sqlite reported
    /// (busy, disk full, an I/O error, a failed rollback) it is closed, and the next write opens a fresh one.
    /// </summary>
    private static bool StillUsable(SqliteConnection connection, Exception failure) =>
        failure is not (SqliteException or InvalidOperationException)
        && connection.State == ConnectionState.Open
        && raw.sqlite3_get_autocommit(connection.Handle) != 0;

    private static async Task InsertEvaluationsAsync(SqliteTransaction tx, string policy, string at, IReadOnlyList<EvaluationRow> verdicts, CancellationToken cancellationToken)
    {
        if (verdicts.Count == 0)
        {
            return;
        }

        // One prepared statement for every row (and, on the write connection, for every evaluation).
        using var use = tx.Command(
            """
            INSERT INTO evaluations (policy, at, trigger, labels, kind, reason, value, threshold, baseline, summary)
            VALUES ($policy, $at, $trigger, $labels, $kind, $reason, $value, $threshold, $baseline, $summary)
            ON CONFLICT (policy, at, trigger, labels) DO NOTHING
            """,
            ("$policy", policy),
            ("$at", at),
            ("$trigger", null),
            ("$labels", null),
            ("$kind", null),
            ("$reason", null),
            ("$value", null),
            ("$threshold", null),
            ("$baseline", null),
            ("$summary", null));
        var insert = use.Command;
        foreach (var row in verdicts)
        {
            insert.Parameters["$trigger"].Value = row.Trigger;
            insert.Parameters["$labels"].Value = LabelsJson.Write(row.Labels);
            insert.Parameters["$kind"].Value = row.Kind.ToString();
            insert.Parameters["$reason"].Value = row.Reason.ToString();
            insert.Parameters["$value"].Value = Real(row.Value);
            insert.Parameters["$threshold"].Value = Real(row.Threshold);
            insert.Parameters["$baseline"].Value = Real(row.Baseline);
            insert.Parameters["$summary"].Value = SqliteCommands.Stored(row.Summary);
            await insert.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
    }


    /// <summary>
    /// The policy state, checked against the version it was loaded with (none stored: 0); the stored version grows by one.
    /// Without an expected version the state is written whatever is stored.
    /// </summary>
    private static async Task WriteStateAsync(SqliteTransaction tx, PolicyStateWrite write, string state, CancellationToken cancellationToken)
    {
        var parameters = new (string, object?)[] { ("$policy", write.Policy), ("$state", state), ("$at", DbTime.Format(write.At)), ("$expected", write.ExpectedVersion) };
        var written = write.ExpectedVersion switch
        {
            null => await tx.ExecuteAsync(
                """
                INSERT INTO policy_state (policy, state, updated_at, version) VALUES ($policy, $state, $at, 1)
                ON CONFLICT (policy) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at, version = version + 1
                """,
                cancellationToken,
                parameters).ConfigureAwait(false),
            0 => await tx.ExecuteAsync(
                "INSERT INTO policy_state (policy, state, updated_at, version) VALUES ($policy, $state, $at, 1) ON CONFLICT (policy) DO NOTHING",
                cancellationToken,
                parameters).ConfigureAwait(false),
            _ => await tx.ExecuteAsync(
                "UPDATE policy_state SET state = $state, updated_at = $at, version = version + 1 WHERE policy = $policy AND version = $expected",
                cancellationToken,
                parameters).ConfigureAwait(false),
        };
        if (written != 1)
        {
            var stored = await tx.ScalarAsync("SELECT version FROM policy_state WHERE policy = $policy", cancellationToken, ("$policy", write.Policy)).ConfigureAwait(false);
            throw new PolicyStateConflictException(
                $"The state of policy '{write.Policy}' is at version {stored ?? 0L}, not {write.ExpectedVersion}: another writer committed since it was loaded.");
        }
    }

    /// <summary>Applies one update (its revision checked, or the incident opened) and returns the incident's id.</summary>
    private static async Task<long> ApplyUpdateAsync(SqliteTransaction tx, IncidentUpdate update, CancellationToken cancellationToken)
    {
        long id;
        if (update.Changes is [OpenIncident open, ..])
        {
            var (openedId, created) = await OpenAsync(tx, open, cancellationToken).ConfigureAwait(false);
            if (!created)
            {
                // Opened before (a retried commit): nothing of this update is applied again.
                return openedId;
            }

            id = openedId;
        }
        else
        {
            id = update.IncidentId;
            var bumped = await tx.ExecuteAsync(
                "UPDATE incidents SET revision = revision + 1 WHERE id = $id AND revision = $expected",
                cancellationToken,
                ("$id", id),
                ("$expected", update.ExpectedRevision)).ConfigureAwait(false);
            if (bumped != 1)
            {
                var stored = await tx.ScalarAsync("SELECT revision FROM incidents WHERE id = $id", cancellationToken, ("$id", id)).ConfigureAwait(false);
                throw new StoreConflictException(stored is null
                    ? $"Incident {id} does not exist."
                    : $"Incident {id} is at revision {stored}, not {update.ExpectedRevision}: it changed since it was loaded.");
            }
        }

        foreach (var change in update.Changes)
        {
            await ApplyChangeAsync(tx, id, change, cancellationToken).ConfigureAwait(false);
        }

        return id;
    }

    private static async Task ApplyChangeAsync(SqliteTransaction tx, long id, IncidentChange change, CancellationToken cancellationToken)
    {
        switch (change)
        {
            case OpenIncident:
                break; // applied by ApplyUpdateAsync

            case MoveIncident move:
                await ExpectOneAsync(
                    tx,
                    """
                    UPDATE incidents SET status = $to, updated_at = $at, resolved_at = COALESCE($resolvedAt, resolved_at), change_seq = change_seq + 1
                    WHERE id = $id AND status = $from
                    """,
                    $"Incident {id} is no longer {move.From}; not moved to {move.To}.",
                    cancellationToken,
                    ("$id", id),
                    ("$from", move.From.ToString()),
                    ("$to", move.To.ToString()),
                    ("$at", DbTime.Format(move.At)),
                    ("$resolvedAt", Time(move.ResolvedAt))).ConfigureAwait(false);
                break;

            case SetAnswerDeadline deadline:
                await tx.ExecuteAsync(
                    "UPDATE incidents SET answer_deadline = $deadline, timed_out_at = $timedOutAt, updated_at = $at, change_seq = change_seq + 1 WHERE id = $id",
                    cancellationToken,
                    ("$id", id),
                    ("$deadline", Time(deadline.Deadline)),
                    ("$timedOutAt", Time(deadline.TimedOutAt)),
                    ("$at", DbTime.Format(deadline.At))).ConfigureAwait(false);
                break;

            case RequestResolution request:
                await tx.ExecuteAsync(
                    "UPDATE incidents SET resolve_requested_at = $at, updated_at = $at WHERE id = $id",
                    cancellationToken,
                    ("$id", id),
                    ("$at", DbTime.Format(request.At))).ConfigureAwait(false);
                break;

            case MarkChanged:
                // Only the version: the time an incident was last updated is what moves and deadlines set.
                await tx.ExecuteAsync("UPDATE incidents SET change_seq = change_seq + 1 WHERE id = $id", cancellationToken, ("$id", id)).ConfigureAwait(false);
                break;

            case MoveAction move:
                await ExpectOneAsync(
                    tx,
                    """
                    UPDATE actions SET status = $to,
                        created_at = COALESCE($createdAt, created_at), started_at = COALESCE($startedAt, started_at),
                        completed_at = COALESCE($completedAt, completed_at), outcome = COALESCE($outcome, outcome),
                        plan = COALESCE($plan, plan), before_state = COALESCE($before, before_state), after_state = COALESCE($after, after_state),
                        lease_owner = COALESCE($leaseOwner, lease_owner), lease_until = COALESCE($leaseUntil, lease_until)
                    WHERE id = $action AND incident_id = $id AND status = $from
                    """,
                    $"Action {move.ActionId} of incident {id} is no longer {move.From}; not moved to {move.To}.",
                    cancellationToken,
                    ("$id", id),
                    ("$action", move.ActionId),
                    ("$from", move.From.ToString()),
                    ("$to", move.To.ToString()),
                    ("$createdAt", Time(move.CreatedAt)),
                    ("$startedAt", Time(move.StartedAt)),
                    ("$completedAt", Time(move.CompletedAt)),
                    ("$outcome", move.Outcome),
                    ("$plan", move.Plan),
                    ("$before", move.Before),
                    ("$after", move.After),
                    ("$leaseOwner", move.Lease?.Owner),
                    ("$leaseUntil", Time(move.Lease?.Until))).ConfigureAwait(false);
                break;

            case SavePlan save:
                await tx.ExecuteAsync(
                    "UPDATE actions SET plan = $plan WHERE id = $action AND incident_id = $id AND plan IS NULL",
                    cancellationToken,
                    ("$id", id),
                    ("$action", save.ActionId),
                    ("$plan", save.Plan)).ConfigureAwait(false);
                break;

            case RecordEvent e:
                await tx.ExecuteAsync(
                    "INSERT INTO incident_events (incident_id, at, kind, message) VALUES ($id, $at, $kind, $message) ON CONFLICT DO NOTHING",
                    cancellationToken,
                    ("$id", id),
                    ("$at", DbTime.Format(e.At)),
                    ("$kind", e.Kind),
                    ("$message", e.Message)).ConfigureAwait(false);
                break;

            case RecordAnswer answer:
                await tx.ExecuteAsync(
                    "INSERT INTO acknowledgments (incident_id, at, acked_by, channel, answer, reason) VALUES ($id, $at, $by, $channel, $answer, $reason)",
                    cancellationToken,
                    ("$id", id),
                    ("$at", DbTime.Format(answer.Answer.At)),
                    ("$by", answer.Answer.By),
                    ("$channel", answer.Answer.Channel),
                    ("$answer", answer.Answer.Answer),
                    ("$reason", answer.Answer.Reason)).ConfigureAwait(false);
                break;

            default:
                throw new ArgumentOutOfRangeException(nameof(change), change.GetType().Name, "unknown incident change");
        }
    }

    /// <summary>
    /// Inserts the incident (revision 1) and its first action, unless its open key is stored already: then nothing is
    /// written and the stored incident's id comes back, not created.
    /// </summary>
    private static async Task<(long Id, bool Created)> OpenAsync(SqliteTransaction tx, OpenIncident open, CancellationToken cancellationToken)
    {
        var incident = open.Incident;
        var id = (long?)await tx.ScalarAsync(
            """
            INSERT INTO incidents (policy, trigger, labels, labels_key, action, dry_run, status, opened_at, updated_at, resolved_at, summary, evidence,
                                   open_key, answer_deadline, timed_out_at, change_id, disarmed_reason, revision)
            VALUES ($policy, $trigger, $labels, $labelsKey, $action, $dryRun, $status, $openedAt, $updatedAt, $resolvedAt, $summary, $evidence,
                    $openKey, $deadline, $timedOutAt, (SELECT id FROM changes WHERE id = $changeId), $disarmedReason, 1)
            ON CONFLICT (open_key) DO NOTHING
            RETURNING id
            """,
            cancellationToken,
            ("$policy", incident.Policy),
            ("$trigger", incident.Trigger),
            ("$labels", LabelsJson.Write(incident.Labels)),
            ("$labelsKey", incident.Labels.ToString()),
            ("$action", ActionKind(incident.Action)),
            ("$dryRun", incident.DryRun ? 1 : 0),
            ("$status", incident.Status.ToString()),
            ("$openedAt", DbTime.Format(incident.OpenedAt)),
            ("$updatedAt", DbTime.Format(incident.UpdatedAt)),
            ("$resolvedAt", Time(incident.ResolvedAt)),
            ("$summary", incident.Summary),
            ("$evidence", incident.EvidenceJson),
            ("$openKey", open.OpenKey),
            ("$deadline", Time(incident.AnswerDeadline)),
            ("$timedOutAt", Time(incident.TimedOutAt)),
            ("$changeId", open.BlamedChangeId is > 0 ? open.BlamedChangeId : null),
            ("$disarmedReason", incident.DisarmedReason)).ConfigureAwait(false);
        if (id is null)
        {
            var stored = await tx.ScalarAsync("SELECT id FROM incidents WHERE open_key = $key", cancellationToken, ("$key", open.OpenKey)).ConfigureAwait(false);
            return ((long)stored!, false);
        }

        var action = open.Action;
        await tx.ExecuteAsync(
            """
            INSERT INTO actions (incident_id, kind, target, idempotency_key, status, created_at, started_at, completed_at, outcome, plan, before_state, after_state)
            VALUES ($id, $kind, $target, $key, $status, $createdAt, $startedAt, $completedAt, $outcome, $plan, $before, $after)
            """,
            cancellationToken,
            ("$id", id.Value),
            ("$kind", action.Kind),
            ("$target", action.Target),
            ("$key", action.IdempotencyKey.Replace(OpenIncident.IncidentIdToken, id.Value.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal)),
            ("$status", action.Status.ToString()),
            ("$createdAt", DbTime.Format(action.CreatedAt)),
            ("$startedAt", Time(action.StartedAt)),
            ("$completedAt", Time(action.CompletedAt)),
            ("$outcome", action.Outcome),
            ("$plan", action.Plan),
            ("$before", action.Before),
            ("$after", action.After)).ConfigureAwait(false);
        return (id.Value, true);
    }

    /// <summary>Runs a conditional write that must change exactly one row; otherwise the batch was decided from a stale read.</summary>
    private static async Task ExpectOneAsync(SqliteTransaction tx, string sql, string conflict, CancellationToken cancellationToken, params (string Name, object? Value)[] parameters)
    {
        if (await tx.ExecuteAsync(sql, cancellationToken, parameters).ConfigureAwait(false) != 1)
        {
            throw new StoreConflictException(conflict);
        }
    }

    private static async Task<IncidentRecord?> LoadRecordAsync(SqliteTransaction tx, long id, CancellationToken cancellationToken)
    {
        var row = await FindIncidentAsync(tx, "id = $id", cancellationToken, ("$id", id)).ConfigureAwait(false);
        return row is null ? null : (await WithActionsAsync(tx, [row], cancellationToken).ConfigureAwait(false))[0];
    }

    /// <summary>The rows as records, each with its actions (oldest first), read in one query.</summary>
    private static async Task<IReadOnlyList<IncidentRecord>> WithActionsAsync(SqliteTransaction tx, List<IncidentRow> rows, CancellationToken cancellationToken)
    {
        if (rows.Count == 0)
        {
            return [];
        }

        var actions = (await tx.QueryAsync(
            $"SELECT {ActionColumns} FROM actions WHERE incident_id IN (SELECT value FROM json_each($ids)) ORDER BY id",
            ReadAction,
            cancellationToken,
            ("$ids", IdList(rows.Select(r => r.Incident.Id)))).ConfigureAwait(false)).ToLookup(a => a.IncidentId);
        return rows.ConvertAll(r => new IncidentRecord(r.Incident, actions[r.Incident.Id].ToList())
        {
            ResolveRequestedAt = r.ResolveRequestedAt,
            Revision = r.Revision,
        });
    }

    /// <summary>Ids as a JSON array, for <c>json_each</c>: one statement for any number of them.</summary>
    private static string IdList(IEnumerable<long> ids) => "[" + string.Join(",", ids.Distinct().Select(i => i.ToString(CultureInfo.InvariantCulture))) + "]";

    private static string? Time(DateTimeOffset? time) => time is { } t ? DbTime.Format(t) : null;

    private static async Task<IncidentRow?> FindIncidentAsync(SqliteTransaction tx, string where, CancellationToken cancellationToken, params (string Name, object? Value)[] parameters)
    {
        var rows = await QueryIncidentsAsync(tx, "WHERE " + where, cancellationToken, parameters).ConfigureAwait(false);
        return rows.Count == 0 ? null : rows[0];
    }

    /// <summary><c>SELECT</c> incidents (<paramref name="tail"/>: the WHERE, ORDER and LIMIT), each with the change it blames.</summary>
    private static async Task<List<IncidentRow>> QueryIncidentsAsync(SqliteTransaction tx, string tail, CancellationToken cancellationToken, params (string Name, object? Value)[] parameters)
    {
        var rows = await tx.QueryAsync($"SELECT {IncidentColumns} FROM incidents {tail}", ReadIncident, cancellationToken, parameters).ConfigureAwait(false);
        var ids = rows.Where(r => r.ChangeId is not null).Select(r => r.ChangeId!.Value).Distinct().ToList();
        if (ids.Count == 0)
        {
            return rows;
        }

        // One read for all of them (a list of incidents blames a handful of changes).
        var changes = (await tx.QueryAsync(
            $"SELECT {ChangeColumns} FROM changes WHERE id IN (SELECT value FROM json_each($ids))",
            ReadChange,
            cancellationToken,
            ("$ids", IdList(ids))).ConfigureAwait(false)).ToDictionary(c => c.Id);
        return rows.ConvertAll(r => r.ChangeId is { } id && changes.TryGetValue(id, out var change) ? r with { Incident = r.Incident with { BlamedChange = change } } : r);
    }

    /// <summary>SQLite has no NaN (Microsoft.Data.Sqlite refuses to bind one): NULL, with the verdict's reason saying why.</summary>
    private static object Real(double? value) => value is { } v && !double.IsNaN(v) ? v : DBNull.Value;

    internal static SqliteConnectionStringBuilder ForPath(string databasePath)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(databasePath);
        return new SqliteConnectionStringBuilder { DataSource = Path.GetFullPath(databasePath), Mode = SqliteOpenMode.ReadWriteCreate };
    }

    private async Task<T> WriteAsync<T>(Func<SqliteTransaction, Task<T>> work, CancellationToken cancellationToken)
    {
        await _writeGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        PreparedConnection? connection = null;
        var oneOff = false;
        try
        {
            connection = _writer;
            if (connection is not null && connection.FileBirth != FileBirth())
            {
                // The file at the path is no longer the one the kept connection opened (moved aside, restored from a
                // backup): write to the one there now, as a connection opened for this write would.
                _writer = null;
                await CloseQuietlyAsync(connection).ConfigureAwait(false);
                connection = null;
            }

            if (connection is null)
            {
                connection = await OpenAsync(new PreparedConnection(_writeConnectionString), cancellationToken).ConfigureAwait(false);
                connection.FileBirth = FileBirth();

                // A write that waited while DisposeAsync closed the kept one runs on a connection of its own.
                oneOff = Volatile.Read(ref _disposed) != 0;
                _writer = oneOff ? null : connection;
            }

            T result;
            using (var transaction = connection.BeginTransaction(deferred: false))
            {
                result = await work(transaction).ConfigureAwait(false);
                transaction.Commit();
            }

            _writeFailure = null;
            return result;
        }
        catch (Exception e)
        {
            if (e is SqliteException sqlite)
            {
                _writeFailure = $"writing {DataSource} failed: {sqlite.Message}";
            }

            if (connection is not null && !oneOff && !StillUsable(connection, e))
            {
                _writer = null;
                await CloseQuietlyAsync(connection).ConfigureAwait(false);
            }

            throw;
        }
        finally
        {
            if (oneOff)
            {
                await CloseQuietlyAsync(connection!).ConfigureAwait(false);
            }

            _writeGate.Release();
        }
    }

    /// <summary>Closes a write connection whose failure, if any, is not the caller's: closing rolls back again and may fail the same way.</summary>
    private static async Task CloseQuietlyAsync(SqliteConnection connection)
    {
        try
        {
            await connection.DisposeAsync().ConfigureAwait(false);
        }
        catch (SqliteException)
        {
        }
    }

    /// <summary>
    /// When the file now at the database path was created (null: there is none); which file a kept connection has open.
    /// Where the file system keeps no birth time, .NET gives the older of its change and modification times, which a
    /// checkpoint moves: the kept connection is then reopened after a checkpoint too, which costs one open.
    /// </summary>
    private DateTime? FileBirth()
    {
        var file = new FileInfo(DataSource);
        return file.Exists ? file.CreationTimeUtc : null;
    }

    private async Task<T> ReadAsync<T>(Func<SqliteTransaction, Task<T>> work, CancellationToken cancellationToken)
    {
        ThrowIfNotReady();
        try
        {
            using var connection = await OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
            using var transaction = connection.BeginTransaction(deferred: true);
            var result = await work(transaction).ConfigureAwait(false);
            transaction.Commit();
            _readFailure = null;
            return result;
        }
        catch (SqliteException e)
        {
            _readFailure = $"reading {DataSource} failed: {e.Message}";
            throw;
        }
    }

    private void ThrowIfNotReady()
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (!_initialized)
        {
            throw new InvalidOperationException("Call InitializeAsync before using the incident store.");
        }
    }
}
