using System.Collections.Immutable;
using RollbackSentinel.Core.Changes;
using RollbackSentinel.Core.Evaluation;
using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Core.Policies;
using RollbackSentinel.Core.State;
using static RollbackSentinel.Core.Tests.Support.Build;
using static RollbackSentinel.Core.Tests.Support.Changes;

namespace RollbackSentinel.Core.Tests.State;

/// <summary>Watch windows as the state machine applies them: armed, disarmed, blamed, and gate progress.</summary>
public sealed class PolicyStateMachineWatchTests
{
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(15);
    private static readonly LabelSet Cart = LabelSet.Of(("deployment", "cart"));
    private static readonly LabelSet Search = LabelSet.Of(("deployment", "search"));

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

    /// <summary>A per-deployment target: each label set has its own cooldown.</summary>
    private static Policy PerDeployment(Trigger trigger) => Policy(trigger) with
    {
        Target = new KubectlTarget(WorkloadKind.Deployment, Template.Parse("{{ labels.deployment }}")),
    };

    /// <summary>Feeds the same verdicts every 15 s from <paramref name="from"/> to <paramref name="to"/> inclusive; returns every decision.</summary>
    private static (List<Decision> Decisions, PolicyState State) Breach(Policy policy, ChangeHistory changes, DateTimeOffset from, DateTimeOffset to, PolicyState? state = null, params LabelSet[] series)
    {
        state ??= PolicyState.Empty;
        var decisions = new List<Decision>();
        var verdicts = (series.Length == 0 ? [LabelSet.Empty] : series).Select(l => V(VerdictKind.Breach, l)).ToArray();
        for (var at = from; at <= to; at += Step)
        {
            var step = PolicyStateMachine.Step(policy, state, at, [new TriggerVerdicts(policy.Triggers[0], verdicts)], changes: changes);
            state = step.State;
            decisions.AddRange(step.Decisions);
        }

        return (decisions, state);
    }

    [Theory]
    [InlineData(-15, TriggerAction.Rollback, false)] // the breach began one step inside the window
    [InlineData(0, TriggerAction.Rollback, false)] // exactly 'for' after the change
    [InlineData(15, TriggerAction.Page, true)] // one step outside
    public void Step_BreachBeganAtTheWindowsEdge_ArmedUpToAndIncludingFor(int secondsFromEdge, TriggerAction action, bool disarmed)
    {
        // The trigger's own 'for' (2m) ends outside the window every time: what counts is when the breach began.
        var policy = Policy(ErrorRate(@for: TimeSpan.FromMinutes(2)));
        var change = Deploy(T0);
        var began = T0 + TimeSpan.FromHours(1) + TimeSpan.FromSeconds(secondsFromEdge);

        var (decisions, _) = Breach(policy, History(change), began, began + TimeSpan.FromMinutes(2));

        var d = Assert.Single(decisions);
        Assert.Equal((DecisionKind.Act, action, disarmed, change, began), (d.Kind, d.Action, d.Disarmed, d.Blamed, d.Since));
        Assert.Equal(disarmed ? "no change of checkout-api within 1h (last: v41 -> v42, 1h ago): a rollback would not undo the cause" : null, d.DisarmedReason);
    }

    [Fact]
    public void Step_ShorterWatchFor_DisarmsSooner()
    {
        var policy = Policy(ErrorRate()) with { Watch = new WatchSettings { For = TimeSpan.FromMinutes(10) } };

        var (decisions, _) = Breach(policy, History(Deploy(T0)), T0.AddMinutes(10).AddSeconds(15), T0.AddMinutes(10).AddSeconds(15));

        var d = Assert.Single(decisions);
        Assert.Equal((TriggerAction.Page, true), (d.Action, d.Disarmed));
        Assert.StartsWith("no change of checkout-api within 10m (last: v41 -> v42, 10m ago)", d.DisarmedReason, StringComparison.Ordinal);
    }

