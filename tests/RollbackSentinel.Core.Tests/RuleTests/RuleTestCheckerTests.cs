using RollbackSentinel.Core.Backtesting;
using RollbackSentinel.Core.Changes;
using RollbackSentinel.Core.Evaluation;
using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Core.Policies;
using RollbackSentinel.Core.RuleTests;
using RollbackSentinel.Core.State;
using static RollbackSentinel.Core.Tests.Support.Build;
using static RollbackSentinel.Core.Tests.Support.Changes;

namespace RollbackSentinel.Core.Tests.RuleTests;

/// <summary>
/// <see cref="RuleTestChecker"/>: a run's decisions and the states its gates are asked with, against a test's
/// expectations, without Prometheus. Times are from the test's start (the epoch), every 15s.
/// </summary>
public sealed class RuleTestCheckerTests
{
    private static readonly DateTimeOffset Start = DateTimeOffset.UnixEpoch;
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(15);
    private static readonly SourceLocation TestAt = new("t.yaml", 4, 11);
    private static readonly LabelSet Cart = LabelSet.Of(("deployment", "cart"));
    private static readonly LabelSet Search = LabelSet.Of(("deployment", "search"));
    private static readonly Policy Shop = Policy(ErrorRate(name: "errors"), ErrorRate(name: "queue", action: TriggerAction.Page));

    private static ExpectedAction Expect(string trigger, string action, TimeSpan? at = null, LabelSet? labels = null, int line = 10) =>
        new(Shop.Name, trigger, action, new SourceLocation("t.yaml", line, 18)) { At = at, Labels = labels };

    private static Decision Act(string trigger, TimeSpan at, TriggerAction action = TriggerAction.Rollback, LabelSet? labels = null, DecisionKind kind = DecisionKind.Act) => new()
    {
        Policy = Shop.Name,
        Trigger = trigger,
        Labels = labels ?? LabelSet.Empty,
        At = Start + at,
        Kind = kind,
        Action = action,
        Verdict = Verdict(VerdictKind.Breach),
    };

    private static Verdict Verdict(VerdictKind kind) => new()
    {
        Kind = kind,
        Reason = kind == VerdictKind.Breach ? VerdictReason.ThresholdExceeded : VerdictReason.WithinThreshold,
        Labels = LabelSet.Empty,
        Summary = kind.ToString(),
    };

    private static RuleTestCase Test(IReadOnlyList<ExpectedAction>? expect = null, IReadOnlyList<ExpectedGate>? gates = null) =>
        new("t", TestAt, Step, [], [], expect ?? [], gates ?? []);

    private static string[] Check(RuleTestCase test, IReadOnlyList<Decision> decisions, IReadOnlyDictionary<(string Policy, DateTimeOffset At), BacktestEvaluation>? states = null) =>
        [.. RuleTestChecker.Check(test, Start, Step, [Shop], decisions, states ?? new Dictionary<(string, DateTimeOffset), BacktestEvaluation>()).Select(f => f.ToString())];

    [Fact]
    public void Check_ExpectedActionsHappen_NoFailure()
    {
        var test = Test([Expect("errors", "rollback"), Expect("queue", "page", at: TimeSpan.FromMinutes(1)), Expect("queue", "none", at: TimeSpan.FromSeconds(45))]);

        Assert.Empty(Check(test, [Act("errors", TimeSpan.FromSeconds(30)), Act("queue", TimeSpan.FromMinutes(1), TriggerAction.Page)]));
    }

    [Fact]
    public void Check_ActionNotExpected_FailsAtTheTest()
    {
        var failures = Check(Test(), [Act("errors", TimeSpan.FromMinutes(1))]);

        Assert.Equal(["t.yaml:4:11: checkout-api errors: unexpected rollback at 1m (every action the run takes must be listed in expect)"], failures);
    }

    [Fact]
    public void Check_DecisionsThatAreNotActions_NeedNotBeListed() =>
        Assert.Empty(Check(Test(), [Act("errors", TimeSpan.FromMinutes(1), kind: DecisionKind.InconclusiveRun), Act("errors", TimeSpan.FromMinutes(2), kind: DecisionKind.Resolved)]));

    [Fact]
    public void Check_NoneButTheTriggerActs_FailsAtTheExpectationAndAsUnexpected()
    {
        var failures = Check(Test([Expect("queue", "none")]), [Act("queue", TimeSpan.FromSeconds(30), TriggerAction.Page)]);

        Assert.Equal(
            [
                "t.yaml:10:18: checkout-api queue: expected no action, got page at 30s",
                "t.yaml:4:11: checkout-api queue: unexpected page at 30s (every action the run takes must be listed in expect)",
            ],
            failures);
    }

    [Fact]
    public void Check_NoneAtAnEvaluation_IgnoresActionsAtOthers()
    {
        var test = Test([Expect("queue", "none", at: TimeSpan.FromSeconds(15)), Expect("queue", "page", at: TimeSpan.FromSeconds(30))]);

        Assert.Empty(Check(test, [Act("queue", TimeSpan.FromSeconds(30), TriggerAction.Page)]));
    }

