using System.Xml.Linq;
using RollbackSentinel.Core.Backtesting;
using RollbackSentinel.Core.Changes;
using RollbackSentinel.Core.Evaluation;
using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Core.Policies;
using RollbackSentinel.Core.State;
using RollbackSentinel.Web.History;
using RollbackSentinel.Web.Plots;

namespace RollbackSentinel.Web.Tests.History;

public sealed class ReplayRecorderTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 20, 10, 0, 0, TimeSpan.Zero);
    private static readonly LabelSet V2 = LabelSet.Of(("version", "v2"));
    private static readonly LabelSet V3 = LabelSet.Of(("version", "v3"));

    private static readonly Trigger Errors = new()
    {
        Name = "errors",
        Condition = new ErrorRateCondition("sum by (version) (rate(errors[1m]))", "sum by (version) (rate(total[1m]))", 0.05, 0.5),
    };

    private static readonly Policy Shop = new()
    {
        Name = "shop",
        Target = new WebhookTarget(Template.Parse("http://127.0.0.1:9/rollback")),
        Schedule = new IntervalSchedule(TimeSpan.FromMinutes(1)),
        Triggers = [Errors],
    };

    private static Verdict VerdictOf(LabelSet labels, double value) => new()
    {
        Kind = value > 0.05 ? VerdictKind.Breach : VerdictKind.Pass,
        Reason = value > 0.05 ? VerdictReason.ThresholdExceeded : VerdictReason.WithinThreshold,
        Labels = labels,
        Value = value,
        Threshold = 0.05,
        Summary = "error ratio",
    };

    private static void Observe(ReplayRecorder recorder, int minute, params (LabelSet Labels, double Value)[] verdicts) =>
        recorder.Observe(new BacktestEvaluation(Shop, T0.AddMinutes(minute), PolicyState.Empty, ChangeHistory.Empty)
        {
            Triggers = [new TriggerVerdicts(Errors, verdicts.Select(v => VerdictOf(v.Labels, v.Value)).ToArray())],
        });

    [Fact]
    public void Plots_SeriesAbsentForAWhile_HasAGapThereAndItsBreachEndsWhereItWentAway()
    {
        var recorder = new ReplayRecorder();
        for (var m = 0; m <= 4; m++)
        {
            Observe(recorder, m, (V2, m == 4 ? 0.3 : 0.01), (V3, 0.01));
        }

        // v2 is rolled away for 35 minutes (v3 goes on), then comes back healthy.
        for (var m = 5; m < 40; m++)
        {
            Observe(recorder, m, (V3, 0.01));
        }

        for (var m = 40; m <= 44; m++)
        {
            Observe(recorder, m, (V2, 0.01), (V3, 0.01));
        }

        var plot = Assert.Single(recorder.Plots(Shop, T0, T0.AddMinutes(44), [], []));
        var v2 = Assert.Single(plot.Series, s => s.Label == V2.ToString());
        var gap = Assert.Single(v2.Samples, s => s.Value is null);
        Assert.Equal(T0.AddMinutes(5), gap.At);
        Assert.Equal(11, v2.Samples.Count); // 5 before, the gap, 5 after: nothing for the minutes it was away

        var svg = XDocument.Parse(SvgPlot.Render(plot));
        XNamespace ns = "http://www.w3.org/2000/svg";
        var line = svg.Descendants(ns + "path").Single(p => (string?)p.Attribute("class") is { } c && c.Contains("series", StringComparison.Ordinal) && (string?)p.Attribute("data-series") == V2.ToString());
        Assert.Equal(2, line.Attribute("d")!.Value.Count(c => c == 'M'));
        var breach = svg.Descendants(ns + "rect").Single(r => (string?)r.Attribute("class") == "breach");
        Assert.Equal((Rfc3339.Format(T0.AddMinutes(4)), Rfc3339.Format(T0.AddMinutes(5))), ((string)breach.Attribute("data-from")!, (string)breach.Attribute("data-to")!));
    }

    [Fact]
    public void Plots_OneLinePerSeriesInLabelOrder_WithTheThresholdAndBreachOfEachEvaluation()
    {
        var recorder = new ReplayRecorder();
        Observe(recorder, 0, (V3, 0.01), (V2, 0.2));
        Observe(recorder, 1, (V3, 0.01), (V2, 0.01));

        var plot = Assert.Single(recorder.Plots(Shop, T0, T0.AddMinutes(1), [], []));
        Assert.Equal(("errors", "error ratio"), (plot.Title, plot.ValueLabel));
        Assert.Equal([V2.ToString(), V3.ToString()], plot.Series.Select(s => s.Label));
        Assert.Equal([new PlotSample(T0, 0.2, 0.05, null, true), new PlotSample(T0.AddMinutes(1), 0.01, 0.05, null, false)], plot.Series[0].Samples);
        Assert.Equal(4, recorder.SampleCount);
    }

    [Fact]
    public void Plots_Markers_ChangesOnEveryPlotOfThePolicyAndDecisionsOnTheirTriggersOnly()
    {
        var recorder = new ReplayRecorder();
        Observe(recorder, 0, (V2, 0.2));
        var change = new Change { Policy = "shop", At = T0, Source = ChangeSource.Api, Revision = "v2", PreviousRevision = "v1", By = "ci", Labels = V2 };
        var otherPolicy = change with { Policy = "cart" };
        var decision = new Decision
        {
            Policy = "shop", Trigger = "errors", Labels = V2, At = T0.AddMinutes(1), Kind = DecisionKind.Act, Action = TriggerAction.Rollback,
            Verdict = VerdictOf(V2, 0.2), Message = "m",
        };
        var plot = Assert.Single(recorder.Plots(Shop, T0, T0.AddMinutes(2), [change, otherPolicy], [decision, decision with { Trigger = "latency" }]));
        Assert.Equal(
            [(MarkerKind.Change, $"change v1 -> v2 by ci {V2} at 2026-11-20T10:00:00Z"), (MarkerKind.Decision, $"rollback {V2}: error ratio at 2026-11-20T10:01:00Z")],
            plot.Markers.Select(m => (m.Kind, m.Text)));
    }
}
