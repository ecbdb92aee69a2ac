using RollbackSentinel.Core.Changes;
using RollbackSentinel.Core.Metrics;

namespace RollbackSentinel.Core.Evaluation;

/// <summary>
/// Before-deploy baselines measured before changes: each series' baseline is its average over the window that
/// ends at the latest change of its label set (<see cref="ChangeHistory.BaselineChangeFor"/>), so a baseline never
/// includes data from after the change it is compared against. Shared by the daemon's and the backtest's resolvers.
/// </summary>
public static class ChangeBaselines
{
    public const string NoChangeKnown = "no change is known for a before-deploy baseline";

    /// <summary>Where the windows to query end at <paramref name="at"/>: one per distinct time of a candidate change, oldest first.</summary>
    public static IReadOnlyList<DateTimeOffset> WindowEnds(ChangeHistory changes, DateTimeOffset at)
    {
        ArgumentNullException.ThrowIfNull(changes);
        return changes.BaselineCandidates(at).Select(c => c.At).Distinct().Order().ToArray();
    }

    /// <summary>
    /// From each window's per-series averages (keyed by the window's end), the baseline of every series whose latest
    /// change ends that window; a series is never taken from a window that ends at another change.
    /// </summary>
    public static IReadOnlyList<Sample> Select(ChangeHistory changes, DateTimeOffset at, IReadOnlyDictionary<DateTimeOffset, IReadOnlyList<Sample>> averagesByWindowEnd)
    {
        ArgumentNullException.ThrowIfNull(changes);
        ArgumentNullException.ThrowIfNull(averagesByWindowEnd);
        var selected = new List<Sample>();
        foreach (var (end, samples) in averagesByWindowEnd.OrderBy(w => w.Key))
        {
            selected.AddRange(samples.Where(s => changes.BaselineChangeFor(s.Labels, at)?.At == end));
        }

        return selected;
    }
}