    [Fact]
    public void Step_SeveralLabelSetsWithDifferentChanges_EachJudgedByItsOwn()
    {
        var policy = PerDeployment(ErrorRate());
        var cartChange = Deploy(T0, "c42", "c41", Cart, id: 1);
        var searchChange = Deploy(T0.AddHours(-3), "s7", "s6", Search, id: 2);

        var (decisions, _) = Breach(policy, History(cartChange, searchChange), T0.AddMinutes(5), T0.AddMinutes(5), series: [Cart, Search, LabelSet.Of(("deployment", "other"))]);

        Assert.Collection(
            decisions.OrderBy(d => d.Labels.ToString(), StringComparer.Ordinal),
            d => Assert.Equal((Cart, TriggerAction.Rollback, false, cartChange), (d.Labels, d.Action, d.Disarmed, d.Blamed)),
            d => Assert.Equal((LabelSet.Of(("deployment", "other")), TriggerAction.Page, true, (Change?)null), (d.Labels, d.Action, d.Disarmed, d.Blamed)),
            d =>
            {
                Assert.Equal((Search, TriggerAction.Page, true, searchChange), (d.Labels, d.Action, d.Disarmed, d.Blamed));
                Assert.Equal("no change of checkout-api{deployment=\"search\"} within 1h (last: s6 -> s7, 3h ago): a rollback would not undo the cause", d.DisarmedReason);
            });
    }

    [Fact]
    public void Step_AChangeDuringPending_IsNotBlamed_TheEarlierChangeIs()
    {
        // v42 three hours ago; the breach begins; v43 lands while the trigger is pending. The breach predates v43,
        // so undoing v43 would not help: it is disarmed and blames v42.
        var policy = Policy(ErrorRate(@for: TimeSpan.FromMinutes(2)));
        var v42 = Deploy(T0.AddHours(-3), "v42", "v41", id: 1);
        var v43 = Deploy(T0.AddMinutes(1), "v43", "v42", id: 2);

        var (decisions, _) = Breach(policy, History(v42, v43), T0, T0.AddMinutes(2));

        var d = Assert.Single(decisions);
        Assert.Equal((TriggerAction.Page, true, v42, T0.AddMinutes(2)), (d.Action, d.Disarmed, d.Blamed, d.At));
    }

    [Fact]
    public void Step_AChangeDuringPendingWithinTheEarliersWindow_RollsBackBlamingTheEarlier()
    {
        var policy = Policy(ErrorRate(@for: TimeSpan.FromMinutes(2)));
        var v42 = Deploy(T0.AddMinutes(-30), "v42", "v41", id: 1);
        var v43 = Deploy(T0.AddMinutes(1), "v43", "v42", id: 2);

        var (decisions, _) = Breach(policy, History(v42, v43), T0, T0.AddMinutes(2));

        var d = Assert.Single(decisions);
        Assert.Equal((TriggerAction.Rollback, false, v42), (d.Action, d.Disarmed, d.Blamed));
    }

    [Fact]
    public void Step_AfterTheSentinelsOwnRollback_ANewBreachIsNotReArmed()
    {
        var policy = Policy(ErrorRate()) with { Cooldown = TimeSpan.Zero };
        var deploy = Deploy(T0);
        var first = Breach(policy, History(deploy), T0.AddMinutes(5), T0.AddMinutes(5));
        Assert.Equal((TriggerAction.Rollback, deploy), (first.Decisions.Single().Action, first.Decisions.Single().Blamed));
        var rolledBack = History(deploy, SentinelRollback(T0.AddMinutes(6)));
        var passed = PolicyStateMachine.Step(policy, first.State, T0.AddMinutes(7), [new(policy.Triggers[0], [V(VerdictKind.Pass)])], changes: rolledBack).State;

        var (decisions, _) = Breach(policy, rolledBack, T0.AddMinutes(10), T0.AddMinutes(10), passed);

        var d = Assert.Single(decisions);
        Assert.Equal((DecisionKind.Act, TriggerAction.Page, true, (Change?)null), (d.Kind, d.Action, d.Disarmed, d.Blamed));
        Assert.Equal("the last change of checkout-api was the sentinel's own rollback (v42 -> v41, 4m ago): a rollback would not undo the cause", d.DisarmedReason);
    }

