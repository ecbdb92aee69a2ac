using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Core.Policies;

namespace RollbackSentinel.Core.Evaluation;

public static partial class TriggerEvaluator
{
    /// <summary>
    /// One verdict per label set of the total queries over the pairs' short windows: the series with current traffic.
    /// A series only a long window still holds (a version drained half an hour ago) is not judged: judged, it would
    /// be "no data", and with <c>noData: breach</c> a rollback on a stale series. A pair breaches when both its windows
    /// burn faster than its factor; a breaching pair decides; otherwise an inconclusive pair makes the verdict
    /// inconclusive (a pair that cannot be judged might be the one that would fire), with the reason of the first
    /// low-traffic pair if any, else of the first inconclusive pair, whatever the order of the pairs; otherwise it is
    /// a pass. The value and threshold are those of the pair that fired, or of the pair closest to firing (the slower
    /// of its two burn rates, and its factor), or of the pair whose reason an inconclusive verdict gives.
    /// </summary>
    private static IReadOnlyList<Verdict> EvaluateBurnRate(BurnRateCondition c, IReadOnlyDictionary<string, QueryOutcome> outcomes)
    {
        if (Unavailable(outcomes) is { } unavailable)
        {
            return [unavailable];
        }

        var windows = c.DistinctWindows;
        var errors = windows.ToDictionary(w => w, w => ByLabels(outcomes[QuerySpec.ErrorsOver(w)].Samples!));
        var totals = windows.ToDictionary(w => w, w => ByLabels(outcomes[QuerySpec.TotalOver(w)].Samples!));
        var shortWindows = c.Windows.Select(p => p.Short).Distinct().ToArray();
        var labelSets = shortWindows.SelectMany(w => outcomes[QuerySpec.TotalOver(w)].Samples!.Select(s => s.Labels)).Distinct().ToArray();
        if (labelSets.Length == 0)
        {
            var over = string.Join(", ", shortWindows.Select(PromDuration.Format));
            return [Inconclusive(LabelSet.Empty, VerdictReason.NoData, $"total query returned no series over any short window ({over})", c.Windows[0].Factor, Evidence(outcomes, LabelSet.Empty))];
        }

        foreach (var w in windows)
        {
            if (errors[w].Keys.FirstOrDefault(l => !totals[w].ContainsKey(l)) is { } orphan)
            {
                // As for errorRate: counting those errors as zero would pass a release that is failing.
                return
                [
                    ConfigurationError(
                        $"{QuerySpec.ErrorsOver(w)} series {orphan} has no {QuerySpec.TotalOver(w)} series with the same labels: aggregate errors and total by the same labels",
                        outcomes),
                ];
            }
        }

        // The budget's queries are informational: failed (no samples) is only "unknown" in the evidence.
        var periodErrorsOutcome = outcomes[QuerySpec.ErrorsOver(c.Period)];
        var periodTotalsOutcome = outcomes[QuerySpec.TotalOver(c.Period)];
        var periodErrors = periodErrorsOutcome.Samples is { } pe ? ByLabels(pe) : null;
        var periodTotals = periodTotalsOutcome.Samples is { } pt ? ByLabels(pt) : null;
        var notQueried = periodErrorsOutcome.Unavailable ?? periodTotalsOutcome.Unavailable;
        var index = new EvidenceIndex(outcomes);
        return labelSets.Select(labels =>
        {
            var burns = windows.ToDictionary(w => w, w => Burn(c, w, errors[w], totals[w], labels));
            var pairs = c.Windows.Select(p => Judge(c, p, burns[p.Long], burns[p.Short])).ToArray();
            var budget = BudgetLeft(c, periodErrors, periodTotals, labels, notQueried);
            var evidence = index.For(labels).Concat(BurnEvidence(c, outcomes, burns, pairs, budget)).ToArray();
            var summary = string.Join("; ", pairs.Select(p => p.Text).Append(budget.Text));

            if (pairs.FirstOrDefault(p => p.Kind == VerdictKind.Breach) is { } fired)
            {
                return Judged(fired, summary);
            }

            // Low traffic (or 0/0) wins over no data, so the verdict and what noData: breach makes of it do not depend
            // on the order of the pairs: a pair without traffic to judge is never turned into a breach.
            if (pairs.Where(p => p.Kind == VerdictKind.Inconclusive).OrderBy(p => p.Reason == VerdictReason.LowTraffic ? 0 : 1).FirstOrDefault() is { } unknown)
            {
                return Inconclusive(labels, unknown.Reason, summary, unknown.Pair.Factor, evidence);
            }

            return Judged(pairs.MaxBy(p => p.Value!.Value / p.Pair.Factor)!, "no pair fired: " + summary);

            Verdict Judged(PairJudgement pair, string text) => new()
            {
                Kind = pair.Kind,
                Reason = pair.Reason,
                Labels = labels,
                Value = pair.Value,
                Threshold = pair.Pair.Factor,
                Summary = text,
                Queries = evidence,
            };
        }).ToArray();
    }

