using System.Globalization;
using Microsoft.Data.Sqlite;

namespace RollbackSentinel.Storage.Sqlite;

/// <summary>One forward-only schema step. Applied once, in its own transaction, recorded in <c>schema_version</c>.</summary>
internal sealed record Migration(int Version, string Description, string Sql);

/// <summary>
/// The schema as a list of migrations. Never edit a released migration: add the next one. Times are
/// <see cref="DbTime"/> text; enums are stored by name, action kinds lower-case (rollback, page, notify).
/// Unique constraints are separate indexes so a later migration can drop or replace them.
/// </summary>
internal static class SqliteSchema
{
    public static readonly IReadOnlyList<Migration> Migrations =
    [
        new(1, "policy state, evaluation history, incidents with events, actions and acknowledgments", """
            CREATE TABLE policy_state (
                policy     TEXT NOT NULL PRIMARY KEY,
                state      TEXT NOT NULL,
                updated_at TEXT NOT NULL
            );

            CREATE TABLE evaluations (
                id        INTEGER PRIMARY KEY,
                policy    TEXT NOT NULL,
                at        TEXT NOT NULL,
                trigger   TEXT NOT NULL,
                labels    TEXT NOT NULL,
                kind      TEXT NOT NULL,
                reason    TEXT NOT NULL,
                value     REAL, -- NULL when absent or NaN (reason says which); infinities are kept
                threshold REAL,
                baseline  REAL,
                summary   TEXT NOT NULL
            );
            CREATE INDEX ix_evaluations_at ON evaluations (at);
            -- One verdict per series per evaluation: a retried commit adds nothing.
            CREATE UNIQUE INDEX ux_evaluations_policy_at_series ON evaluations (policy, at, trigger, labels);

            CREATE TABLE incidents (
                id                   INTEGER PRIMARY KEY AUTOINCREMENT,
                policy               TEXT NOT NULL,
                trigger              TEXT NOT NULL,
                labels               TEXT NOT NULL,
                labels_key           TEXT NOT NULL,
                action               TEXT NOT NULL,
                dry_run              INTEGER NOT NULL CHECK (dry_run IN (0, 1)),
                status               TEXT NOT NULL,
                opened_at            TEXT NOT NULL,
                updated_at           TEXT NOT NULL,
                resolved_at          TEXT,
                resolve_requested_at TEXT,
                summary              TEXT NOT NULL,
                evidence             TEXT NOT NULL,
                open_key             TEXT NOT NULL
            );
            CREATE UNIQUE INDEX ux_incidents_open_key ON incidents (open_key);
            CREATE INDEX ix_incidents_series ON incidents (policy, trigger, labels_key, opened_at);
            CREATE INDEX ix_incidents_status ON incidents (status, opened_at);
            CREATE INDEX ix_incidents_opened_at ON incidents (opened_at);

            CREATE TABLE incident_events (
                id          INTEGER PRIMARY KEY,
                incident_id INTEGER NOT NULL REFERENCES incidents (id),
                at          TEXT NOT NULL,
                kind        TEXT NOT NULL,
                message     TEXT NOT NULL
            );
            CREATE UNIQUE INDEX ux_incident_events_once ON incident_events (incident_id, kind, at);

            CREATE TABLE actions (
                id              INTEGER PRIMARY KEY AUTOINCREMENT,
                incident_id     INTEGER NOT NULL REFERENCES incidents (id),
                kind            TEXT NOT NULL,
                target          TEXT NOT NULL,
                idempotency_key TEXT NOT NULL,
                status          TEXT NOT NULL,
                created_at      TEXT NOT NULL,
                started_at      TEXT,
                completed_at    TEXT,
                outcome         TEXT
            );
            CREATE UNIQUE INDEX ux_actions_idempotency_key ON actions (idempotency_key);
            CREATE INDEX ix_actions_incident ON actions (incident_id);
            CREATE INDEX ix_actions_status ON actions (status);

            CREATE TABLE acknowledgments (
                id          INTEGER PRIMARY KEY,
                incident_id INTEGER NOT NULL REFERENCES incidents (id),
                at          TEXT NOT NULL,
                acked_by    TEXT NOT NULL,
                channel     TEXT NOT NULL,
                answer      TEXT NOT NULL
            );
            CREATE INDEX ix_acknowledgments_incident ON acknowledgments (incident_id, at);
            """),
        new(2, "actions keep their plan (resolved once) and the state before and after they ran", """
            ALTER TABLE actions ADD COLUMN plan TEXT;
            ALTER TABLE actions ADD COLUMN before_state TEXT;
            ALTER TABLE actions ADD COLUMN after_state TEXT;
            """),
        new(3, "confirmation (answer deadline, timeout), answers with reasons, and what each channel last published", """
            ALTER TABLE incidents ADD COLUMN answer_deadline TEXT;
            ALTER TABLE incidents ADD COLUMN timed_out_at TEXT;
            ALTER TABLE acknowledgments ADD COLUMN reason TEXT;
            -- Channels are told about every change: change_seq grows with each, notified_seq is how far they were told.
            ALTER TABLE incidents ADD COLUMN change_seq INTEGER NOT NULL DEFAULT 1;
            ALTER TABLE incidents ADD COLUMN notified_seq INTEGER NOT NULL DEFAULT 0;
            UPDATE incidents SET notified_seq = change_seq;
            CREATE INDEX ix_incidents_to_notify ON incidents (status, updated_at);

            CREATE TABLE notifications (
                incident_id INTEGER NOT NULL REFERENCES incidents (id),
                channel     TEXT NOT NULL,
                reference   TEXT,
                state       TEXT NOT NULL,
                at          TEXT NOT NULL,
                PRIMARY KEY (incident_id, channel)
            );
            """),
        new(4, "changes (deploys, migration steps, flag flips), and the change each incident blames and why a rollback was disarmed", """
            -- labels as a JSON object like incidents' labels; labels_key is its canonical text, for equality.
            -- source is the ChangeSource name (Api, Target, Query); changed_by is who made it (rollback-sentinel: its own rollback).
            CREATE TABLE changes (
                id                INTEGER PRIMARY KEY AUTOINCREMENT,
                policy            TEXT NOT NULL,
                labels            TEXT NOT NULL,
                labels_key        TEXT NOT NULL,
                at                TEXT NOT NULL,
                source            TEXT NOT NULL,
                revision          TEXT,
                previous_revision TEXT,
                changed_by        TEXT,
                description       TEXT,
                recorded_at       TEXT NOT NULL
            );
            CREATE INDEX ix_changes_policy_at ON changes (policy, at);
            CREATE INDEX ix_changes_series ON changes (policy, labels_key, at);
            CREATE INDEX ix_changes_at ON changes (at);
            -- A detected revision seen before is not a new change (the lookup; not unique, API changes repeat freely).
            CREATE INDEX ix_changes_revision ON changes (policy, labels_key, source, revision);

            -- NULL: no change is known (or the incident predates changes).
            ALTER TABLE incidents ADD COLUMN change_id INTEGER REFERENCES changes (id);
            ALTER TABLE incidents ADD COLUMN disarmed_reason TEXT;
            CREATE INDEX ix_incidents_change ON incidents (change_id);
            """),
        new(5, "optimistic versions (incident revision, policy state version) and leases (started actions, notifications)", """
            -- Bumped by every update applied to an incident; a write decided from an older revision is refused.
            ALTER TABLE incidents ADD COLUMN revision INTEGER NOT NULL DEFAULT 0;
            -- Who is telling the channels about the incident, and until when others leave it alone.
            ALTER TABLE incidents ADD COLUMN notify_owner TEXT;
            ALTER TABLE incidents ADD COLUMN notify_lease_until TEXT;
            -- Who runs a started action, and until when others leave it alone.
            ALTER TABLE actions ADD COLUMN lease_owner TEXT;
            ALTER TABLE actions ADD COLUMN lease_until TEXT;
            -- Bumped by every write of the state; a stored state is at 1 or more (0 means none is stored).
            ALTER TABLE policy_state ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
            -- What decisions of a policy load (its open incidents and recent denials).
            CREATE INDEX ix_incidents_policy_status ON incidents (policy, status, resolved_at);
            -- Incidents the channels have not been told about yet.
            CREATE INDEX ix_incidents_unnotified ON incidents (updated_at) WHERE change_seq > notified_seq;
            """),
        new(6, "delivery claims: who is telling a channel about an incident, and until when others leave it alone", """
            -- One row per (incident, channel) being told right now; saving what the channel published deletes it.
            CREATE TABLE delivery_claims (
                incident_id INTEGER NOT NULL REFERENCES incidents (id),
                channel     TEXT NOT NULL,
                lease_owner TEXT NOT NULL,
                lease_until TEXT NOT NULL,
                PRIMARY KEY (incident_id, channel)
            );
            """),
    ];

