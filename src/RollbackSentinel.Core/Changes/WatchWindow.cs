using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Core.Policies;

namespace RollbackSentinel.Core.Changes;

/// <summary>Whether a firing rollback trigger is armed, the change it blames, and why.</summary>
/// <param name="Armed">The breach began within the watch window of the change it blames.</param>
/// <param name="Blamed">The latest change of the series' label set at or before the breach began, when one is known and is not the sentinel's own rollback.</param>
/// <param name="Reason">For a disarmed trigger, the sentence the decision records.</param>
public sealed record Arming(bool Armed, Change? Blamed, string? Reason);

/// <summary>
/// Watch windows (<c>spec.watch</c>): a rollback is the remedy only for what a change broke, so a <c>rollback</c>
/// trigger is armed only when its breach began within <see cref="WatchSettings.For"/> after the latest change of its
/// label set (inclusive: a breach that began exactly <c>for</c> after the change is armed). Pure.
/// </summary>
public static class WatchWindow
{
    /// <summary>The change an incident blames: the latest one of its label set at or before the breach began, unless that is the sentinel's own rollback.</summary>
    public static Change? Blame(ChangeHistory changes, LabelSet labels, DateTimeOffset breachBegan)
    {
        ArgumentNullException.ThrowIfNull(changes);
        return changes.LatestFor(labels, breachBegan) is { } c && !changes.IsSentinels(c) ? c : null;
    }

    /// <param name="policy">The policy (its name and <c>spec.watch</c>).</param>
    /// <param name="changes">The policy's changes.</param>
    /// <param name="labels">The series that breaches.</param>
    /// <param name="breachBegan">When the breach began (the start of its <c>for</c>).</param>
    /// <param name="at">The evaluation that fires, for "3d ago".</param>
    public static Arming Judge(Policy policy, ChangeHistory changes, LabelSet labels, DateTimeOffset breachBegan, DateTimeOffset at)
    {
        ArgumentNullException.ThrowIfNull(policy);
        ArgumentNullException.ThrowIfNull(changes);
        ArgumentNullException.ThrowIfNull(labels);
        var window = policy.Watch.For;
        var of = labels.IsEmpty ? policy.Name : policy.Name + labels;
        var latest = changes.LatestFor(labels, breachBegan);
        if (latest is null)
        {
            return new Arming(false, null, $"no change of {of} is known: a rollback would not undo the cause");
        }

        if (changes.IsSentinels(latest))
        {
            return new Arming(false, null, $"the last change of {of} was the sentinel's own rollback ({latest.What}, {Ago(at, latest.At)}): a rollback would not undo the cause");
        }

        if (breachBegan - latest.At <= window)
        {
            return new Arming(true, latest, null);
        }

        return new Arming(false, latest, $"no change of {of} within {PromDuration.Format(window)} (last: {latest.What}, {Ago(at, latest.At)}): a rollback would not undo the cause");
    }

    private static string Ago(DateTimeOffset now, DateTimeOffset at) => Change.Ago(now - at);
}
