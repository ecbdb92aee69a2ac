using RollbackSentinel.Core.Incidents;
using RollbackSentinel.Core.Policies;

namespace RollbackSentinel.Storage.Serialization;

/// <summary>
/// An incident as stored, with what the record does not show: a resolution waiting for its action to finish, and the
/// id of the change it blames (<see cref="Incident.BlamedChange"/> is filled in from it by a second read).
/// </summary>
internal sealed record IncidentRow(Incident Incident, DateTimeOffset? ResolveRequestedAt, long? ChangeId = null, long Revision = 0);

/// <summary>
/// The column lists both stores select, in the order their readers read them: SQLite and PostgreSQL have the same tables
/// and columns, only the column types (and so the readers) differ.
/// </summary>
internal static class StoredColumns
{
    public const string IncidentColumns =
        "id, policy, trigger, labels, action, dry_run, status, opened_at, updated_at, resolved_at, summary, evidence, resolve_requested_at, answer_deadline, timed_out_at, change_seq, change_id, disarmed_reason, revision";

    public const string ActionColumns =
        "id, incident_id, kind, target, idempotency_key, status, created_at, started_at, completed_at, outcome, plan, before_state, after_state";

    /// <summary>How many columns <see cref="ActionColumns"/> lists (a query may select more after them).</summary>
    public const int ActionColumnCount = 13;

    public const string EventColumns = "incident_id, at, kind, message";

    public const string AcknowledgmentColumns = "incident_id, acked_by, channel, answer, at, reason";

    public const string ChangeColumns = "id, policy, labels, at, source, revision, previous_revision, changed_by, description, recorded_at";

    public const string NotificationColumns = "incident_id, channel, reference, state, at";

    /// <summary>rollback, page or notify, as the policy format and <see cref="ActionRecord.Kind"/> spell it.</summary>
    public static string ActionKind(TriggerAction action) => IncidentLifecycle.ActionKind(action);

    public static TriggerAction ParseActionKind(string text) =>
        Enum.GetValues<TriggerAction>().Where(a => ActionKind(a) == text).Select(a => (TriggerAction?)a).SingleOrDefault()
            ?? throw new InvalidDataException($"unknown action kind '{text}'");
}