    [Theory]
    [InlineData(OutsideAction.Page, TriggerAction.Page, true, "page: Breach (rollback disarmed: no change of checkout-api is known: a rollback would not undo the cause)")]
    [InlineData(OutsideAction.Notify, TriggerAction.Notify, true, "notify: Breach (rollback disarmed: no change of checkout-api is known: a rollback would not undo the cause)")]
    [InlineData(OutsideAction.Rollback, TriggerAction.Rollback, false, "roll back: Breach")]
    public void Step_NoChangeKnown_TakesTheOutsideAction(OutsideAction outside, TriggerAction action, bool disarmed, string message)
    {
        var policy = Policy(ErrorRate()) with { Watch = new WatchSettings { Outside = outside } };

        var (decisions, state) = Breach(policy, ChangeHistory.Empty, T0, T0);

        var d = Assert.Single(decisions);
        Assert.Equal((DecisionKind.Act, action, disarmed, message), (d.Kind, d.Action, d.Disarmed, d.Message));
        Assert.Equal(disarmed, d.DisarmedReason is not null);

        // Only a rollback starts a cooldown.
        Assert.Equal(action == TriggerAction.Rollback, state.LastActionAt.Count == 1);
    }

    [Fact]
    public void Step_PageAndNotifyTriggers_AreNotDisarmedButBlameTheChange()
    {
        var page = ErrorRate(name: "page", action: TriggerAction.Page);
        var notify = ErrorRate(name: "notify", action: TriggerAction.Notify);
        var policy = Policy(page, notify);
        var old = Deploy(T0.AddDays(-3));

        var step = PolicyStateMachine.Step(policy, PolicyState.Empty, T0, [new(page, [V(VerdictKind.Breach)]), new(notify, [V(VerdictKind.Breach)])], changes: History(old));

        Assert.Equal(
            [("page", TriggerAction.Page, false, (string?)null, old), ("notify", TriggerAction.Notify, false, null, old)],
            step.Decisions.Select(d => (d.Trigger, d.Action, d.Disarmed, d.DisarmedReason, d.Blamed)));
        Assert.Equal(["page: Breach", "notify: Breach"], step.Decisions.Select(d => d.Message));
    }

    [Fact]
    public void Step_APageByDisarm_IsStillHeldBackByACooldown()
    {
        var policy = Policy(ErrorRate()) with { Cooldown = TimeSpan.FromMinutes(30) };
        var held = PolicyState.Empty with
        {
            LastActionAt = ImmutableDictionary<string, DateTimeOffset>.Empty.Add(TargetIdentity.For(policy, LabelSet.Empty), T0),
        };

        var (decisions, state) = Breach(policy, ChangeHistory.Empty, T0.AddMinutes(5), T0.AddMinutes(5), held);

        var d = Assert.Single(decisions);
        Assert.Equal((DecisionKind.SuppressedByCooldown, TriggerAction.Page, true, T0.AddMinutes(30)), (d.Kind, d.Action, d.Disarmed, d.CooldownUntil));
        Assert.StartsWith("fired but in cooldown until 2026-11-20T10:30:00Z, not acting: Breach (rollback disarmed: no change of checkout-api is known", d.Message, StringComparison.Ordinal);
        Assert.Equal(T0, state.LastActionAt.Single().Value);
    }

    [Fact]
    public void Step_ANotifyByDisarm_IsNotHeldBackByACooldown()
    {
        var policy = Policy(ErrorRate()) with { Cooldown = TimeSpan.FromMinutes(30), Watch = new WatchSettings { Outside = OutsideAction.Notify } };
        var held = PolicyState.Empty with
        {
            LastActionAt = ImmutableDictionary<string, DateTimeOffset>.Empty.Add(TargetIdentity.For(policy, LabelSet.Empty), T0),
        };

        var (decisions, _) = Breach(policy, ChangeHistory.Empty, T0.AddMinutes(5), T0.AddMinutes(5), held);

        Assert.Equal((DecisionKind.Act, TriggerAction.Notify, true), (decisions.Single().Kind, decisions.Single().Action, decisions.Single().Disarmed));
    }

