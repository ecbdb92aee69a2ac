using RollbackSentinel.Core.Incidents;

namespace RollbackSentinel.Notifications;

/// <summary>The state of an incident a notice announces. A channel hears about each state of an incident once.</summary>
public enum NoticeKind
{
    /// <summary>A trigger fired with <c>action: page</c> and the policy asks for confirmation: approve, deny or snooze.</summary>
    AwaitingConfirmation,

    /// <summary>A trigger fired with <c>action: page</c> (no confirmation asked): humans should look.</summary>
    Paged,

    /// <summary>A trigger fired with <c>action: notify</c>: for information.</summary>
    Notified,

    /// <summary>A rollback is running (decided by a trigger, approved by a person, or the confirmation timed out).</summary>
    RollingBack,

    /// <summary>The rollback succeeded (or found the target already rolled back).</summary>
    RolledBack,

    /// <summary>The rollback failed or was interrupted: humans must look now.</summary>
    RollbackFailed,

    /// <summary>A person denied the rollback: the incident is closed and the trigger held back for the cooldown.</summary>
    Denied,

    /// <summary>A person snoozed the question: asked again when the snooze ends.</summary>
    Snoozed,

    /// <summary>Nobody answered in time and the policy says hold or escalate.</summary>
    TimedOut,

    /// <summary>Dry-run: what the rollback would have done.</summary>
    DryRun,

    /// <summary>The breach cleared (before anyone answered, or after the action).</summary>
    Recovered,
}

/// <summary>Names of <see cref="NoticeKind"/> as channels write them.</summary>
public static class NoticeKindNames
{
    /// <summary>AwaitingConfirmation → awaiting_confirmation.</summary>
    public static string SnakeCase(NoticeKind kind)
    {
        var name = kind.ToString();
        var sb = new System.Text.StringBuilder(name.Length + 4);
        for (var i = 0; i < name.Length; i++)
        {
            if (char.IsUpper(name[i]) && i > 0)
            {
                sb.Append('_');
            }

            sb.Append(char.ToLowerInvariant(name[i]));
        }

        return sb.ToString();
    }
}

/// <summary>One query of the evidence, as a person reads it.</summary>
public sealed record EvidenceLine(string Role, string Query, string Value);

/// <summary>
/// Everything a channel shows about an incident at one state: what fired, the evidence (value against threshold and
/// baseline, since when, the queries), what was done or is asked, and who answered.
/// </summary>
public sealed record IncidentNotice
{
    public required Incident Incident { get; init; }

    public required NoticeKind Kind { get; init; }

    /// <summary>One line: "checkout/error-rate {deployment=checkout}: error ratio 0.09 > max 0.05".</summary>
    public required string Headline { get; init; }

    /// <summary>When the breach began (the trigger's pending-since), or when the incident opened.</summary>
    public required DateTimeOffset Since { get; init; }

    public double? Value { get; init; }

    public double? Threshold { get; init; }

    public double? Baseline { get; init; }

    public IReadOnlyList<EvidenceLine> Evidence { get; init; } = [];

    /// <summary>What a rollback acts on, as recorded on the incident's action ("kubectl/checkout/shop"); fixed for the incident's life.</summary>
    public string? Target { get; init; }

    /// <summary>What the rollback does or did (the plan's summary, the outcome), with the state before and after.</summary>
    public string? Action { get; init; }

    public string? Before { get; init; }

    public string? After { get; init; }

    /// <summary>Who answered and through what ("alice via slack"), for approved, denied and snoozed incidents.</summary>
    public string? AnsweredBy { get; init; }

    /// <summary>Until when an answer is awaited, and what happens then ("rollback", "hold", "escalate").</summary>
    public DateTimeOffset? AnswerDeadline { get; init; }

    public string? OnTimeout { get; init; }

    /// <summary>What an incident says when it blames no change.</summary>
    public const string NoChangeKnown = "no change known";

    /// <summary>
    /// The change the incident blames, as people read it: "since v42, deployed 4m ago by ci" (how old the change was when
    /// the incident opened, so the text does not drift while a message is updated), or "no change known".
    /// </summary>
    public string ChangeSummary => Incident.BlamedChange is { } change ? change.Describe(Incident.OpenedAt) : NoChangeKnown;

    /// <summary>Why a rollback trigger did not roll back (it fired outside every watch window and took another action), or null.</summary>
    public string? DisarmedReason => Incident.DisarmedReason;

    /// <summary>Severity for pagers: "critical" for failures and questions, "warning" for the rest.</summary>
    public string Severity => Kind is NoticeKind.RollbackFailed or NoticeKind.AwaitingConfirmation or NoticeKind.Paged or NoticeKind.TimedOut ? "critical" : "warning";

    /// <summary>Whether the incident is over for this channel (a pager resolves its alert).</summary>
    public bool Closes => Kind is NoticeKind.RolledBack or NoticeKind.Denied or NoticeKind.Recovered or NoticeKind.DryRun or NoticeKind.Notified;

    /// <summary>The daemon's API link to the incident, when the daemon knows its external address.</summary>
    public Uri? Link { get; init; }

    /// <summary>A stable key for the incident across channels and restarts (PagerDuty dedup_key, Alertmanager label).</summary>
    public string Key => $"rollback-sentinel/{Incident.Policy}/{Incident.Id}";
}

/// <summary>
/// One way of telling humans about incidents. The dispatcher calls it once per state change of an incident and
/// keeps what it returns (a Slack message's channel and ts), handing it back on the next call, so a channel updates
/// its one message instead of posting again.
/// </summary>
public interface IIncidentChannel
{
    /// <summary>"slack", "pagerduty", "alertmanager".</summary>
    string Name { get; }

    /// <summary>When set, open incidents are published again this often with the same state (Alertmanager expires alerts not re-sent).</summary>
    TimeSpan? RepublishEvery { get; }

    /// <summary>
    /// Publishes <paramref name="notice"/>: posts it the first time (<paramref name="reference"/> null), updates it after.
    /// Returns the reference to keep for the next call. Throws <see cref="NotificationException"/> with a readable
    /// reason when the channel refused or could not be reached after its retries.
    /// </summary>
    Task<string?> PublishAsync(IncidentNotice notice, string? reference, CancellationToken cancellationToken);
}

/// <summary>A channel failed: the message says which and why, without secrets.</summary>
public sealed class NotificationException : Exception
{
    /// <summary>When the channel asked to be left alone for a while (a rate limit's Retry-After): try it again no sooner.</summary>
    public TimeSpan? RetryAfter { get; init; }

    public NotificationException(string message)
        : base(message)
    {
    }

    public NotificationException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public NotificationException()
    {
    }
}
