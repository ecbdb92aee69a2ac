using RollbackSentinel.Core.Metrics;

namespace RollbackSentinel.Core.Changes;

/// <summary>Where a change record came from.</summary>
public enum ChangeSource
{
    /// <summary>Posted to <c>POST /api/v1/changes</c> or sent by <c>rollback-sentinel mark</c> (a deploy marker).</summary>
    Api,

    /// <summary>Read from the target itself (a new kubectl ReplicaSet/ControllerRevision, a new Helm revision), or the sentinel's own rollback.</summary>
    Target,

    /// <summary>Found by the policy's <c>spec.watch.detect.query</c>: a series whose value changed between two evaluations.</summary>
    Query,
}

/// <summary>
/// Something that changed what a policy watches: a deploy, a migration step, a flag flip, a traffic shift.
/// A rollback is the remedy only for what a change broke, so decisions are made against the latest change
/// of the series' label set (<see cref="ChangeHistory"/>).
/// </summary>
public sealed record Change
{
    /// <summary>Who the sentinel is, as <see cref="By"/> of the changes it makes itself (its own rollbacks).</summary>
    public const string SentinelActor = "rollback-sentinel";

    /// <summary>The store's id (0 before it is stored).</summary>
    public long Id { get; init; }

    public required string Policy { get; init; }

    /// <summary>
    /// Which series of the policy it concerns: every series none of whose labels contradicts these (see <see cref="AppliesTo"/>).
    /// Empty: every series.
    /// </summary>
    public LabelSet Labels { get; init; } = LabelSet.Empty;

    /// <summary>When the change happened (for a target: when the new revision was created).</summary>
    public required DateTimeOffset At { get; init; }

    public required ChangeSource Source { get; init; }

    /// <summary>The revision or version the change brought (the "to"), when known.</summary>
    public string? Revision { get; init; }

    /// <summary>The revision or version before it (the "from"), when known.</summary>
    public string? PreviousRevision { get; init; }

    /// <summary>Who made it (a pipeline, a person, <see cref="SentinelActor"/>).</summary>
    public string? By { get; init; }

    public string? Description { get; init; }

    /// <summary>When the sentinel recorded it (may be later than <see cref="At"/>: a target read, a backdated marker).</summary>
    public DateTimeOffset? RecordedAt { get; init; }

    /// <summary>The sentinel's own rollback: recorded so nothing blames it, and it never arms a watch window.</summary>
    public bool IsSentinelRollback => Source == ChangeSource.Target && By == SentinelActor;

    /// <summary>
    /// True when this change concerns the series <paramref name="series"/>: no label of the change has another value in
    /// the series. A change of <c>{deployment="cart"}</c> concerns <c>{deployment="cart", code="500"}</c> and an aggregate
    /// <c>{}</c> that sums cart with the rest (cart's deploy can break the sum), never <c>{deployment="search"}</c>. The
    /// same rule as a gate's label filter (<see cref="LabelSet.AgreesWith"/>).
    /// </summary>
    public bool AppliesTo(LabelSet series) => series.AgreesWith(Labels);

    /// <summary>"v41 -> v42" / "v42" / "an unnamed change".</summary>
    public string What => (PreviousRevision, Revision) switch
    {
        ({ } from, { } to) => $"{from} -> {to}",
        (null, { } to) => to,
        _ => Description is { Length: > 0 } d ? d : "an unnamed change",
    };

    /// <summary>"since v42, deployed 4m ago by ci": how incidents and notices name the change they blame.</summary>
    public string Describe(DateTimeOffset now)
    {
        var ago = now >= At ? Ago(now - At) : "at " + Evaluation.Rfc3339.Format(At);
        var verb = IsSentinelRollback ? "rolled back" : "deployed";
        return $"since {Revision ?? What}, {verb} {ago}{(By is { Length: > 0 } b ? " by " + b : string.Empty)}";
    }

    /// <summary>"4m ago", "47h ago", "3d ago": one unit, rounded down.</summary>
    public static string Ago(TimeSpan d)
    {
        var (n, unit) = d < TimeSpan.Zero ? (0, "s")
            : d < TimeSpan.FromMinutes(1) ? (Math.Floor(d.TotalSeconds), "s")
            : d < TimeSpan.FromHours(1) ? (Math.Floor(d.TotalMinutes), "m")
            : d < TimeSpan.FromDays(2) ? (Math.Floor(d.TotalHours), "h")
            : (Math.Floor(d.TotalDays), "d");
        return n.ToString(System.Globalization.CultureInfo.InvariantCulture) + unit + " ago";
    }
}