    /// <summary>A window's burn rate for one series, or why there is none; <paramref name="Absent"/>: the total has no series with its labels.</summary>
    private sealed record WindowBurn(TimeSpan Window, double? Rate, double? Total, VerdictReason Reason, string? Why, bool Absent = false);

    /// <summary>A pair's judgement: breach, pass or inconclusive, the slower of its burn rates, and a phrase for the summary.</summary>
    private sealed record PairJudgement(BurnRateWindow Pair, VerdictKind Kind, VerdictReason Reason, double? Value, string Text, string? Why = null);

    private sealed record BudgetLeftOver(double? Left, string Text, string? Why);

    private static WindowBurn Burn(BurnRateCondition c, TimeSpan w, Dictionary<LabelSet, double> errors, Dictionary<LabelSet, double> totals, LabelSet labels)
    {
        var window = PromDuration.Format(w);
        if (!totals.TryGetValue(labels, out var total))
        {
            return new(w, null, null, VerdictReason.NoData, $"{QuerySpec.TotalOver(w)} has no series with labels {labels}", Absent: true);
        }

        if (NonFinite(total, QuerySpec.TotalOver(w)) is { } bad)
        {
            return new(w, null, null, bad.Reason, bad.Text);
        }

        // A negative total (a delta() of a gauge, a subtraction) is no traffic to judge either: dividing by it would
        // turn negative errors into a burn rate that fires.
        if (total <= 0)
        {
            return new(w, null, total, VerdictReason.LowTraffic, total == 0 ? $"no traffic over {window}: total is 0 (0/0)" : $"no traffic over {window}: total is {Num(total)}");
        }

        // Absent errors are zero errors (every errors series was matched to a total series).
        var e = errors.TryGetValue(labels, out var ev) ? ev : 0.0;
        if (NonFinite(e, QuerySpec.ErrorsOver(w)) is { } badErrors)
        {
            return new(w, null, total, badErrors.Reason, badErrors.Text);
        }

        return new(w, e / total / c.Budget, total, VerdictReason.WithinThreshold, null);
    }

    private static PairJudgement Judge(BurnRateCondition c, BurnRateWindow p, WindowBurn l, WindowBurn s)
    {
        // Low traffic first: over the short window a single error is a huge burn rate, and must not page. A series
        // with current traffic in another pair's short window but none in this one's has no traffic there. Within a
        // pair as across pairs, low traffic wins over no data, whichever window has which.
        var reasons = new List<(VerdictReason Reason, string Why)>(3);
        if (s.Total is { } st && st > 0 && st < c.MinTotal)
        {
            reasons.Add((VerdictReason.LowTraffic, $"low traffic: total over {PromDuration.Format(p.Short)} {Num(st)} < minTotal {Num(c.MinTotal)}"));
        }

        if (s.Rate is null)
        {
            reasons.Add(s.Absent ? (VerdictReason.LowTraffic, $"no traffic over {PromDuration.Format(p.Short)}: {s.Why}") : (s.Reason, s.Why!));
        }

        if (l.Rate is null)
        {
            reasons.Add((l.Reason, l.Why!));
        }

        if (reasons.OrderBy(r => r.Reason == VerdictReason.LowTraffic ? 0 : 1).Select(r => ((VerdictReason, string)?)r).FirstOrDefault() is { } w)
        {
            return new(p, VerdictKind.Inconclusive, w.Item1, null, $"{p} inconclusive: {w.Item2}", w.Item2);
        }

        var (lr, sr) = (l.Rate!.Value, s.Rate!.Value);
        var breach = lr > p.Factor && sr > p.Factor;
        var rates = $"burn rate {PromDuration.Format(p.Long)} {Num(lr)}, {PromDuration.Format(p.Short)} {Num(sr)}";
        return breach
            ? new(p, VerdictKind.Breach, VerdictReason.ThresholdExceeded, Math.Min(lr, sr), $"{p} fired: {rates}, both > {Num(p.Factor)}")
            : new(p, VerdictKind.Pass, VerdictReason.WithinThreshold, Math.Min(lr, sr), $"{p}: {rates}, not both > {Num(p.Factor)}");
    }