    [Fact]
    public void Step_ADisarmedRollbackAndAPageFiringTogether_BothPage()
    {
        // A disarmed rollback starts no cooldown, so it does not hold back the page trigger of the same target.
        var page = ErrorRate(name: "latency", action: TriggerAction.Page);
        var rollback = ErrorRate(name: "errors");
        var policy = Policy(page, rollback);

        var step = PolicyStateMachine.Step(policy, PolicyState.Empty, T0, [new(page, [V(VerdictKind.Breach)]), new(rollback, [V(VerdictKind.Breach)])]);

        Assert.Equal(
            [("errors", TriggerAction.Page, DecisionKind.Act, true), ("latency", TriggerAction.Page, DecisionKind.Act, false)],
            step.Decisions.Select(d => (d.Trigger, d.Action, d.Kind, d.Disarmed)));
        Assert.Empty(step.State.LastActionAt);
    }

    [Fact]
    public void Step_ResolvedAndInconclusiveRunOfADisarmedTrigger_NameTheActionItsFiringTook()
    {
        var policy = Policy(ErrorRate()) with { Watch = new WatchSettings { Outside = OutsideAction.Notify } };
        var (fired, state) = Breach(policy, ChangeHistory.Empty, T0, T0);
        var resolved = PolicyStateMachine.Step(policy, state, T0 + Step, [new(policy.Triggers[0], [V(VerdictKind.Pass)])]);
        var run = Enumerable.Range(2, 4).Aggregate((Decisions: new List<Decision>(), State: resolved.State), (acc, i) =>
        {
            var step = PolicyStateMachine.Step(policy, acc.State, T0 + (i * Step), [new(policy.Triggers[0], [V(VerdictKind.Inconclusive)])]);
            acc.Decisions.AddRange(step.Decisions);
            return (acc.Decisions, step.State);
        });

        Assert.Equal((TriggerAction.Notify, true), (fired.Single().Action, fired.Single().Disarmed));
        var r = Assert.Single(resolved.Decisions);
        Assert.Equal((DecisionKind.Resolved, TriggerAction.Notify, true, "resolved: Pass"), (r.Kind, r.Action, r.Disarmed, r.Message));
        Assert.Equal("no change of checkout-api is known: a rollback would not undo the cause", r.DisarmedReason);
        var i = Assert.Single(run.Decisions);
        Assert.Equal((DecisionKind.InconclusiveRun, TriggerAction.Notify, true), (i.Kind, i.Action, i.Disarmed));
    }

    [Fact]
    public void Step_ResolvedOfAnArmedRollback_StaysARollback()
    {
        var policy = Policy(ErrorRate());
        var changes = History(Deploy(T0));
        var (_, state) = Breach(policy, changes, T0.AddMinutes(1), T0.AddMinutes(1));

        var resolved = PolicyStateMachine.Step(policy, state, T0.AddHours(2), [new(policy.Triggers[0], [V(VerdictKind.Pass)])], changes: changes);

        Assert.Equal((DecisionKind.Resolved, TriggerAction.Rollback, false), (resolved.Decisions.Single().Kind, resolved.Decisions.Single().Action, resolved.Decisions.Single().Disarmed));
    }

    [Fact]
    public void Progress_CountsPassesAfterTheLatestChange_AndANewChangeStartsAgain()
    {
        var policy = Policy(ErrorRate());
        var key = new SeriesKey("errors", LabelSet.Empty);
        var v42 = Deploy(T0.AddSeconds(15), id: 1);
        var v43 = Deploy(T0.AddSeconds(50), "v43", "v42", id: 2);
        var state = PolicyState.Empty;
        var passes = new List<int>();
        for (var i = 0; i < 8; i++)
        {
            var at = T0 + (i * Step);
            state = PolicyStateMachine.Step(policy, state, at, [new(policy.Triggers[0], [V(VerdictKind.Pass)])], changes: History(v42, v43)).State;
            passes.Add(state.Progress[key].Passes);
        }

        // T0: no change yet (counted from the first evaluation); T0+15s: at v42's own instant, not after it;
        // T0+60s: the first evaluation after v43.
        Assert.Equal([1, 0, 1, 2, 1, 2, 3, 4], passes);
        Assert.Equal((VerdictKind.Pass, T0 + (7 * Step), (DateTimeOffset?)v43.At, (long?)2), (state.Progress[key].LastVerdict, state.Progress[key].LastAt, state.Progress[key].ChangeAt, state.Progress[key].ChangeId));
    }

