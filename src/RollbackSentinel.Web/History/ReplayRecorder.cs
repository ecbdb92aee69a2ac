using RollbackSentinel.Core.Backtesting;
using RollbackSentinel.Core.Changes;
using RollbackSentinel.Core.Evaluation;
using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Core.Policies;
using RollbackSentinel.Core.State;
using RollbackSentinel.Web.Plots;

namespace RollbackSentinel.Web.History;

/// <summary>
/// Keeps what a replay decided at each evaluation (<see cref="Backtester.RunAsync"/>'s <c>observe</c>), per policy,
/// trigger and series, and turns it into plots: the value, the threshold and baseline it was compared with, and whether it
/// breached. Samples are kept as small structs (40 bytes each with padding): a week at 15 s is 1.6 MB per series.
/// </summary>
public sealed class ReplayRecorder
{
    private readonly Dictionary<string, Dictionary<string, Dictionary<LabelSet, List<Point>>>> _byPolicy = new(StringComparer.Ordinal);

    /// <summary>Per policy and trigger, the series the last evaluation had: only those can go missing (and get a gap) at the next.</summary>
    private readonly Dictionary<(string Policy, string Trigger), List<LabelSet>> _present = [];

    /// <summary>Record one evaluation; pass this method as the backtest's <c>observe</c>.</summary>
    public void Observe(BacktestEvaluation evaluation)
    {
        ArgumentNullException.ThrowIfNull(evaluation);
        if (!_byPolicy.TryGetValue(evaluation.Policy.Name, out var triggers))
        {
            _byPolicy[evaluation.Policy.Name] = triggers = new Dictionary<string, Dictionary<LabelSet, List<Point>>>(StringComparer.Ordinal);
        }

        foreach (var trigger in evaluation.Triggers)
        {
            if (!triggers.TryGetValue(trigger.Trigger.Name, out var series))
            {
                triggers[trigger.Trigger.Name] = series = [];
            }

            foreach (var verdict in trigger.Verdicts)
            {
                if (!series.TryGetValue(verdict.Labels, out var points))
                {
                    series[verdict.Labels] = points = [];
                }

                points.Add(new Point(
                    evaluation.At.UtcTicks,
                    verdict.Value ?? double.NaN,
                    verdict.Threshold ?? double.NaN,
                    verdict.Baseline ?? double.NaN,
                    verdict.Kind));
            }

            // A series the last evaluation had and this one has not (a version rolled away, a pod without traffic) has
            // no data here: one empty sample, so its line is not drawn across the time it was away and a breach it had
            // ends here. Only the last evaluation's series are looked at, not every series ever seen.
            // (A series this evaluation had got a point at its time just above; the list is reused: this runs at every
            // evaluation of a long backtest.)
            var key = (evaluation.Policy.Name, trigger.Trigger.Name);
            if (!_present.TryGetValue(key, out var present))
            {
                _present[key] = present = [];
            }

            foreach (var labels in present)
            {
                var points = series[labels];
                if (points[^1].Ticks != evaluation.At.UtcTicks)
                {
                    points.Add(Point.Gap(evaluation.At.UtcTicks));
                }
            }

            present.Clear();
            foreach (var verdict in trigger.Verdicts)
            {
                present.Add(verdict.Labels);
            }
        }
    }

    /// <summary>How many samples are kept over every policy, trigger and series.</summary>
    public long SampleCount => _byPolicy.Values.Sum(t => t.Values.Sum(s => s.Values.Sum(p => (long)p.Count)));

    /// <summary>
    /// One plot per trigger of <paramref name="policy"/>, in its order, over [from, to]: a line per series seen, and the
    /// given changes and decisions as markers (a decision only on its own trigger's plot, a change on every plot).
    /// </summary>
    public IReadOnlyList<TriggerPlot> Plots(
        Policy policy, DateTimeOffset from, DateTimeOffset to, IEnumerable<Change> changes, IEnumerable<Decision> decisions, IEnumerable<PlotMarker>? extra = null)
    {
        ArgumentNullException.ThrowIfNull(policy);
        var recorded = _byPolicy.GetValueOrDefault(policy.Name);
        var changeMarkers = changes.Where(c => c.Policy == policy.Name).Select(PlotMarkers.Of).ToArray();
        var decisionList = decisions.Where(d => d.Policy == policy.Name).ToArray();
        var extraMarkers = extra?.ToArray() ?? [];
        return policy.Triggers.Select(t =>
        {
            var series = recorded?.GetValueOrDefault(t.Name);
            return new TriggerPlot
            {
                Title = t.Name,
                ValueLabel = ValueLabel(t.Condition),
                From = from,
                To = to,
                Series = series is null
                    ? []
                    : series.OrderBy(s => s.Key.ToString(), StringComparer.Ordinal)
                        .Select(s => new PlotSeries(s.Key.IsEmpty ? string.Empty : s.Key.ToString(), s.Value.Select(p => p.ToSample()).ToArray()))
                        .ToArray(),
                Markers = changeMarkers
                    .Concat(decisionList.Where(d => d.Trigger == t.Name).Select(PlotMarkers.Of))
                    .Concat(extraMarkers)
                    .OrderBy(m => m.At)
                    .ToArray(),
            };
        }).ToArray();
    }

    /// <summary>What a trigger's value is, for the y axis.</summary>
    public static string ValueLabel(TriggerCondition condition) => condition switch
    {
        ErrorRateCondition => "error ratio",
        BurnRateCondition => "burn rate (x budget)",
        LatencyCondition => "latency",
        AvailabilityCondition => "availability",
        _ => "value",
    };

    private readonly record struct Point(long Ticks, double Value, double Threshold, double Baseline, VerdictKind Kind)
    {
        /// <summary>No data: drawn as a gap, never a breach.</summary>
        public static Point Gap(long ticks) => new(ticks, double.NaN, double.NaN, double.NaN, VerdictKind.Inconclusive);

        public PlotSample ToSample() => new(
            new DateTimeOffset(Ticks, TimeSpan.Zero),
            double.IsNaN(Value) ? null : Value,
            double.IsNaN(Threshold) ? null : Threshold,
            double.IsNaN(Baseline) ? null : Baseline,
            Kind == VerdictKind.Breach);
    }
}
