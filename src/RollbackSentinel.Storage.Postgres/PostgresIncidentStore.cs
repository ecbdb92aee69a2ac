using System.Globalization;
using Npgsql;
using RollbackSentinel.Core.Evaluation;
using RollbackSentinel.Core.Incidents;
using RollbackSentinel.Core.State;
using RollbackSentinel.Storage.Serialization;
using static RollbackSentinel.Storage.Postgres.PostgresRows;
using static RollbackSentinel.Storage.Serialization.StoredColumns;

namespace RollbackSentinel.Storage.Postgres;

/// <summary>
/// The durable record in PostgreSQL, shared by several sentinels: the same tables and contract as the SQLite store.
/// </summary>
/// <remarks>
/// Storage only: SQL and mapping; every rule lives in Core (<see cref="IncidentService"/>, <see cref="IncidentLifecycle"/>).
/// Writes run in READ COMMITTED transactions whose every conditional write names what it expects (revision, From,
/// state version): PostgreSQL re-checks the condition after waiting for a concurrent writer, so a stale writer changes
/// no row and the batch is rolled back with a <see cref="StoreConflictException"/>. Reads run in REPEATABLE READ,
/// read-only: one snapshot. What every evaluation sends (the state read, the change history, the state with its
/// verdicts when no incident moves) is one statement each, without BEGIN/COMMIT: a lone statement is its own
/// transaction with one snapshot. Under a session default of REPEATABLE READ or SERIALIZABLE (a database's or role's
/// setting), the state write that loses a race fails with a serialization error instead of matching no row: it is taken
/// as the same refusal. Claims take rows with <c>FOR UPDATE SKIP LOCKED</c>, so two sentinels never wait on
/// or take the same row.
/// <para>
/// Times: <c>timestamptz</c> keeps microseconds, .NET ticks are 100 ns. Every time the store writes or compares with is
/// truncated to the whole microsecond first (<see cref="PostgresCommands.StoredTime"/>), so a time reads back as
/// exactly what was written and SQL compares the same values Core will read. Policy state (its last evaluation, cooldowns,
/// gate progress) is JSON text and keeps every tick, so <c>slot &gt; LastEvaluatedAt</c> is exact. A lease or claim that
/// ends within a microsecond of the time it is checked at counts as ended (never as running longer than asked).
/// </para>
/// <para>
/// A PostgreSQL restart breaks the pooled connections; the store recovers by itself (<see cref="RunAsync"/>): calls
/// throw while the server is down, and succeed again once it is back.
/// </para>
/// </remarks>
internal sealed partial class PostgresIncidentStore : IPostgresStore
{
    /// <summary>Evaluation rows deleted per transaction when pruning, so a large prune never holds locks long.</summary>
    internal const int PruneBatchSize = 5000;

    private readonly NpgsqlDataSource _dataSource;

    /// <summary>The pool's settings as Npgsql runs them (no password: Persist Security Info is off). For tests.</summary>
    internal NpgsqlConnectionStringBuilder Settings => new(_dataSource.ConnectionString);
    private readonly TimeProvider _timeProvider;
    private readonly IReadOnlyList<PostgresMigration> _migrations;
    private volatile bool _initialized;
    private volatile string? _writeFailure;
    private volatile string? _readFailure;
    private int _disposed;

    internal PostgresIncidentStore(NpgsqlDataSource dataSource, TimeProvider timeProvider, IReadOnlyList<PostgresMigration> migrations)
    {
        ArgumentNullException.ThrowIfNull(dataSource);
        ArgumentNullException.ThrowIfNull(timeProvider);
        ArgumentNullException.ThrowIfNull(migrations);
        _dataSource = dataSource;
        _timeProvider = timeProvider;
        _migrations = migrations;
        var builder = new NpgsqlConnectionStringBuilder(dataSource.ConnectionString);
        DataSource = $"{builder.Host}:{builder.Port}/{builder.Database}";
    }

    /// <summary>Where the store is, for logs: host, port and database, never the user or password.</summary>
    public string DataSource { get; }

    /// <summary>
    /// Why the store is failing now (its last write or read lost its connection to PostgreSQL); null while it works. For
    /// diagnostics: the daemon's readiness comes from its cluster check-ins (<c>ClusterCheckIn</c>), which use this store.
    /// </summary>
    public string? Failure => _writeFailure ?? _readFailure;

