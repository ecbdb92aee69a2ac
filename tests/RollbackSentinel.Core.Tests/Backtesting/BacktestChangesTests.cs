using RollbackSentinel.Core.Backtesting;
using RollbackSentinel.Core.Changes;
using RollbackSentinel.Core.Evaluation;
using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Core.Policies;
using RollbackSentinel.Core.State;
using RollbackSentinel.Core.Tests.Support;
using static RollbackSentinel.Core.Tests.Support.Build;

namespace RollbackSentinel.Core.Tests.Backtesting;

/// <summary>
/// The backtest judges rollbacks against changes, as the daemon does: given (<c>--deployed-at</c>, <c>--changes</c>)
/// and found by <c>spec.watch.detect.query</c> over the window; before-deploy baselines end at the latest change.
/// </summary>
public sealed class BacktestChangesTests
{
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(15);
    private static readonly LabelSet Cart = LabelSet.Of(("deployment", "cart"));

    private static IEnumerable<DateTimeOffset> NoCron(CronSchedule c, DateTimeOffset f, DateTimeOffset t) => throw new InvalidOperationException("no cron here");

    /// <summary>10 req/s of cart; 10% errors from T0+5m on; generation 5, then 6 from <paramref name="deploy"/> on.</summary>
    private static Func<string, DateTimeOffset, IReadOnlyList<Sample>> History(DateTimeOffset deploy, DateTimeOffset? breakAt = null) => (q, t) => q switch
    {
        "total_q" => [S(10, ("deployment", "cart"))],
        "errors_q" => [S(t >= (breakAt ?? T0.AddMinutes(5)) ? 1 : 0.01, ("deployment", "cart"))],
        "gen_q" => [S(t >= deploy ? 6 : 5, ("deployment", "cart"))],
        _ => [],
    };

    private static Policy Detecting(params Trigger[] triggers) =>
        Policy(triggers) with { Watch = new WatchSettings { Detect = new DetectSettings { Query = "gen_q" } } };

    private static Task<BacktestResult> RunAsync(IMetricsSource source, Policy policy, DateTimeOffset? deployedAt = null, IReadOnlyList<Change>? changes = null) =>
        new Backtester(source, NoCron).RunAsync([policy], new BacktestWindow(T0, T0.AddMinutes(10), DeployedAt: deployedAt, Changes: changes), CancellationToken.None);

    private static Change Given(DateTimeOffset at, string policy = "checkout-api", LabelSet? labels = null) =>
        new() { Id = 7, Policy = policy, Labels = labels ?? LabelSet.Empty, At = at, Source = ChangeSource.Api, Revision = "v42", PreviousRevision = "v41", By = "ci" };

    [Fact]
    public async Task Run_NoChangeKnown_RollbackTriggerPagesDisarmedWithTheReason()
    {
        var result = await RunAsync(new FunctionMetricsSource(History(T0.AddDays(1))), Policy(ErrorRate(@for: TimeSpan.FromMinutes(1))));

        var act = Assert.Single(result.Decisions, d => d.Kind == DecisionKind.Act);
        Assert.Equal((T0.AddMinutes(6), TriggerAction.Page, true, null), (act.At, act.Action, act.Disarmed, act.Blamed));
        Assert.Equal("no change of checkout-api{deployment=\"cart\"} is known: a rollback would not undo the cause", act.DisarmedReason);
        Assert.Empty(result.Changes);
    }

