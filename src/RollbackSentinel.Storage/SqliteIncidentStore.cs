using System.Globalization;
using Microsoft.Data.Sqlite;
using RollbackSentinel.Core.Changes;
using RollbackSentinel.Core.Evaluation;
using RollbackSentinel.Core.Incidents;
using RollbackSentinel.Core.Policies;
using RollbackSentinel.Core.State;
using RollbackSentinel.Storage.Serialization;
using RollbackSentinel.Storage.Sqlite;
using static RollbackSentinel.Storage.Sqlite.StoredRows;

namespace RollbackSentinel.Storage;

/// <summary>
/// The daemon's durable record in one SQLite file: trigger state, evaluation history, incidents with their
/// timeline, write-ahead action records, and changes (<see cref="IChangeStore"/>).
/// </summary>
/// <remarks>
/// <para>
/// Every operation opens its own pooled connection, so any number of jobs may call the store at once. Writes
/// also pass one in-process gate (SQLite has one writer at a time; waiting on a semaphore is cheaper than
/// spinning on SQLITE_BUSY) and run in <c>BEGIN IMMEDIATE</c> transactions, so a read-then-write never meets
/// a concurrent writer half way. Other processes (a CLI reading incidents) are covered by <c>busy_timeout</c>.
/// Reads run in deferred transactions: a consistent snapshot that never blocks writers (WAL).
/// </para>
/// <para>
/// Durability: WAL with <c>synchronous=FULL</c>. In WAL mode <c>NORMAL</c> syncs the log only at checkpoints,
/// so a power loss can drop the last commits, and with them an action recorded as pending or started; FULL
/// syncs every commit, which costs one fsync per evaluation, a small price next to a lost action record.
/// </para>
/// <para>One daemon per database file: <see cref="RecoverAsync"/> treats every started action as its own.</para>
/// </remarks>
public sealed partial class SqliteIncidentStore : IIncidentStore, IChangeStore, IAsyncDisposable
{
    /// <summary>How long a statement waits for another process's write lock before giving up.</summary>
    internal const int BusyTimeoutMilliseconds = 5000;

    /// <summary>Evaluation rows deleted per transaction when pruning, so a large prune never holds the write lock long.</summary>
    internal const int PruneBatchSize = 5000;

    private const string InterruptedOutcome = "process stopped while the action ran; not retried automatically";
    private const string NotRunOutcome = "not run: the trigger passed before the action started";

    /// <summary>The trigger name of incidents a person opened (a manual rollback).</summary>
    public const string ManualTrigger = "manual";

    private const string RecoveredBeforeAnswerOutcome = "not run: the breach cleared before anyone answered";

    // Per connection, so set on every open (pooled connections keep them; setting them again is cheap).
    private static readonly string _connectionPragmas = string.Create(
        CultureInfo.InvariantCulture,
        $"PRAGMA busy_timeout = {BusyTimeoutMilliseconds}; PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL;");

    private readonly string _connectionString;
    private readonly TimeProvider _timeProvider;
    private readonly IReadOnlyList<Migration> _migrations;
    private readonly SemaphoreSlim _writeGate = new(1, 1);
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
    /// <exception cref="InvalidDataException">The stored state cannot be read.</exception>
    public Task<PolicyState?> LoadStateAsync(string policy, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(policy);
        return ReadAsync(
            async tx =>
            {
                var json = (string?)await tx.ScalarAsync("SELECT state FROM policy_state WHERE policy = $policy", cancellationToken, ("$policy", policy)).ConfigureAwait(false);
                try
                {
                    return json is null ? null : PolicyStateJson.Deserialize(json);
                }
                catch (InvalidDataException e)
                {
                    throw new InvalidDataException($"The stored state of policy '{policy}' cannot be read: {e.Message}", e);
                }
            },
            cancellationToken);
    }

