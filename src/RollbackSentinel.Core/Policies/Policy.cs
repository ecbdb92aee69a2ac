namespace RollbackSentinel.Core.Policies;

/// <summary>Where a policy came from, so every message can name the file and line.</summary>
public sealed record SourceLocation(string File, int Line, int Column)
{
    public override string ToString() => $"{File}:{Line}:{Column}";
}

/// <summary>A rollback policy: what to watch, how often, and what to do when a trigger fires.</summary>
public sealed record Policy
{
    public const string ApiVersion = "rollback-sentinel/v1";
    public const string Kind = "RollbackPolicy";

    /// <summary>The default pause after an action before the same policy may act again on the same series.</summary>
    public static readonly TimeSpan DefaultCooldown = TimeSpan.FromMinutes(30);

    public required string Name { get; init; }

    public required Target Target { get; init; }

    public required Schedule Schedule { get; init; }

    /// <summary>After a rollback, no further rollback or page for this long (per label set).</summary>
    public TimeSpan Cooldown { get; init; } = DefaultCooldown;

    /// <summary><c>spec.backend</c>: the metrics backend (by its name in the settings) the queries go to; null for the default backend.</summary>
    public string? Backend { get; init; }

    /// <summary>Where <c>spec.backend</c> is written, for errors about it; null without it.</summary>
    public SourceLocation? BackendSource { get; init; }

    /// <summary>Decide and record, never act: decisions are marked "would have".</summary>
    public bool DryRun { get; init; }

    public required IReadOnlyList<Trigger> Triggers { get; init; }

    /// <summary>Extra labels attached to every decision (team, service): for routing and dashboards.</summary>
    public IReadOnlyDictionary<string, string> Labels { get; init; } = new Dictionary<string, string>();

    public SourceLocation? Source { get; init; }

    /// <summary>When set, a trigger with <c>action: page</c> asks people to confirm a rollback of the target.</summary>
    public ConfirmSettings? Confirm { get; init; }

    /// <summary>Where this policy's incidents are announced, when not the daemon's defaults.</summary>
    public NotifySettings Notify { get; init; } = NotifySettings.Defaults;

    /// <summary><c>spec.watch</c>: after which changes rollback triggers are armed, for how long, and where changes are found.</summary>
    public WatchSettings Watch { get; init; } = WatchSettings.Defaults;

    /// <summary><c>spec.gate</c>: when the policy's gate opens after a change.</summary>
    public GateSettings Gate { get; init; } = GateSettings.Defaults;
}

/// <summary>What happens when nobody answers a confirmation in time.</summary>
public enum OnTimeout
{
    /// <summary>Roll back: silence is consent (for policies where rolling back is the safe default).</summary>
    Rollback,

    /// <summary>Do nothing more: the incident stays open, unanswered, and says so.</summary>
    Hold,

    /// <summary>Page harder (PagerDuty, critical) and keep waiting for an answer.</summary>
    Escalate,
}

/// <summary>
/// A rollback that needs a person's yes: who may answer in chat, how long to wait, and what happens then.
/// API and CLI callers are authorized by the daemon's API token.
/// </summary>
/// <param name="Approvers">Slack user ids (U…, W…) or user-group ids (S…) allowed to answer from Slack.</param>
/// <param name="Timeout">How long to wait for an answer.</param>
/// <param name="OnTimeout">What happens when nobody answers in time.</param>
public sealed record ConfirmSettings(IReadOnlyList<string> Approvers, TimeSpan Timeout, OnTimeout OnTimeout)
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromMinutes(15);

    /// <summary>How long a snooze postpones the question.</summary>
    public static readonly TimeSpan SnoozeFor = TimeSpan.FromMinutes(30);
}

/// <summary>Per-policy channels: a Slack channel and a PagerDuty routing key (from a file) instead of the daemon's defaults.</summary>
public sealed record NotifySettings(string? SlackChannel, string? PagerDutyRoutingKeyFile)
{
    public static readonly NotifySettings Defaults = new(null, null);
}

/// <summary>When a policy is evaluated.</summary>
public abstract record Schedule;

/// <summary>Every <see cref="Interval"/>.</summary>
public sealed record IntervalSchedule(TimeSpan Interval) : Schedule
{
    public override string ToString() => $"every {PromDuration.Format(Interval)}";
}

/// <summary>A Quartz cron expression (seconds field first), e.g. <c>0/15 * * * * ?</c>.</summary>
public sealed record CronSchedule(string Expression) : Schedule
{
    public override string ToString() => $"cron \"{Expression}\"";
}
