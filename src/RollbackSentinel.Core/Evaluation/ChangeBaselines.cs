using System.Collections;
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
    /// Every window end <see cref="WindowEnds(ChangeHistory, DateTimeOffset)"/> gives at some instant from <paramref name="from"/>
    /// to <paramref name="to"/>, oldest first: what a backtest fetches once for the whole replay (a label set changed twice
    /// within it has a window before each change).
    /// </summary>
    public static IReadOnlyList<DateTimeOffset> WindowEnds(ChangeHistory changes, DateTimeOffset from, DateTimeOffset to)
    {
        ArgumentNullException.ThrowIfNull(changes);
        return changes.BaselineCandidates(from).Select(c => c.At)
            .Concat(changes.All.Where(c => c.At > from && c.At <= to && !changes.IsSentinels(c)).Select(c => c.At))
            .Distinct()
            .Order()
            .ToArray();
    }

    /// <summary>
    /// From each window's per-series averages (keyed by the window's end), the baseline of every series whose latest
    /// change ends that window; a series is never taken from a window that ends at another change. The list says which
    /// change each baseline was measured before (<see cref="ChangeBaselineSamples"/>), so a lone baseline stands in only
    /// for series judged against that same change.
    /// </summary>
    public static IReadOnlyList<Sample> Select(ChangeHistory changes, DateTimeOffset at, IReadOnlyDictionary<DateTimeOffset, IReadOnlyList<Sample>> averagesByWindowEnd)
    {
        ArgumentNullException.ThrowIfNull(changes);
        ArgumentNullException.ThrowIfNull(averagesByWindowEnd);
        var selected = new List<Sample>();
        var before = new Dictionary<LabelSet, Change>();
        foreach (var (end, samples) in averagesByWindowEnd.OrderBy(w => w.Key))
        {
            foreach (var s in samples)
            {
                if (changes.BaselineChangeFor(s.Labels, at) is { } change && change.At == end && before.TryAdd(s.Labels, change))
                {
                    selected.Add(s);
                }
            }
        }

        return new ChangeBaselineSamples(selected, before, changes, at);
    }
}

/// <summary>
/// Before-deploy baselines with the change each was measured before. A baseline with other labels than a series
/// (the only one there is) stands in for it only when the series' own baseline change is that same change: a
/// deployment with no change known never borrows the baseline of one that has.
/// </summary>
public sealed class ChangeBaselineSamples : IReadOnlyList<Sample>
{
    private readonly IReadOnlyList<Sample> _samples;
    private readonly IReadOnlyDictionary<LabelSet, Change> _before;
    private readonly ChangeHistory _changes;
    private readonly DateTimeOffset _at;

    internal ChangeBaselineSamples(IReadOnlyList<Sample> samples, IReadOnlyDictionary<LabelSet, Change> before, ChangeHistory changes, DateTimeOffset at)
    {
        _samples = samples;
        _before = before;
        _changes = changes;
        _at = at;
    }

    public int Count => _samples.Count;

    public Sample this[int index] => _samples[index];

    /// <summary>The change the baseline of <paramref name="baseline"/> was measured before, or null when there is none.</summary>
    public Change? MeasuredBefore(LabelSet baseline) => _before.GetValueOrDefault(baseline);

    /// <summary>The change a series' baseline must be measured before, or null when none is known for it.</summary>
    public Change? ChangeFor(LabelSet series) => _changes.BaselineChangeFor(series, _at);

    /// <summary>Whether the baseline of <paramref name="baseline"/> may stand in for the series <paramref name="series"/>.</summary>
    public bool MayStandIn(LabelSet baseline, LabelSet series) =>
        MeasuredBefore(baseline) is { } change && Equals(change, ChangeFor(series));

    public IEnumerator<Sample> GetEnumerator() => _samples.GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
