using Npgsql;
using RollbackSentinel.Core.Changes;
using RollbackSentinel.Storage.Serialization;
using static RollbackSentinel.Storage.Postgres.PostgresRows;
using static RollbackSentinel.Storage.Serialization.StoredColumns;

namespace RollbackSentinel.Storage.Postgres;

/// <summary>Changes (<see cref="IChangeStore"/>): recorded once, listed newest first, read back for every decision.</summary>
internal sealed partial class PostgresIncidentStore
{
    // The sentinel's own rollback, as SQL over a changes row (see Change.IsSentinelRollback).
    private const string IsSentinelRollbackSql = "(source = 'Target' AND COALESCE(changed_by, '') = '" + Change.SentinelActor + "')";

    // The same selection as the SQLite store: every change at or after @since, and before it, for each label set, its
    // latest change and its latest change that is not the sentinel's own rollback.
    private static readonly string HistorySql = $"""
        SELECT {ChangeColumns} FROM changes WHERE policy = @policy AND at >= @since
        UNION
        SELECT {ChangeColumns} FROM (
            SELECT *,
                   ROW_NUMBER() OVER (PARTITION BY labels_key ORDER BY at DESC, id DESC) AS latest,
                   ROW_NUMBER() OVER (PARTITION BY labels_key, {IsSentinelRollbackSql} ORDER BY at DESC, id DESC) AS latest_of_kind,
                   {IsSentinelRollbackSql} AS is_rollback
            FROM changes WHERE policy = @policy AND at < @since) older
        WHERE latest = 1 OR (latest_of_kind = 1 AND NOT is_rollback)
        """;

    /// <inheritdoc />
    /// <remarks>
    /// <see cref="Change.RecordedAt"/> defaults to now (the store's clock). A transaction-scoped advisory lock on the
    /// series makes the look-up and the insert one step: two sentinels reporting the same revision at once store it once.
    /// </remarks>
    public Task<RecordedChange> RecordChangeAsync(Change change, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(change);
        ArgumentException.ThrowIfNullOrWhiteSpace(change.Policy, nameof(change));
        ThrowIfNotReady();
        var recordedAt = change.RecordedAt ?? _timeProvider.GetUtcNow();
        var labelsKey = change.Labels.ToString();
        return WriteAsync(
            async tx =>
            {
                if (change.Source != ChangeSource.Api)
                {
                    await tx.ExecuteAsync(
                        "SELECT pg_advisory_xact_lock(hashtextextended(@policy || chr(10) || @labelsKey, 0))",
                        cancellationToken,
                        ("policy", change.Policy),
                        ("labelsKey", labelsKey)).ConfigureAwait(false);
                    var seen = await tx.QueryAsync(
                        $"SELECT {ChangeColumns} FROM changes WHERE policy = @policy AND labels_key = @labelsKey AND source = @source AND revision IS NOT DISTINCT FROM @revision::text ORDER BY id LIMIT 1",
                        ReadChange,
                        cancellationToken,
                        ("policy", change.Policy),
                        ("labelsKey", labelsKey),
                        ("source", change.Source.ToString()),
                        ("revision", change.Revision)).ConfigureAwait(false);
                    if (seen.Count > 0)
                    {
                        return new RecordedChange(seen[0], Created: false);
                    }
                }

                var stored = await tx.QueryAsync(
                    $"""
                    INSERT INTO changes (policy, labels, labels_key, at, source, revision, previous_revision, changed_by, description, recorded_at)
                    VALUES (@policy, @labels, @labelsKey, @at, @source, @revision, @previousRevision, @by, @description, @recordedAt)
                    RETURNING {ChangeColumns}
                    """,
                    ReadChange,
                    cancellationToken,
                    ("policy", change.Policy),
                    ("labels", LabelsJson.Write(change.Labels)),
                    ("labelsKey", labelsKey),
                    ("at", change.At),
                    ("source", change.Source.ToString()),
                    ("revision", change.Revision),
                    ("previousRevision", change.PreviousRevision),
                    ("by", change.By),
                    ("description", change.Description),
                    ("recordedAt", recordedAt)).ConfigureAwait(false);
                return new RecordedChange(stored[0], Created: true);
            },
            cancellationToken);
    }

    /// <inheritdoc />
    public Task<IReadOnlyList<Change>> ListChangesAsync(string? policy, DateTimeOffset? since, int limit, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(limit);
        return ReadAsync(
            async tx => (IReadOnlyList<Change>)await tx.QueryAsync(
                $"""
                SELECT {ChangeColumns} FROM changes
                WHERE (@policy::text IS NULL OR policy = @policy::text) AND (@since::timestamptz IS NULL OR at >= @since::timestamptz)
                ORDER BY at DESC, id DESC LIMIT @limit
                """,
                ReadChange,
                cancellationToken,
                ("policy", policy),
                ("since", since),
                ("limit", limit)).ConfigureAwait(false),
            cancellationToken);
    }

    /// <inheritdoc />
    public Task<ChangeHistory> LoadChangeHistoryAsync(string policy, DateTimeOffset since, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(policy);
        return ReadOneAsync(
            async connection => new ChangeHistory(await connection.QueryAsync(HistorySql, ReadChange, cancellationToken, ("policy", policy), ("since", since)).ConfigureAwait(false)),
            cancellationToken);
    }

    /// <inheritdoc />
    public Task<Change?> GetChangeAsync(long id, CancellationToken cancellationToken) =>
        ReadAsync(
            async tx =>
            {
                var rows = await tx.QueryAsync($"SELECT {ChangeColumns} FROM changes WHERE id = @id", ReadChange, cancellationToken, ("id", id)).ConfigureAwait(false);
                return rows.Count == 0 ? null : rows[0];
            },
            cancellationToken);

    /// <summary>
    /// Deletes changes older than <paramref name="olderThan"/> except those still needed (the latest of each label set,
    /// its latest that is not the sentinel's own rollback, and every change an incident blames). Returns rows deleted.
    /// </summary>
    internal Task<int> PruneChangesAsync(DateTimeOffset olderThan, CancellationToken cancellationToken) =>
        WriteAsync(
            tx => tx.ExecuteAsync(
                $"""
                DELETE FROM changes WHERE at < @cutoff AND id NOT IN (
                    SELECT id FROM (
                        SELECT id,
                               ROW_NUMBER() OVER (PARTITION BY policy, labels_key ORDER BY at DESC, id DESC) AS latest,
                               ROW_NUMBER() OVER (PARTITION BY policy, labels_key, {IsSentinelRollbackSql} ORDER BY at DESC, id DESC) AS latest_of_kind,
                               {IsSentinelRollbackSql} AS is_rollback
                        FROM changes) ranked
                    WHERE latest = 1 OR (latest_of_kind = 1 AND NOT is_rollback))
                AND id NOT IN (SELECT change_id FROM incidents WHERE change_id IS NOT NULL)
                """,
                cancellationToken,
                ("cutoff", olderThan)),
            cancellationToken);
}