    [Fact]
    public async Task Run_WithAnObserver_SeesEachEvaluationsStateAndTheChangesInOrder()
    {
        var seen = new List<BacktestEvaluation>();

        var result = await new Backtester(new FunctionMetricsSource(History(T0.AddDays(1))), NoCron).RunAsync(
            [Policy(ErrorRate(@for: TimeSpan.FromMinutes(1)))], new BacktestWindow(T0, T0.AddMinutes(10), Step, DeployedAt: T0.AddMinutes(4)), CancellationToken.None, observe: seen.Add);

        Assert.Equal(Enumerable.Range(0, 41).Select(i => T0 + (i * Step)), seen.Select(e => e.At));
        Assert.All(seen, e => Assert.Equal(e.At, e.State.LastEvaluatedAt));
        Assert.All(seen, e => Assert.Equal(T0.AddMinutes(4), Assert.Single(e.Changes.All).At));
        var act = Assert.Single(result.Decisions, d => d.Kind == DecisionKind.Act);
        Assert.Equal(TriggerPhase.Firing, seen.Single(e => e.At == act.At).State.Series.Values.Single().Phase);
        Assert.DoesNotContain(seen.Single(e => e.At == T0.AddMinutes(4)).State.Series.Values, s => s.Phase == TriggerPhase.Firing);
    }

    [Fact]
    public async Task Run_DeployedAtBeforeTheBreach_ArmsTheRollbackAndBlamesThatChange()
    {
        var result = await RunAsync(new FunctionMetricsSource(History(T0.AddDays(1))), Policy(ErrorRate(@for: TimeSpan.FromMinutes(1))), deployedAt: T0.AddMinutes(4));

        var act = Assert.Single(result.Decisions, d => d.Kind == DecisionKind.Act);
        Assert.Equal((TriggerAction.Rollback, false, null), (act.Action, act.Disarmed, act.DisarmedReason));
        Assert.Equal((T0.AddMinutes(4), BacktestWindow.DeployedAtActor, LabelSet.Empty), (act.Blamed!.At, act.Blamed.By, act.Blamed.Labels));
        Assert.Equal([act.Blamed], result.Changes);
    }

    [Fact]
    public async Task Run_GivenChangeLongerAgoThanWatchFor_PagesDisarmedNamingTheChange()
    {
        var change = Given(T0.AddHours(-3));

        var result = await RunAsync(new FunctionMetricsSource(History(T0.AddDays(1))), Policy(ErrorRate(@for: TimeSpan.FromMinutes(1))), changes: [change]);

        var act = Assert.Single(result.Decisions, d => d.Kind == DecisionKind.Act);
        Assert.Equal((TriggerAction.Page, true, change), (act.Action, act.Disarmed, act.Blamed));
        Assert.Equal("no change of checkout-api{deployment=\"cart\"} within 1h (last: v41 -> v42, 3h ago): a rollback would not undo the cause", act.DisarmedReason);
        Assert.Equal([change], result.Changes);
    }

    [Fact]
    public async Task Run_GivenChangesOfOtherPoliciesAndOtherLabelSets_AreNotBlamed()
    {
        var result = await RunAsync(
            new FunctionMetricsSource(History(T0.AddDays(1))),
            Policy(ErrorRate(@for: TimeSpan.FromMinutes(1))),
            changes: [Given(T0.AddMinutes(4), policy: "other"), Given(T0.AddMinutes(4), labels: LabelSet.Of(("deployment", "search")))]);

        var act = Assert.Single(result.Decisions, d => d.Kind == DecisionKind.Act);
        Assert.Equal((TriggerAction.Page, true, null), (act.Action, act.Disarmed, act.Blamed));
        Assert.Equal([LabelSet.Of(("deployment", "search"))], result.Changes.Select(c => c.Labels));
    }

    [Fact]
    public async Task Run_OnlyTheLatestChangeOfEachLabelSetBeforeTheWindow_IsListedAsUsed()
    {
        Change[] given = [Given(T0.AddHours(-5)), Given(T0.AddHours(-2)) with { Id = 8 }, Given(T0.AddMinutes(3)) with { Id = 9 }, Given(T0.AddHours(2)) with { Id = 10 }];

        var result = await RunAsync(new FunctionMetricsSource(History(T0.AddDays(1))), Policy(ErrorRate()), changes: given);

        Assert.Equal([8L, 9L], result.Changes.Select(c => c.Id));
    }

