using System.Globalization;
using Npgsql;
using RollbackSentinel.Core.Incidents;
using RollbackSentinel.Storage.Serialization;
using static RollbackSentinel.Storage.Postgres.PostgresRows;
using static RollbackSentinel.Storage.Serialization.StoredColumns;

namespace RollbackSentinel.Storage.Postgres;

/// <summary>The incident changes as SQL, row reading, and the transactions every operation runs in.</summary>
internal sealed partial class PostgresIncidentStore
{
    private static async Task ApplyChangeAsync(NpgsqlTransaction tx, long id, IncidentChange change, CancellationToken cancellationToken)
    {
        switch (change)
        {
            case OpenIncident:
                break; // applied by ApplyUpdateAsync

            case MoveIncident move:
                await ExpectOneAsync(
                    tx,
                    """
                    UPDATE incidents SET status = @to, updated_at = @at, resolved_at = COALESCE(@resolvedAt, resolved_at), change_seq = change_seq + 1
                    WHERE id = @id AND status = @from
                    """,
                    $"Incident {id} is no longer {move.From}; not moved to {move.To}.",
                    cancellationToken,
                    ("id", id),
                    ("from", move.From.ToString()),
                    ("to", move.To.ToString()),
                    ("at", move.At),
                    ("resolvedAt", move.ResolvedAt)).ConfigureAwait(false);
                break;

            case SetAnswerDeadline deadline:
                await tx.ExecuteAsync(
                    "UPDATE incidents SET answer_deadline = @deadline, timed_out_at = @timedOutAt, updated_at = @at, change_seq = change_seq + 1 WHERE id = @id",
                    cancellationToken,
                    ("id", id),
                    ("deadline", deadline.Deadline),
                    ("timedOutAt", deadline.TimedOutAt),
                    ("at", deadline.At)).ConfigureAwait(false);
                break;

            case RequestResolution request:
                await tx.ExecuteAsync(
                    "UPDATE incidents SET resolve_requested_at = @at, updated_at = @at WHERE id = @id",
                    cancellationToken,
                    ("id", id),
                    ("at", request.At)).ConfigureAwait(false);
                break;

            case MarkChanged:
                // Only the version: the time an incident was last updated is what moves and deadlines set.
                await tx.ExecuteAsync("UPDATE incidents SET change_seq = change_seq + 1 WHERE id = @id", cancellationToken, ("id", id)).ConfigureAwait(false);
                break;

            case MoveAction move:
                await ExpectOneAsync(
                    tx,
                    """
                    UPDATE actions SET status = @to,
                        created_at = COALESCE(@createdAt, created_at), started_at = COALESCE(@startedAt, started_at),
                        completed_at = COALESCE(@completedAt, completed_at), outcome = COALESCE(@outcome, outcome),
                        plan = COALESCE(@plan, plan), before_state = COALESCE(@before, before_state), after_state = COALESCE(@after, after_state),
                        lease_owner = COALESCE(@leaseOwner, lease_owner), lease_until = COALESCE(@leaseUntil, lease_until)
                    WHERE id = @action AND incident_id = @id AND status = @from
                    """,
                    $"Action {move.ActionId} of incident {id} is no longer {move.From}; not moved to {move.To}.",
                    cancellationToken,
                    ("id", id),
                    ("action", move.ActionId),
                    ("from", move.From.ToString()),
                    ("to", move.To.ToString()),
                    ("createdAt", move.CreatedAt),
                    ("startedAt", move.StartedAt),
                    ("completedAt", move.CompletedAt),
                    ("outcome", move.Outcome),
                    ("plan", move.Plan),
                    ("before", move.Before),
                    ("after", move.After),
                    ("leaseOwner", move.Lease?.Owner),
                    ("leaseUntil", move.Lease?.Until)).ConfigureAwait(false);
                break;

            case SavePlan save:
                await tx.ExecuteAsync(
                    "UPDATE actions SET plan = @plan WHERE id = @action AND incident_id = @id AND plan IS NULL",
                    cancellationToken,
                    ("id", id),
                    ("action", save.ActionId),
                    ("plan", save.Plan)).ConfigureAwait(false);
                break;

            case RecordEvent e:
                await tx.ExecuteAsync(
                    "INSERT INTO incident_events (incident_id, at, kind, message) VALUES (@id, @at, @kind, @message) ON CONFLICT DO NOTHING",
                    cancellationToken,
                    ("id", id),
                    ("at", e.At),
                    ("kind", e.Kind),
                    ("message", e.Message)).ConfigureAwait(false);
                break;

            case RecordAnswer answer:
                await tx.ExecuteAsync(
                    "INSERT INTO acknowledgments (incident_id, at, acked_by, channel, answer, reason) VALUES (@id, @at, @by, @channel, @answer, @reason)",
                    cancellationToken,
                    ("id", id),
                    ("at", answer.Answer.At),
                    ("by", answer.Answer.By),
                    ("channel", answer.Answer.Channel),
                    ("answer", answer.Answer.Answer),
                    ("reason", answer.Answer.Reason)).ConfigureAwait(false);
                break;

            default:
                throw new ArgumentOutOfRangeException(nameof(change), change.GetType().Name, "unknown incident change");
        }
    }

