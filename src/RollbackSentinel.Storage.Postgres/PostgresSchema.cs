using Npgsql;

namespace RollbackSentinel.Storage.Postgres;

/// <summary>One forward-only schema step. Applied once, in its own transaction, recorded in <c>schema_version</c>.</summary>
internal sealed record PostgresMigration(int Version, string Description, string Sql);

/// <summary>
/// The PostgreSQL schema as a list of migrations. Never edit a released migration: add the next one. Times are
/// <c>timestamptz</c> (microseconds: a tick below that is not kept); enums are stored by name, action kinds lower-case
/// (rollback, page, notify); JSON is kept as the text the SQLite store writes, so both read it the same way.
/// Version 1 is the SQLite schema after its migration 5 (versions, leases), in one step: no PostgreSQL store predates it.
/// </summary>
internal static class PostgresSchema
{
    /// <summary>Any constant: held (transaction-scoped) while migrating, so sentinels starting at once apply each step once.</summary>
    private const long MigrationLockKey = 0x526f6c6c6241636b; // "RollbAck"

    public static readonly IReadOnlyList<PostgresMigration> Migrations =
    [
        new(1, "policy state, evaluation history, incidents with events, actions, acknowledgments, notifications and changes; versions and leases", """
            CREATE TABLE policy_state (
                policy     text NOT NULL PRIMARY KEY,
                state      text NOT NULL,
                updated_at timestamptz NOT NULL,
                -- Bumped by every write of the state; a stored state is at 1 or more (0 means none is stored).
                version    bigint NOT NULL DEFAULT 1
            );

            CREATE TABLE evaluations (
                id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                policy    text NOT NULL,
                at        timestamptz NOT NULL,
                trigger   text NOT NULL,
                labels    text NOT NULL,
                kind      text NOT NULL,
                reason    text NOT NULL,
                value     double precision, -- NULL when absent or NaN (reason says which); infinities are kept
                threshold double precision,
                baseline  double precision,
                summary   text NOT NULL
            );
            CREATE INDEX ix_evaluations_at ON evaluations (at);
            -- One verdict per series per evaluation: a retried commit adds nothing.
            CREATE UNIQUE INDEX ux_evaluations_policy_at_series ON evaluations (policy, at, trigger, labels);

            -- labels as a JSON object; labels_key is its canonical text, for equality.
            CREATE TABLE changes (
                id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                policy            text NOT NULL,
                labels            text NOT NULL,
                labels_key        text NOT NULL,
                at                timestamptz NOT NULL,
                source            text NOT NULL,
                revision          text,
                previous_revision text,
                changed_by        text,
                description       text,
                recorded_at       timestamptz NOT NULL
            );
            CREATE INDEX ix_changes_policy_at ON changes (policy, at);
            CREATE INDEX ix_changes_series ON changes (policy, labels_key, at);
            CREATE INDEX ix_changes_at ON changes (at);
            CREATE INDEX ix_changes_revision ON changes (policy, labels_key, source, revision);

            CREATE TABLE incidents (
                id                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                policy               text NOT NULL,
                trigger              text NOT NULL,
                labels               text NOT NULL,
                labels_key           text NOT NULL,
                action               text NOT NULL,
                dry_run              boolean NOT NULL,
                status               text NOT NULL,
                opened_at            timestamptz NOT NULL,
                updated_at           timestamptz NOT NULL,
                resolved_at          timestamptz,
                resolve_requested_at timestamptz,
                summary              text NOT NULL,
                evidence             text NOT NULL,
                open_key             text NOT NULL,
                answer_deadline      timestamptz,
                timed_out_at         timestamptz,
                -- Channels are told about every change: change_seq grows with each, notified_seq is how far they were told.
                change_seq           bigint NOT NULL DEFAULT 1,
                notified_seq         bigint NOT NULL DEFAULT 0,
                -- NULL: no change is known.
                change_id            bigint REFERENCES changes (id),
                disarmed_reason      text,
                -- Bumped by every update applied to an incident; a write decided from an older revision is refused.
                revision             bigint NOT NULL DEFAULT 0,
                -- Who is telling the channels about the incident, and until when others leave it alone.
                notify_owner         text,
                notify_lease_until   timestamptz
            );
            CREATE UNIQUE INDEX ux_incidents_open_key ON incidents (open_key);
            CREATE INDEX ix_incidents_series ON incidents (policy, trigger, labels_key, opened_at);
            CREATE INDEX ix_incidents_status ON incidents (status, opened_at);
            CREATE INDEX ix_incidents_opened_at ON incidents (opened_at);
            CREATE INDEX ix_incidents_to_notify ON incidents (status, updated_at);
            CREATE INDEX ix_incidents_change ON incidents (change_id);
            CREATE INDEX ix_incidents_policy_status ON incidents (policy, status, resolved_at);
            CREATE INDEX ix_incidents_unnotified ON incidents (updated_at) WHERE change_seq > notified_seq;

            CREATE TABLE incident_events (
                id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                incident_id bigint NOT NULL REFERENCES incidents (id),
                at          timestamptz NOT NULL,
                kind        text NOT NULL,
                message     text NOT NULL
            );
            CREATE UNIQUE INDEX ux_incident_events_once ON incident_events (incident_id, kind, at);

            CREATE TABLE actions (
                id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                incident_id     bigint NOT NULL REFERENCES incidents (id),
                kind            text NOT NULL,
                target          text NOT NULL,
                idempotency_key text NOT NULL,
                status          text NOT NULL,
                created_at      timestamptz NOT NULL,
                started_at      timestamptz,
                completed_at    timestamptz,
                outcome         text,
                plan            text,
                before_state    text,
                after_state     text,
                -- Who runs a started action, and until when others leave it alone.
                lease_owner     text,
                lease_until     timestamptz
            );
            CREATE UNIQUE INDEX ux_actions_idempotency_key ON actions (idempotency_key);
            CREATE INDEX ix_actions_incident ON actions (incident_id);
            CREATE INDEX ix_actions_status ON actions (status);

            CREATE TABLE acknowledgments (
                id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                incident_id bigint NOT NULL REFERENCES incidents (id),
                at          timestamptz NOT NULL,
                acked_by    text NOT NULL,
                channel     text NOT NULL,
                answer      text NOT NULL,
                reason      text
            );
            CREATE INDEX ix_acknowledgments_incident ON acknowledgments (incident_id, at);

            CREATE TABLE notifications (
                incident_id bigint NOT NULL REFERENCES incidents (id),
                channel     text NOT NULL,
                reference   text,
                state       text NOT NULL,
                at          timestamptz NOT NULL,
                PRIMARY KEY (incident_id, channel)
            );
            """),
        PostgresQuartzSchema.Migration,
        PostgresClusterSchema.Migration,
        PostgresFencingSchema.Migration,
        PostgresMembershipSchema.Migration,
    ];