    /// <summary>The share of the period's budget not yet spent (negative: overspent), from the informational queries over the period.</summary>
    private static BudgetLeftOver BudgetLeft(BurnRateCondition c, Dictionary<LabelSet, double>? errors, Dictionary<LabelSet, double>? totals, LabelSet labels, string? notQueried)
    {
        var period = PromDuration.Format(c.Period);
        if (errors is null || totals is null)
        {
            return Unknown(notQueried ?? "its query failed");
        }

        if (!totals.TryGetValue(labels, out var t))
        {
            return Unknown("no total series over the period");
        }

        if (!double.IsFinite(t) || t == 0)
        {
            return Unknown($"total over the period is {Num(t)}");
        }

        var e = errors.GetValueOrDefault(labels);
        var left = 1 - (e / t / c.Budget);
        return double.IsFinite(left)
            ? new(left, $"error budget left over {period}: {Num(left * 100)}%", null)
            : Unknown($"errors over the period are {Num(e)}");

        BudgetLeftOver Unknown(string why) => new(null, $"error budget over {period} unknown: {why}", why);
    }

    /// <summary>What the summary says, as evidence lines: each window's burn rate, the budget left, and each pair's outcome.</summary>
    private static IEnumerable<QueryEvidence> BurnEvidence(
        BurnRateCondition c, IReadOnlyDictionary<string, QueryOutcome> outcomes, Dictionary<TimeSpan, WindowBurn> burns, PairJudgement[] pairs, BudgetLeftOver budget)
    {
        var at = outcomes[QuerySpec.TotalOver(c.Windows[0].Short)].ResolvedAt;
        var budgetText = BudgetText(c);
        foreach (var b in burns.Values)
        {
            yield return new QueryEvidence(
                $"burnRate[{PromDuration.Format(b.Window)}]", $"{QuerySpec.ErrorsOver(b.Window)} / {QuerySpec.TotalOver(b.Window)} / {budgetText}", at, b.Rate, b.Why);
        }

        var period = PromDuration.Format(c.Period);
        yield return new QueryEvidence($"budgetLeft[{period}]", $"1 - {QuerySpec.ErrorsOver(c.Period)} / {QuerySpec.TotalOver(c.Period)} / {budgetText}", at, budget.Left, budget.Why);
        foreach (var p in pairs)
        {
            var note = p.Kind switch
            {
                VerdictKind.Breach => "fired",
                VerdictKind.Pass => "did not fire",
                _ => p.Why,
            };
            yield return new QueryEvidence(
                $"pair[{p.Pair}]", $"burnRate[{PromDuration.Format(p.Pair.Long)}] > {Num(p.Pair.Factor)} and burnRate[{PromDuration.Format(p.Pair.Short)}] > {Num(p.Pair.Factor)}", at, p.Value, note);
        }
    }

    /// <summary>The budget as the formulas divide by it, exactly: 0.001, or 0.0000001 for 99.99999 (not rounded to 0).</summary>
    private static string BudgetText(BurnRateCondition c) =>
        c.ExactBudget.ToString("0.############################", System.Globalization.CultureInfo.InvariantCulture);
}