    /// <summary>
    /// Inserts the incident (revision 1) and its first action, unless its open key is stored already: then nothing is
    /// written and the stored incident's id comes back, not created.
    /// </summary>
    private static async Task<(long Id, bool Created)> OpenAsync(NpgsqlTransaction tx, OpenIncident open, CancellationToken cancellationToken)
    {
        var incident = open.Incident;
        var id = (long?)await tx.ScalarAsync(
            """
            INSERT INTO incidents (policy, trigger, labels, labels_key, action, dry_run, status, opened_at, updated_at, resolved_at, summary, evidence,
                                   open_key, answer_deadline, timed_out_at, change_id, disarmed_reason, revision)
            VALUES (@policy, @trigger, @labels, @labelsKey, @action, @dryRun, @status, @openedAt, @updatedAt, @resolvedAt, @summary, @evidence,
                    @openKey, @deadline, @timedOutAt, (SELECT id FROM changes WHERE id = @changeId), @disarmedReason, 1)
            ON CONFLICT (open_key) DO NOTHING
            RETURNING id
            """,
            cancellationToken,
            ("policy", incident.Policy),
            ("trigger", incident.Trigger),
            ("labels", LabelsJson.Write(incident.Labels)),
            ("labelsKey", incident.Labels.ToString()),
            ("action", ActionKind(incident.Action)),
            ("dryRun", incident.DryRun),
            ("status", incident.Status.ToString()),
            ("openedAt", incident.OpenedAt),
            ("updatedAt", incident.UpdatedAt),
            ("resolvedAt", incident.ResolvedAt),
            ("summary", incident.Summary),
            ("evidence", incident.EvidenceJson),
            ("openKey", open.OpenKey),
            ("deadline", incident.AnswerDeadline),
            ("timedOutAt", incident.TimedOutAt),
            // 0 matches no change (ids start at 1): a typed value where NULL would leave the parameter untyped.
            ("changeId", open.BlamedChangeId is > 0 ? open.BlamedChangeId : 0L),
            ("disarmedReason", incident.DisarmedReason)).ConfigureAwait(false);
        if (id is null)
        {
            var stored = await tx.ScalarAsync("SELECT id FROM incidents WHERE open_key = @key", cancellationToken, ("key", open.OpenKey)).ConfigureAwait(false);
            return ((long)stored!, false);
        }

        var action = open.Action;
        await tx.ExecuteAsync(
            """
            INSERT INTO actions (incident_id, kind, target, idempotency_key, status, created_at, started_at, completed_at, outcome, plan, before_state, after_state)
            VALUES (@id, @kind, @target, @key, @status, @createdAt, @startedAt, @completedAt, @outcome, @plan, @before, @after)
            """,
            cancellationToken,
            ("id", id.Value),
            ("kind", action.Kind),
            ("target", action.Target),
            ("key", action.IdempotencyKey.Replace(OpenIncident.IncidentIdToken, id.Value.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal)),
            ("status", action.Status.ToString()),
            ("createdAt", action.CreatedAt),
            ("startedAt", action.StartedAt),
            ("completedAt", action.CompletedAt),
            ("outcome", action.Outcome),
            ("plan", action.Plan),
            ("before", action.Before),
            ("after", action.After)).ConfigureAwait(false);
        return (id.Value, true);
    }

