using RollbackSentinel.Core.Changes;
using RollbackSentinel.Core.Evaluation;
using RollbackSentinel.Core.Incidents;
using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Core.Policies;
using RollbackSentinel.Core.State;
using static RollbackSentinel.Core.Tests.Support.Build;
using static RollbackSentinel.Core.Tests.Support.Changes;

namespace RollbackSentinel.Core.Tests.Changes;

public sealed class GateTests
{
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(15);
    private static readonly LabelSet Cart = LabelSet.Of(("deployment", "cart"));
    private static readonly LabelSet Search = LabelSet.Of(("deployment", "search"));
    private static readonly Trigger Errors = ErrorRate(name: "errors", @for: TimeSpan.FromMinutes(1));
    private static readonly Trigger Latency = ErrorRate(name: "latency", action: TriggerAction.Page);
    private static readonly Policy TwoTriggers = Policy(Errors, Latency);
    private static readonly Change V42 = Deploy(T0, "v42", "v41");

    private static Verdict V(VerdictKind kind, LabelSet? labels = null) => new()
    {
        Kind = kind,
        Reason = kind switch
        {
            VerdictKind.Breach => VerdictReason.ThresholdExceeded,
            VerdictKind.Pass => VerdictReason.WithinThreshold,
            VerdictKind.Error => VerdictReason.QueryFailed,
            _ => VerdictReason.NoData,
        },
        Labels = labels ?? LabelSet.Empty,
        Summary = kind.ToString(),
    };

    /// <summary>Evaluations 15 s apart from T0+15s, each giving every trigger of the policy the same verdicts.</summary>
    private static PolicyState Evaluate(Policy policy, ChangeHistory changes, params Verdict[][] rounds)
    {
        var state = PolicyState.Empty;
        for (var i = 0; i < rounds.Length; i++)
        {
            state = PolicyStateMachine.Step(policy, state, T0 + ((i + 1) * Step), policy.Triggers.Select(t => new TriggerVerdicts(t, rounds[i])).ToArray(), changes: changes).State;
        }

        return state;
    }

    private static Verdict[][] Rounds(int count, params Verdict[] verdicts) => Enumerable.Repeat(verdicts, count).ToArray();

    private static Incident OpenIncident(long id, LabelSet labels, IncidentStatus status = IncidentStatus.Open) => new()
    {
        Id = id,
        Policy = "checkout-api",
        Trigger = "errors",
        Labels = labels,
        Action = TriggerAction.Rollback,
        Status = status,
        OpenedAt = T0,
        UpdatedAt = T0,
        Summary = "errors firing",
        EvidenceJson = "{}",
    };

    private static GateAnswer Ask(Policy policy, PolicyState state, ChangeHistory changes, LabelSet? filter = null, params Incident[] incidents) =>
        Gate.Evaluate(policy, state, changes, incidents, filter ?? LabelSet.Empty);

    [Fact]
    public void Evaluate_MinPassesAfterTheChangeForEveryTrigger_IsOpen()
    {
        var changes = History(V42);

        var answer = Ask(TwoTriggers, Evaluate(TwoTriggers, changes, Rounds(3, V(VerdictKind.Pass))), changes);

        Assert.True(answer.Open);
        Assert.Empty(answer.Reasons);
        Assert.Equal(3, answer.MinPasses);
        Assert.Equal(
            [("errors", "passing", 3, V42), ("latency", "passing", 3, V42)],
            answer.Series.Select(s => (s.Trigger, s.State, s.Passes, s.Change!)));
    }

    [Fact]
    public void Evaluate_EvaluationsStoppedLongerThanTheLongestGap_IsClosedAsUnknown()
    {
        var changes = History(V42);
        var state = Evaluate(TwoTriggers, changes, Rounds(3, V(VerdictKind.Pass)));
        var last = state.LastEvaluatedAt!.Value;
        var gap = TimeSpan.FromSeconds(37.5);

        var fresh = Gate.Evaluate(TwoTriggers, state, changes, [], LabelSet.Empty, last + gap, gap);
        var stale = Gate.Evaluate(TwoTriggers, state, changes, [], LabelSet.Empty, last + gap + TimeSpan.FromSeconds(1), gap);

        Assert.True(fresh.Open);
        Assert.False(stale.Open);
        Assert.Equal(["the last evaluation was 38s ago, longer than 37s500ms: how things stand now is unknown"], stale.Reasons);
    }

    [Fact]
    public void Evaluate_FewerThanMinPasses_IsClosedCountingThem()
    {
        var changes = History(V42);

        var answer = Ask(TwoTriggers, Evaluate(TwoTriggers, changes, Rounds(2, V(VerdictKind.Pass))), changes);

        Assert.False(answer.Open);
        Assert.Equal(["errors: 2 of 3 passing evaluations since v41 -> v42", "latency: 2 of 3 passing evaluations since v41 -> v42"], answer.Reasons);
    }

