using System.Globalization;
using RollbackSentinel.Core.Policies;
using YamlDotNet.RepresentationModel;

namespace RollbackSentinel.Rules;

public static partial class PolicyParser
{
    /// <summary>A burn-rate trigger's block: objective, period, errors, total, windows and minTotal (docs/policy-format.md).</summary>
    private static BurnRateCondition? ParseBurnRate(MapReader c, List<QueryLocation> queries)
    {
        var objective = c.Number("objective", required: true, min: 0, max: 100, minExclusive: true, hint: "the SLO in percent, e.g. 99.9");
        if (objective == 100)
        {
            c.Context.Error(c.Node("objective")!.Start, c.Field("objective"), "must be less than 100: a 100% objective leaves no error budget to burn");
            objective = null;
        }

        if (objective is { } percent && percent < 1)
        {
            c.Context.Warning(c.Node("objective")!.Start, c.Field("objective"),
                $"is a percent: {Inv(percent)} asks for {Inv(percent)}% of requests to succeed; did you mean {Inv((double)((decimal)percent * 100m))}?");
        }

        var period = c.Duration("period", min: TimeSpan.FromMinutes(1));
        var windows = c.Has("windows")
            ? ParseBurnWindows(c, objective, period ?? BurnRateCondition.DefaultPeriod)
            : CheckDefaultWindows(c, objective, period);

        // Checked and recorded as sent with the first pair's short window: every window gives the same syntax.
        var sample = windows is [var first, ..] ? first.Short : BurnRateCondition.DefaultWindows[0].Short;
        var errors = Query(c, "errors", queries, sample);
        var total = Query(c, "total", queries, sample);
        var minTotal = c.Number("minTotal", min: 0);
        if (!c.Has("minTotal"))
        {
            c.Context.Warning(c.Start, c.Field("minTotal"),
                "not set, so even one request is enough traffic: with little traffic a single failed request over the short window is a huge burn rate and fires; "
                + "set the total (e.g. requests per second) below which the verdict is inconclusive, e.g. minTotal: 0.5");
        }

        return objective is null || errors is null || total is null || windows is null || (c.Has("minTotal") && minTotal is null)
            ? null
            : new BurnRateCondition(objective.Value, period ?? BurnRateCondition.DefaultPeriod, errors, total, windows, minTotal ?? 0);
    }

    /// <summary>
    /// The default windows, checked as written ones are: a factor the objective makes unreachable is an error at
    /// <c>objective</c>, a long window beyond a written <c>period</c> a warning there. Null when a factor is unreachable.
    /// </summary>
    private static IReadOnlyList<BurnRateWindow>? CheckDefaultWindows(MapReader c, double? objective, TimeSpan? period)
    {
        var defaults = BurnRateCondition.DefaultWindows;
        if (objective is { } o && defaults.Where(p => Unreachable(p.Factor, o)).ToArray() is { Length: > 0 } unreachable)
        {
            c.Context.Error(c.Node("objective")!.Start, c.Field("objective"),
                $"leaves the default windows' {Pairs(unreachable)} unreachable: with objective {Inv(o)} the burn rate is at most {Highest(o)} (every request failing); "
                + "write windows: with factors below it, or check the objective");
            return null;
        }

        if (period is { } pd && defaults.Where(p => p.Long > pd).ToArray() is { Length: > 0 } beyond)
        {
            c.Context.Warning(c.Node("period")!.Start, c.Field("period"),
                $"is shorter than the long window of the default {Pairs(beyond)}: the factors are meant relative to the period's budget; write windows: that fit within {PromDuration.Format(pd)}");
        }

        return defaults;

        static string Pairs(BurnRateWindow[] pairs) =>
            (pairs.Length == 1 ? "pair " : "pairs ") + string.Join(" and ", pairs.Select(p => $"{p} (factor {Inv(p.Factor)})"));
    }

