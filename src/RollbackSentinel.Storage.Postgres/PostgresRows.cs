using Npgsql;
using RollbackSentinel.Core.Changes;
using RollbackSentinel.Core.Incidents;
using RollbackSentinel.Storage.Serialization;
using static RollbackSentinel.Storage.Serialization.StoredColumns;

namespace RollbackSentinel.Storage.Postgres;

/// <summary>Readers: PostgreSQL rows (timestamptz, boolean) to Core records, for the columns <see cref="StoredColumns"/> lists.</summary>
internal static class PostgresRows
{
    public static IncidentRow ReadIncident(NpgsqlDataReader r) => new(
        new Incident
        {
            Id = r.GetInt64(0),
            Policy = r.GetString(1),
            Trigger = r.GetString(2),
            Labels = LabelsJson.Parse(r.GetString(3)),
            Action = ParseActionKind(r.GetString(4)),
            DryRun = r.GetBoolean(5),
            Status = EnumText.Parse<IncidentStatus>(r.GetString(6), "incident status"),
            OpenedAt = r.GetTime(7),
            UpdatedAt = r.GetTime(8),
            ResolvedAt = r.GetNullableTime(9),
            Summary = r.GetString(10),
            EvidenceJson = r.GetString(11),
            AnswerDeadline = r.GetNullableTime(13),
            TimedOutAt = r.GetNullableTime(14),
            Version = r.GetInt64(15),
            DisarmedReason = r.GetNullableString(17),
        },
        r.GetNullableTime(12),
        r.IsDBNull(16) ? null : r.GetInt64(16),
        r.GetInt64(18));

    public static Change ReadChange(NpgsqlDataReader r) => new()
    {
        Id = r.GetInt64(0),
        Policy = r.GetString(1),
        Labels = LabelsJson.Parse(r.GetString(2)),
        At = r.GetTime(3),
        Source = EnumText.Parse<ChangeSource>(r.GetString(4), "change source"),
        Revision = r.GetNullableString(5),
        PreviousRevision = r.GetNullableString(6),
        By = r.GetNullableString(7),
        Description = r.GetNullableString(8),
        RecordedAt = r.GetTime(9),
    };

    public static ActionRecord ReadAction(NpgsqlDataReader r) => new()
    {
        Id = r.GetInt64(0),
        IncidentId = r.GetInt64(1),
        Kind = r.GetString(2),
        Target = r.GetString(3),
        IdempotencyKey = r.GetString(4),
        Status = EnumText.Parse<ActionStatus>(r.GetString(5), "action status"),
        CreatedAt = r.GetTime(6),
        StartedAt = r.GetNullableTime(7),
        CompletedAt = r.GetNullableTime(8),
        Outcome = r.GetNullableString(9),
        Plan = r.GetNullableString(10),
        Before = r.GetNullableString(11),
        After = r.GetNullableString(12),
    };

    public static IncidentEvent ReadEvent(NpgsqlDataReader r) => new(r.GetInt64(0), r.GetTime(1), r.GetString(2), r.GetString(3));

    public static Acknowledgment ReadAcknowledgment(NpgsqlDataReader r) =>
        new(r.GetInt64(0), r.GetString(1), r.GetString(2), r.GetString(3), r.GetTime(4)) { Reason = r.GetNullableString(5) };

    public static NotificationRecord ReadNotification(NpgsqlDataReader r) =>
        new(r.GetInt64(0), r.GetString(1), r.GetNullableString(2), r.GetString(3), r.GetTime(4));
}