    /// <inheritdoc />
    /// <remarks>
    /// Retrying a commit is safe: a decision already recorded (same policy, trigger, labels and time) returns
    /// the incident and action recorded then, unchanged, and evaluation rows and timeline notes are not
    /// repeated. A Resolved decision that finds the incident's action still running records the resolution
    /// and applies it when the action completes (an incident cannot go from Acting to Resolved).
    /// </remarks>
    public async Task<IReadOnlyList<OpenedIncident>> CommitEvaluationAsync(EvaluationCommit commit, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(commit);
        ThrowIfNotReady();

        // Everything that can fail without the database fails before the write lock is taken.
        var state = PolicyStateJson.Serialize(commit.State);
        var decisions = new List<(Decision Decision, string? Target)>(commit.Decisions.Count);
        foreach (var decision in commit.Decisions)
        {
            if (!string.Equals(decision.Policy, commit.Policy, StringComparison.Ordinal))
            {
                throw new ArgumentException($"A decision of policy '{decision.Policy}' cannot be committed with policy '{commit.Policy}'.", nameof(commit));
            }

            decisions.Add((decision, decision.Kind == DecisionKind.Act ? commit.DescribeTarget(decision) : null));
        }

        return await WriteAsync(
            async tx =>
            {
                var at = DbTime.Format(commit.At);
                await tx.ExecuteAsync(
                    """
                    INSERT INTO policy_state (policy, state, updated_at) VALUES ($policy, $state, $at)
                    ON CONFLICT (policy) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at
                    """,
                    cancellationToken,
                    ("$policy", commit.Policy),
                    ("$state", state),
                    ("$at", at)).ConfigureAwait(false);

                await InsertEvaluationsAsync(tx, commit.Policy, at, commit.Verdicts, cancellationToken).ConfigureAwait(false);

                var opened = new List<OpenedIncident>();
                foreach (var (decision, target) in decisions)
                {
                    switch (decision.Kind)
                    {
                        case DecisionKind.Act:
                            if (await OpenIncidentAsync(tx, decision, target!, commit.ConfirmTimeout, commit.DenialHoldsFor, cancellationToken).ConfigureAwait(false) is { } incident)
                            {
                                opened.Add(incident);
                            }

                            break;
                        case DecisionKind.Resolved:
                            await ResolveAsync(tx, decision, cancellationToken).ConfigureAwait(false);
                            break;
                        case DecisionKind.SuppressedByCooldown:
                            await NoteAsync(tx, decision, IncidentEventKinds.SuppressedByCooldown, cancellationToken).ConfigureAwait(false);
                            break;
                        case DecisionKind.InconclusiveRun:
                            await NoteAsync(tx, decision, IncidentEventKinds.InconclusiveRun, cancellationToken).ConfigureAwait(false);
                            break;
                        default:
                            throw new ArgumentOutOfRangeException(nameof(commit), decision.Kind, "unknown decision kind");
                    }
                }

                return (IReadOnlyList<OpenedIncident>)opened;
            },
            cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    /// <exception cref="KeyNotFoundException">There is no such action.</exception>
    /// <exception cref="InvalidOperationException">The incident cannot move to Acting (another action of it is running).</exception>
    public Task<bool> MarkActionStartedAsync(long actionId, DateTimeOffset at, CancellationToken cancellationToken)
    {
        ThrowIfNotReady();
        return WriteAsync(
            async tx =>
            {
                // The status condition is what makes this a claim: of two callers, one updates a row.
                var claimed = await tx.QueryAsync(
                    $"UPDATE actions SET status = 'Started', started_at = $at WHERE id = $id AND status = 'Pending' RETURNING {ActionColumns}",
                    ReadAction,
                    cancellationToken,
                    ("$id", actionId),
                    ("$at", DbTime.Format(at))).ConfigureAwait(false);
                if (claimed.Count == 0)
                {
                    _ = await GetActionAsync(tx, actionId, cancellationToken).ConfigureAwait(false) ?? throw new KeyNotFoundException($"Action {actionId} does not exist.");
                    return false;
                }

                var action = claimed[0];
                var incident = await GetIncidentRowAsync(tx, action.IncidentId, cancellationToken).ConfigureAwait(false);
                await MoveAsync(tx, incident.Incident, IncidentStatus.Acting, at, null, cancellationToken).ConfigureAwait(false);
                await AddEventAsync(tx, action.IncidentId, at, IncidentEventKinds.ActionStarted, $"{action.Kind} {action.Target} started", cancellationToken).ConfigureAwait(false);
                return true;
            },
            cancellationToken);
    }

    /// <inheritdoc />
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="status"/> is not final (Pending or Started).</exception>
    /// <exception cref="KeyNotFoundException">There is no such action.</exception>
    /// <exception cref="InvalidOperationException">The action is not started, or its incident cannot take the status that follows (<see cref="IncidentTransitions"/>).</exception>
    public Task CompleteActionAsync(long actionId, ActionStatus status, string outcome, DateTimeOffset at, CancellationToken cancellationToken) =>
        CompleteActionAsync(actionId, new ActionCompletion(status, outcome), at, cancellationToken);

    /// <inheritdoc />
    /// <exception cref="KeyNotFoundException">There is no such action.</exception>
    public Task<string> SavePlanAsync(long actionId, string plan, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ThrowIfNotReady();
        return WriteAsync(
            async tx =>
            {
                await tx.ExecuteAsync("UPDATE actions SET plan = $plan WHERE id = $id AND plan IS NULL", cancellationToken, ("$id", actionId), ("$plan", plan)).ConfigureAwait(false);
                var action = await GetActionAsync(tx, actionId, cancellationToken).ConfigureAwait(false) ?? throw new KeyNotFoundException($"Action {actionId} does not exist.");
                return action.Plan!;
            },
            cancellationToken);
    }

    /// <inheritdoc />
    /// <exception cref="KeyNotFoundException">There is no such action.</exception>
    public Task<bool> RecordDryRunAsync(long actionId, string plan, string outcome, bool wouldFail, DateTimeOffset at, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(outcome);
        ThrowIfNotReady();
        return WriteAsync(
            async tx =>
            {
                var action = await GetActionAsync(tx, actionId, cancellationToken).ConfigureAwait(false) ?? throw new KeyNotFoundException($"Action {actionId} does not exist.");
                if (action.Status != ActionStatus.Skipped || action.Plan is not null)
                {
                    return false;
                }

                await tx.ExecuteAsync(
                    "UPDATE actions SET plan = $plan, outcome = $outcome WHERE id = $id",
                    cancellationToken,
                    ("$id", actionId),
                    ("$plan", plan),
                    ("$outcome", outcome)).ConfigureAwait(false);
                await AddEventAsync(tx, action.IncidentId, at, IncidentEventKinds.DryRun, $"{action.Kind} {action.Target}: {outcome}", cancellationToken).ConfigureAwait(false);
                if (wouldFail && await GetIncidentRowAsync(tx, action.IncidentId, cancellationToken).ConfigureAwait(false) is { Incident.Status: IncidentStatus.DryRun } row)
                {
                    await MoveAsync(tx, row.Incident, IncidentStatus.DryRunFailed, at, null, cancellationToken).ConfigureAwait(false);
                }

                return true;
            },
            cancellationToken);
    }

    /// <inheritdoc />
    /// <exception cref="ArgumentOutOfRangeException">The status is not final (Pending or Started).</exception>
    /// <exception cref="KeyNotFoundException">There is no such action.</exception>
    /// <exception cref="InvalidOperationException">The action is not started, or its incident cannot take the status that follows (<see cref="IncidentTransitions"/>).</exception>
    public Task CompleteActionAsync(long actionId, ActionCompletion completion, DateTimeOffset at, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(completion);
        var (status, outcome) = (completion.Status, completion.Outcome);
        ArgumentNullException.ThrowIfNull(outcome);
        var next = IncidentTransitions.AfterAction(status);
        ThrowIfNotReady();
        return WriteAsync(
            async tx =>
            {
                var action = await GetActionAsync(tx, actionId, cancellationToken).ConfigureAwait(false) ?? throw new KeyNotFoundException($"Action {actionId} does not exist.");
                if (action.Status != ActionStatus.Started)
                {
                    throw new InvalidOperationException($"Action {actionId} is {action.Status}; only a started action can be completed.");
                }

                var row = await GetIncidentRowAsync(tx, action.IncidentId, cancellationToken).ConfigureAwait(false);
                await MoveAsync(tx, row.Incident, next, at, null, cancellationToken).ConfigureAwait(false);
                await tx.ExecuteAsync(
                    "UPDATE actions SET status = $status, completed_at = $at, outcome = $outcome, before_state = $before, after_state = $after WHERE id = $id",
                    cancellationToken,
                    ("$id", actionId),
                    ("$status", status.ToString()),
                    ("$at", DbTime.Format(at)),
                    ("$outcome", outcome),
                    ("$before", completion.Before),
                    ("$after", completion.After)).ConfigureAwait(false);
                await AddEventAsync(tx, action.IncidentId, at, EventKindFor(status), $"{action.Kind} {action.Target}: {outcome}", cancellationToken).ConfigureAwait(false);
                await ApplyDeferredResolutionAsync(tx, row with { Incident = row.Incident with { Status = next } }, at, cancellationToken).ConfigureAwait(false);
                if (row.Incident.Trigger == ManualTrigger && next == IncidentStatus.Acted)
                {
                    // No trigger will ever pass for a manual rollback: done is resolved.
                    await MoveAsync(tx, row.Incident with { Status = next }, IncidentStatus.Resolved, at, at, cancellationToken).ConfigureAwait(false);
                }
                return true;
            },
            cancellationToken);
    }

    /// <inheritdoc />
    public Task<(IReadOnlyList<ActionRecord> Interrupted, IReadOnlyList<ActionRecord> Pending)> RecoverAsync(DateTimeOffset at, CancellationToken cancellationToken)
    {
        ThrowIfNotReady();
        return WriteAsync(
            async tx =>
            {
                var started = await tx.QueryAsync(
                    $"SELECT {ActionColumns} FROM actions WHERE status = 'Started' ORDER BY started_at, id", ReadAction, cancellationToken).ConfigureAwait(false);
                var interrupted = new List<ActionRecord>(started.Count);
                foreach (var action in started)
                {
                    await tx.ExecuteAsync(
                        "UPDATE actions SET status = 'Interrupted', completed_at = $at, outcome = $outcome WHERE id = $id",
                        cancellationToken,
                        ("$id", action.Id),
                        ("$at", DbTime.Format(at)),
                        ("$outcome", InterruptedOutcome)).ConfigureAwait(false);

                    var row = await GetIncidentRowAsync(tx, action.IncidentId, cancellationToken).ConfigureAwait(false);

                    // Started implies Acting; an incident found otherwise (edited by hand) keeps its status
                    // rather than keep the daemon from starting.
                    if (IncidentTransitions.IsAllowed(row.Incident.Status, IncidentStatus.ActionInterrupted))
                    {
                        await MoveAsync(tx, row.Incident, IncidentStatus.ActionInterrupted, at, null, cancellationToken).ConfigureAwait(false);
                        row = row with { Incident = row.Incident with { Status = IncidentStatus.ActionInterrupted } };
                    }

                    await AddEventAsync(tx, action.IncidentId, at, IncidentEventKinds.ActionInterrupted, $"{action.Kind} {action.Target}: {InterruptedOutcome}", cancellationToken).ConfigureAwait(false);
                    await ApplyDeferredResolutionAsync(tx, row, at, cancellationToken).ConfigureAwait(false);
                    interrupted.Add((await GetActionAsync(tx, action.Id, cancellationToken).ConfigureAwait(false))!);
                }

                var pending = await tx.QueryAsync(
                    $"SELECT {ActionColumns} FROM actions WHERE status = 'Pending' ORDER BY created_at, id", ReadAction, cancellationToken).ConfigureAwait(false);
                return ((IReadOnlyList<ActionRecord>)interrupted, (IReadOnlyList<ActionRecord>)pending);
            },
            cancellationToken);
    }

    /// <inheritdoc />
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
    public Task<AnswerResult> AnswerAsync(Acknowledgment answer, DateTimeOffset? snoozeUntil, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(answer);
        if (!Answers.All.Contains(answer.Answer))
        {
            throw new ArgumentOutOfRangeException(nameof(answer), answer.Answer, $"not one of {string.Join(", ", Answers.All)}");
        }

        ThrowIfNotReady();
        return WriteAsync(
            async tx =>
            {
                var row = await FindIncidentAsync(tx, "id = $id", cancellationToken, ("$id", answer.IncidentId)).ConfigureAwait(false);
                if (row is null)
                {
                    return new AnswerResult(false, $"there is no incident {answer.IncidentId}", null);
                }

                var incident = row.Incident;
                var who = $"{answer.By} via {answer.Channel}" + (string.IsNullOrWhiteSpace(answer.Reason) ? "" : $" ({answer.Reason})");
                if (answer.Answer == Answers.Ack)
                {
                    if (incident.Status is IncidentStatus.Resolved or IncidentStatus.Denied)
                    {
                        return new AnswerResult(false, $"incident {incident.Id} is already {Describe(incident.Status)}: nothing to acknowledge", incident);
                    }

                    await InsertAnswerAsync(tx, answer, cancellationToken).ConfigureAwait(false);
                    await AddEventAsync(tx, incident.Id, answer.At, IncidentEventKinds.Acknowledged, $"acknowledged by {who}", cancellationToken).ConfigureAwait(false);
                    return new AnswerResult(true, $"incident {incident.Id} acknowledged by {answer.By}", incident);
                }

                if (incident.Status != IncidentStatus.AwaitingConfirmation)
                {
                    return new AnswerResult(
                        false,
                        $"incident {incident.Id} is not awaiting confirmation any more (it is {Describe(incident.Status)}): your {answer.Answer} was not applied",
                        incident);
                }

                await InsertAnswerAsync(tx, answer, cancellationToken).ConfigureAwait(false);
                await tx.ExecuteAsync("UPDATE incidents SET change_seq = change_seq + 1 WHERE id = $id", cancellationToken, ("$id", incident.Id)).ConfigureAwait(false);
                switch (answer.Answer)
                {
                    case Answers.Approve:
                        var action = await ReleaseHeldAsync(tx, incident, answer.At, cancellationToken).ConfigureAwait(false);
                        await AddEventAsync(tx, incident.Id, answer.At, IncidentEventKinds.Approved, $"rollback approved by {who}", cancellationToken).ConfigureAwait(false);
                        return new AnswerResult(true, $"rollback of incident {incident.Id} approved by {answer.By}: rolling back {action.Target}", await ReloadAsync(tx, incident.Id, cancellationToken).ConfigureAwait(false), action);

                    case Answers.Deny:
                        await tx.ExecuteAsync(
                            "UPDATE actions SET status = 'Skipped', completed_at = $at, outcome = $outcome WHERE incident_id = $id AND status = 'Held'",
                            cancellationToken,
                            ("$id", incident.Id),
                            ("$at", DbTime.Format(answer.At)),
                            ("$outcome", $"not run: denied by {who}")).ConfigureAwait(false);
                        await MoveAsync(tx, incident, IncidentStatus.Denied, answer.At, answer.At, cancellationToken).ConfigureAwait(false);
                        await tx.ExecuteAsync("UPDATE incidents SET answer_deadline = NULL WHERE id = $id", cancellationToken, ("$id", incident.Id)).ConfigureAwait(false);
                        await AddEventAsync(tx, incident.Id, answer.At, IncidentEventKinds.Denied, $"rollback denied by {who}", cancellationToken).ConfigureAwait(false);
                        return new AnswerResult(true, $"rollback of incident {incident.Id} denied by {answer.By}: closed, nothing was changed", await ReloadAsync(tx, incident.Id, cancellationToken).ConfigureAwait(false));

                    default: // snooze
                        var until = snoozeUntil ?? throw new ArgumentNullException(nameof(snoozeUntil), "a snooze needs an end");
                        await tx.ExecuteAsync(
                            "UPDATE incidents SET answer_deadline = $until, timed_out_at = NULL, updated_at = $at, change_seq = change_seq + 1 WHERE id = $id",
                            cancellationToken,
                            ("$id", incident.Id),
                            ("$until", DbTime.Format(until)),
                            ("$at", DbTime.Format(answer.At))).ConfigureAwait(false);
                        await AddEventAsync(tx, incident.Id, answer.At, IncidentEventKinds.Snoozed, $"snoozed by {who} until {Rfc3339.Format(until)}", cancellationToken).ConfigureAwait(false);
                        return new AnswerResult(true, $"incident {incident.Id} snoozed by {answer.By} until {Rfc3339.Format(until)}", await ReloadAsync(tx, incident.Id, cancellationToken).ConfigureAwait(false));
                }
            },
            cancellationToken);
    }

    /// <inheritdoc />
    public Task<AnswerResult> TimeOutAsync(long incidentId, bool approve, DateTimeOffset at, CancellationToken cancellationToken)
    {
        ThrowIfNotReady();
        return WriteAsync(
            async tx =>
            {
                var row = await FindIncidentAsync(tx, "id = $id", cancellationToken, ("$id", incidentId)).ConfigureAwait(false);
                if (row?.Incident is not { Status: IncidentStatus.AwaitingConfirmation, AnswerDeadline: { } deadline } incident || deadline > at)
                {
                    return new AnswerResult(false, $"incident {incidentId} is not overdue", row?.Incident);
                }

                if (approve)
                {
                    var action = await ReleaseHeldAsync(tx, incident, at, cancellationToken).ConfigureAwait(false);
                    await AddEventAsync(tx, incident.Id, at, IncidentEventKinds.TimedOut, $"nobody answered by {Rfc3339.Format(deadline)}: rolling back, as the policy says (onTimeout: rollback)", cancellationToken).ConfigureAwait(false);
                    return new AnswerResult(true, "timed out: rolling back", await ReloadAsync(tx, incident.Id, cancellationToken).ConfigureAwait(false), action);
                }

                await tx.ExecuteAsync(
                    "UPDATE incidents SET answer_deadline = NULL, timed_out_at = $at, updated_at = $at, change_seq = change_seq + 1 WHERE id = $id",
                    cancellationToken,
                    ("$id", incident.Id),
                    ("$at", DbTime.Format(at))).ConfigureAwait(false);
                await AddEventAsync(tx, incident.Id, at, IncidentEventKinds.TimedOut, $"nobody answered by {Rfc3339.Format(deadline)}: the rollback stays held until someone approves or denies it", cancellationToken).ConfigureAwait(false);
                return new AnswerResult(true, "timed out: held", await ReloadAsync(tx, incident.Id, cancellationToken).ConfigureAwait(false));
            },
            cancellationToken);
    }

    /// <inheritdoc />
    public Task<OpenedIncident> OpenManualRollbackAsync(ManualRollback request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        ThrowIfNotReady();
        return WriteAsync(
            async tx =>
            {
                var at = DbTime.Format(request.At);
                var summary = $"manual rollback asked by {request.By} via {request.Channel}: {request.Reason}";
                var evidence = JsonText.Write(w =>
                {
                    w.WriteStartObject();
                    w.WriteString("verdict", "Manual");
                    w.WriteString("summary", summary);
                    w.WriteString("decidedAt", Rfc3339.Format(request.At));
                    w.WriteString("since", Rfc3339.Format(request.At));
                    w.WriteStartArray("queries");
                    w.WriteEndArray();
                    w.WriteEndObject();
                });
                var key = $"manual/{request.Policy}/{request.Labels}/{request.At.UtcTicks.ToString(CultureInfo.InvariantCulture)}/{Guid.NewGuid():N}";
                var id = (long)(await tx.ScalarAsync(
                    """
                    INSERT INTO incidents (policy, trigger, labels, labels_key, action, dry_run, status, opened_at, updated_at, summary, evidence, open_key, change_id)
                    VALUES ($policy, 'manual', $labels, $labelsKey, 'rollback', 0, 'Open', $at, $at, $summary, $evidence, $key, $changeId)
                    RETURNING id
                    """,
                    cancellationToken,
                    ("$changeId", (await BlameAsync(tx, request.Policy, request.Labels, request.At, cancellationToken).ConfigureAwait(false))?.Id),
                    ("$policy", request.Policy),
                    ("$labels", LabelsJson.Write(request.Labels)),
                    ("$labelsKey", request.Labels.ToString()),
                    ("$at", at),
                    ("$summary", summary),
                    ("$evidence", evidence),
                    ("$key", key)).ConfigureAwait(false))!;
                var actionId = (long)(await tx.ScalarAsync(
                    """
                    INSERT INTO actions (incident_id, kind, target, idempotency_key, status, created_at)
                    VALUES ($incident, 'rollback', $target, $key, 'Pending', $at)
                    RETURNING id
                    """,
                    cancellationToken,
                    ("$incident", id),
                    ("$target", request.Target),
                    ("$key", $"rs-manual-{request.Policy}-{id.ToString(CultureInfo.InvariantCulture)}"),
                    ("$at", at)).ConfigureAwait(false))!;
                await InsertAnswerAsync(tx, new Acknowledgment(id, request.By, request.Channel, "rollback", request.At) { Reason = request.Reason }, cancellationToken).ConfigureAwait(false);
                await AddEventAsync(tx, id, request.At, IncidentEventKinds.Opened, summary, cancellationToken).ConfigureAwait(false);
                return new OpenedIncident(await ReloadAsync(tx, id, cancellationToken).ConfigureAwait(false), (await GetActionAsync(tx, actionId, cancellationToken).ConfigureAwait(false))!);
            },
            cancellationToken);
    }

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
    public Task<IReadOnlyList<Incident>> ListToNotifyAsync(bool includeOpen, int limit, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(limit);
        return ReadAsync(
            async tx => (IReadOnlyList<Incident>)(await QueryIncidentsAsync(
                tx,
                $"WHERE change_seq > notified_seq {(includeOpen ? "OR status NOT IN ('Resolved', 'Denied') " : "")}ORDER BY updated_at DESC, id DESC LIMIT $limit",
                cancellationToken,
                ("$limit", limit)).ConfigureAwait(false)).Select(r => r.Incident).ToList(),
            cancellationToken);
    }

    /// <inheritdoc />
    public Task MarkNotifiedAsync(long incidentId, long version, CancellationToken cancellationToken)
    {
        ThrowIfNotReady();
        return WriteAsync(
            tx => tx.ExecuteAsync(
                "UPDATE incidents SET notified_seq = $version WHERE id = $id AND notified_seq < $version",
                cancellationToken,
                ("$id", incidentId),
                ("$version", version)),
            cancellationToken);
    }

    /// <inheritdoc />
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
            tx => tx.ExecuteAsync(
                """
                INSERT INTO notifications (incident_id, channel, reference, state, at) VALUES ($id, $channel, $reference, $state, $at)
                ON CONFLICT (incident_id, channel) DO UPDATE SET reference = excluded.reference, state = excluded.state, at = excluded.at
                """,
                cancellationToken,
                ("$id", record.IncidentId),
                ("$channel", record.Channel),
                ("$reference", record.Reference),
                ("$state", record.State),
                ("$at", DbTime.Format(record.At))),
            cancellationToken);
    }