    /// <summary>The highest burn rate is 1 / budget (every request failing): a factor at or above it can never be exceeded. Exact in decimal.</summary>
    private static bool Unreachable(double factor, double objective) => (decimal)factor * BurnRateCondition.BudgetOf(objective) >= 1;

    private static string Highest(double objective) => Math.Round(1 / BurnRateCondition.BudgetOf(objective), 6).ToString("0.######", CultureInfo.InvariantCulture);

    private static string Inv(double value) => value.ToString(CultureInfo.InvariantCulture);

    /// <summary>The <c>windows</c> list: each a mapping of long, short and factor; null when any is wrong.</summary>
    private static IReadOnlyList<BurnRateWindow>? ParseBurnWindows(MapReader c, double? objective, TimeSpan period)
    {
        var seq = c.Sequence("windows");
        if (seq is null)
        {
            return null;
        }

        if (seq.Children.Count == 0)
        {
            c.Context.Error(seq.Start, c.Field("windows"), "must list at least one pair, e.g. {long: 1h, short: 5m, factor: 14.4}; leave it out for the SRE workbook's two pairs");
            return null;
        }

        var result = new List<BurnRateWindow>();
        var seen = new List<(int Index, BurnRateWindow Pair)>();
        var ok = true;
        for (var i = 0; i < seq.Children.Count; i++)
        {
            var path = $"{c.Field("windows")}[{i}]";
            if (seq.Children[i] is not YamlMappingNode m)
            {
                c.Context.Error(seq.Children[i].Start, path, $"a pair must be a mapping such as {{long: 1h, short: 5m, factor: 14.4}}, got {MapReader.Describe(seq.Children[i])}");
                ok = false;
                continue;
            }

            var w = new MapReader(c.Context, m, path);
            var longWindow = w.Duration("long", required: true, min: TimeSpan.FromSeconds(1));
            var shortWindow = w.Duration("short", required: true, min: TimeSpan.FromSeconds(1));
            var factor = w.Number("factor", required: true, min: 0, minExclusive: true, hint: "the burn rate both windows must exceed, e.g. 14.4");
            w.ReportUnknown();
            if (longWindow is { } l && shortWindow is { } s && l <= s)
            {
                c.Context.Error(w.Node("long")!.Start, w.Field("long"), $"must be longer than short ({PromDuration.Format(s)}): the long window is the one that shows the burn is significant");
                longWindow = null;
            }

            if (factor is { } f && objective is { } o && Unreachable(f, o))
            {
                c.Context.Error(w.Node("factor")!.Start, w.Field("factor"),
                    $"can never be exceeded: with objective {Inv(o)} the burn rate is at most {Highest(o)} (every request failing)");
                factor = null;
            }

            if (shortWindow is { } sw && sw < TimeSpan.FromMinutes(1))
            {
                c.Context.Warning(w.Node("short")!.Start, w.Field("short"),
                    $"is under 1m, shorter than most scrape intervals: rate() needs two samples within {PromDuration.Format(sw)}, so the pair is often inconclusive (no series) or rests on one scrape");
            }

            if (longWindow is { } lw && lw > period)
            {
                c.Context.Warning(w.Node("long")!.Start, w.Field("long"),
                    $"is longer than the period ({PromDuration.Format(period)}): the factor is meant relative to the period's budget");
            }

            if (longWindow is null || shortWindow is null || factor is null)
            {
                ok = false;
                continue;
            }

            var pair = new BurnRateWindow(longWindow.Value, shortWindow.Value, factor.Value);
            if (seen.FirstOrDefault(x => x.Pair.Long == pair.Long && x.Pair.Short == pair.Short) is { Pair: not null } same)
            {
                c.Context.Warning(m.Start, path, same.Pair.Factor == pair.Factor
                    ? $"is the same pair as windows[{same.Index}] ({pair}, factor {Inv(pair.Factor)}): remove one"
                    : $"has the same windows as windows[{same.Index}] ({pair}): the one with the lower factor fires whenever the other would, so the other never decides");
            }

            seen.Add((i, pair));
            result.Add(pair);
        }

        return ok ? result : null;
    }
}