    /// <inheritdoc />
    /// <remarks>False: several sentinels share the database; a started action or a lease found at start may be another live node's.</remarks>
    public bool ExclusiveToOneProcess => false;

    /// <inheritdoc />
    public async Task InitializeAsync(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await PostgresSchema.MigrateAsync(connection, _migrations, _timeProvider, cancellationToken).ConfigureAwait(false);
        _initialized = true;
    }

    /// <inheritdoc />
    public Task<long> LoadStateVersionAsync(string policy, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(policy);
        return ReadOneAsync(
            async connection => await connection.ScalarAsync("SELECT version FROM policy_state WHERE policy = @policy", cancellationToken, ("policy", policy)).ConfigureAwait(false) is long v ? v : 0L,
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
        return ReadOneAsync(
            async connection =>
            {
                var rows = await connection.QueryAsync(
                    "SELECT version, CASE WHEN version = @known THEN NULL ELSE state END FROM policy_state WHERE policy = @policy",
                    r => (Version: r.GetInt64(0), Json: r.GetNullableString(1)),
                    cancellationToken,
                    ("policy", policy),
                    ("known", knownVersion ?? -1L)).ConfigureAwait(false); // typed even when none is known (versions are >= 0), so it stays one prepared statement
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
            async tx => await tx.ScalarAsync("SELECT incident_id FROM actions WHERE id = @id", cancellationToken, ("id", actionId)).ConfigureAwait(false) is long id
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
                    WHERE policy = @policy AND (status NOT IN ('Resolved', 'Denied') OR (status = 'Denied' AND resolved_at >= @since))
                    ORDER BY opened_at DESC, id DESC
                    """,
                    cancellationToken,
                    ("policy", policy),
                    ("since", deniedSince)).ConfigureAwait(false);
                return await WithActionsAsync(tx, rows, cancellationToken).ConfigureAwait(false);
            },
            cancellationToken);
    }

    /// <inheritdoc />
    /// <remarks>One transaction: a conflict (or any failure) rolls the whole batch back.</remarks>
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

        if (batch.Updates.Count == 0)
        {
            // What most evaluations write (no incident moves): one statement, no transaction around it.
            if (batch.State is not null || batch.Verdicts.Count > 0)
            {
                // Run again after a broken connection only when that cannot apply it twice: a version-checked state write
                // is refused the second time, and recognised as its own first attempt if that was applied; verdicts alone
                // are ignored as duplicates; an unchecked state write would bump the version twice.
                var attempts = 0;
                await WriteOneAsync(
                    async connection =>
                    {
                        await WriteStateAndVerdictsAsync(connection, null, batch.State, state, policy, at, batch.Verdicts, rerun: ++attempts > 1, cancellationToken).ConfigureAwait(false);
                        return true;
                    },
                    rerunnable: batch.State is null || batch.State.ExpectedVersion is not null,
                    cancellationToken).ConfigureAwait(false);
            }

            return [];
        }

        return await WriteAsync(
            async tx =>
            {
                if (batch.State is not null || batch.Verdicts.Count > 0)
                {
                    await WriteStateAndVerdictsAsync(tx.Connection!, tx, batch.State, state, policy, at, batch.Verdicts, rerun: false, cancellationToken).ConfigureAwait(false);
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
                r => (ReadAction(r), r.IsDBNull(ActionColumnCount) ? null : new ActionLease(r.GetString(ActionColumnCount), r.GetTime(ActionColumnCount + 1))),
                cancellationToken).ConfigureAwait(false),
            cancellationToken);

    /// <inheritdoc />
    public Task<IReadOnlyList<ActionRecord>> ListPendingActionsAsync(CancellationToken cancellationToken) =>
        ReadAsync(
            async tx => (IReadOnlyList<ActionRecord>)await tx.QueryAsync(
                $"SELECT {ActionColumns} FROM actions WHERE status = 'Pending' ORDER BY created_at, id", ReadAction, cancellationToken).ConfigureAwait(false),
            cancellationToken);

    /// <inheritdoc />
    public Task<IReadOnlyList<Incident>> ListIncidentsAsync(IncidentStatus? status, int limit, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(limit);
        return ReadAsync(
            async tx =>
            {
                var where = status is null ? string.Empty : "WHERE status = @status ";
                var rows = await QueryIncidentsAsync(
                    tx,
                    $"{where}ORDER BY opened_at DESC, id DESC LIMIT @limit",
                    cancellationToken,
                    ("status", status?.ToString()),
                    ("limit", limit)).ConfigureAwait(false);
                return (IReadOnlyList<Incident>)rows.ConvertAll(r => r.Incident);
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
                "WHERE policy = @policy AND status NOT IN ('Resolved', 'Denied') ORDER BY opened_at DESC, id DESC",
                cancellationToken,
                ("policy", policy)).ConfigureAwait(false)).ConvertAll(r => r.Incident),
            cancellationToken);
    }

    /// <inheritdoc />
    /// <remarks>Events, actions and acknowledgments each in time order (ties in the order they were recorded).</remarks>
    public Task<IncidentTimeline?> GetIncidentAsync(long id, CancellationToken cancellationToken) =>
        ReadAsync(
            async tx =>
            {
                var incident = await FindIncidentAsync(tx, "id = @id", cancellationToken, ("id", id)).ConfigureAwait(false);
                if (incident is null)
                {
                    return null;
                }

                var events = await tx.QueryAsync(
                    $"SELECT {EventColumns} FROM incident_events WHERE incident_id = @id ORDER BY at, id", ReadEvent, cancellationToken, ("id", id)).ConfigureAwait(false);
                var actions = await tx.QueryAsync(
                    $"SELECT {ActionColumns} FROM actions WHERE incident_id = @id ORDER BY created_at, id", ReadAction, cancellationToken, ("id", id)).ConfigureAwait(false);
                var acknowledgments = await tx.QueryAsync(
                    $"SELECT {AcknowledgmentColumns} FROM acknowledgments WHERE incident_id = @id ORDER BY at, id", ReadAcknowledgment, cancellationToken, ("id", id)).ConfigureAwait(false);
                return new IncidentTimeline(incident.Incident, events, actions, acknowledgments);
            },
            cancellationToken);

    /// <inheritdoc />
    public Task<IReadOnlyList<Incident>> ListOverdueAsync(DateTimeOffset at, CancellationToken cancellationToken) =>
        ReadAsync(
            async tx => (IReadOnlyList<Incident>)(await QueryIncidentsAsync(
                tx,
                "WHERE status = 'AwaitingConfirmation' AND answer_deadline IS NOT NULL AND answer_deadline <= @at ORDER BY answer_deadline, id",
                cancellationToken,
                ("at", at)).ConfigureAwait(false)).ConvertAll(r => r.Incident),
            cancellationToken);

    /// <inheritdoc />
    /// <remarks>
    /// One statement chooses and leases the rows: <c>FOR UPDATE SKIP LOCKED</c> passes over rows another sentinel is
    /// claiming at this moment, and the lease condition over rows another sentinel holds.
    /// </remarks>
    public Task<IReadOnlyList<Incident>> ClaimToNotifyAsync(bool includeOpen, int limit, ActionLease lease, DateTimeOffset at, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(limit);
        ArgumentNullException.ThrowIfNull(lease);
        ThrowIfNotReady();
        return WriteAsync(
            async tx =>
            {
                var claimed = await tx.QueryAsync(
                    $"""
                    UPDATE incidents SET notify_owner = @owner, notify_lease_until = @until
                    WHERE id IN (
                        SELECT id FROM incidents
                        WHERE (change_seq > notified_seq {(includeOpen ? "OR status NOT IN ('Resolved', 'Denied')" : "")})
                          AND (notify_owner IS NULL OR notify_owner = @owner OR notify_lease_until <= @at)
                        ORDER BY updated_at DESC, id DESC LIMIT @limit
                        FOR UPDATE SKIP LOCKED)
                    RETURNING id
                    """,
                    r => r.GetInt64(0),
                    cancellationToken,
                    ("owner", lease.Owner),
                    ("until", lease.Until),
                    ("at", at),
                    ("limit", limit)).ConfigureAwait(false);
                if (claimed.Count == 0)
                {
                    return (IReadOnlyList<Incident>)[];
                }

                var rows = await QueryIncidentsAsync(tx, "WHERE id = ANY(@ids) ORDER BY updated_at DESC, id DESC", cancellationToken, ("ids", claimed.ToArray())).ConfigureAwait(false);
                return rows.ConvertAll(r => r.Incident);
            },
            cancellationToken);
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
                SET notified_seq = GREATEST(notified_seq, @version),
                    notify_owner = CASE WHEN notify_owner = @owner THEN NULL ELSE notify_owner END,
                    notify_lease_until = CASE WHEN notify_owner = @owner THEN NULL ELSE notify_lease_until END
                WHERE id = @id AND (notified_seq < @version OR notify_owner = @owner)
                """,
                cancellationToken,
                ("id", incidentId),
                ("version", version),
                ("owner", owner)),
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
                "UPDATE incidents SET notify_owner = NULL, notify_lease_until = NULL WHERE notify_owner = @owner AND id = ANY(@ids)",
                cancellationToken,
                ("owner", owner),
                ("ids", incidentIds.Distinct().ToArray())),
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
    /// <remarks>
    /// One conditional <c>UPDATE</c>: PostgreSQL re-checks its condition on the row's latest version after waiting for a
    /// concurrent writer, so a renewal racing the sweeper's interruption (or another owner's take-over) is refused, never lost.
    /// </remarks>
    public Task<bool> RenewActionLeaseAsync(long actionId, ActionLease lease, DateTimeOffset at, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(lease);
        ThrowIfNotReady();
        return WriteAsync(
            async tx => await tx.ExecuteAsync(
                "UPDATE actions SET lease_until = @until WHERE id = @id AND status = 'Started' AND lease_owner = @owner AND lease_until > @at",
                cancellationToken,
                ("id", actionId),
                ("owner", lease.Owner),
                ("until", lease.Until),
                ("at", at)).ConfigureAwait(false) == 1,
            cancellationToken);
    }

    /// <inheritdoc />
    /// <remarks>
    /// One <c>INSERT ... ON CONFLICT DO UPDATE ... WHERE</c>, no read first: two sentinels inserting at once are
    /// serialized on the key, and the second's condition is evaluated on the first's committed claim, so exactly one of
    /// them gets a row written (true); the other writes nothing (false).
    /// </remarks>
    public Task<bool> ClaimDeliveryAsync(long incidentId, string channel, ActionLease lease, DateTimeOffset at, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(channel);
        ArgumentNullException.ThrowIfNull(lease);
        ThrowIfNotReady();
        return WriteAsync(
            async tx => await tx.ExecuteAsync(
                """
                INSERT INTO delivery_claims (incident_id, channel, lease_owner, lease_until) VALUES (@id, @channel, @owner, @until)
                ON CONFLICT (incident_id, channel) DO UPDATE SET lease_owner = excluded.lease_owner, lease_until = excluded.lease_until
                WHERE delivery_claims.lease_owner = excluded.lease_owner OR delivery_claims.lease_until <= @at
                """,
                cancellationToken,
                ("id", incidentId),
                ("channel", channel),
                ("owner", lease.Owner),
                ("until", lease.Until),
                ("at", at)).ConfigureAwait(false) == 1,
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
                UPDATE delivery_claims SET lease_until = @until
                WHERE incident_id = @id AND channel = @channel AND lease_owner = @owner AND lease_until > @at
                """,
                cancellationToken,
                ("id", incidentId),
                ("channel", channel),
                ("owner", lease.Owner),
                ("until", lease.Until),
                ("at", at)).ConfigureAwait(false) == 1,
            cancellationToken);
    }

    public Task<ActionRecord?> FindRollbackSinceAsync(string target, DateTimeOffset since, long excludingActionId, CancellationToken cancellationToken) =>
        ReadAsync(
            async tx =>
            {
                var rows = await tx.QueryAsync(
                    $"SELECT {ActionColumns} FROM actions WHERE kind = 'rollback' AND target = @target AND id <> @id AND status IN ('Started', 'Succeeded', 'Interrupted') AND started_at >= @since ORDER BY started_at DESC LIMIT 1",
                    ReadAction,
                    cancellationToken,
                    ("target", target),
                    ("id", excludingActionId),
                    ("since", since)).ConfigureAwait(false);
                return rows.Count == 0 ? null : rows[0];
            },
            cancellationToken);

    /// <inheritdoc />
    public Task<IReadOnlyList<NotificationRecord>> GetNotificationsAsync(long incidentId, CancellationToken cancellationToken) =>
        ReadAsync(
            async tx => (IReadOnlyList<NotificationRecord>)await tx.QueryAsync(
                $"SELECT {NotificationColumns} FROM notifications WHERE incident_id = @id ORDER BY channel", ReadNotification, cancellationToken, ("id", incidentId)).ConfigureAwait(false),
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
                    INSERT INTO notifications (incident_id, channel, reference, state, at) VALUES (@id, @channel, @reference, @state, @at)
                    ON CONFLICT (incident_id, channel) DO UPDATE SET reference = excluded.reference, state = excluded.state, at = excluded.at
                    WHERE notifications.at <= excluded.at
                    """,
                    cancellationToken,
                    ("id", record.IncidentId),
                    ("channel", record.Channel),
                    ("reference", record.Reference),
                    ("state", record.State),
                    ("at", record.At)).ConfigureAwait(false);
                return await tx.ExecuteAsync(
                    "DELETE FROM delivery_claims WHERE incident_id = @id AND channel = @channel",
                    cancellationToken,
                    ("id", record.IncidentId),
                    ("channel", record.Channel)).ConfigureAwait(false);
            },
            cancellationToken);
    }

