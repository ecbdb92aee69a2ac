using Microsoft.Data.Sqlite;
using RollbackSentinel.Core.Changes;
using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Storage.Serialization;
using RollbackSentinel.Storage.Sqlite;
using static RollbackSentinel.Storage.Serialization.StoredColumns;
using static RollbackSentinel.Storage.Sqlite.StoredRows;

namespace RollbackSentinel.Storage;

/// <summary>Changes (<see cref="IChangeStore"/>): recorded once, listed newest first, read back for every decision.</summary>
public sealed partial class SqliteIncidentStore
{
    // The sentinel's own rollback, as SQL over a changes row (see Change.IsSentinelRollback).
    private const string IsSentinelRollbackSql = "(source = 'Target' AND COALESCE(changed_by, '') = '" + Change.SentinelActor + "')";

    // What decisions of one policy are judged against: every change at or after $since, and before it, for each label
    // set, its latest change and its latest change that is not the sentinel's own rollback (a before-deploy baseline
    // is measured before that one).
    private static readonly string HistorySql = $"""
        SELECT {ChangeColumns} FROM changes WHERE policy = $policy AND at >= $since
        UNION
        SELECT {ChangeColumns} FROM (
            SELECT *,
                   ROW_NUMBER() OVER (PARTITION BY labels_key ORDER BY at DESC, id DESC) AS latest,
                   ROW_NUMBER() OVER (PARTITION BY labels_key, {IsSentinelRollbackSql} ORDER BY at DESC, id DESC) AS latest_of_kind,
                   {IsSentinelRollbackSql} AS is_rollback
            FROM changes WHERE policy = $policy AND at < $since)
        WHERE latest = 1 OR (latest_of_kind = 1 AND NOT is_rollback)
        """;

    /// <inheritdoc />
    /// <remarks>
    /// <see cref="Change.RecordedAt"/> defaults to now (the store's clock); <see cref="Change.Id"/> is ignored. Who made
    /// the change and its description are free text (known secrets redacted); policy, labels and revisions are
    /// identities, stored as given.
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
                // Under the write lock (BEGIN IMMEDIATE): two detectors reporting the same revision at once store it once.
                if (change.Source != ChangeSource.Api)
                {
                    var seen = await tx.QueryAsync(
                        $"SELECT {ChangeColumns} FROM changes WHERE policy = $policy AND labels_key = $labelsKey AND source = $source AND revision IS $revision ORDER BY id LIMIT 1",
                        ReadChange,
                        cancellationToken,
                        ("$policy", change.Policy),
                        ("$labelsKey", labelsKey),
                        ("$source", change.Source.ToString()),
                        ("$revision", change.Revision)).ConfigureAwait(false);
                    if (seen.Count > 0)
                    {
                        return new RecordedChange(seen[0], Created: false);
                    }
                }

                var stored = await tx.QueryAsync(
                    $"""
                    INSERT INTO changes (policy, labels, labels_key, at, source, revision, previous_revision, changed_by, description, recorded_at)
                    VALUES ($policy, $labels, $labelsKey, $at, $source, $revision, $previousRevision, $by, $description, $recordedAt)
                    RETURNING {ChangeColumns}
                    """,
                    ReadChange,
                    cancellationToken,
                    ("$policy", change.Policy),
                    ("$labels", LabelsJson.Write(change.Labels)),
                    ("$labelsKey", labelsKey),
                    ("$at", DbTime.Format(change.At)),
                    ("$source", change.Source.ToString()),
                    ("$revision", change.Revision),
                    ("$previousRevision", change.PreviousRevision),
                    ("$by", change.By),
                    ("$description", change.Description),
                    ("$recordedAt", DbTime.Format(recordedAt))).ConfigureAwait(false);
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
                WHERE ($policy IS NULL OR policy = $policy) AND ($since IS NULL OR at >= $since)
                ORDER BY at DESC, id DESC LIMIT $limit
                """,
                ReadChange,
                cancellationToken,
                ("$policy", policy),
                ("$since", since is { } s ? DbTime.Format(s) : null),
                ("$limit", limit)).ConfigureAwait(false),
            cancellationToken);
    }

    /// <inheritdoc />
    public Task<ChangeHistory> LoadChangeHistoryAsync(string policy, DateTimeOffset since, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(policy);
        return ReadAsync(tx => HistoryAsync(tx, policy, since, cancellationToken), cancellationToken);
    }

    /// <inheritdoc />
    public Task<Change?> GetChangeAsync(long id, CancellationToken cancellationToken) =>
        ReadAsync(
            async tx =>
            {
                var rows = await tx.QueryAsync($"SELECT {ChangeColumns} FROM changes WHERE id = $id", ReadChange, cancellationToken, ("$id", id)).ConfigureAwait(false);
                return rows.Count == 0 ? null : rows[0];
            },
            cancellationToken);

    /// <summary>
    /// Deletes changes older than <paramref name="olderThan"/> except those still needed: for each policy and label
    /// set its latest change and its latest that is not the sentinel's own rollback (a watch window or a baseline is
    /// judged against them however old they are), and every change an incident blames. Returns rows deleted.
    /// </summary>
    internal Task<int> PruneChangesAsync(DateTimeOffset olderThan, CancellationToken cancellationToken)
    {
        ThrowIfNotReady();
        return WriteAsync(
            tx => tx.ExecuteAsync(
                $"""
                DELETE FROM changes WHERE at < $cutoff AND id NOT IN (
                    SELECT id FROM (
                        SELECT id,
                               ROW_NUMBER() OVER (PARTITION BY policy, labels_key ORDER BY at DESC, id DESC) AS latest,
                               ROW_NUMBER() OVER (PARTITION BY policy, labels_key, {IsSentinelRollbackSql} ORDER BY at DESC, id DESC) AS latest_of_kind,
                               {IsSentinelRollbackSql} AS is_rollback
                        FROM changes)
                    WHERE latest = 1 OR (latest_of_kind = 1 AND NOT is_rollback))
                AND id NOT IN (SELECT change_id FROM incidents WHERE change_id IS NOT NULL)
                """,
                cancellationToken,
                ("$cutoff", DbTime.Format(olderThan))),
            cancellationToken);
    }

    private static async Task<ChangeHistory> HistoryAsync(SqliteTransaction tx, string policy, DateTimeOffset since, CancellationToken cancellationToken) =>
        new(await tx.QueryAsync(HistorySql, ReadChange, cancellationToken, ("$policy", policy), ("$since", DbTime.Format(since))).ConfigureAwait(false));

}