    [Fact]
    public void Check_PinnedAtAnotherEvaluation_SaysWhenItHappened()
    {
        var failures = Check(Test([Expect("errors", "rollback", at: TimeSpan.FromMinutes(1))]), [Act("errors", TimeSpan.FromSeconds(75))]);

        Assert.Equal(
            [
                "t.yaml:10:18: checkout-api errors: expected rollback at 1m, got no decision at 1m (at other evaluations: rollback at 1m15s)",
                "t.yaml:4:11: checkout-api errors: unexpected rollback at 1m15s (every action the run takes must be listed in expect)",
            ],
            failures);
    }

    [Fact]
    public void Check_OtherActionAtThePinnedEvaluation_NamesIt()
    {
        var failures = Check(Test([Expect("errors", "rollback", at: TimeSpan.FromMinutes(1))]), [Act("errors", TimeSpan.FromMinutes(1), TriggerAction.Page)]);

        Assert.Equal("t.yaml:10:18: checkout-api errors: expected rollback at 1m, got page at 1m", failures[0]);
    }

    [Fact]
    public void Check_NothingHappened_SaysNoDecision() =>
        Assert.Equal(["t.yaml:10:18: checkout-api errors: expected rollback at some evaluation, got no decision"], Check(Test([Expect("errors", "rollback")]), []));

    [Fact]
    public void Check_Labels_OnlyTheDecisionsOfExactlyThatSeries()
    {
        var test = Test([Expect("errors", "rollback", labels: Cart)]);

        Assert.Empty(Check(test, [Act("errors", TimeSpan.FromMinutes(1), labels: Cart)]));
        Assert.Equal(
            [
                "t.yaml:10:18: checkout-api errors {deployment=\"cart\"}: expected rollback at some evaluation, got no decision",
                "t.yaml:4:11: checkout-api errors: unexpected rollback {deployment=\"search\"} at 1m (every action the run takes must be listed in expect)",
            ],
            Check(test, [Act("errors", TimeSpan.FromMinutes(1), labels: Search)]));
    }

    [Fact]
    public void Check_ManyUnexpectedActions_ListsTheFirstTenAndCountsTheRest()
    {
        var decisions = Enumerable.Range(1, 12).Select(i => Act("errors", Step * i)).ToArray();

        var failures = Check(Test(), decisions);

        Assert.Equal(RuleTestChecker.MaxListed + 1, failures.Length);
        Assert.Equal("t.yaml:4:11: and 2 more unexpected action(s)", failures[^1]);
    }

    [Fact]
    public void Check_Gates_OpenAfterMinPassesSinceTheChangeClosedBefore()
    {
        var changes = History(Deploy(Start + TimeSpan.FromSeconds(10), "v2", "v1", policy: Shop.Name));
        var states = Replay(changes, passes: 4);
        var gate = (TimeSpan at, bool open, int line) => new ExpectedGate(at, Shop.Name, open, LabelSet.Empty, new SourceLocation("t.yaml", line, 14));
        var test = Test(gates: [gate(TimeSpan.FromSeconds(50), true, 20), gate(TimeSpan.FromSeconds(30), true, 21), gate(TimeSpan.FromSeconds(60), false, 22)]);

        var failures = Check(test, [], states);

        // At 50s the latest evaluation is 45s: 3 passes since v2 (15s, 30s, 45s). At 30s: 2 of 3. At 60s: 4 passes, open.
        Assert.Equal(
            """
            t.yaml:21:14: gate checkout-api at 30s: expected open, got closed: errors: 2 of 3 passing evaluations since v1 -> v2; queue: 2 of 3 passing evaluations since v1 -> v2
            t.yaml:22:14: gate checkout-api at 1m: expected closed, got open
            """,
            string.Join('\n', failures));
    }

    [Fact]
    public void Check_GateBeforeAnyEvaluation_SaysSo()
    {
        var test = Test(gates: [new ExpectedGate(TimeSpan.FromSeconds(10), Shop.Name, true, Cart, new SourceLocation("t.yaml", 20, 14))]);

        Assert.Equal(["t.yaml:20:14: gate checkout-api {deployment=\"cart\"} at 10s: no evaluation of the policy at or before it"], Check(test, []));
    }

    [Fact]
    public void GateEvaluations_AreTheLatestEvaluationAtOrBeforeEachGate()
    {
        var test = Test(gates: [new ExpectedGate(TimeSpan.FromSeconds(50), Shop.Name, true, LabelSet.Empty, TestAt), new ExpectedGate(TimeSpan.FromSeconds(60), Shop.Name, true, LabelSet.Empty, TestAt)]);

        Assert.Equal([(Shop.Name, Start + TimeSpan.FromSeconds(45)), (Shop.Name, Start + TimeSpan.FromSeconds(60))], RuleTestChecker.GateEvaluations(test, Start, Step).Order());
    }

    /// <summary>The policy's state after each of <paramref name="passes"/> passing evaluations at 15s, 30s, ...</summary>
    private static Dictionary<(string Policy, DateTimeOffset At), BacktestEvaluation> Replay(ChangeHistory changes, int passes)
    {
        var states = new Dictionary<(string, DateTimeOffset), BacktestEvaluation>();
        var state = PolicyState.Empty;
        for (var i = 1; i <= passes; i++)
        {
            var at = Start + (Step * i);
            state = PolicyStateMachine.Step(Shop, state, at, Shop.Triggers.Select(t => new TriggerVerdicts(t, [Verdict(VerdictKind.Pass)])).ToArray(), changes: changes).State;
            states[(Shop.Name, at)] = new BacktestEvaluation(Shop, at, state, changes);
        }

        return states;
    }
}