    [Theory]
    [InlineData(VerdictKind.Breach)]
    [InlineData(VerdictKind.Inconclusive)]
    [InlineData(VerdictKind.Error)]
    public void Progress_AnythingButAPass_StartsTheCountAgain(VerdictKind kind)
    {
        var policy = Policy(ErrorRate(@for: TimeSpan.FromMinutes(5)));
        var state = PolicyState.Empty;
        foreach (var (i, k) in new[] { (0, VerdictKind.Pass), (1, VerdictKind.Pass), (2, kind), (3, VerdictKind.Pass) })
        {
            state = PolicyStateMachine.Step(policy, state, T0 + (i * Step), [new(policy.Triggers[0], [V(k)])]).State;
        }

        Assert.Equal(1, state.Progress[new SeriesKey("errors", LabelSet.Empty)].Passes);
    }

    [Fact]
    public void Progress_MatchesAStoredChangeByIdEvenIfItsTimeLostPrecision()
    {
        var policy = Policy(ErrorRate());
        var precise = Deploy(T0.AddTicks(1234), id: 7);
        var state = PolicyStateMachine.Step(policy, PolicyState.Empty, T0 + Step, [new(policy.Triggers[0], [V(VerdictKind.Pass)])], changes: History(precise)).State;

        var next = PolicyStateMachine.Step(policy, state, T0 + (2 * Step), [new(policy.Triggers[0], [V(VerdictKind.Pass)])], changes: History(precise with { At = T0 })).State;

        Assert.Equal(2, next.Progress[new SeriesKey("errors", LabelSet.Empty)].Passes);
    }

    [Fact]
    public void Progress_OnlyTimesMoving_KeepsTheTableAndReadsAsTheNewTimes()
    {
        var policy = Policy(ErrorRate());
        var key = new SeriesKey("errors", Cart);
        var first = PolicyStateMachine.Step(policy, PolicyState.Empty, T0, [new(policy.Triggers[0], [V(VerdictKind.Pass, Cart)])]).State;
        var second = PolicyStateMachine.Step(policy, first, T0 + Step, [new(policy.Triggers[0], [V(VerdictKind.Pass, Cart)])]).State;
        var third = PolicyStateMachine.Step(policy, second, T0 + (2 * Step), [new(policy.Triggers[0], [V(VerdictKind.Pass, Cart)])]).State;

        Assert.NotNull(first.Gates);
        Assert.Same(first.Gates, third.Gates);
        Assert.Equal(new GateProgress(VerdictKind.Pass, T0, 1, null, null), first.Progress[key]);
        Assert.Equal(new GateProgress(VerdictKind.Pass, T0 + Step, 2, null, null), second.Progress[key]);
        Assert.Equal(new GateProgress(VerdictKind.Pass, T0 + (2 * Step), 3, null, null), third.Progress[key]);
    }

    [Fact]
    public void Progress_AsATable_MatchesProgressCarriedAsTheStoredMap()
    {
        // The same evaluations twice: once state to state (the table carried over), once with every state rebuilt from its
        // map as a store gives it back. Passes, breaches, errors, a series that comes and goes, changes, MaxPasses.
        var policy = PerDeployment(ErrorRate(@for: TimeSpan.FromMinutes(5)));
        var changes = History(Deploy(T0.AddSeconds(100), id: 1), Deploy(T0.AddSeconds(300), "v43", "v42", id: 2));
        var carried = PolicyState.Empty;
        var stored = PolicyState.Empty;
        for (var i = 0; i < GateProgress.MaxPasses + 60; i++)
        {
            var at = T0 + (i * Step);
            var cart = i % 97 == 50 ? VerdictKind.Breach : i % 89 == 40 ? VerdictKind.Error : VerdictKind.Pass;
            Verdict[] verdicts = i is > 10 and < 14 ? [V(cart, Cart)] : [V(cart, Cart), V(VerdictKind.Pass, Search)];
            var a = PolicyStateMachine.Step(policy, carried, at, [new(policy.Triggers[0], verdicts)], changes: changes);
            var b = PolicyStateMachine.Step(policy, stored, at, [new(policy.Triggers[0], verdicts)], changes: changes);
            carried = a.State;
            stored = new PolicyState
            {
                Series = b.State.Series,
                LastActionAt = b.State.LastActionAt,
                LastEvaluatedAt = b.State.LastEvaluatedAt,
                Fingerprints = b.State.Fingerprints,
                Progress = b.State.Progress,
            };

            Assert.Equal(
                stored.Progress.OrderBy(p => p.Key.ToString(), StringComparer.Ordinal),
                carried.Progress.OrderBy(p => p.Key.ToString(), StringComparer.Ordinal));
            Assert.Equal(b.Decisions.Select(d => (d.Kind, d.Labels, d.Message)), a.Decisions.Select(d => (d.Kind, d.Labels, d.Message)));
        }

        Assert.Equal(GateProgress.MaxPasses, carried.Progress[new SeriesKey("errors", Search)].Passes);
    }