    /// <summary>Runs a conditional write that must change exactly one row; otherwise the batch was decided from a stale read.</summary>
    private static async Task ExpectOneAsync(NpgsqlTransaction tx, string sql, string conflict, CancellationToken cancellationToken, params (string Name, object? Value)[] parameters)
    {
        if (await tx.ExecuteAsync(sql, cancellationToken, parameters).ConfigureAwait(false) != 1)
        {
            throw new StoreConflictException(conflict);
        }
    }

    private static async Task<IncidentRecord?> LoadRecordAsync(NpgsqlTransaction tx, long id, CancellationToken cancellationToken)
    {
        var row = await FindIncidentAsync(tx, "id = @id", cancellationToken, ("id", id)).ConfigureAwait(false);
        return row is null ? null : (await WithActionsAsync(tx, [row], cancellationToken).ConfigureAwait(false))[0];
    }

    /// <summary>The rows as records, each with its actions (oldest first), read in one query.</summary>
    private static async Task<IReadOnlyList<IncidentRecord>> WithActionsAsync(NpgsqlTransaction tx, List<IncidentRow> rows, CancellationToken cancellationToken)
    {
        if (rows.Count == 0)
        {
            return [];
        }

        var actions = (await tx.QueryAsync(
            $"SELECT {ActionColumns} FROM actions WHERE incident_id = ANY(@ids) ORDER BY id",
            ReadAction,
            cancellationToken,
            ("ids", rows.Select(r => r.Incident.Id).Distinct().ToArray())).ConfigureAwait(false)).ToLookup(a => a.IncidentId);
        return rows.ConvertAll(r => new IncidentRecord(r.Incident, actions[r.Incident.Id].ToList())
        {
            ResolveRequestedAt = r.ResolveRequestedAt,
            Revision = r.Revision,
        });
    }

    private static async Task<IncidentRow?> FindIncidentAsync(NpgsqlTransaction tx, string where, CancellationToken cancellationToken, params (string Name, object? Value)[] parameters)
    {
        var rows = await QueryIncidentsAsync(tx, "WHERE " + where, cancellationToken, parameters).ConfigureAwait(false);
        return rows.Count == 0 ? null : rows[0];
    }

    /// <summary><c>SELECT</c> incidents (<paramref name="tail"/>: the WHERE, ORDER and LIMIT), each with the change it blames.</summary>
    private static async Task<List<IncidentRow>> QueryIncidentsAsync(NpgsqlTransaction tx, string tail, CancellationToken cancellationToken, params (string Name, object? Value)[] parameters)
    {
        var rows = await tx.QueryAsync($"SELECT {IncidentColumns} FROM incidents {tail}", ReadIncident, cancellationToken, parameters).ConfigureAwait(false);
        var ids = rows.Where(r => r.ChangeId is not null).Select(r => r.ChangeId!.Value).Distinct().ToArray();
        if (ids.Length == 0)
        {
            return rows;
        }

        var changes = (await tx.QueryAsync($"SELECT {ChangeColumns} FROM changes WHERE id = ANY(@ids)", ReadChange, cancellationToken, ("ids", ids)).ConfigureAwait(false))
            .ToDictionary(c => c.Id);
        return rows.ConvertAll(r => r.ChangeId is { } id && changes.TryGetValue(id, out var change) ? r with { Incident = r.Incident with { BlamedChange = change } } : r);
    }

    /// <summary>NaN as NULL, as in the SQLite store (the verdict's reason says why there is no value).</summary>
    private static double? Real(double? value) => value is { } v && !double.IsNaN(v) ? v : null;

    /// <summary>Runs <paramref name="work"/> in one READ COMMITTED transaction (see the class remarks) and commits it.</summary>
    private Task<T> WriteAsync<T>(Func<NpgsqlTransaction, Task<T>> work, CancellationToken cancellationToken) =>
        RunAsync(System.Data.IsolationLevel.ReadCommitted, write: true, rerunnable: false, (_, tx) => work(tx!), cancellationToken);

    /// <summary>Runs <paramref name="work"/> in one REPEATABLE READ transaction: one snapshot.</summary>
    private Task<T> ReadAsync<T>(Func<NpgsqlTransaction, Task<T>> work, CancellationToken cancellationToken) =>
        RunAsync(System.Data.IsolationLevel.RepeatableRead, write: false, rerunnable: false, (_, tx) => work(tx!), cancellationToken);