    [Fact]
    public void Evaluate_MinPassesFromThePolicy()
    {
        var policy = TwoTriggers with { Gate = new GateSettings { MinPasses = 5 } };
        var changes = History(V42);

        var four = Ask(policy, Evaluate(policy, changes, Rounds(4, V(VerdictKind.Pass))), changes);
        var five = Ask(policy, Evaluate(policy, changes, Rounds(5, V(VerdictKind.Pass))), changes);

        Assert.Equal((false, 5), (four.Open, four.MinPasses));
        Assert.Contains("errors: 4 of 5 passing evaluations since v41 -> v42", four.Reasons);
        Assert.True(five.Open);
    }

    [Fact]
    public void Evaluate_NeverEvaluated_IsClosed()
    {
        var answer = Ask(TwoTriggers, PolicyState.Empty, History(V42));

        Assert.False(answer.Open);
        Assert.Equal(["errors: not yet evaluated", "latency: not yet evaluated"], answer.Reasons);
        Assert.Empty(answer.Series);
    }

    [Fact]
    public void Evaluate_APendingTrigger_IsClosedSayingSinceWhen()
    {
        var changes = History(V42);
        var state = Evaluate(Policy(Errors), changes, [.. Rounds(3, V(VerdictKind.Pass)), [V(VerdictKind.Breach)]]);

        var answer = Ask(Policy(Errors), state, changes);

        Assert.False(answer.Open);
        Assert.Equal(["errors: pending (breaching since 2026-11-20T10:01:00Z)"], answer.Reasons);
        Assert.Equal(("pending", 0), (answer.Series.Single().State, answer.Series.Single().Passes));
    }

    [Fact]
    public void Evaluate_AFiringTrigger_IsClosed()
    {
        var changes = History(V42);
        var state = Evaluate(Policy(Latency), changes, [.. Rounds(3, V(VerdictKind.Pass)), [V(VerdictKind.Breach)]]);

        var answer = Ask(Policy(Latency), state, changes);

        Assert.Equal((false, "firing"), (answer.Open, answer.Series.Single().State));
        Assert.Equal(["latency: firing"], answer.Reasons);
    }

    [Theory]
    [InlineData(VerdictKind.Inconclusive, "inconclusive")]
    [InlineData(VerdictKind.Error, "error")]
    public void Evaluate_NoVerdictAtTheLastEvaluation_IsClosed(VerdictKind kind, string state)
    {
        var changes = History(V42);
        var s = Evaluate(Policy(Latency), changes, [.. Rounds(3, V(VerdictKind.Pass, Cart)), [V(kind, Cart)]]);

        var answer = Ask(Policy(Latency), s, changes);

        Assert.False(answer.Open);
        Assert.Equal([$"latency{{deployment=\"cart\"}}: {state} at the last evaluation"], answer.Reasons);
        Assert.Equal((state, 0), (answer.Series.Single().State, answer.Series.Single().Passes));
    }

    [Fact]
    public void Evaluate_NoSeriesAtAll_IsNeverOpen()
    {
        // An empty result is a label-less inconclusive verdict, however often it comes.
        var changes = History(V42);
        var s = Evaluate(Policy(Latency), changes, Rounds(10, V(VerdictKind.Inconclusive)));

        var answer = Ask(Policy(Latency), s, changes);

        Assert.False(answer.Open);
        Assert.Equal(["latency: inconclusive at the last evaluation"], answer.Reasons);
    }

    [Fact]
    public void Evaluate_AQueryErrorAfterPasses_NamesEverySeriesItHides()
    {
        var changes = History(V42);
        var s = Evaluate(Policy(Latency), changes, [.. Rounds(3, V(VerdictKind.Pass, Cart), V(VerdictKind.Pass, Search)), [V(VerdictKind.Error)]]);

        var answer = Ask(Policy(Latency), s, changes, Search);

        Assert.False(answer.Open);
        Assert.Equal(["latency{deployment=\"search\"}: error at the last evaluation", "latency: error at the last evaluation"], answer.Reasons);
    }

    [Fact]
    public void Evaluate_AChangeAfterTheLastEvaluation_IsClosedUntilEvaluatedAgain()
    {
        var state = Evaluate(Policy(Latency), History(V42), Rounds(5, V(VerdictKind.Pass)));
        var v43 = Deploy(T0.AddMinutes(2), "v43", "v42", id: 2);

        var answer = Ask(Policy(Latency), state, History(V42, v43));

        Assert.False(answer.Open);
        Assert.Equal(["latency: not yet evaluated since the change (v42 -> v43 at 2026-11-20T10:02:00Z)"], answer.Reasons);
        Assert.Equal(("not evaluated since the change", v43), (answer.Series.Single().State, answer.Series.Single().Change));
    }

    [Fact]
    public void Evaluate_AChangeRecordedLateWithAnEarlierTime_IsClosedUntilEvaluatedAgain()
    {
        // A target read finds a revision created before the last evaluation, which did not know it yet.
        var state = Evaluate(Policy(Latency), History(V42), Rounds(5, V(VerdictKind.Pass)));
        var v43 = Deploy(T0.AddSeconds(40), "v43", "v42", id: 2);

        var answer = Ask(Policy(Latency), state, History(V42, v43));

        Assert.Equal(["latency: not yet evaluated since the change (v42 -> v43 at 2026-11-20T10:00:40Z)"], answer.Reasons);
    }

