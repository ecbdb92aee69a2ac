namespace RollbackSentinel.Core.Policies;

/// <summary>What a firing <c>rollback</c> trigger does outside a watch window (<c>spec.watch.outside</c>).</summary>
public enum OutsideAction
{
    /// <summary>The default: page people instead (a rollback would not undo the cause).</summary>
    Page,

    /// <summary>Tell people, change nothing.</summary>
    Notify,

    /// <summary>Roll back anyway: the always-armed behaviour, chosen on purpose.</summary>
    Rollback,
}

/// <summary>
/// <c>spec.watch</c>: after a change of a label set, the policy's <c>rollback</c> triggers are armed for
/// <see cref="For"/>; outside that window they take <see cref="Outside"/> instead. <see cref="Detect"/> says
/// where changes are found besides the API.
/// </summary>
public sealed record WatchSettings
{
    public static readonly TimeSpan DefaultFor = TimeSpan.FromHours(1);

    public static readonly WatchSettings Defaults = new();

    /// <summary>How long after a change its label set's rollback triggers stay armed.</summary>
    public TimeSpan For { get; init; } = DefaultFor;

    public OutsideAction Outside { get; init; } = OutsideAction.Page;

    public DetectSettings Detect { get; init; } = DetectSettings.Defaults;

    public SourceLocation? Source { get; init; }
}

/// <summary><c>spec.watch.detect</c>: where changes are found besides the API and the CLI.</summary>
public sealed record DetectSettings
{
    public static readonly TimeSpan DefaultInterval = TimeSpan.FromSeconds(30);

    public static readonly DetectSettings Defaults = new();

    /// <summary>
    /// Read the target's latest revision (kubectl, Helm) at most once per <see cref="Interval"/> per rendered target.
    /// Null: the default, on for kubectl and Helm targets (the only ones that have revisions to read).
    /// </summary>
    public bool? Target { get; init; }

    /// <summary>How often the target is read, at most, per rendered target.</summary>
    public TimeSpan Interval { get; init; } = DefaultInterval;

    /// <summary>
    /// PromQL; each series whose value changes between two evaluations records a change for its label set
    /// (<c>count by (deployment, version) (app_build_info)</c>).
    /// </summary>
    public string? Query { get; init; }

    /// <summary>Whether the target is read for changes: <see cref="Target"/> when set, else true for kubectl and Helm targets.</summary>
    public bool ReadsTarget(Target target) => Target ?? target is KubectlTarget or HelmTarget;
}

/// <summary>
/// <c>spec.gate</c>: when <c>GET /api/v1/gates/{policy}</c> is open: the latest change of every matching label set
/// followed by at least <see cref="MinPasses"/> consecutive passing evaluations of every trigger, and no incident open.
/// </summary>
public sealed record GateSettings
{
    public const int DefaultMinPasses = 3;

    public static readonly GateSettings Defaults = new();

    public int MinPasses { get; init; } = DefaultMinPasses;

    public SourceLocation? Source { get; init; }
}