    [Fact]
    public void Progress_StopsCountingAtMaxPasses()
    {
        var policy = Policy(ErrorRate());
        var key = new SeriesKey("errors", LabelSet.Empty);
        var state = PolicyState.Empty with
        {
            Progress = ImmutableDictionary<SeriesKey, GateProgress>.Empty.Add(key, new GateProgress(VerdictKind.Pass, T0, GateProgress.MaxPasses, null, null)),
        };

        var next = PolicyStateMachine.Step(policy, state, T0 + Step, [new(policy.Triggers[0], [V(VerdictKind.Pass)])]).State;

        Assert.Equal(GateProgress.MaxPasses, next.Progress[key].Passes);
    }

    [Fact]
    public void Progress_HoldsOnlyTheSeriesOfTheLastEvaluation()
    {
        var policy = Policy(ErrorRate());
        var state = PolicyState.Empty;
        for (var i = 0; i < 500; i++)
        {
            state = PolicyStateMachine.Step(policy, state, T0 + (i * Step), [new(policy.Triggers[0], [V(VerdictKind.Pass, LabelSet.Of(("pod", $"p{i}")))])]).State;
        }

        Assert.Equal(LabelSet.Of(("pod", "p499")), Assert.Single(state.Progress).Key.Labels);
    }

    [Fact]
    public void Progress_AWholeTriggerErrorStopsTheCountOfEverySeriesCounted()
    {
        var policy = Policy(ErrorRate());
        var s1 = PolicyStateMachine.Step(policy, PolicyState.Empty, T0, [new(policy.Triggers[0], [V(VerdictKind.Pass, Cart), V(VerdictKind.Pass, Search)])]);

        var s2 = PolicyStateMachine.Step(policy, s1.State, T0 + Step, [new(policy.Triggers[0], [V(VerdictKind.Error)])]);

        Assert.Equal(
            [(Cart, VerdictKind.Error, 0), (Search, VerdictKind.Error, 0), (LabelSet.Empty, VerdictKind.Error, 0)],
            s2.State.Progress.OrderBy(p => p.Key.Labels.ToString(), StringComparer.Ordinal).Select(p => (p.Key.Labels, p.Value.LastVerdict, p.Value.Passes)));
    }

    [Fact]
    public void For_AnEditedTrigger_DropsItsProgressAndKeepsTheOthers()
    {
        var before = Policy(ErrorRate(name: "keep"), ErrorRate(name: "edit"));
        var state = PolicyStateMachine.Step(before, PolicyState.Empty, T0, [new(before.Triggers[0], [V(VerdictKind.Pass)]), new(before.Triggers[1], [V(VerdictKind.Pass)])]).State;

        var edited = state.For(Policy(before.Triggers[0], before.Triggers[1] with { For = TimeSpan.FromMinutes(1) }));
        var removed = state.For(Policy(before.Triggers[1]));

        Assert.Equal(["keep"], edited.Progress.Keys.Select(k => k.Trigger));
        Assert.Equal(["edit"], removed.Progress.Keys.Select(k => k.Trigger));
    }
}