    [Fact]
    public async Task Run_DetectQuery_FindsTheChangeAndArmsTheRollbackThatBlamesIt()
    {
        var source = new FunctionMetricsSource(History(deploy: T0.AddMinutes(4)));

        var result = await RunAsync(source, Detecting(ErrorRate(@for: TimeSpan.FromMinutes(1))));

        var change = Assert.Single(result.Changes);
        Assert.Equal(
            (T0.AddMinutes(4), ChangeSource.Query, Cart, "5", "6", "checkout-api"),
            (change.At, change.Source, change.Labels, change.PreviousRevision, change.Revision, change.Policy));
        var act = Assert.Single(result.Decisions, d => d.Kind == DecisionKind.Act);
        Assert.Equal((T0.AddMinutes(6), TriggerAction.Rollback, false, change), (act.At, act.Action, act.Disarmed, act.Blamed));
        var detect = Assert.Single(source.RangeCalls, c => c.Query == "gen_q");
        Assert.Equal((T0, T0.AddMinutes(10), Step), (detect.Start, detect.End, detect.Step));
        Assert.Empty(result.Warnings);
    }

    [Fact]
    public async Task Run_DetectQuerySeriesPresentFromTheStart_FirstEvaluationOnlyLearns()
    {
        var result = await RunAsync(new FunctionMetricsSource(History(deploy: T0.AddDays(-1))), Detecting(ErrorRate(@for: TimeSpan.FromMinutes(1))));

        Assert.Empty(result.Changes);
        Assert.True(Assert.Single(result.Decisions, d => d.Kind == DecisionKind.Act).Disarmed);
    }

    [Fact]
    public async Task Run_ChangeDetectedAfterTheBreachBegan_DoesNotArmIt()
    {
        // The breach begins at T0+5m; the change is only seen at T0+5m15s: it is known from then on, not before,
        // so it cannot be what broke a breach already under way.
        var result = await RunAsync(new FunctionMetricsSource(History(deploy: T0.AddMinutes(5) + Step)), Detecting(ErrorRate(@for: TimeSpan.FromMinutes(1))));

        Assert.Equal(T0.AddMinutes(5) + Step, Assert.Single(result.Changes).At);
        var act = Assert.Single(result.Decisions, d => d.Kind == DecisionKind.Act);
        Assert.Equal((TriggerAction.Page, true, null), (act.Action, act.Disarmed, act.Blamed));
    }

    [Fact]
    public async Task Run_DetectQueryFails_WarnsAndGoesOnWithTheGivenChanges()
    {
        var source = new FunctionMetricsSource(History(deploy: T0.AddMinutes(4)))
        {
            Fail = q => q == "gen_q" ? new MetricsQueryException(MetricsErrorKind.BadQuery, q, "parse error: unexpected end of input") : null,
        };

        var result = await RunAsync(source, Detecting(ErrorRate(@for: TimeSpan.FromMinutes(1))), deployedAt: T0.AddMinutes(-30));

        Assert.Equal(
            "policy 'checkout-api': spec.watch.detect.query failed, so the backtest went on without the changes it would find: parse error: unexpected end of input",
            Assert.Single(result.Warnings));
        Assert.Equal(BacktestWindow.DeployedAtActor, Assert.Single(result.Changes).By);
        var act = Assert.Single(result.Decisions, d => d.Kind == DecisionKind.Act);
        Assert.Equal((TriggerAction.Rollback, T0.AddMinutes(-30)), (act.Action, act.Blamed!.At));
    }

