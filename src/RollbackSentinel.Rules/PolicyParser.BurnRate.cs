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

        var period = c.Duration("period", min: TimeSpan.FromMinutes(1));
        var windows = c.Has("windows") ? ParseBurnWindows(c, objective, period ?? BurnRateCondition.DefaultPeriod) : BurnRateCondition.DefaultWindows;

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

            // The highest burn rate is 1 / budget (every request failing); "at least" up to rounding (99.9 is not exact).
            if (factor is { } f && objective is { } o && f * (1 - (o / 100)) >= 1 - 1e-9)
            {
                var highest = 1 / (1 - (o / 100));
                c.Context.Error(w.Node("factor")!.Start, w.Field("factor"),
                    $"can never be exceeded: with objective {o.ToString(CultureInfo.InvariantCulture)} the burn rate is at most {Math.Round(highest, 6).ToString(CultureInfo.InvariantCulture)} (every request failing)");
                factor = null;
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

            result.Add(new BurnRateWindow(longWindow.Value, shortWindow.Value, factor.Value));
        }

        return ok ? result : null;
    }
}