    public static int LatestVersion(IReadOnlyList<PostgresMigration> migrations) => migrations.Count == 0 ? 0 : migrations[^1].Version;

    /// <summary>
    /// Brings the database up to the last migration, one transaction per migration. Each step takes a transaction-scoped
    /// advisory lock and re-reads the version under it, so several sentinels starting at once apply each step once.
    /// </summary>
    /// <returns>The schema version the database is at.</returns>
    /// <exception cref="InvalidOperationException">The database has a newer schema than this build knows.</exception>
    public static async Task<int> MigrateAsync(
        NpgsqlConnection connection, IReadOnlyList<PostgresMigration> migrations, TimeProvider timeProvider, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentNullException.ThrowIfNull(migrations);
        ArgumentNullException.ThrowIfNull(timeProvider);
        CheckContiguous(migrations);
        var latest = LatestVersion(migrations);
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
            await ExecuteAsync(transaction, $"SELECT pg_advisory_xact_lock({MigrationLockKey})", cancellationToken).ConfigureAwait(false);
            await ExecuteAsync(
                transaction,
                "CREATE TABLE IF NOT EXISTS schema_version (version integer NOT NULL PRIMARY KEY, description text NOT NULL, applied_at timestamptz NOT NULL)",
                cancellationToken).ConfigureAwait(false);
            int current;
            await using (var read = new NpgsqlCommand("SELECT COALESCE(MAX(version), 0) FROM schema_version", connection, transaction))
            {
                current = (int)(await read.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
            }

            if (current > latest)
            {
                throw new InvalidOperationException(
                    $"The database {connection.Database} has schema version {current}, newer than the {latest} this build of RollbackSentinel knows; "
                    + "run a newer RollbackSentinel or point it at another database. Nothing was changed.");
            }

            if (current == latest)
            {
                await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
                return current;
            }

            var next = migrations[current];
            await ExecuteAsync(transaction, next.Sql, cancellationToken).ConfigureAwait(false);
            await using (var record = new NpgsqlCommand(
                "INSERT INTO schema_version (version, description, applied_at) VALUES (@version, @description, @at)", connection, transaction))
            {
                record.Parameters.AddWithValue("version", next.Version);
                record.Parameters.AddWithValue("description", next.Description);
                record.Parameters.AddWithValue("at", timeProvider.GetUtcNow());
                await record.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }

            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private static async Task ExecuteAsync(NpgsqlTransaction transaction, string sql, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, transaction.Connection, transaction);
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    private static void CheckContiguous(IReadOnlyList<PostgresMigration> migrations)
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
