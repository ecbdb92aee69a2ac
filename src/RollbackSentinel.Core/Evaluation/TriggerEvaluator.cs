using System.Globalization;
using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Core.Policies;

namespace RollbackSentinel.Core.Evaluation;

/// <summary>
/// Turns a trigger's query results into verdicts, one per label set, like a Prometheus alerting rule. Pure:
/// the same inputs always give the same verdicts, which is what lets <c>backtest</c> and the daemon agree.
/// </summary>
public static partial class TriggerEvaluator
{
    /// <summary>What a no-data verdict's sentence says when the trigger counts it as a breach.</summary>
    internal const string CountedAsBreach = " (counted as a breach: noData: breach)";

    /// <param name="trigger">The trigger to evaluate.</param>
    /// <param name="outcomes">One outcome per <see cref="QuerySpec.For"/> entry, keyed by role.</param>
    public static IReadOnlyList<Verdict> Evaluate(Trigger trigger, IReadOnlyDictionary<string, QueryOutcome> outcomes)
    {
        var sink = new VerdictSink(reuse: false);
        Evaluate(trigger, outcomes, sink);
        return [.. sink.Verdicts];
    }

    /// <summary>Evaluates <paramref name="trigger"/> into <paramref name="sink"/>, which holds its verdicts until its next evaluation.</summary>
    internal static void Evaluate(Trigger trigger, IReadOnlyDictionary<string, QueryOutcome> outcomes, VerdictSink sink)
    {
        ArgumentNullException.ThrowIfNull(trigger);
        ArgumentNullException.ThrowIfNull(outcomes);
        sink.Begin(outcomes, trigger.NoData == NoDataPolicy.Breach);

        // A failed query fails the whole trigger: an error is never a pass. An informational one only shows it failed.
        if (AnyFailed(outcomes))
        {
            var failed = outcomes.Values.Where(o => o.Error is not null && !o.Spec.Informational).ToArray();
            sink.Add(new Verdict
            {
                Kind = VerdictKind.Error,
                Reason = VerdictReason.QueryFailed,
                Labels = LabelSet.Empty,
                Summary = string.Join("; ", failed.Select(f => $"{f.Spec.Role} query failed: {f.Error}")),
                Queries = outcomes.Values.Select(o => new QueryEvidence(o.Spec.Role, o.Spec.Expression, o.ResolvedAt, null, o.Error)).ToArray(),
            });
            return;
        }

        // Once __name__ is dropped, two series with the same labels cannot be told apart: PromQL refuses such
        // a vector too ("vector cannot contain metrics with the same labelset"). Deciding on either would be a guess.
        var clash = FirstClash(outcomes);
        if (clash.Duplicate is { } duplicate)
        {
            sink.Add(
                ConfigurationError(
                    $"{clash.Spec!.Role} query returns several series with labels {duplicate} once the metric name is dropped; aggregate them (e.g. sum by (...))",
                    outcomes));
            return;
        }

        switch (trigger.Condition)
        {
            case ErrorRateCondition e:
                EvaluateErrorRate(e, outcomes, sink);
                break;
            case BurnRateCondition b:
                foreach (var verdict in EvaluateBurnRate(b, outcomes))
                {
                    sink.Add(verdict);
                }

                break;
            case LatencyCondition l:
                EvaluateLatency(l, outcomes, sink);
                break;
            case AvailabilityCondition a:
                EvaluateSingle(outcomes, a, a.Min, sink);
                break;
            case ThresholdCondition t:
                EvaluateSingle(outcomes, t, t.Value, sink);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(trigger), trigger.Condition, "unknown condition kind");
        }
    }

    /// <summary>The outcomes in their order, enumerated without boxing (the evaluator passes a <see cref="Dictionary{TKey, TValue}"/>).</summary>
    private static Dictionary<string, QueryOutcome>.ValueCollection Values(IReadOnlyDictionary<string, QueryOutcome> outcomes) =>
        (outcomes as Dictionary<string, QueryOutcome> ?? new Dictionary<string, QueryOutcome>(outcomes)).Values;

    private static bool AnyFailed(IReadOnlyDictionary<string, QueryOutcome> outcomes)
    {
        foreach (var o in Values(outcomes))
        {
            if (o.Error is not null && !o.Spec.Informational)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>The first deciding query with two series of the same labels, and those labels (a set only for several series).</summary>
    private static (QuerySpec? Spec, LabelSet? Duplicate) FirstClash(IReadOnlyDictionary<string, QueryOutcome> outcomes)
    {
        foreach (var o in Values(outcomes))
        {
            var samples = o.View;
            if (samples.Count <= 1 || o.Spec.Informational)
            {
                continue;
            }

            // The first label set, in order of first appearance, that occurs twice: as GroupBy found it.
            var counts = new Dictionary<LabelSet, int>(samples.Count);
            for (var sampleIndex = 0; sampleIndex < samples.Count; sampleIndex++)
            {
                var sample = samples[sampleIndex];
                counts[sample.Labels] = counts.GetValueOrDefault(sample.Labels) + 1;
            }

            for (var sampleIndex = 0; sampleIndex < samples.Count; sampleIndex++)
            {
                var sample = samples[sampleIndex];
                if (counts[sample.Labels] > 1)
                {
                    return (o.Spec, sample.Labels);
                }
            }
        }

        return (null, null);
    }

    /// <summary>Whether a reason means "there was no usable data" (as opposed to low traffic or a missing baseline).</summary>
    public static bool IsNoData(VerdictReason reason) => reason is VerdictReason.NoData or VerdictReason.NotANumber or VerdictReason.Infinite;

    internal static Verdict ApplyNoDataBreach(Verdict v) =>
        v.Kind == VerdictKind.Inconclusive && IsNoData(v.Reason)
            ? v with { Kind = VerdictKind.Breach, NoDataCountedAsBreach = true, Summary = v.Summary + CountedAsBreach }
            : v;

    private static void EvaluateErrorRate(ErrorRateCondition c, IReadOnlyDictionary<string, QueryOutcome> outcomes, VerdictSink sink)
    {
        var errors = outcomes[QuerySpec.ErrorsRole];
        var total = outcomes[QuerySpec.TotalRole];
        if (UnavailableRole(outcomes) is { } missing)
        {
            sink.Add(Unavailable(missing));
            return;
        }

        var totals = total.View;
        if (totals.Count == 0)
        {
            sink.Add(Inconclusive(LabelSet.Empty, VerdictReason.NoData, "total query returned no series", c.Max));
            return;
        }

        // A few series are matched by a scan; more through a dictionary, so many series stay linear.
        var errorSamples = errors.View;
        var errorsByLabels = SeriesLookup.LastWins(errorSamples);
        var totalsByLabels = SeriesLookup.LastWins(totals);
        LabelSet? orphan = null;
        for (var esIndex = 0; esIndex < errorSamples.Count; esIndex++)
        {
            var es = errorSamples[esIndex];
            if (totalsByLabels.Find(es.Labels) is null)
            {
                orphan = es.Labels;
                break;
            }
        }

        if (orphan is not null)
        {
            var totalLabels = new HashSet<LabelSet>();
            for (var i = 0; i < totals.Count; i++)
            {
                totalLabels.Add(totals[i].Labels);
            }

            // Usually a missing sum or a "by" on one side only. Counting those errors as zero would pass a
            // release that is failing, so this is an error, never a pass.
            sink.Add(
                ConfigurationError(
                    $"errors series {orphan} has no total series with the same labels (total has {string.Join(", ", totalLabels.Take(3))}{(totalLabels.Count > 3 ? ", ..." : string.Empty)}): aggregate errors and total by the same labels",
                    outcomes));
            return;
        }

        for (var tIndex = 0; tIndex < totals.Count; tIndex++)
        {
            var t = totals[tIndex];
            if (NonFinite(t.Value, "total") is { } bad)
            {
                sink.Add(Inconclusive(t.Labels, bad.Reason, bad.Text, c.Max));
                continue;
            }

            if (t.Value < c.MinTotal || t.Value == 0)
            {
                var why = t.Value == 0
                    ? "no traffic: total is 0 (0/0)"
                    : $"low traffic: total {Num(t.Value)} < minTotal {Num(c.MinTotal)}";
                sink.Add(Inconclusive(t.Labels, VerdictReason.LowTraffic, why, c.Max));
                continue;
            }

            // Prometheus has no series for an error code that never happened: absent errors are zero errors
            // (every errors series present was matched to a total above).
            var e = errorsByLabels.Find(t.Labels) ?? 0.0;
            if (NonFinite(e, "errors") is { } badErrors)
            {
                sink.Add(Inconclusive(t.Labels, badErrors.Reason, badErrors.Text, c.Max));
                continue;
            }

            var ratio = e / t.Value;
            var breach = ratio > c.Max;
            sink.Add(Judged(breach, t.Labels, ratio, c.Max, new(SentenceForm.ErrorRatio, breach, e, t.Value, c.Max)));
        }
    }

    private static void EvaluateLatency(LatencyCondition c, IReadOnlyDictionary<string, QueryOutcome> outcomes, VerdictSink sink)
    {
        if (UnavailableRole(outcomes, ignoreRole: QuerySpec.BaselineRole) is { } missing)
        {
            sink.Add(Unavailable(missing));
            return;
        }

        if (c.MaxRatio is null && c.MaxIncrease is null)
        {
            throw new ArgumentException("a latency trigger needs maxRatio, maxIncrease or both", nameof(c));
        }

        var values = outcomes[QuerySpec.ValueRole].View;
        if (values.Count == 0)
        {
            sink.Add(Inconclusive(LabelSet.Empty, VerdictReason.NoData, "query returned no series", null));
            return;
        }

        var baselineOutcome = outcomes[QuerySpec.BaselineRole];
        var baselineSamples = baselineOutcome.View;
        var baselines = SeriesLookup.LastWins(baselineSamples);
        var baselineCount = baselines.Count;
        var scoped = baselineSamples.Scoped;

        for (var sIndex = 0; sIndex < values.Count; sIndex++)
        {
            var s = values[sIndex];
            if (NonFinite(s.Value, "value") is { } bad)
            {
                sink.Add(Inconclusive(s.Labels, bad.Reason, bad.Text, null));
                continue;
            }

            // Like with like: the baseline series with the same labels, or the only one there is (before a change:
            // only when it was measured before this series' own change).
            double? baseline = baselines.Find(s.Labels)
                ?? (baselineCount == 1 && (scoped is null || scoped.MayStandIn(baselineSamples[0].Labels, s.Labels)) ? baselineSamples[0].Value : null);
            if (baseline is null)
            {
                var why = baselineOutcome.Unavailable is { } u
                    ? $"baseline missing: {u}"
                    : scoped is not null && scoped.ChangeFor(s.Labels) is null ? $"baseline missing: no change of {s.Labels} is known for a before-deploy baseline"
                    : baselineCount == 0 ? "baseline missing: the baseline query returned no series"
                    : $"baseline missing: no baseline series with labels {s.Labels}";
                sink.Add(Inconclusive(s.Labels, VerdictReason.BaselineMissing, why, null) with { Value = s.Value });
                continue;
            }

            if (!double.IsFinite(baseline.Value))
            {
                var why = $"baseline missing: the baseline is {Num(baseline.Value)}";
                sink.Add(Inconclusive(s.Labels, VerdictReason.BaselineMissing, why, null) with { Value = s.Value, Baseline = baseline });
                continue;
            }

            // The value must exceed every limit the trigger sets, so the effective threshold is the largest (the
            // ratio's when they are equal, as it is written first).
            var (threshold, form, parameter) = (double.NegativeInfinity, SentenceForm.LatencyRatio, 0.0);
            if (c.MaxRatio is { } ratio)
            {
                (threshold, form, parameter) = (baseline.Value * ratio, SentenceForm.LatencyRatio, ratio);
            }

            if (c.MaxIncrease is { } inc && (c.MaxRatio is null || baseline.Value + inc > threshold))
            {
                (threshold, form, parameter) = (baseline.Value + inc, SentenceForm.LatencyIncrease, inc);
            }

            var breach = s.Value > threshold;
            sink.Add(Judged(breach, s.Labels, s.Value, threshold, new(form, breach, s.Value, threshold, baseline.Value, parameter)) with { Baseline = baseline });
        }
    }

    /// <summary>An availability or threshold trigger: one value per series against a fixed threshold.</summary>
    private static void EvaluateSingle(IReadOnlyDictionary<string, QueryOutcome> outcomes, TriggerCondition condition, double threshold, VerdictSink sink)
    {
        static bool IsBreach(TriggerCondition condition, double v) => condition switch
        {
            AvailabilityCondition a => v < a.Min,
            ThresholdCondition t => t.Op.Holds(v, t.Value),
            _ => throw new ArgumentOutOfRangeException(nameof(condition), condition, "not a single-value condition"),
        };

        static Sentence Text(TriggerCondition condition, double v, bool breach) => condition switch
        {
            AvailabilityCondition a => new(SentenceForm.AvailabilityMin, breach, v, a.Min),
            ThresholdCondition t => new(SentenceForm.Threshold, breach, v, t.Value, Op: t.Op),
            _ => throw new ArgumentOutOfRangeException(nameof(condition), condition, "not a single-value condition"),
        };

        if (UnavailableRole(outcomes) is { } missing)
        {
            sink.Add(Unavailable(missing));
            return;
        }

        var values = outcomes[QuerySpec.ValueRole].View;
        if (values.Count == 0)
        {
            sink.Add(Inconclusive(LabelSet.Empty, VerdictReason.NoData, "query returned no series", threshold));
            return;
        }

        for (var i = 0; i < values.Count; i++)
        {
            var s = values[i];
            if (NonFinite(s.Value, "value") is { } bad)
            {
                sink.Add(Inconclusive(s.Labels, bad.Reason, bad.Text, threshold));
                continue;
            }

            var breach = IsBreach(condition, s.Value);
            sink.Add(Judged(breach, s.Labels, s.Value, threshold, Text(condition, s.Value, breach)));
        }
    }

    /// <summary>The first deciding query (other than <paramref name="ignoreRole"/>) that could not be made, if any.</summary>
    private static QueryOutcome? UnavailableRole(IReadOnlyDictionary<string, QueryOutcome> outcomes, string? ignoreRole = null)
    {
        foreach (var o in Values(outcomes))
        {
            if (o.Unavailable is not null && o.Spec.Role != ignoreRole && !o.Spec.Informational)
            {
                return o;
            }
        }

        return null;
    }

    private static VerdictData Unavailable(QueryOutcome missing) =>
        Inconclusive(LabelSet.Empty, VerdictReason.NoData, $"{missing.Spec.Role} query not made: {missing.Unavailable}", null);

    /// <summary>A value compared with its threshold: a breach or a pass, and the sentence that says so.</summary>
    private static VerdictData Judged(bool breach, LabelSet labels, double value, double threshold, Sentence sentence) => new(
        breach ? VerdictKind.Breach : VerdictKind.Pass,
        breach ? VerdictReason.ThresholdExceeded : VerdictReason.WithinThreshold,
        labels,
        Value: value,
        Threshold: threshold,
        Sentence: sentence);

    private static VerdictData Inconclusive(LabelSet labels, VerdictReason reason, string summary, double? threshold) =>
        new(VerdictKind.Inconclusive, reason, labels, Threshold: threshold, Summary: summary);

    /// <summary>The verdict when a deciding query could not be made (as a burn-rate trigger makes its verdicts: as objects).</summary>
    private static Verdict? Unavailable(IReadOnlyDictionary<string, QueryOutcome> outcomes) =>
        UnavailableRole(outcomes) is { } missing ? Verdict.Make(Unavailable(missing), new EvidenceIndex(outcomes)) : null;

    /// <summary>The queries' results cannot be combined as the trigger needs: an error, since it is the rule, not the data.</summary>
    private static Verdict ConfigurationError(string summary, IReadOnlyDictionary<string, QueryOutcome> outcomes) => new()
    {
        Kind = VerdictKind.Error,
        Reason = VerdictReason.IncompatibleSeries,
        Labels = LabelSet.Empty,
        Summary = summary,
        Queries = outcomes.Values.Select(o => new QueryEvidence(o.Spec.Role, o.Spec.Expression, o.ResolvedAt, null, o.Samples is { } s ? $"{s.Count} series" : null)).ToArray(),
    };

    private static (VerdictReason Reason, string Text)? NonFinite(double value, string what) =>
        double.IsNaN(value) ? (VerdictReason.NotANumber, $"{what} is NaN")
        : double.IsInfinity(value) ? (VerdictReason.Infinite, $"{what} is {Num(value)}")
        : null;

    private static Verdict Inconclusive(LabelSet labels, VerdictReason reason, string summary, double? threshold, IReadOnlyList<QueryEvidence> evidence) => new()
    {
        Kind = VerdictKind.Inconclusive,
        Reason = reason,
        Labels = labels,
        Threshold = threshold,
        Summary = summary,
        Queries = evidence,
    };

    /// <summary>
    /// A query's values by label set. Up to 8 series a value is found by a scan; above, through a
    /// dictionary made once: an evaluation stays linear in series without a dictionary per query for the usual one or
    /// two series.
    /// </summary>
    private readonly struct SeriesLookup
    {
        /// <summary>Up to this many series, a series is found by a scan rather than through a dictionary made at every evaluation.</summary>
        private const int ScanUpTo = 8;

        private readonly SampleView _samples;
        private readonly Dictionary<LabelSet, double>? _map;
        private readonly bool _lastWins;

        private SeriesLookup(SampleView samples, bool lastWins)
        {
            _samples = samples;
            _lastWins = lastWins;
            if (samples.Count > ScanUpTo)
            {
                _map = new Dictionary<LabelSet, double>(samples.Count);
                for (var i = 0; i < samples.Count; i++)
                {
                    if (lastWins)
                    {
                        _map[samples[i].Labels] = samples[i].Value;
                    }
                    else
                    {
                        _map.TryAdd(samples[i].Labels, samples[i].Value);
                    }
                }
            }
        }

        /// <summary>A label set given twice counts with its last value (as the deciding arithmetic reads it, <see cref="ByLabels"/>).</summary>
        public static SeriesLookup LastWins(SampleView samples) => new(samples, lastWins: true);

        /// <summary>A label set given twice counts with its first value (as evidence shows it).</summary>
        public static SeriesLookup FirstWins(SampleView samples) => new(samples, lastWins: false);

        /// <summary>The label sets when indexed, else the samples (a deciding query's are distinct by then: <see cref="FirstClash"/>).</summary>
        public int Count => _map?.Count ?? _samples.Count;

        public double? Find(LabelSet labels)
        {
            if (_map is not null)
            {
                return _map.TryGetValue(labels, out var v) ? v : null;
            }

            for (var k = 0; k < _samples.Count; k++)
            {
                var i = _lastWins ? _samples.Count - 1 - k : k;
                if (_samples[i].Labels.Equals(labels))
                {
                    return _samples[i].Value;
                }
            }

            return null;
        }
    }

    private static Dictionary<LabelSet, double> ByLabels(IReadOnlyList<Sample> samples)
    {
        var map = new Dictionary<LabelSet, double>(samples.Count);
        foreach (var s in samples)
        {
            map[s.Labels] = s.Value;
        }

        return map;
    }

    private static QueryEvidence[] Evidence(IReadOnlyDictionary<string, QueryOutcome> outcomes, LabelSet labels) =>
        new EvidenceIndex(outcomes).For(labels);

    /// <summary>
    /// One trigger's outcomes at one evaluation, from which each verdict's evidence is written when first read: most
    /// verdicts of a backtest never are. Each query's samples are indexed by label set once, when evidence is first
    /// written, so the evidence of one verdict is a lookup per query rather than a scan of every sample. The outcomes
    /// are copied (the evaluator reuses its dictionaries); a sink that reuses its verdicts copies the next evaluation's
    /// into the same index (<see cref="Reset"/>).
    /// </summary>
    internal sealed class EvidenceIndex
    {
        private QueryOutcome[] _outcomes = [];
        private int _count;
        private SeriesLookup[]? _values;

        public EvidenceIndex(IReadOnlyDictionary<string, QueryOutcome> outcomes) => Reset(outcomes);

        /// <summary>Holds <paramref name="outcomes"/> instead of what it held (in the same array when they fit).</summary>
        public void Reset(IReadOnlyDictionary<string, QueryOutcome> outcomes)
        {
            if (_outcomes.Length < outcomes.Count)
            {
                _outcomes = new QueryOutcome[outcomes.Count];
            }

            Array.Clear(_outcomes, outcomes.Count, _outcomes.Length - outcomes.Count);
            _count = 0;
            foreach (var o in Values(outcomes))
            {
                _outcomes[_count++] = o;
            }

            _values = null;
        }

        public QueryEvidence[] For(LabelSet labels)
        {
            var lookups = _values;
            if (lookups is null)
            {
                lookups = new SeriesLookup[_count];
                for (var i = 0; i < _count; i++)
                {
                    lookups[i] = _outcomes[i].Succeeded ? SeriesLookup.FirstWins(_outcomes[i].View) : default;
                }

                _values = lookups;
            }

            var evidence = new QueryEvidence[_count];
            for (var i = 0; i < _count; i++)
            {
                var o = _outcomes[i];
                double? value = null;
                string? note = o.Unavailable ?? o.Error; // an error here is an informational query's: others fail the trigger first
                if (o.Succeeded)
                {
                    var samples = o.View;
                    double? own = lookups[i].Find(labels);

                    // Only a baseline stands in for every series when it is the only one; elsewhere a value is shown
                    // only for the series the verdict is about, so evidence never disagrees with the decision.
                    var shared = o.Spec.Role == QuerySpec.BaselineRole && samples.Count == 1
                        && (samples.Scoped is not { } scoped || scoped.MayStandIn(samples[0].Labels, labels))
                        ? samples[0].Value : (double?)null;
                    value = own ?? shared;
                    note = samples.Count == 0 ? "no series"
                        : value is null ? $"{samples.Count} series, none with labels {labels}"
                        : null;
                }

                evidence[i] = new QueryEvidence(o.Spec.Role, o.Spec.Expression, o.ResolvedAt, value, note);
            }

            return evidence;
        }
    }

    /// <summary>Formats a number for evidence: shortest round-trip form, Prometheus' spelling of NaN and infinities.</summary>
    public static string Num(double value) =>
        double.IsNaN(value) ? "NaN"
        : double.IsPositiveInfinity(value) ? "+Inf"
        : double.IsNegativeInfinity(value) ? "-Inf"
        : Math.Round(value, 6).ToString("0.######", CultureInfo.InvariantCulture);
}
