using RollbackSentinel.Core.Changes;
using RollbackSentinel.Core.Evaluation;
using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Core.Policies;
using RollbackSentinel.Core.Tests.Support;
using static RollbackSentinel.Core.Tests.Support.Build;
using static RollbackSentinel.Core.Tests.Support.Changes;

namespace RollbackSentinel.Core.Tests.Changes;

/// <summary><c>beforeDeploy</c> baselines measured before each series' latest change.</summary>
public sealed class ChangeBaselinesTests
{
    private static readonly LabelSet Cart = LabelSet.Of(("deployment", "cart"));
    private static readonly LabelSet Search = LabelSet.Of(("deployment", "search"));
    private static readonly TimeSpan Window = TimeSpan.FromMinutes(10);
    private static readonly QuerySpec BeforeDeploy = new(QuerySpec.BaselineRole, "latency_q", new BeforeDeployQueryTime(Window));

    /// <summary>
    /// Latency per deployment: cart 100 before its change at T0 and 900 after; search 200 before its change at T0+30m
    /// and 800 after. Any post-change point in a baseline would move it off 100 or 200.
    /// </summary>
    private static IReadOnlyList<Sample> LatencyAt(DateTimeOffset t) =>
    [
        new(Cart, t <= T0 ? 100 : 900),
        new(Search, t <= T0.AddMinutes(30) ? 200 : 800),
    ];

    [Fact]
    public async Task Resolve_TwoLabelSetsWithDifferentChangeTimes_EachMeasuredBeforeItsOwnChange()
    {
        var source = new FunctionMetricsSource((_, t) => LatencyAt(t));
        var changes = History(Deploy(T0, "c2", "c1", Cart, id: 1), Deploy(T0.AddMinutes(30), "s2", "s1", Search, id: 2));

        var outcome = await new InstantQueryResolver(source, changes).ResolveAsync(BeforeDeploy, T0.AddMinutes(40), CancellationToken.None);

        Assert.Equal([new Sample(Cart, 100), new Sample(Search, 200)], outcome.Samples);
        Assert.Equal("2026-11-20T09:50:00Z..2026-11-20T10:00:00Z, 2026-11-20T10:20:00Z..2026-11-20T10:30:00Z", outcome.ResolvedAt);
        Assert.All(source.RangeCalls, c => Assert.True(c.End == T0 || c.End == T0.AddMinutes(30)));
        Assert.Equal([(T0.AddMinutes(-10), T0), (T0.AddMinutes(20), T0.AddMinutes(30))], source.RangeCalls.Select(c => (c.Start, c.End)));
    }

    [Fact]
    public async Task Resolve_BeforeTheSecondChange_UsesTheFirstOnly()
    {
        var source = new FunctionMetricsSource((_, t) => LatencyAt(t));
        var changes = History(Deploy(T0, "c2", "c1", Cart, id: 1), Deploy(T0.AddMinutes(30), "s2", "s1", Search, id: 2));

        var outcome = await new InstantQueryResolver(source, changes).ResolveAsync(BeforeDeploy, T0.AddMinutes(20), CancellationToken.None);

        Assert.Equal([new Sample(Cart, 100)], outcome.Samples);
    }

    [Fact]
    public async Task Resolve_AChangeOfEverySeries_MeasuresThemAllBeforeIt()
    {
        var source = new FunctionMetricsSource((_, t) => LatencyAt(t));

        var outcome = await new InstantQueryResolver(source, History(Deploy(T0))).ResolveAsync(BeforeDeploy, T0.AddHours(2), CancellationToken.None);

        Assert.Equal([new Sample(Cart, 100), new Sample(Search, 200)], outcome.Samples);
    }

    [Fact]
    public async Task Resolve_TheSentinelsOwnRollback_DoesNotMoveTheBaseline()
    {
        var source = new FunctionMetricsSource((_, t) => LatencyAt(t));
        var changes = History(Deploy(T0, labels: Cart), SentinelRollback(T0.AddMinutes(5), Cart));

        var outcome = await new InstantQueryResolver(source, changes).ResolveAsync(BeforeDeploy, T0.AddMinutes(10), CancellationToken.None);

        Assert.Equal([new Sample(Cart, 100)], outcome.Samples);
    }

    [Fact]
    public async Task Resolve_NoChangeKnown_IsNotAvailableAndQueriesNothing()
    {
        var source = new FunctionMetricsSource((_, t) => LatencyAt(t));

        var outcome = await new InstantQueryResolver(source, ChangeHistory.Empty).ResolveAsync(BeforeDeploy, T0, CancellationToken.None);

        Assert.Equal(ChangeBaselines.NoChangeKnown, outcome.Unavailable);
        Assert.Empty(source.RangeCalls);
    }