    [Fact]
    public void Evaluate_AnOpenIncident_IsClosedNamingIt()
    {
        var changes = History(V42);
        var state = Evaluate(Policy(Latency), changes, Rounds(3, V(VerdictKind.Pass, Cart), V(VerdictKind.Pass, Search)));

        var cart = Ask(Policy(Latency), state, changes, Cart, OpenIncident(7, Cart, IncidentStatus.AwaitingConfirmation), OpenIncident(8, Search));
        var all = Ask(Policy(Latency), state, changes, null, OpenIncident(7, Cart, IncidentStatus.AwaitingConfirmation));
        var otherPolicy = Ask(Policy(Latency), state, changes, null, OpenIncident(9, Cart) with { Policy = "search-api" });

        Assert.False(cart.Open);
        Assert.Equal(["incident 7 (errors{deployment=\"cart\"}) is awaiting confirmation"], cart.Reasons);
        Assert.Equal(["incident 7 (errors{deployment=\"cart\"}) is awaiting confirmation"], all.Reasons);
        Assert.True(otherPolicy.Open);
    }

    [Fact]
    public void Evaluate_AFilter_AsksOnlyAboutMatchingSeries()
    {
        var changes = History(Deploy(T0, "c2", "c1", Cart, id: 1), Deploy(T0, "s2", "s1", Search, id: 2));
        var state = Evaluate(Policy(Errors), changes, [.. Rounds(3, V(VerdictKind.Pass, Cart), V(VerdictKind.Pass, Search)), [V(VerdictKind.Pass, Cart), V(VerdictKind.Breach, Search)]]);

        var cart = Ask(Policy(Errors), state, changes, Cart);
        var search = Ask(Policy(Errors), state, changes, Search);
        var other = Ask(Policy(Errors), state, changes, LabelSet.Of(("deployment", "other")));
        var all = Ask(Policy(Errors), state, changes);

        Assert.True(cart.Open);
        Assert.Equal(("passing", 4, "c2"), (cart.Series.Single().State, cart.Series.Single().Passes, cart.Series.Single().Change!.Revision));
        Assert.Equal(["errors{deployment=\"search\"}: pending (breaching since 2026-11-20T10:01:00Z)"], search.Reasons);
        Assert.Equal(["errors: not yet evaluated for {deployment=\"other\"}"], other.Reasons);
        Assert.Equal((false, 2), (all.Open, all.Series.Count));
    }

    [Fact]
    public void Evaluate_AFiringSeriesAbsentFromTheLastEvaluation_IsStillAReason()
    {
        var changes = History(V42);
        var state = Evaluate(Policy(Latency), changes, [[V(VerdictKind.Breach, Cart), V(VerdictKind.Pass, Search)], .. Rounds(3, V(VerdictKind.Pass, Search))]);
        Assert.Equal(TriggerPhase.Firing, state.Get(new SeriesKey("latency", Cart)).Phase);

        var answer = Ask(Policy(Latency), state, changes);

        Assert.False(answer.Open);
        Assert.Equal(["latency{deployment=\"cart\"}: firing (absent from the last evaluation)"], answer.Reasons);
        Assert.Equal([("firing", Cart), ("passing", Search)], answer.Series.Select(s => (s.State, s.Labels)));
    }

    [Fact]
    public void Evaluate_NoChangeKnown_CountsPassesFromTheFirstEvaluation()
    {
        var state = Evaluate(Policy(Latency), ChangeHistory.Empty, Rounds(3, V(VerdictKind.Pass)));

        var answer = Ask(Policy(Latency), state, ChangeHistory.Empty);

        Assert.True(answer.Open);
        Assert.Null(answer.Series.Single().Change);
    }

    [Fact]
    public void Evaluate_AfterTheSentinelsOwnRollback_CountsPassesAfterIt()
    {
        var changes = History(V42, SentinelRollback(T0.AddSeconds(40)));

        var answer = Ask(Policy(Latency), Evaluate(Policy(Latency), changes, Rounds(4, V(VerdictKind.Pass))), changes);

        Assert.False(answer.Open);
        Assert.Equal(["latency: 2 of 3 passing evaluations since v42 -> v41"], answer.Reasons);
    }

    [Theory]
    [InlineData("cart", true)]
    [InlineData("search", false)]
    public void AgreesWith_UnlessALabelOfTheFilterHasAnotherValue(string deployment, bool compatible)
    {
        var filter = LabelSet.Of(("deployment", deployment));

        Assert.Equal(compatible, LabelSet.Of(("deployment", "cart"), ("code", "500")).AgreesWith(filter));
        Assert.True(LabelSet.Of(("code", "500")).AgreesWith(filter));
        Assert.True(LabelSet.Empty.AgreesWith(filter));
    }
}
