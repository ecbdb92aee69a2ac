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
    /// <param name="trigger">The trigger to evaluate.</param>
    /// <param name="outcomes">One outcome per <see cref="QuerySpec.For"/> entry, keyed by role.</param>
    public static IReadOnlyList<Verdict> Evaluate(Trigger trigger, IReadOnlyDictionary<string, QueryOutcome> outcomes)
    {
        ArgumentNullException.ThrowIfNull(trigger);
        ArgumentNullException.ThrowIfNull(outcomes);

        // A failed query fails the whole trigger: an error is never a pass. An informational one only shows it failed.
        if (AnyFailed(outcomes))
        {
            var failed = outcomes.Values.Where(o => o.Error is not null && !o.Spec.Informational).ToArray();
            return
            [
                new Verdict
                {
                    Kind = VerdictKind.Error,
                    Reason = VerdictReason.QueryFailed,
                    Labels = LabelSet.Empty,
                    Summary = string.Join("; ", failed.Select(f => $"{f.Spec.Role} query failed: {f.Error}")),
                    Queries = outcomes.Values.Select(o => new QueryEvidence(o.Spec.Role, o.Spec.Expression, o.ResolvedAt, null, o.Error)).ToArray(),
                },
            ];
        }

        // Once __name__ is dropped, two series with the same labels cannot be told apart: PromQL refuses such
        // a vector too ("vector cannot contain metrics with the same labelset"). Deciding on either would be a guess.
        var clash = FirstClash(outcomes);
        if (clash.Duplicate is { } duplicate)
        {
            return
            [
                ConfigurationError(
                    $"{clash.Spec!.Role} query returns several series with labels {duplicate} once the metric name is dropped; aggregate them (e.g. sum by (...))",
                    outcomes),
            ];
        }

        var verdicts = trigger.Condition switch
        {
            ErrorRateCondition e => EvaluateErrorRate(e, outcomes),
            BurnRateCondition b => EvaluateBurnRate(b, outcomes),
            LatencyCondition l => EvaluateLatency(l, outcomes),
            AvailabilityCondition a => EvaluateSingle(outcomes, a, a.Min),
            ThresholdCondition t => EvaluateSingle(outcomes, t, t.Value),
            _ => throw new ArgumentOutOfRangeException(nameof(trigger), trigger.Condition, "unknown condition kind"),
        };

        return trigger.NoData == NoDataPolicy.Breach ? verdicts.Select(ApplyNoDataBreach).ToArray() : verdicts;
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
            if (o.Samples is not { Count: > 1 } samples || o.Spec.Informational)
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
            ? v with { Kind = VerdictKind.Breach, NoDataCountedAsBreach = true, Summary = v.Summary + " (counted as a breach: noData: breach)" }
            : v;

    private static IReadOnlyList<Verdict> EvaluateErrorRate(ErrorRateCondition c, IReadOnlyDictionary<string, QueryOutcome> outcomes)
    {
        var errors = outcomes[QuerySpec.ErrorsRole];
        var total = outcomes[QuerySpec.TotalRole];
        if (Unavailable(outcomes) is { } unavailable)
        {
            return [unavailable];
        }

        var totals = total.Samples!;
        if (totals.Count == 0)
        {
            return [Inconclusive(LabelSet.Empty, VerdictReason.NoData, "total query returned no series", c.Max, Evidence(outcomes, LabelSet.Empty))];
        }

        // A few series are matched by a scan; more through a dictionary, so many series stay linear.
        var errorSamples = errors.Samples!;
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
            var totalLabels = totals.Select(t => t.Labels).ToHashSet();
            // Usually a missing sum or a "by" on one side only. Counting those errors as zero would pass a
            // release that is failing, so this is an error, never a pass.
            return
            [
                ConfigurationError(
                    $"errors series {orphan} has no total series with the same labels (total has {string.Join(", ", totalLabels.Take(3))}{(totalLabels.Count > 3 ? ", ..." : string.Empty)}): aggregate errors and total by the same labels",
                    outcomes),
            ];
        }

        var index = new EvidenceIndex(outcomes);
        var result = new Verdict[totals.Count];
        for (var tIndex = 0; tIndex < totals.Count; tIndex++)
        {
            var t = totals[tIndex];
            var evidence = index.Of(t.Labels);
            if (NonFinite(t.Value, "total") is { } bad)
            {
                result[tIndex] = Inconclusive(t.Labels, bad.Reason, bad.Text, c.Max, evidence);
                continue;
            }

            if (t.Value < c.MinTotal || t.Value == 0)
            {
                var why = t.Value == 0
                    ? "no traffic: total is 0 (0/0)"
                    : $"low traffic: total {Num(t.Value)} < minTotal {Num(c.MinTotal)}";
                result[tIndex] = Inconclusive(t.Labels, VerdictReason.LowTraffic, why, c.Max, evidence);
                continue;
            }

            // Prometheus has no series for an error code that never happened: absent errors are zero errors
            // (every errors series present was matched to a total above).
            var e = errorsByLabels.Find(t.Labels) ?? 0.0;
            if (NonFinite(e, "errors") is { } badErrors)
            {
                result[tIndex] = Inconclusive(t.Labels, badErrors.Reason, badErrors.Text, c.Max, evidence);
                continue;
            }

            var ratio = e / t.Value;
            var breach = ratio > c.Max;
            result[tIndex] = new Verdict
            {
                Kind = breach ? VerdictKind.Breach : VerdictKind.Pass,
                Reason = breach ? VerdictReason.ThresholdExceeded : VerdictReason.WithinThreshold,
                Labels = t.Labels,
                Value = ratio,
                Threshold = c.Max,
                Sentence = new(SentenceForm.ErrorRatio, breach, e, t.Value, c.Max),
                Queries = evidence,
            };
        }

        return result;
    }

    private static IReadOnlyList<Verdict> EvaluateLatency(LatencyCondition c, IReadOnlyDictionary<string, QueryOutcome> outcomes)
    {
        if (Unavailable(outcomes, ignoreRole: QuerySpec.BaselineRole) is { } unavailable)
        {
            return [unavailable];
        }

        if (c.MaxRatio is null && c.MaxIncrease is null)
        {
            throw new ArgumentException("a latency trigger needs maxRatio, maxIncrease or both", nameof(c));
        }

        var values = outcomes[QuerySpec.ValueRole].Samples!;
        if (values.Count == 0)
        {
            return [Inconclusive(LabelSet.Empty, VerdictReason.NoData, "query returned no series", null, Evidence(outcomes, LabelSet.Empty))];
        }

        var baselineOutcome = outcomes[QuerySpec.BaselineRole];
        var baselineSamples = baselineOutcome.Samples ?? [];
        var baselines = SeriesLookup.LastWins(baselineSamples);
        var baselineCount = baselines.Count;

        var index = new EvidenceIndex(outcomes);
        var result = new Verdict[values.Count];
        for (var sIndex = 0; sIndex < values.Count; sIndex++)
        {
            var s = values[sIndex];
            var evidence = index.Of(s.Labels);
            if (NonFinite(s.Value, "value") is { } bad)
            {
                result[sIndex] = Inconclusive(s.Labels, bad.Reason, bad.Text, null, evidence);
                continue;
            }

            // Like with like: the baseline series with the same labels, or the only one there is (before a change:
            // only when it was measured before this series' own change).
            var scoped = baselineOutcome.Samples as ChangeBaselineSamples;
            double? baseline = baselines.Find(s.Labels)
                ?? (baselineCount == 1 && (scoped is null || scoped.MayStandIn(baselineSamples[0].Labels, s.Labels)) ? baselineSamples[0].Value : null);
            if (baseline is null)
            {
                var why = baselineOutcome.Unavailable is { } u
                    ? $"baseline missing: {u}"
                    : scoped is not null && scoped.ChangeFor(s.Labels) is null ? $"baseline missing: no change of {s.Labels} is known for a before-deploy baseline"
                    : baselineCount == 0 ? "baseline missing: the baseline query returned no series"
                    : $"baseline missing: no baseline series with labels {s.Labels}";
                result[sIndex] = Inconclusive(s.Labels, VerdictReason.BaselineMissing, why, null, evidence) with { Value = s.Value };
                continue;
            }

            if (!double.IsFinite(baseline.Value))
            {
                var why = $"baseline missing: the baseline is {Num(baseline.Value)}";
                result[sIndex] = Inconclusive(s.Labels, VerdictReason.BaselineMissing, why, null, evidence) with { Value = s.Value, Baseline = baseline };
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
            result[sIndex] = new Verdict
            {
                Kind = breach ? VerdictKind.Breach : VerdictKind.Pass,
                Reason = breach ? VerdictReason.ThresholdExceeded : VerdictReason.WithinThreshold,
                Labels = s.Labels,
                Value = s.Value,
                Baseline = baseline,
                Threshold = threshold,
                Sentence = new(form, breach, s.Value, threshold, baseline.Value, parameter),
                Queries = evidence,
            };
        }

        return result;
    }

    /// <summary>An availability or threshold trigger: one value per series against a fixed threshold.</summary>
    private static IReadOnlyList<Verdict> EvaluateSingle(IReadOnlyDictionary<string, QueryOutcome> outcomes, TriggerCondition condition, double threshold)
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

        if (Unavailable(outcomes) is { } unavailable)
        {
            return [unavailable];
        }

        var values = outcomes[QuerySpec.ValueRole].Samples!;
        if (values.Count == 0)
        {
            return [Inconclusive(LabelSet.Empty, VerdictReason.NoData, "query returned no series", threshold, Evidence(outcomes, LabelSet.Empty))];
        }

        var index = new EvidenceIndex(outcomes);
        var result = new Verdict[values.Count];
        for (var i = 0; i < result.Length; i++)
        {
            var s = values[i];
            var evidence = index.Of(s.Labels);
            if (NonFinite(s.Value, "value") is { } bad)
            {
                result[i] = Inconclusive(s.Labels, bad.Reason, bad.Text, threshold, evidence);
                continue;
            }

            var breach = IsBreach(condition, s.Value);
            result[i] = new Verdict
            {
                Kind = breach ? VerdictKind.Breach : VerdictKind.Pass,
                Reason = breach ? VerdictReason.ThresholdExceeded : VerdictReason.WithinThreshold,
                Labels = s.Labels,
                Value = s.Value,
                Threshold = threshold,
                Sentence = Text(condition, s.Value, breach),
                Queries = evidence,
            };
        }

        return result;
    }

    private static Verdict? Unavailable(IReadOnlyDictionary<string, QueryOutcome> outcomes, string? ignoreRole = null)
    {
        QueryOutcome? missing = null;
        foreach (var o in Values(outcomes))
        {
            if (o.Unavailable is not null && o.Spec.Role != ignoreRole && !o.Spec.Informational)
            {
                missing = o;
                break;
            }
        }

        return missing is null
            ? null
            : Inconclusive(LabelSet.Empty, VerdictReason.NoData, $"{missing.Spec.Role} query not made: {missing.Unavailable}", null, Evidence(outcomes, LabelSet.Empty));
    }

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

        private readonly IReadOnlyList<Sample> _samples;
        private readonly Dictionary<LabelSet, double>? _map;
        private readonly bool _lastWins;

        private SeriesLookup(IReadOnlyList<Sample> samples, bool lastWins)
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
        public static SeriesLookup LastWins(IReadOnlyList<Sample> samples) => new(samples, lastWins: true);

        /// <summary>A label set given twice counts with its first value (as evidence shows it).</summary>
        public static SeriesLookup FirstWins(IReadOnlyList<Sample> samples) => new(samples, lastWins: false);

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
    /// Each query's samples indexed by label set once per evaluation, so the evidence of one verdict is a lookup
    /// per query rather than a scan of every sample: evaluation stays linear in the number of series. The outcomes
    /// are copied at once (the evaluator reuses its dictionaries); the index is made, and evidence written, only
    /// when a verdict's evidence is first read (<see cref="Of"/>): most verdicts of a backtest never are.
    /// </summary>
    private sealed class EvidenceIndex
    {
        private readonly QueryOutcome[] _outcomes;
        private SeriesLookup[]? _values;

        public EvidenceIndex(IReadOnlyDictionary<string, QueryOutcome> outcomes)
        {
            _outcomes = new QueryOutcome[outcomes.Count];
            var i = 0;
            foreach (var o in Values(outcomes))
            {
                _outcomes[i++] = o;
            }
        }

        /// <summary>The evidence of the verdict for <paramref name="labels"/>, written when first read.</summary>
        public IReadOnlyList<QueryEvidence> Of(LabelSet labels) => new LazyEvidence(this, labels);

        public QueryEvidence[] For(LabelSet labels)
        {
            var lookups = _values;
            if (lookups is null)
            {
                lookups = new SeriesLookup[_outcomes.Length];
                for (var i = 0; i < _outcomes.Length; i++)
                {
                    lookups[i] = _outcomes[i].Samples is { } samples ? SeriesLookup.FirstWins(samples) : default;
                }

                _values = lookups;
            }

            var evidence = new QueryEvidence[_outcomes.Length];
            for (var i = 0; i < _outcomes.Length; i++)
            {
                var o = _outcomes[i];
                double? value = null;
                string? note = o.Unavailable ?? o.Error; // an error here is an informational query's: others fail the trigger first
                if (o.Samples is { } samples)
                {
                    double? own = lookups[i].Find(labels);

                    // Only a baseline stands in for every series when it is the only one; elsewhere a value is shown
                    // only for the series the verdict is about, so evidence never disagrees with the decision.
                    var shared = o.Spec.Role == QuerySpec.BaselineRole && samples.Count == 1
                        && (samples is not ChangeBaselineSamples scoped || scoped.MayStandIn(samples[0].Labels, labels))
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

    /// <summary>
    /// A verdict's evidence as a list that writes itself from its <see cref="EvidenceIndex"/> when first read (the same
    /// entries, in the same order, whenever that is: outcomes are immutable).
    /// </summary>
    private sealed class LazyEvidence(EvidenceIndex index, LabelSet labels) : IReadOnlyList<QueryEvidence>
    {
        private EvidenceIndex? _index = index;
        private QueryEvidence[]? _evidence;

        // Once written, the index (and the query results it holds) is let go: a verdict kept for long keeps only its own evidence.
        private QueryEvidence[] Evidence
        {
            get
            {
                if (_evidence is { } written)
                {
                    return written;
                }

                var made = Volatile.Read(ref _index) is { } from ? from.For(labels) : Volatile.Read(ref _evidence)!;
                Volatile.Write(ref _evidence, made);
                Volatile.Write(ref _index, null);
                return made;
            }
        }

        public int Count => Evidence.Length;

        public QueryEvidence this[int index] => Evidence[index];

        public IEnumerator<QueryEvidence> GetEnumerator() => ((IEnumerable<QueryEvidence>)Evidence).GetEnumerator();

        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
    }

    /// <summary>Formats a number for evidence: shortest round-trip form, Prometheus' spelling of NaN and infinities.</summary>
    public static string Num(double value) =>
        double.IsNaN(value) ? "NaN"
        : double.IsPositiveInfinity(value) ? "+Inf"
        : double.IsNegativeInfinity(value) ? "-Inf"
        : Math.Round(value, 6).ToString("0.######", CultureInfo.InvariantCulture);
}
