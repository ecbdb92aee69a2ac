using System.Globalization;
using RollbackSentinel.Core.Metrics;

namespace RollbackSentinel.Core.Changes;

/// <summary>
/// Changes found by <c>spec.watch.detect.query</c>, the same way live and in the backtest: between two evaluations,
/// a series whose value changed is a change of its label set (<c>max by (deployment) (kube_deployment_status_observed_generation)</c>:
/// revision 6 after 5). A series that appears next to or in place of one with the same label names, differing from it
/// only in some values, is a change too (<c>count by (deployment, version) (app_build_info)</c>: version v42 after v41,
/// whether v41 is gone at once or, in a rolling update, a little later): its label set is the labels the two share,
/// and the labels that differ are the revision. A series still there is taken as the predecessor only when exactly
/// one label differs (a version beside the old one), so a series that comes back after a scrape gap is never paired
/// with a neighbour. A series that appears with no such predecessor (a new deployment, or one back after a gap) is
/// learned, not a change: a gap in the detect metric must never arm a rollback, and a first deploy has nothing to roll
/// back to. The first evaluation only learns what is there, and a NaN value is no evidence of a change (from or to
/// it). Pure.
/// </summary>
public static class QueryChangeDetection
{
    /// <param name="policy">The policy the changes are recorded for.</param>
    /// <param name="previous">The detect query's result at the previous evaluation; null at the first one (nothing is a change then).</param>
    /// <param name="current">Its result now.</param>
    /// <param name="at">When <paramref name="current"/> was evaluated: the changes' time.</param>
    public static IReadOnlyList<Change> Compare(string policy, IReadOnlyList<Sample>? previous, IReadOnlyList<Sample> current, DateTimeOffset at)
    {
        ArgumentNullException.ThrowIfNull(policy);
        ArgumentNullException.ThrowIfNull(current);
        if (previous is null)
        {
            return [];
        }

        var before = new Dictionary<LabelSet, double>();
        foreach (var s in previous)
        {
            before.TryAdd(s.Labels, s.Value);
        }

        var now = new HashSet<LabelSet>(current.Select(s => s.Labels));
        var vanished = before.Keys.Where(l => !now.Contains(l)).ToList();
        var stayed = before.Keys.Where(now.Contains).ToList();
        var changes = new List<Change>();
        foreach (var s in current.DistinctBy(s => s.Labels))
        {
            if (before.TryGetValue(s.Labels, out var old))
            {
                if (!double.IsNaN(old) && !double.IsNaN(s.Value) && !old.Equals(s.Value))
                {
                    changes.Add(New(policy, s.Labels, at, Format(old), Format(s.Value), $"{s.Labels} changed from {Format(old)} to {Format(s.Value)}"));
                }

                continue;
            }

            // A new series: its predecessor is the series with the same label names differing in the fewest values,
            // one that vanished (it was replaced) before one still there (a rolling update: both run for a while).
            // A predecessor shares at least one label (differing in all of them, it is another deployment, not an earlier version).
            var predecessor = Closest(s.Labels, vanished, s.Labels.Count - 1) ?? Closest(s.Labels, stayed, Math.Min(1, s.Labels.Count - 1));
            if (predecessor is not { } p)
            {
                continue;
            }

            vanished.Remove(p.Labels);
            var shared = LabelSet.From(s.Labels.Where(l => !p.Differ.Contains(l.Key)));
            changes.Add(New(
                policy,
                shared,
                at,
                Revision(p.Labels, p.Differ),
                Revision(s.Labels, p.Differ),
                $"{shared}: {Revision(p.Labels, p.Differ)} -> {Revision(s.Labels, p.Differ)}"));
        }

        return changes;
    }

    // Of candidates with exactly the label names of `labels`, the one differing in the fewest values (not in all of them:
    // a deployment that appears next to another is a new deployment, not a new version of the other).
    private static (LabelSet Labels, string[] Differ)? Closest(LabelSet labels, IEnumerable<LabelSet> candidates, int maxDiffering) =>
        candidates
            .Where(c => c.Count == labels.Count && c.Keys.SequenceEqual(labels.Keys))
            .Select(c => (Labels: c, Differ: labels.Where(l => c[l.Key] != l.Value).Select(l => l.Key).ToArray()))
            .Where(c => c.Differ.Length <= maxDiffering)
            .OrderBy(c => c.Differ.Length)
            .ThenBy(c => c.Labels.ToString(), StringComparer.Ordinal)
            .Select(c => ((LabelSet, string[])?)c)
            .FirstOrDefault();

    private static Change New(string policy, LabelSet labels, DateTimeOffset at, string? from, string to, string description) => new()
    {
        Policy = policy,
        Labels = labels,
        At = at,
        Source = ChangeSource.Query,
        PreviousRevision = from,
        Revision = to,
        Description = description,
    };

    // version=v42 (or, when several labels differ, app=x,version=v42).
    private static string Revision(LabelSet labels, IReadOnlyCollection<string> names) =>
        names.Count == 1 ? labels[names.First()] : string.Join(",", names.Select(n => $"{n}={labels[n]}"));

    private static string Format(double v) => v.ToString("R", CultureInfo.InvariantCulture);
}