    public static int LatestVersion(IReadOnlyList<Migration> migrations) => migrations.Count == 0 ? 0 : migrations[^1].Version;

    /// <summary>
    /// Brings the database up to the last migration, one transaction per migration. Each step re-reads the
    /// version under the write lock (BEGIN IMMEDIATE), so two processes starting at once apply each step once.
    /// </summary>
    /// <returns>The schema version the database is at.</returns>
    /// <exception cref="InvalidOperationException">The database has a newer schema than this build knows.</exception>
    public static async Task<int> MigrateAsync(
        SqliteConnection connection,
        IReadOnlyList<Migration> migrations,
        TimeProvider timeProvider,
        CancellationToken cancellationToken)
    {
        CheckContiguous(migrations);
        var latest = LatestVersion(migrations);
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            using var transaction = connection.BeginTransaction(deferred: false);
            await transaction.ExecuteAsync(
                "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL PRIMARY KEY, description TEXT NOT NULL, applied_at TEXT NOT NULL)",
                cancellationToken).ConfigureAwait(false);
            var current = Convert.ToInt32(
                await transaction.ScalarAsync("SELECT COALESCE(MAX(version), 0) FROM schema_version", cancellationToken).ConfigureAwait(false),
                CultureInfo.InvariantCulture);
            if (current > latest)
            {
                throw new InvalidOperationException(
                    $"The database {connection.DataSource} has schema version {current}, newer than the {latest} this build of RollbackSentinel knows; "
                    + "run a newer RollbackSentinel or point it at another database file. Nothing was changed.");
            }

            if (current == latest)
            {
                transaction.Commit();
                return current;
            }

            var next = migrations[current];
            await transaction.ExecuteAsync(next.Sql, cancellationToken).ConfigureAwait(false);
            await transaction.ExecuteAsync(
                "INSERT INTO schema_version (version, description, applied_at) VALUES ($version, $description, $at)",
                cancellationToken,
                ("$version", next.Version),
                ("$description", next.Description),
                ("$at", DbTime.Format(timeProvider.GetUtcNow()))).ConfigureAwait(false);

            // For sqlite3 users and tools that look at the header; schema_version stays the record.
            await transaction.ExecuteAsync(string.Create(CultureInfo.InvariantCulture, $"PRAGMA user_version = {next.Version}"), cancellationToken).ConfigureAwait(false);
            transaction.Commit();
        }
    }

    private static void CheckContiguous(IReadOnlyList<Migration> migrations)
    {
        for (var i = 0; i < migrations.Count; i++)
        {
            if (migrations[i].Version != i + 1)
            {
                throw new InvalidOperationException($"Migration {i} has version {migrations[i].Version}; versions must run 1, 2, 3... without gaps.");
            }
        }
    }
}