    [Fact]
    public async Task Run_DetectQuery_DecidesLikeTheDaemonDetectingAtEachEvaluation()
    {
        var source = new FunctionMetricsSource(History(deploy: T0.AddMinutes(4), breakAt: T0.AddMinutes(5)));
        var policy = Detecting(ErrorRate(@for: TimeSpan.FromMinutes(1)), ErrorRate(name: "late", max: 0.5, @for: TimeSpan.FromMinutes(1)));

        var backtest = await RunAsync(source, policy);

        // The daemon: at each evaluation, the detect query, then the triggers against every change found so far.
        var history = ChangeHistory.Empty;
        IReadOnlyList<Sample>? previous = null;
        var state = PolicyState.Empty;
        var live = new List<Decision>();
        for (var t = T0; t <= T0.AddMinutes(10); t += Step)
        {
            var current = await source.QueryAsync("gen_q", t, CancellationToken.None);
            foreach (var c in QueryChangeDetection.Compare(policy.Name, previous, current, t))
            {
                history = history.With(c);
            }

            previous = current;
            var evaluation = await PolicyEvaluator.EvaluateAsync(policy, state, t, new InstantQueryResolver(source, history), CancellationToken.None, changes: history);
            state = evaluation.Step.State;
            live.AddRange(evaluation.Step.Decisions);
        }

        Assert.Contains(live, d => d.Action == TriggerAction.Rollback && d.Blamed is not null);
        Assert.Equal(
            live.Select(d => (d.At, d.Trigger, d.Kind, d.Action, d.Disarmed, d.Blamed, d.Verdict.Summary)),
            backtest.Decisions.Select(d => (d.At, d.Trigger, d.Kind, d.Action, d.Disarmed, d.Blamed, d.Verdict.Summary)));
        Assert.Equal(history.All, backtest.Changes);
    }

    [Fact]
    public async Task Run_BeforeDeployBaselineFromADetectedChange_IsTheAverageBeforeThatChange()
    {
        // p95 0.1 up to the change at T0+4m, 0.3 after it; the generation steps at T0+4m.
        var deploy = T0.AddMinutes(4);
        var source = new FunctionMetricsSource((q, t) => q switch
        {
            "canary_q" => [S(t <= deploy ? 0.1 : 0.3, ("deployment", "cart"))],
            _ => History(deploy)(q, t),
        });
        var policy = Detecting(Latency(baseline: new BeforeDeployBaseline(TimeSpan.FromMinutes(2)), maxRatio: 2));

        var result = await RunAsync(source, policy);

        var act = Assert.Single(result.Decisions, d => d.Kind == DecisionKind.Act);
        Assert.Equal((deploy + Step, 0.1, 0.2), (act.At, Math.Round(act.Verdict.Baseline!.Value, 9), Math.Round(act.Verdict.Threshold!.Value, 9)));
        Assert.Equal("2026-11-20T10:02:00Z..2026-11-20T10:04:00Z", act.Verdict.Queries.Single(q => q.Role == QuerySpec.BaselineRole).EvaluatedAt);
        Assert.Equal([(deploy - TimeSpan.FromMinutes(2), deploy)], source.RangeCalls.Where(c => c.Query == "canary_q" && c.Step != Step).Select(c => (c.Start, c.End)));
    }

    [Fact]
    public async Task Run_BeforeDeployBaselineWithTwoChangesInTheWindow_EachEvaluationUsesTheWindowBeforeItsLatestChangeOnly()
    {
        // p95 0.1 up to the first change (T0+3m), 0.2 until T0+5m, 0.12 until the second change (T0+7m), 0.2 after.
        // Against 1.5 x the minute before the first change (0.1) it breaches from T0+3m15s and passes from T0+5m15s;
        // against the minute before the second (0.12) it breaches again. A window ending anywhere past a change would
        // average in post-change values.
        var (first, second) = (T0.AddMinutes(3), T0.AddMinutes(7));
        var source = new FunctionMetricsSource((q, t) => q == "canary_q" ? [S(t <= first ? 0.1 : t <= T0.AddMinutes(5) ? 0.2 : t <= second ? 0.12 : 0.2)] : []);
        var policy = Policy(Latency(baseline: new BeforeDeployBaseline(TimeSpan.FromMinutes(1)), maxRatio: 1.5));

        var result = await RunAsync(source, policy, changes: [Given(first), Given(second) with { Id = 8 }]);

        Assert.Equal(
            [(first + Step, 0.1), (second + Step, 0.12)],
            result.Decisions.Where(d => d.Kind == DecisionKind.Act).Select(d => (d.At, Math.Round(d.Verdict.Baseline!.Value, 9))));
        Assert.Equal(
            [(first.AddMinutes(-1), first), (second.AddMinutes(-1), second)],
            source.RangeCalls.Where(c => c.Step != Step).Select(c => (c.Start, c.End)).Order());
    }
}