    /// <summary>
    /// Runs <paramref name="work"/>, which must send exactly one statement, on its own: PostgreSQL runs a lone statement
    /// as a transaction of its own with one snapshot, so it needs no BEGIN and no COMMIT, and costs one round trip instead
    /// of two. For what every evaluation reads and writes.
    /// </summary>
    private Task<T> ReadOneAsync<T>(Func<NpgsqlConnection, Task<T>> work, CancellationToken cancellationToken) =>
        RunAsync(null, write: false, rerunnable: true, (connection, _) => work(connection), cancellationToken);

    /// <summary>
    /// As <see cref="ReadOneAsync{T}"/>, for one statement that writes. It commits as it runs, so whether a statement whose
    /// connection broke was applied is unknown: it is run again only if <paramref name="rerunnable"/> (running it twice
    /// changes nothing: a version-checked write is then refused as a conflict, an insert that ignores duplicates adds
    /// nothing).
    /// </summary>
    private Task<T> WriteOneAsync<T>(Func<NpgsqlConnection, Task<T>> work, bool rerunnable, CancellationToken cancellationToken) =>
        RunAsync(null, write: true, rerunnable, (connection, _) => work(connection), cancellationToken);

    /// <summary>
    /// One transaction on a pooled connection (or, without <paramref name="isolation"/>, one statement on its own). When
    /// PostgreSQL restarted (or failed over, or the network dropped) since a pooled connection was last used, that
    /// connection, and every other idle one, is dead: the first statement on it fails. The idle ones are then dropped at
    /// once (<see cref="NpgsqlDataSource.Clear"/>), and the work is run once more on a fresh connection, but only when it
    /// broke before its commit was sent: the server rolls back what a dead connection had begun, so nothing can be
    /// applied twice. A lone writing statement is its own commit: it is run again only when <paramref name="rerunnable"/>.
    /// A commit that broke is not retried (whether it was applied is unknown; the caller's next attempt settles it by its
    /// version or lease checks). While PostgreSQL is down every
    /// call throws (no fresh connection opens); once it is back, calls succeed, with no restart of the daemon (but a lone
    /// write that may not run twice fails once if it meets a dead pooled connection first).
    /// </summary>
    private async Task<T> RunAsync<T>(System.Data.IsolationLevel? isolation, bool write, bool rerunnable, Func<NpgsqlConnection, NpgsqlTransaction?, Task<T>> work, CancellationToken cancellationToken)
    {
        ThrowIfNotReady();
        for (var attempt = 1; ; attempt++)
        {
            var opened = false;
            var committing = false;
            try
            {
                await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
                opened = true;
                await using var transaction = isolation is { } level
                    ? await connection.BeginTransactionAsync(level, cancellationToken).ConfigureAwait(false)
                    : null;
                // A lone writing statement commits as it runs: once sent, it runs again only if that changes nothing.
                committing = transaction is null && write && !rerunnable;
                var result = await work(connection, transaction).ConfigureAwait(false);
                if (transaction is not null)
                {
                    committing = true;
                    await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
                }

                if (write)
                {
                    _writeFailure = null;
                }
                else
                {
                    _readFailure = null;
                }

                return result;
            }
            catch (NpgsqlException e)
            {
                // The server answering one statement with an error (a constraint, a bad value) is not the store failing.
                if (!ConnectionBroke(e))
                {
                    throw;
                }

                var failure = $"{(write ? "writing" : "reading")} {DataSource} failed: {e.Message}";
                if (write)
                {
                    _writeFailure = failure;
                }
                else
                {
                    _readFailure = failure;
                }

                _dataSource.Clear();

                // Not when it could not even connect (PostgreSQL is down: it would fail again), nor after a timeout (it waited long enough).
                if (!opened || committing || attempt > 1 || e.InnerException is TimeoutException)
                {
                    throw;
                }
            }
        }
    }

    /// <summary>
    /// Whether the failure means the connection is gone. A <see cref="PostgresException"/> is the server answering; only
    /// classes 08 (connection exception) and 57P (the server is shutting down or starting) mean that. Any other
    /// <see cref="NpgsqlException"/> had no answer from the server: I/O failed or timed out.
    /// </summary>
    private static bool ConnectionBroke(NpgsqlException failure) =>
        failure is not PostgresException { SqlState: var state }
        || state.StartsWith("08", StringComparison.Ordinal)
        || state.StartsWith("57P", StringComparison.Ordinal);

    private void ThrowIfNotReady()
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (!_initialized)
        {
            throw new InvalidOperationException("Call InitializeAsync before using the incident store.");
        }
    }
}
