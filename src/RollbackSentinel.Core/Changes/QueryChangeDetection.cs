using System.Globalization;
using RollbackSentinel.Core.Metrics;

namespace RollbackSentinel.Core.Changes;

/// <summary>
/// Changes found by <c>spec.watch.detect.query</c>, the same way live and in the backtest: between two evaluations,
/// a series whose value changed is a change of its label set (<c>max by (deployment) (kube_deployment_status_observed_generation)</c>:
/// revision 6 after 5). A series that appears in place of one that vanished, differing from it only in some labels, is
/// a change too (<c>count by (deployment, version) (app_build_info)</c>: version v42 after v41): its label set is the
/// labels the two share, and the labels that differ are the revision. A series that appears with no such predecessor
/// is a change of its whole label set. The first evaluation only learns what is there. Pure.
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
        var changes = new List<Change>();
        foreach (var s in current.DistinctBy(s => s.Labels))
        {
            if (before.TryGetValue(s.Labels, out var old))
            {
                if (!SameValue(old, s.Value))
                {
                    changes.Add(New(policy, s.Labels, at, Format(old), Format(s.Value), $"{s.Labels} changed from {Format(old)} to {Format(s.Value)}"));
                }

                continue;
            }

            // A new series: the vanished one it replaces is the one with the same label names differing in the fewest values.
            var predecessor = vanished
                .Where(v => v.Count == s.Labels.Count && v.Keys.SequenceEqual(s.Labels.Keys))
                .Select(v => (Labels: v, Differ: s.Labels.Where(l => v[l.Key] != l.Value).Select(l => l.Key).ToArray()))
                .Where(v => v.Differ.Length < s.Labels.Count)
                .OrderBy(v => v.Differ.Length)
                .FirstOrDefault();
            if (predecessor.Labels is null)
            {
                changes.Add(New(policy, s.Labels, at, null, s.Labels.ToString(), $"{s.Labels} appeared"));
                continue;
            }

            vanished.Remove(predecessor.Labels);
            var shared = LabelSet.From(s.Labels.Where(l => !predecessor.Differ.Contains(l.Key)));
            changes.Add(New(
                policy,
                shared,
                at,
                Revision(predecessor.Labels, predecessor.Differ),
                Revision(s.Labels, predecessor.Differ),
                $"{shared}: {Revision(predecessor.Labels, predecessor.Differ)} -> {Revision(s.Labels, predecessor.Differ)}"));
        }

        return changes;
    }

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

    private static bool SameValue(double a, double b) => a.Equals(b) || (double.IsNaN(a) && double.IsNaN(b));

    private static string Format(double v) => v.ToString("R", CultureInfo.InvariantCulture);
}
