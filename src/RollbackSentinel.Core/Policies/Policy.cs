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

    /// <summary>Decide and record, never act: decisions are marked "would have".</summary>
    public bool DryRun { get; init; }

    public required IReadOnlyList<Trigger> Triggers { get; init; }

    /// <summary>Extra labels attached to every decision (team, service): for routing and dashboards.</summary>
    public IReadOnlyDictionary<string, string> Labels { get; init; } = new Dictionary<string, string>();

    public SourceLocation? Source { get; init; }
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