    [Fact]
    public async Task Evaluate_BeforeDeployLatencyAfterAChange_ComparesWithTheBaselineFromBeforeIt()
    {
        var trigger = Build.Latency() with { Condition = new LatencyCondition("latency_q", new BeforeDeployBaseline(Window), 1.5, null) };
        var source = new FunctionMetricsSource((_, t) => LatencyAt(t));
        var resolver = new InstantQueryResolver(source, History(Deploy(T0, "c2", "c1", Cart, id: 1)));
        var at = T0.AddMinutes(5);
        var outcomes = new Dictionary<string, QueryOutcome>();
        foreach (var spec in QuerySpec.For(trigger.Condition))
        {
            outcomes[spec.Role] = await resolver.ResolveAsync(spec, at, CancellationToken.None);
        }

        var verdicts = TriggerEvaluator.Evaluate(trigger, outcomes).OrderBy(v => v.Labels.ToString(), StringComparer.Ordinal).ToArray();

        // cart: 900 against its own 100 before the change; search has no change known, and never borrows cart's baseline.
        Assert.Equal((Cart, VerdictKind.Breach, (double?)100), (verdicts[0].Labels, verdicts[0].Kind, verdicts[0].Baseline));
        Assert.Equal((Search, VerdictKind.Inconclusive, VerdictReason.BaselineMissing), (verdicts[1].Labels, verdicts[1].Kind, verdicts[1].Reason));
        Assert.Equal("baseline missing: no change of {deployment=\"search\"} is known for a before-deploy baseline", verdicts[1].Summary);
        Assert.Null(verdicts[1].Queries.Single(q => q.Role == QuerySpec.BaselineRole).Value);
    }

    [Fact]
    public void Select_ALoneBaseline_StandsInOnlyForSeriesJudgedAgainstTheSameChange()
    {
        var all = Deploy(T0, id: 1);
        var changes = History(all, Deploy(T0.AddMinutes(30), "s2", "s1", Search, id: 2));
        var v41 = LabelSet.Of(("deployment", "cart"), ("version", "v41"));

        var selected = ChangeBaselines.Select(changes, T0.AddMinutes(40), new Dictionary<DateTimeOffset, IReadOnlyList<Sample>> { [T0] = [new(v41, 100)] });

        var scoped = Assert.IsType<ChangeBaselineSamples>(selected);
        Assert.Equal(all, scoped.MeasuredBefore(v41));
        Assert.True(scoped.MayStandIn(v41, LabelSet.Of(("deployment", "cart"), ("version", "v42"))));
        Assert.False(scoped.MayStandIn(v41, LabelSet.Of(("deployment", "search"), ("version", "v42"))));
    }

    [Fact]
    public void Select_ASeriesIsNeverTakenFromTheWindowOfAnotherChange()
    {
        var changes = History(Deploy(T0, "c2", "c1", Cart, id: 1), Deploy(T0.AddMinutes(30), "s2", "s1", Search, id: 2));

        var selected = ChangeBaselines.Select(changes, T0.AddMinutes(40), new Dictionary<DateTimeOffset, IReadOnlyList<Sample>>
        {
            [T0] = [new(Cart, 100), new(Search, 250)],
            [T0.AddMinutes(30)] = [new(Cart, 900), new(Search, 200)],
        });

        Assert.Equal([new Sample(Cart, 100), new Sample(Search, 200)], selected);
    }

    [Fact]
    public void WindowEnds_OverAReplay_IncludesEveryChangeALabelSetHadWithinIt()
    {
        // cart changed twice within the replay: at T0+10m the baseline ends at T0, at T0+1h at T0+30m.
        var changes = History(
            Deploy(T0.AddHours(-5), "old", labels: Search, id: 1),
            Deploy(T0, "c2", labels: Cart, id: 2),
            Deploy(T0.AddMinutes(30), "c3", labels: Cart, id: 3),
            SentinelRollback(T0.AddMinutes(40), Cart, id: 4),
            Deploy(T0.AddHours(5), "later", labels: Cart, id: 5));

        var ends = ChangeBaselines.WindowEnds(changes, T0.AddMinutes(5), T0.AddHours(1));

        Assert.Equal([T0.AddHours(-5), T0, T0.AddMinutes(30)], ends);
        foreach (var at in new[] { T0.AddMinutes(5), T0.AddMinutes(10), T0.AddMinutes(45), T0.AddHours(1) })
        {
            Assert.Subset(ends.ToHashSet(), ChangeBaselines.WindowEnds(changes, at).ToHashSet());
        }
    }
}
