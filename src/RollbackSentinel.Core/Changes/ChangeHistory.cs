using RollbackSentinel.Core.Metrics;

namespace RollbackSentinel.Core.Changes;

/// <summary>
/// The changes known for one policy, oldest first: what decisions, baselines and gates are judged against.
/// Immutable; the daemon builds one per evaluation from the store, the backtest one for the whole window.
/// </summary>
public sealed class ChangeHistory
{
    public static readonly ChangeHistory Empty = new([]);

    /// <summary>
    /// How long after the sentinel's own rollback a change found on the target or by a detect query is taken as that
    /// rollback showing up (kubectl's undo is a new ReplicaSet revision, the generation goes up, the old version's build
    /// info comes back), not as someone's new change: long enough for a detect interval or a few evaluations.
    /// </summary>
    public static readonly TimeSpan RollbackEcho = TimeSpan.FromMinutes(10);

    private readonly Change[] _changes;
    private readonly HashSet<Change> _echoes;

    public ChangeHistory(IEnumerable<Change> changes)
    {
        ArgumentNullException.ThrowIfNull(changes);

        // Oldest first; at the same instant, in the order they were stored.
        _changes = changes.OrderBy(c => c.At).ThenBy(c => c.Id).ToArray();
        var rollbacks = _changes.Where(c => c.IsSentinelRollback).ToArray();
        _echoes = rollbacks.Length == 0
            ? []
            : _changes.Where(c => c.Source != ChangeSource.Api && !c.IsSentinelRollback
                && rollbacks.Any(r => r.At <= c.At && c.At - r.At <= RollbackEcho && c.Labels.AgreesWith(r.Labels))).ToHashSet();
    }

    /// <summary>
    /// True when <paramref name="change"/> is the sentinel's own rollback, or that rollback found again: a target or query
    /// change (never one a person posted) within <see cref="RollbackEcho"/> after a sentinel rollback whose labels do not
    /// contradict it. Such a change is never blamed, never arms a window and never starts a baseline.
    /// </summary>
    public bool IsSentinels(Change change)
    {
        ArgumentNullException.ThrowIfNull(change);
        return change.IsSentinelRollback || _echoes.Contains(change);
    }

    public IReadOnlyList<Change> All => _changes;

    public int Count => _changes.Length;

    /// <summary>
    /// The latest change at or before <paramref name="at"/> that concerns <paramref name="series"/> (the sentinel's
    /// own rollbacks included), or null when none is known.
    /// </summary>
    public Change? LatestFor(LabelSet series, DateTimeOffset at)
    {
        ArgumentNullException.ThrowIfNull(series);
        for (var i = _changes.Length - 1; i >= 0; i--)
        {
            var c = _changes[i];
            if (c.At <= at && c.AppliesTo(series))
            {
                return c;
            }
        }

        return null;
    }

    /// <summary>
    /// The changes a before-deploy baseline may be measured before at <paramref name="at"/>: for each distinct label
    /// set changes were recorded with, the latest one at or before <paramref name="at"/> that is not the sentinel's own
    /// rollback. The baseline of a series is then the window before <c>BaselineChangeFor(series, at)</c>.
    /// </summary>
    public IReadOnlyList<Change> BaselineCandidates(DateTimeOffset at) =>
        _changes
            .Where(c => c.At <= at && !IsSentinels(c))
            .GroupBy(c => c.Labels)
            .Select(g => g.Last())
            .OrderBy(c => c.At)
            .ToArray();

    /// <summary>
    /// The change a series' before-deploy baseline is measured before: the latest change of its label set at or
    /// before <paramref name="at"/>, not counting the sentinel's own rollbacks nor their echoes (<see cref="IsSentinels"/>: a rollback returns to what the
    /// baseline measured, it does not start a new "before").
    /// </summary>
    public Change? BaselineChangeFor(LabelSet series, DateTimeOffset at)
    {
        ArgumentNullException.ThrowIfNull(series);
        for (var i = _changes.Length - 1; i >= 0; i--)
        {
            var c = _changes[i];
            if (c.At <= at && !IsSentinels(c) && c.AppliesTo(series))
            {
                return c;
            }
        }

        return null;
    }

    /// <summary>This history with <paramref name="change"/> added (the backtest adds detected changes as it replays).</summary>
    public ChangeHistory With(Change change) => new(_changes.Append(change));
}