    /// <inheritdoc />
    public async Task<int> PruneEvaluationsAsync(DateTimeOffset olderThan, CancellationToken cancellationToken)
    {
        ThrowIfNotReady();
        var total = 0;
        while (true)
        {
            var deleted = await WriteAsync(
                tx => tx.ExecuteAsync(
                    "DELETE FROM evaluations WHERE id IN (SELECT id FROM evaluations WHERE at < @cutoff LIMIT @batch)",
                    cancellationToken,
                    ("cutoff", olderThan),
                    ("batch", PruneBatchSize)),
                cancellationToken).ConfigureAwait(false);
            total += deleted;
            if (deleted < PruneBatchSize)
            {
                await PruneChangesAsync(olderThan, cancellationToken).ConfigureAwait(false);
                return total;
            }
        }
    }

    /// <summary>Closes the pooled connections. Calls in flight finish first.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            await _dataSource.DisposeAsync().ConfigureAwait(false);
        }
    }

    // The statements WriteStateAndVerdictsAsync sends, built once: the state write (unchecked upsert, first write,
    // version-checked update) in a data-modifying WITH, without or with the verdicts it gates; and verdicts alone.
    private const string InsertVerdictsSql = """
        INSERT INTO evaluations (policy, at, trigger, labels, kind, reason, value, threshold, baseline, summary)
        SELECT @policy, @at, v.trigger, v.labels, v.kind, v.reason, v.value, v.threshold, v.baseline, v.summary
        FROM unnest(@triggers, @labels, @kinds, @reasons, @values, @thresholds, @baselines, @summaries)
             AS v (trigger, labels, kind, reason, value, threshold, baseline, summary)
        """;

    private const string VerdictsOnlySql = $"{InsertVerdictsSql}\nON CONFLICT (policy, at, trigger, labels) DO NOTHING";

    private static readonly string[,] StateAndVerdictsSql = StateWrites(
        """
        INSERT INTO policy_state (policy, state, updated_at, version) VALUES (@statePolicy, @state, @stateAt, 1)
        ON CONFLICT (policy) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at, version = policy_state.version + 1
        RETURNING version
        """,
        "INSERT INTO policy_state (policy, state, updated_at, version) VALUES (@statePolicy, @state, @stateAt, 1) ON CONFLICT (policy) DO NOTHING RETURNING version",
        "UPDATE policy_state SET state = @state, updated_at = @stateAt, version = version + 1 WHERE policy = @statePolicy AND version = @expected RETURNING version");

    /// <summary>[0, k]: state write k alone; [1, k]: with the verdicts, inserted only if it wrote. Each answers how many states it wrote.</summary>
    private static string[,] StateWrites(params string[] writes)
    {
        var sql = new string[2, writes.Length];
        for (var k = 0; k < writes.Length; k++)
        {
            sql[0, k] = $"WITH written AS ({writes[k]}) SELECT count(*) FROM written";
            sql[1, k] = $"""
                WITH written AS ({writes[k]}),
                verdicts AS ({InsertVerdictsSql}
                    WHERE EXISTS (SELECT 1 FROM written)
                    ON CONFLICT (policy, at, trigger, labels) DO NOTHING)
                SELECT count(*) FROM written
                """;
        }

        return sql;
    }

    /// <summary>
    /// The policy state, checked against the version it was loaded with (none stored: 0; the stored version grows by one),
    /// and the evaluation's verdicts, written by one statement: the state's write in a data-modifying <c>WITH</c>, the
    /// verdicts inserted from arrays only if it wrote. One round trip (a refused write adds a second, reading the version),
    /// and the same statement whether it runs on its own (<paramref name="transaction"/> null: it is then its own
    /// transaction, for the evaluations that change no incident) or inside the transaction of a batch that also moves
    /// incidents.
    /// </summary>
    /// <param name="rerun">
    /// This is the same write sent again after its connection broke: if the first one was applied after all (the stored
    /// row is the state it wrote, at its version), it is not refused as another writer's.
    /// </param>
    /// <exception cref="PolicyStateConflictException">The state is not at the expected version: nothing was written.</exception>
    internal static async Task WriteStateAndVerdictsAsync(
        NpgsqlConnection connection, NpgsqlTransaction? transaction, PolicyStateWrite? write, string? state, string? policy, DateTimeOffset? at, IReadOnlyList<EvaluationRow> verdicts, bool rerun, CancellationToken cancellationToken)
    {
        var sql = (write?.ExpectedVersion, verdicts.Count) switch
        {
            _ when write is null => VerdictsOnlySql,
            (null, var n) => StateAndVerdictsSql[n == 0 ? 0 : 1, 0],
            (0, var n) => StateAndVerdictsSql[n == 0 ? 0 : 1, 1],
            (_, var n) => StateAndVerdictsSql[n == 0 ? 0 : 1, 2],
        };

        // Summaries are free text: PostgresCommands.Bind redacts each element of 'summaries' (PostgresCommands.FreeText).
        await using var command = PostgresCommands.Command(
            connection,
            transaction,
            sql,
            ("statePolicy", write?.Policy),
            ("state", state),
            ("stateAt", write?.At),
            ("expected", write?.ExpectedVersion),
            ("policy", policy),
            ("at", at),
            ("triggers", verdicts.Select(v => v.Trigger).ToArray()),
            ("labels", verdicts.Select(v => LabelsJson.Write(v.Labels)).ToArray()),
            ("kinds", verdicts.Select(v => v.Kind.ToString()).ToArray()),
            ("reasons", verdicts.Select(v => v.Reason.ToString()).ToArray()),
            ("values", verdicts.Select(v => Real(v.Value)).ToArray()),
            ("thresholds", verdicts.Select(v => Real(v.Threshold)).ToArray()),
            ("baselines", verdicts.Select(v => Real(v.Baseline)).ToArray()),
            ("summaries", verdicts.Select(v => v.Summary).ToArray()));
        if (write is null)
        {
            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            return;
        }

        long written;
        try
        {
            written = (long)(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.SerializationFailure && write.ExpectedVersion is not null)
        {
            // A session that runs at REPEATABLE READ or SERIALIZABLE (a database's or role's default) meets a writer that
            // changed the row since its snapshot with this error instead of matching no row: the same refusal.
            written = 0;
        }

        if (written != 1)
        {
            // Read by a statement of its own: the statement that was refused saw the table as it was when it began, and
            // a writer that committed while it waited for the row is only seen by a later statement.
            await using var read = PostgresCommands.Command(
                connection, transaction, "SELECT version, state, updated_at FROM policy_state WHERE policy = @policy", ("policy", write.Policy));
            await using var reader = await read.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            var found = await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            var stored = found ? reader.GetInt64(0) : 0L;
            if (rerun && found && stored == (write.ExpectedVersion ?? 0) + 1 && reader.GetString(1) == state && reader.GetTime(2) == PostgresCommands.StoredTime(write.At))
            {
                // The first attempt was applied (its answer was lost with the connection): this is that write, not another's.
                return;
            }

            throw new PolicyStateConflictException(
                $"The state of policy '{write.Policy}' is at version {stored}, not {write.ExpectedVersion}: another writer committed since it was loaded.");
        }
    }

    /// <summary>Applies one update (its revision checked, or the incident opened) and returns the incident's id.</summary>
    private static async Task<long> ApplyUpdateAsync(NpgsqlTransaction tx, IncidentUpdate update, CancellationToken cancellationToken)
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
                "UPDATE incidents SET revision = revision + 1 WHERE id = @id AND revision = @expected",
                cancellationToken,
                ("id", id),
                ("expected", update.ExpectedRevision)).ConfigureAwait(false);
            if (bumped != 1)
            {
                var stored = await tx.ScalarAsync("SELECT revision FROM incidents WHERE id = @id", cancellationToken, ("id", id)).ConfigureAwait(false);
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
}