    private static Task<int> InsertAnswerAsync(SqliteTransaction tx, Acknowledgment answer, CancellationToken cancellationToken) =>
        tx.ExecuteAsync(
            "INSERT INTO acknowledgments (incident_id, at, acked_by, channel, answer, reason) VALUES ($id, $at, $by, $channel, $answer, $reason)",
            cancellationToken,
            ("$id", answer.IncidentId),
            ("$at", DbTime.Format(answer.At)),
            ("$by", answer.By),
            ("$channel", answer.Channel),
            ("$answer", answer.Answer),
            ("$reason", answer.Reason));

    /// <summary>Approved (by a person or the timeout): the held rollback becomes pending and the incident open again.</summary>
    private static async Task<ActionRecord> ReleaseHeldAsync(SqliteTransaction tx, Incident incident, DateTimeOffset at, CancellationToken cancellationToken)
    {
        var released = await tx.QueryAsync(
            $"UPDATE actions SET status = 'Pending', created_at = $at WHERE incident_id = $id AND status = 'Held' RETURNING {ActionColumns}",
            ReadAction,
            cancellationToken,
            ("$id", incident.Id),
            ("$at", DbTime.Format(at))).ConfigureAwait(false);
        var action = released.Count == 1 ? released[0] : throw new InvalidDataException($"Incident {incident.Id} awaits confirmation but holds no rollback.");
        await MoveAsync(tx, incident, IncidentStatus.Open, at, null, cancellationToken).ConfigureAwait(false);
        await tx.ExecuteAsync("UPDATE incidents SET answer_deadline = NULL WHERE id = $id", cancellationToken, ("$id", incident.Id)).ConfigureAwait(false);
        return action;
    }

    private static async Task<Incident> ReloadAsync(SqliteTransaction tx, long id, CancellationToken cancellationToken) =>
        (await GetIncidentRowAsync(tx, id, cancellationToken).ConfigureAwait(false)).Incident;

    private static string Describe(IncidentStatus status) => status switch
    {
        IncidentStatus.Open or IncidentStatus.Acting => "rolling back",
        IncidentStatus.Acted => "acted on",
        IncidentStatus.ActionFailed => "failed (its action failed)",
        IncidentStatus.ActionInterrupted => "interrupted",
        IncidentStatus.Resolved => "resolved",
        IncidentStatus.Denied => "denied",
        IncidentStatus.DryRun => "a dry-run (nothing runs)",
        IncidentStatus.DryRunFailed => "a dry-run whose rollback could not be planned (nothing runs)",
        _ => "awaiting confirmation",
    };

    /// <inheritdoc />
    /// <exception cref="KeyNotFoundException">There is no such incident.</exception>
    public Task AddAcknowledgmentAsync(Acknowledgment acknowledgment, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(acknowledgment);
        ArgumentNullException.ThrowIfNull(acknowledgment.By);
        ArgumentNullException.ThrowIfNull(acknowledgment.Channel);
        ArgumentNullException.ThrowIfNull(acknowledgment.Answer);
        ThrowIfNotReady();
        return WriteAsync(
            async tx =>
            {
                _ = await GetIncidentRowAsync(tx, acknowledgment.IncidentId, cancellationToken).ConfigureAwait(false);
                return await tx.ExecuteAsync(
                    "INSERT INTO acknowledgments (incident_id, at, acked_by, channel, answer, reason) VALUES ($id, $at, $by, $channel, $answer, $reason)",
                    cancellationToken,
                    ("$id", acknowledgment.IncidentId),
                    ("$at", DbTime.Format(acknowledgment.At)),
                    ("$by", acknowledgment.By),
                    ("$channel", acknowledgment.Channel),
                    ("$answer", acknowledgment.Answer),
                    ("$reason", acknowledgment.Reason)).ConfigureAwait(false);
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

    /// <summary>Releases the pooled connections, and with them the database file. Calls in flight finish first.</summary>
    public ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            using var connection = new SqliteConnection(_connectionString);
            SqliteConnection.ClearPool(connection);
        }

        return ValueTask.CompletedTask;
    }

    /// <summary>A new connection with the store's per-connection settings; for the store and its tests.</summary>
    internal async Task<SqliteConnection> OpenConnectionAsync(CancellationToken cancellationToken)
    {
        var connection = new SqliteConnection(_connectionString);
        try
        {
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            using var pragmas = connection.CreateCommand();
            pragmas.CommandText = _connectionPragmas;
            await pragmas.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private static async Task InsertEvaluationsAsync(SqliteTransaction tx, string policy, string at, IReadOnlyList<EvaluationRow> verdicts, CancellationToken cancellationToken)
    {
        if (verdicts.Count == 0)
        {
            return;
        }

        // One prepared statement for every row.
        using var insert = tx.Command(
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

    private static async Task<OpenedIncident?> OpenIncidentAsync(SqliteTransaction tx, Decision decision, string target, TimeSpan? confirmTimeout, TimeSpan denialHoldsFor, CancellationToken cancellationToken)
    {
        // A page of a policy that asks for confirmation holds a rollback until a person answers (never in dry-run).
        var confirm = decision.Action == TriggerAction.Page && confirmTimeout is not null && !decision.DryRun;

        // A person said no to this trigger for this series: no new question until the cooldown has passed.
        if (confirm && denialHoldsFor > TimeSpan.Zero)
        {
            var denied = await FindIncidentAsync(
                tx,
                "policy = $policy AND trigger = $trigger AND labels_key = $labelsKey AND status = 'Denied' AND resolved_at > $since ORDER BY resolved_at DESC LIMIT 1",
                cancellationToken,
                ("$policy", decision.Policy),
                ("$trigger", decision.Trigger),
                ("$labelsKey", decision.Labels.ToString()),
                ("$since", DbTime.Format(decision.At - denialHoldsFor))).ConfigureAwait(false);
            if (denied is not null)
            {
                await AddEventAsync(
                    tx,
                    denied.Incident.Id,
                    decision.At,
                    IncidentEventKinds.SuppressedByCooldown,
                    $"the trigger fired again ({MessageOf(decision)}); not asked again: the rollback was denied at {Rfc3339.Format(denied.Incident.ResolvedAt!.Value)}, within the cooldown",
                    cancellationToken).ConfigureAwait(false);
                return null;
            }
        }
        var openKey = DecisionKeys.OpenKey(decision);
        var idempotencyKey = DecisionKeys.IdempotencyKey(decision);
        var at = DbTime.Format(decision.At);
        var id = (long?)await tx.ScalarAsync(
            """
            INSERT INTO incidents (policy, trigger, labels, labels_key, action, dry_run, status, opened_at, updated_at, summary, evidence, open_key, answer_deadline, change_id, disarmed_reason)
            VALUES ($policy, $trigger, $labels, $labelsKey, $action, $dryRun, $status, $at, $at, $summary, $evidence, $openKey, $deadline,
                    (SELECT id FROM changes WHERE id = $changeId), $disarmedReason)
            ON CONFLICT (open_key) DO NOTHING
            RETURNING id
            """,
            cancellationToken,
            ("$policy", decision.Policy),
            ("$trigger", decision.Trigger),
            ("$labels", LabelsJson.Write(decision.Labels)),
            ("$labelsKey", decision.Labels.ToString()),
            ("$action", ActionKind(decision.Action)),
            ("$dryRun", decision.DryRun ? 1 : 0),
            ("$status", (decision.DryRun ? IncidentStatus.DryRun : confirm ? IncidentStatus.AwaitingConfirmation : IncidentStatus.Open).ToString()),
            ("$at", at),
            ("$summary", decision.Verdict.Summary),
            ("$evidence", EvidenceJson.Write(decision)),
            ("$openKey", openKey),
            ("$deadline", confirm ? DbTime.Format(decision.At + confirmTimeout!.Value) : null),
            ("$changeId", decision.Blamed is { Id: > 0 } blamed ? blamed.Id : null), // a change never stored (a test's, a backtest's) is not known here
            ("$disarmedReason", decision.DisarmedReason ?? (decision.Disarmed ? "outside every watch window" : null))).ConfigureAwait(false);

        if (id is null)
        {
            // This decision was committed before (a retried commit): hand back what was recorded then.
            var existing = await FindIncidentAsync(tx, "open_key = $key", cancellationToken, ("$key", openKey)).ConfigureAwait(false)
                ?? throw new InvalidDataException($"Incident with open key {openKey} vanished inside a transaction.");
            var recorded = await tx.QueryAsync(
                $"SELECT {ActionColumns} FROM actions WHERE idempotency_key = $key", ReadAction, cancellationToken, ("$key", idempotencyKey)).ConfigureAwait(false);
            return recorded.Count == 1
                ? new OpenedIncident(existing.Incident, recorded[0])
                : throw new InvalidDataException($"Incident {existing.Incident.Id} has no action with idempotency key {idempotencyKey}.");
        }

        var kind = confirm ? ActionKind(TriggerAction.Rollback) : ActionKind(decision.Action);
        var outcome = decision.DryRun ? DryRunOutcome(decision.Action, target) : null;
        var actionId = (long)(await tx.ScalarAsync(
            """
            INSERT INTO actions (incident_id, kind, target, idempotency_key, status, created_at, completed_at, outcome)
            VALUES ($incident, $kind, $target, $key, $status, $at, $completedAt, $outcome)
            RETURNING id
            """,
            cancellationToken,
            ("$incident", id.Value),
            ("$kind", kind),
            ("$target", target),
            ("$key", idempotencyKey),
            ("$status", (decision.DryRun ? ActionStatus.Skipped : confirm ? ActionStatus.Held : ActionStatus.Pending).ToString()),
            ("$at", at),
            ("$completedAt", decision.DryRun ? at : null),
            ("$outcome", outcome)).ConfigureAwait(false))!;

        await AddEventAsync(tx, id.Value, decision.At, IncidentEventKinds.Opened, MessageOf(decision), cancellationToken).ConfigureAwait(false);
        if (confirm)
        {
            await AddEventAsync(
                tx,
                id.Value,
                decision.At,
                IncidentEventKinds.AwaitingConfirmation,
                $"rollback of {target} held until someone approves it, by {Rfc3339.Format(decision.At + confirmTimeout!.Value)}",
                cancellationToken).ConfigureAwait(false);
        }

        if (outcome is not null)
        {
            await AddEventAsync(tx, id.Value, decision.At, IncidentEventKinds.ActionSkipped, outcome, cancellationToken).ConfigureAwait(false);
        }

        // Read back, so the caller gets exactly what a later read returns.
        var incident = await GetIncidentRowAsync(tx, id.Value, cancellationToken).ConfigureAwait(false);
        var action = await GetActionAsync(tx, actionId, cancellationToken).ConfigureAwait(false);
        return new OpenedIncident(incident.Incident, action!);
    }

    private static async Task ResolveAsync(SqliteTransaction tx, Decision decision, CancellationToken cancellationToken)
    {
        var open = await FindOpenIncidentAsync(tx, decision, cancellationToken).ConfigureAwait(false);
        if (open is null)
        {
            // Nothing was opened for this firing (it was suppressed by cooldown): the verdict history says enough.
            return;
        }

        var incident = open.Incident;
        if (incident.Status == IncidentStatus.Acting)
        {
            // Acting -> Resolved is not allowed: the action's outcome lands first, then the resolution.
            await tx.ExecuteAsync(
                "UPDATE incidents SET resolve_requested_at = $at, updated_at = $at WHERE id = $id",
                cancellationToken,
                ("$id", incident.Id),
                ("$at", DbTime.Format(decision.At))).ConfigureAwait(false);
            await AddEventAsync(
                tx,
                incident.Id,
                decision.At,
                IncidentEventKinds.ResolveDeferred,
                $"{MessageOf(decision)}; the action is still running, so the incident resolves when it finishes",
                cancellationToken).ConfigureAwait(false);
            return;
        }

        // An action that never started is not started after its trigger passed.
        var skipped = await tx.ExecuteAsync(
            "UPDATE actions SET status = 'Skipped', completed_at = $at, outcome = $outcome WHERE incident_id = $id AND status IN ('Pending', 'Held')",
            cancellationToken,
            ("$id", incident.Id),
            ("$at", DbTime.Format(decision.At)),
            ("$outcome", incident.Status == IncidentStatus.AwaitingConfirmation ? RecoveredBeforeAnswerOutcome : NotRunOutcome)).ConfigureAwait(false);
        if (skipped > 0)
        {
            await AddEventAsync(
                tx,
                incident.Id,
                decision.At,
                IncidentEventKinds.ActionSkipped,
                incident.Status == IncidentStatus.AwaitingConfirmation ? RecoveredBeforeAnswerOutcome : NotRunOutcome,
                cancellationToken).ConfigureAwait(false);
        }

        await MoveAsync(tx, incident, IncidentStatus.Resolved, decision.At, decision.At, cancellationToken).ConfigureAwait(false);
        await AddEventAsync(tx, incident.Id, decision.At, IncidentEventKinds.Resolved, MessageOf(decision), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>A resolution that arrived while the action ran is applied once the action has an outcome.</summary>
    private static async Task ApplyDeferredResolutionAsync(SqliteTransaction tx, IncidentRow row, DateTimeOffset at, CancellationToken cancellationToken)
    {
        if (row.ResolveRequestedAt is not { } requested || !IncidentTransitions.IsAllowed(row.Incident.Status, IncidentStatus.Resolved))
        {
            return;
        }

        await MoveAsync(tx, row.Incident, IncidentStatus.Resolved, at, requested, cancellationToken).ConfigureAwait(false);
        await AddEventAsync(
            tx,
            row.Incident.Id,
            at,
            IncidentEventKinds.Resolved,
            $"the trigger had passed at {Rfc3339.Format(requested)}, while the action ran",
            cancellationToken).ConfigureAwait(false);
    }

    /// <summary>A cooldown or inconclusive notice becomes part of the open incident's timeline, once.</summary>
    private static async Task NoteAsync(SqliteTransaction tx, Decision decision, string kind, CancellationToken cancellationToken)
    {
        var open = await FindOpenIncidentAsync(tx, decision, cancellationToken).ConfigureAwait(false);
        if (open is not null)
        {
            await tx.ExecuteAsync(
                "INSERT INTO incident_events (incident_id, at, kind, message) VALUES ($id, $at, $kind, $message) ON CONFLICT DO NOTHING",
                cancellationToken,
                ("$id", open.Incident.Id),
                ("$at", DbTime.Format(decision.At)),
                ("$kind", kind),
                ("$message", MessageOf(decision))).ConfigureAwait(false);
        }
    }

    /// <summary>Moves an incident, if <see cref="IncidentTransitions"/> allows it, and only from the status it was read with.</summary>
    private static async Task MoveAsync(
        SqliteTransaction tx,
        Incident incident,
        IncidentStatus to,
        DateTimeOffset at,
        DateTimeOffset? resolvedAt,
        CancellationToken cancellationToken)
    {
        if (!IncidentTransitions.IsAllowed(incident.Status, to))
        {
            throw new InvalidOperationException($"Incident {incident.Id} cannot move from {incident.Status} to {to}.");
        }

        var changed = await tx.ExecuteAsync(
            """
            UPDATE incidents SET status = $to, updated_at = $at, resolved_at = COALESCE($resolvedAt, resolved_at), change_seq = change_seq + 1
            WHERE id = $id AND status = $from
            """,
            cancellationToken,
            ("$id", incident.Id),
            ("$from", incident.Status.ToString()),
            ("$to", to.ToString()),
            ("$at", DbTime.Format(at)),
            ("$resolvedAt", resolvedAt is { } r ? DbTime.Format(r) : null)).ConfigureAwait(false);
        if (changed != 1)
        {
            throw new InvalidOperationException($"Incident {incident.Id} is no longer {incident.Status}; not moved to {to}.");
        }
    }

    private static Task<int> AddEventAsync(SqliteTransaction tx, long incidentId, DateTimeOffset at, string kind, string message, CancellationToken cancellationToken) =>
        tx.ExecuteAsync(
            "INSERT INTO incident_events (incident_id, at, kind, message) VALUES ($id, $at, $kind, $message) ON CONFLICT DO NOTHING",
            cancellationToken,
            ("$id", incidentId),
            ("$at", DbTime.Format(at)),
            ("$kind", kind),
            ("$message", message));

    private static Task<IncidentRow?> FindOpenIncidentAsync(SqliteTransaction tx, Decision decision, CancellationToken cancellationToken) =>
        FindIncidentAsync(
            tx,
            """
            policy = $policy AND trigger = $trigger AND labels_key = $labelsKey AND status NOT IN ('Resolved', 'Denied') AND resolve_requested_at IS NULL
            ORDER BY opened_at DESC, id DESC LIMIT 1
            """,
            cancellationToken,
            ("$policy", decision.Policy),
            ("$trigger", decision.Trigger),
            ("$labelsKey", decision.Labels.ToString()));

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
            ("$ids", "[" + string.Join(",", ids.Select(i => i.ToString(CultureInfo.InvariantCulture))) + "]")).ConfigureAwait(false)).ToDictionary(c => c.Id);
        return rows.ConvertAll(r => r.ChangeId is { } id && changes.TryGetValue(id, out var change) ? r with { Incident = r.Incident with { BlamedChange = change } } : r);
    }

    private static async Task<IncidentRow> GetIncidentRowAsync(SqliteTransaction tx, long id, CancellationToken cancellationToken) =>
        await FindIncidentAsync(tx, "id = $id", cancellationToken, ("$id", id)).ConfigureAwait(false) ?? throw new KeyNotFoundException($"Incident {id} does not exist.");

    private static async Task<ActionRecord?> GetActionAsync(SqliteTransaction tx, long id, CancellationToken cancellationToken)
    {
        var rows = await tx.QueryAsync($"SELECT {ActionColumns} FROM actions WHERE id = $id", ReadAction, cancellationToken, ("$id", id)).ConfigureAwait(false);
        return rows.Count == 0 ? null : rows[0];
    }

    /// <summary>SQLite has no NaN (Microsoft.Data.Sqlite refuses to bind one): NULL, with the verdict's reason saying why.</summary>
    private static object Real(double? value) => value is { } v && !double.IsNaN(v) ? v : DBNull.Value;

    private static string MessageOf(Decision decision) => string.IsNullOrWhiteSpace(decision.Message) ? decision.Verdict.Summary : decision.Message;

    internal static SqliteConnectionStringBuilder ForPath(string databasePath)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(databasePath);
        return new SqliteConnectionStringBuilder { DataSource = Path.GetFullPath(databasePath), Mode = SqliteOpenMode.ReadWriteCreate };
    }

    private async Task<T> WriteAsync<T>(Func<SqliteTransaction, Task<T>> work, CancellationToken cancellationToken)
    {
        await _writeGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            using var connection = await OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
            using var transaction = connection.BeginTransaction(deferred: false);
            var result = await work(transaction).ConfigureAwait(false);
            transaction.Commit();
            _writeFailure = null;
            return result;
        }
        catch (SqliteException e)
        {
            _writeFailure = $"writing {DataSource} failed: {e.Message}";
            throw;
        }
        finally
        {
            _writeGate.Release();
        }
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
