using System.Collections.Immutable;
using RollbackSentinel.Core.Evaluation;
using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Core.Policies;
using RollbackSentinel.Core.State;
using static RollbackSentinel.Core.Tests.Support.Build;

namespace RollbackSentinel.Core.Tests.State;

public sealed class PolicyStateMachineTests
{
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(15);

    private static Verdict V(VerdictKind kind, LabelSet? labels = null, VerdictReason? reason = null) => new()
    {
        Kind = kind,
        Reason = reason ?? kind switch
        {
            VerdictKind.Breach => VerdictReason.ThresholdExceeded,
            VerdictKind.Pass => VerdictReason.WithinThreshold,
            VerdictKind.Error => VerdictReason.QueryFailed,
            _ => VerdictReason.NoData,
        },
        Labels = labels ?? LabelSet.Empty,
        Summary = kind.ToString(),
    };

    /// <summary>Feeds one verdict per step (15 s apart from T0) for a single-trigger policy; returns every decision.</summary>
    private static (List<Decision> Decisions, PolicyState State) Run(Policy policy, params VerdictKind[] kinds)
    {
        var state = PolicyState.Empty;
        var decisions = new List<Decision>();
        for (var i = 0; i < kinds.Length; i++)
        {
            var step = PolicyStateMachine.Step(policy, state, T0 + (i * Step), [new TriggerVerdicts(policy.Triggers[0], [V(kinds[i])])]);
            state = step.State;
            decisions.AddRange(step.Decisions);
        }

        return (decisions, state);
    }

    private static VerdictKind[] Repeat(VerdictKind kind, int count) => Enumerable.Repeat(kind, count).ToArray();

    private const VerdictKind B = VerdictKind.Breach;
    private const VerdictKind P = VerdictKind.Pass;
    private const VerdictKind I = VerdictKind.Inconclusive;
    private const VerdictKind E = VerdictKind.Error;

    [Fact]
    public void Breach_WithForZero_ActsOnTheFirstBreach()
    {
        var (decisions, state) = Run(Policy(ErrorRate()).AlwaysArmed(), B);

        var d = Assert.Single(decisions);
        Assert.Equal((DecisionKind.Act, TriggerAction.Rollback, T0), (d.Kind, d.Action, d.At));
        Assert.Equal(TriggerPhase.Firing, state.Get(new SeriesKey("errors", LabelSet.Empty)).Phase);
    }

    [Fact]
    public void Breach_HeldExactlyForTheForDuration_ActsAtThatEvaluation()
    {
        // for: 2m at 15 s: breaches at T0..T0+2m are 9 evaluations; the 9th fires.
        var (decisions, _) = Run(Policy(ErrorRate(@for: TimeSpan.FromMinutes(2))).AlwaysArmed(), Repeat(B, 9));

        var d = Assert.Single(decisions);
        Assert.Equal(T0 + TimeSpan.FromMinutes(2), d.At);
        Assert.Equal(T0, d.Since);
        Assert.Equal("roll back: Breach (breaching for 2m)", d.Message);
    }

    [Fact]
    public void Breach_EndingOneStepBeforeForElapses_NeverActs()
    {
        var (decisions, state) = Run(Policy(ErrorRate(@for: TimeSpan.FromMinutes(2))), [.. Repeat(B, 8), P, .. Repeat(B, 8)]);

        Assert.Empty(decisions);
        Assert.Equal(TriggerPhase.Pending, state.Get(new SeriesKey("errors", LabelSet.Empty)).Phase);
    }

    [Theory]
    [InlineData(VerdictKind.Inconclusive)]
    [InlineData(VerdictKind.Error)]
    public void Pending_InterruptedByNonConclusive_ResetsSoTheBreachMustHoldAgain(VerdictKind gap)
    {
        var (decisions, _) = Run(Policy(ErrorRate(@for: TimeSpan.FromMinutes(1))), [.. Repeat(B, 4), gap, .. Repeat(B, 4)]);

        Assert.Empty(decisions);
    }

    [Fact]
    public void Pending_AfterGap_FiresOnceTheNewRunHolds()
    {
        var (decisions, _) = Run(Policy(ErrorRate(@for: TimeSpan.FromMinutes(1))), [.. Repeat(B, 4), I, .. Repeat(B, 5)]);

        var d = Assert.Single(decisions);
        Assert.Equal(T0 + (9 * Step), d.At);
        Assert.Equal(T0 + (5 * Step), d.Since);
    }

    [Fact]
    public void Inconclusive_Only_NeverActsAndReportsTheRunOnceAtTheLimit()
    {
        var (decisions, state) = Run(Policy(ErrorRate()), Repeat(I, 10));

        var d = Assert.Single(decisions);
        Assert.Equal(DecisionKind.InconclusiveRun, d.Kind);
        Assert.Equal(T0 + (3 * Step), d.At);
        Assert.Equal(T0, d.Since);
        Assert.Equal("4 evaluations in a row without a verdict: Inconclusive", d.Message);
        Assert.Equal(10, state.Get(new SeriesKey("errors", LabelSet.Empty)).NonConclusiveRun);
    }

    [Fact]
    public void Errors_Only_NeverAct()
    {
        var (decisions, _) = Run(Policy(ErrorRate()), Repeat(E, 20));

        Assert.DoesNotContain(decisions, d => d.Kind == DecisionKind.Act);
    }

    [Fact]
    public void NonConclusiveRun_BrokenByAPass_IsReportedAgainOnTheNextRun()
    {
        var (decisions, _) = Run(Policy(ErrorRate()), [.. Repeat(I, 4), P, .. Repeat(E, 4)]);

        Assert.Equal([T0 + (3 * Step), T0 + (8 * Step)], decisions.Where(d => d.Kind == DecisionKind.InconclusiveRun).Select(d => d.At));
    }

    [Fact]
    public void Firing_StaysFiringThroughInconclusive_WithoutASecondAction()
    {
        var (decisions, state) = Run(Policy(ErrorRate()), [B, I, I, B, B]);

        Assert.Single(decisions, d => d.Kind == DecisionKind.Act);
        Assert.Equal(TriggerPhase.Firing, state.Get(new SeriesKey("errors", LabelSet.Empty)).Phase);
    }

    [Fact]
    public void Firing_ThenPass_IsResolved()
    {
        var (decisions, state) = Run(Policy(ErrorRate()), B, B, P);

        Assert.Equal([DecisionKind.Act, DecisionKind.Resolved], decisions.Select(d => d.Kind));
        Assert.Empty(state.Series);
    }

    [Fact]
    public void SecondFiring_WithinCooldown_IsSuppressedAndSaysUntilWhen()
    {
        var policy = Policy(ErrorRate()).AlwaysArmed() with { Cooldown = TimeSpan.FromMinutes(30) };

        var (decisions, _) = Run(policy, B, P, B);

        Assert.Equal([DecisionKind.Act, DecisionKind.Resolved, DecisionKind.SuppressedByCooldown], decisions.Select(d => d.Kind));
        Assert.Equal(T0 + TimeSpan.FromMinutes(30), decisions[2].CooldownUntil);
        Assert.StartsWith("fired but in cooldown until 2026-11-20T10:30:00Z, not acting", decisions[2].Message);
    }

    [Fact]
    public void SecondFiring_AfterCooldown_ActsAgain()
    {
        var policy = Policy(ErrorRate()).AlwaysArmed() with { Cooldown = TimeSpan.FromSeconds(30) };

        // Act at T0; pass; fire at T0+30s, exactly when the cooldown ends.
        var (decisions, _) = Run(policy, B, P, B);

        Assert.Equal([DecisionKind.Act, DecisionKind.Resolved, DecisionKind.Act], decisions.Select(d => d.Kind));
    }

    [Fact]
    public void Cooldown_IsSharedByTheTriggersOfAPolicyForTheSameSeries()
    {
        var policy = Policy(ErrorRate(name: "a"), ErrorRate(name: "b")).AlwaysArmed();
        var step = PolicyStateMachine.Step(policy, PolicyState.Empty, T0, [new(policy.Triggers[0], [V(B)]), new(policy.Triggers[1], [V(B)])]);

        Assert.Equal([DecisionKind.Act, DecisionKind.SuppressedByCooldown], step.Decisions.Select(d => d.Kind));
    }

    [Fact]
    public void Page_DoesNotStartACooldown_SoALaterRollbackStillActs()
    {
        var page = ErrorRate(name: "latency", action: TriggerAction.Page);
        var rollback = ErrorRate(name: "errors");
        var policy = Policy(page, rollback).AlwaysArmed();
        var s1 = PolicyStateMachine.Step(policy, PolicyState.Empty, T0, [new(page, [V(B)]), new(rollback, [V(P)])]);

        var s2 = PolicyStateMachine.Step(policy, s1.State, T0 + Step, [new(page, [V(B)]), new(rollback, [V(B)])]);

        Assert.Equal((DecisionKind.Act, TriggerAction.Page), (s1.Decisions.Single().Kind, s1.Decisions.Single().Action));
        Assert.Equal((DecisionKind.Act, TriggerAction.Rollback), (s2.Decisions.Single().Kind, s2.Decisions.Single().Action));
    }

    [Fact]
    public void Page_AfterARollback_IsSuppressedByTheCooldown()
    {
        var page = ErrorRate(name: "latency", action: TriggerAction.Page);
        var rollback = ErrorRate(name: "errors");
        var policy = Policy(page, rollback).AlwaysArmed();

        var step = PolicyStateMachine.Step(policy, PolicyState.Empty, T0, [new(rollback, [V(B)]), new(page, [V(B)])]);

        Assert.Equal([(TriggerAction.Rollback, DecisionKind.Act), (TriggerAction.Page, DecisionKind.SuppressedByCooldown)], step.Decisions.Select(d => (d.Action, d.Kind)));
    }

    [Fact]
    public void Page_WithoutConfirm_SaysPageNotPageForConfirmation()
    {
        var (decisions, _) = Run(Policy(ErrorRate(action: TriggerAction.Page)), B);

        Assert.Equal("page: Breach", Assert.Single(decisions).Message);
    }

    [Fact]
    public void Page_WithConfirm_SaysPageForConfirmation()
    {
        var policy = Policy(ErrorRate(action: TriggerAction.Page)) with { Confirm = new ConfirmSettings([], TimeSpan.FromMinutes(15), OnTimeout.Hold) };

        var (decisions, _) = Run(policy, B);

        Assert.Equal("page for confirmation: Breach", Assert.Single(decisions).Message);
    }

    [Fact]
    public void Notify_IsNeitherSuppressedByNorStartingACooldown()
    {
        var policy = Policy(Threshold(ComparisonOperator.GreaterThan, 1, action: TriggerAction.Notify));

        var (decisions, state) = Run(policy, B, P, B);

        Assert.Equal([DecisionKind.Act, DecisionKind.Resolved, DecisionKind.Act], decisions.Select(d => d.Kind));
        Assert.Empty(state.LastActionAt);
    }

    [Fact]
    public void DryRun_DecidesTheSameButMarksTheDecision()
    {
        var policy = Policy(ErrorRate()).AlwaysArmed() with { DryRun = true };

        var (decisions, state) = Run(policy, B);

        var d = Assert.Single(decisions);
        Assert.True(d.DryRun);
        Assert.Equal(DecisionKind.Act, d.Kind);
        Assert.Equal("would roll back: Breach", d.Message);
        Assert.Equal(T0, state.LastActionAt["webhook/checkout-api/http://127.0.0.1:9/rollback"]);
    }

    [Fact]
    public void SeveralLabelSets_WithATemplatedTarget_HaveIndependentStateAndCooldown()
    {
        var policy = Policy(ErrorRate(@for: Step)).AlwaysArmed() with
        {
            Target = new KubectlTarget(WorkloadKind.Deployment, Template.Parse("{{ labels.deployment }}")),
        };
        var cart = LabelSet.Of(("deployment", "cart"));
        var search = LabelSet.Of(("deployment", "search"));
        var state = PolicyState.Empty;
        var all = new List<Decision>();
        foreach (var (i, verdicts) in new[] { (0, new[] { V(B, cart), V(P, search) }), (1, [V(B, cart), V(B, search)]), (2, [V(B, cart), V(B, search)]) })
        {
            var step = PolicyStateMachine.Step(policy, state, T0 + (i * Step), [new(policy.Triggers[0], verdicts)]);
            state = step.State;
            all.AddRange(step.Decisions);
        }

        Assert.Collection(
            all,
            d => Assert.Equal((cart, T0 + Step, DecisionKind.Act), (d.Labels, d.At, d.Kind)),
            d => Assert.Equal((search, T0 + (2 * Step), DecisionKind.Act), (d.Labels, d.At, d.Kind)));
    }

    [Theory]
    [InlineData("kubectl/cart/shop")] // a templated target, as versions before the policy-aware identity keyed it
    [InlineData("kubectl")] // a fixed target: the kind alone
    public void Cooldown_StoredUnderTheOldIdentityBeforeAnUpgrade_StillHoldsBackARollback(string oldKey)
    {
        var policy = Policy(ErrorRate()).AlwaysArmed() with
        {
            Target = oldKey == "kubectl"
                ? new KubectlTarget(WorkloadKind.Deployment, Template.Parse("cart")) { Namespace = Template.Parse("shop") }
                : new KubectlTarget(WorkloadKind.Deployment, Template.Parse("{{ labels.deployment }}")) { Namespace = Template.Parse("{{ labels.namespace }}") },
            Cooldown = TimeSpan.FromMinutes(30),
        };
        var cart = LabelSet.Of(("deployment", "cart"), ("namespace", "shop"));
        var upgraded = PolicyState.Empty with { LastActionAt = ImmutableDictionary<string, DateTimeOffset>.Empty.Add(oldKey, T0) };

        var step = PolicyStateMachine.Step(policy, upgraded, T0 + TimeSpan.FromMinutes(5), [new(policy.Triggers[0], [V(B, cart)])]);

        var d = Assert.Single(step.Decisions);
        Assert.Equal(DecisionKind.SuppressedByCooldown, d.Kind);
        Assert.Equal(T0 + TimeSpan.FromMinutes(30), d.CooldownUntil);
    }

    [Fact]
    public void Cooldown_StoredUnderTheOldIdentity_ExpiresWithItsCooldown()
    {
        var policy = Policy(ErrorRate()).AlwaysArmed() with { Cooldown = TimeSpan.FromMinutes(30) };
        var upgraded = PolicyState.Empty with { LastActionAt = ImmutableDictionary<string, DateTimeOffset>.Empty.Add("webhook", T0) };

        var step = PolicyStateMachine.Step(policy, upgraded, T0 + TimeSpan.FromMinutes(31), [new(policy.Triggers[0], [V(B)])]);

        Assert.Equal(DecisionKind.Act, Assert.Single(step.Decisions).Kind);
        Assert.False(step.State.LastActionAt.ContainsKey("webhook"));
    }

    [Fact]
    public void SeveralLabelSets_WithOneFixedTarget_ShareTheCooldownOfThatTarget()
    {
        // Two series, one thing to roll back: a second "kubectl rollout undo" would re-deploy the bad revision.
        var policy = Policy(ErrorRate()).AlwaysArmed();
        var cart = LabelSet.Of(("deployment", "cart"));

        var step = PolicyStateMachine.Step(policy, PolicyState.Empty, T0, [new(policy.Triggers[0], [V(B, cart), V(B, LabelSet.Empty)])]);

        Assert.Equal([DecisionKind.Act, DecisionKind.SuppressedByCooldown], step.Decisions.Select(d => d.Kind));
    }

    [Fact]
    public void TrackedSeries_AbsentWhileOthersReport_IsForgottenUnlessFiring()
    {
        var policy = Policy(ErrorRate(@for: TimeSpan.FromMinutes(1)));
        var cart = LabelSet.Of(("deployment", "cart"));
        var search = LabelSet.Of(("deployment", "search"));
        var s1 = PolicyStateMachine.Step(policy, PolicyState.Empty, T0, [new(policy.Triggers[0], [V(B, cart), V(I, search)])]);
        Assert.Equal(2, s1.State.Series.Count);

        var s2 = PolicyStateMachine.Step(policy, s1.State, T0 + Step, [new(policy.Triggers[0], [V(P, LabelSet.Of(("deployment", "other")))])]);

        Assert.Empty(s2.State.Series);
        Assert.Equal((TriggerPhase.Pending, TriggerPhase.Ok), (Assert.Single(s2.Transitions).From, s2.Transitions[0].To));
        Assert.Empty(s2.Decisions);
    }

    [Fact]
    public void FiringSeries_AbsentForTheInconclusiveLimit_IsResolvedSayingSo()
    {
        var policy = Policy(ErrorRate());
        var cart = LabelSet.Of(("deployment", "cart"));
        var other = LabelSet.Of(("deployment", "other"));
        var state = PolicyStateMachine.Step(policy, PolicyState.Empty, T0, [new(policy.Triggers[0], [V(B, cart)])]).State;
        var decisions = new List<Decision>();
        for (var i = 1; i <= 4; i++)
        {
            var step = PolicyStateMachine.Step(policy, state, T0 + (i * Step), [new(policy.Triggers[0], [V(P, other)])]);
            state = step.State;
            decisions.AddRange(step.Decisions);
        }

        var resolved = Assert.Single(decisions);
        Assert.Equal((DecisionKind.Resolved, T0 + (4 * Step)), (resolved.Kind, resolved.At));
        Assert.Equal("resolved: the series has been absent for 4 evaluations", resolved.Message);
        Assert.Empty(state.Series);
    }

    [Fact]
    public void ManySeriesComingAndGoing_KeepTheStateBounded()
    {
        var policy = Policy(ErrorRate(@for: TimeSpan.FromMinutes(5)));
        var state = PolicyState.Empty;
        for (var i = 0; i < 1000; i++)
        {
            state = PolicyStateMachine.Step(policy, state, T0 + (i * Step), [new(policy.Triggers[0], [V(B, LabelSet.Of(("pod", $"p{i}"))), V(I, LabelSet.Of(("pod", $"q{i}")))])]).State;
        }

        Assert.Equal(2, state.Series.Count);
    }

    [Fact]
    public void NoDataBreach_EmptyResultWithTrackedSeries_AppliesToThemNotToAPhantomEmptySeries()
    {
        var trigger = ErrorRate(@for: TimeSpan.FromSeconds(30), noData: NoDataPolicy.Breach);
        var policy = Policy(trigger) with { Target = new KubectlTarget(WorkloadKind.Deployment, Template.Parse("{{ labels.pod }}")) };
        var pod = LabelSet.Of(("pod", "a"));
        var noData = TriggerEvaluator.ApplyNoDataBreach(V(I));
        var state = PolicyState.Empty;
        var decisions = new List<Decision>();
        foreach (var (i, verdict) in new[] { (0, V(B, pod)), (1, noData), (2, noData), (3, noData), (4, noData) })
        {
            var step = PolicyStateMachine.Step(policy, state, T0 + (i * Step), [new(trigger, [verdict])]);
            state = step.State;
            decisions.AddRange(step.Decisions);
        }

        var act = Assert.Single(decisions);
        Assert.Equal((pod, T0 + (2 * Step)), (act.Labels, act.At));
        Assert.DoesNotContain(state.Series.Keys, k => k.Labels.IsEmpty);
    }

    [Fact]
    public void FiringLabelLessSeries_EndedByLabelledData_IsResolvedNotDroppedSilently()
    {
        var trigger = Threshold(ComparisonOperator.GreaterThan, 1, NoDataPolicy.Breach);
        var policy = Policy(trigger);
        var s1 = PolicyStateMachine.Step(policy, PolicyState.Empty, T0, [new(trigger, [TriggerEvaluator.ApplyNoDataBreach(V(I))])]);
        Assert.Equal(DecisionKind.Act, Assert.Single(s1.Decisions).Kind);

        var s2 = PolicyStateMachine.Step(policy, s1.State, T0 + Step, [new(trigger, [V(P, LabelSet.Of(("pod", "a")))])]);

        var resolved = Assert.Single(s2.Decisions);
        Assert.Equal((DecisionKind.Resolved, "resolved: the query returns labelled series again"), (resolved.Kind, resolved.Message));
        Assert.Empty(s2.State.Series);
    }

    [Fact]
    public void RollbackAndPageFiringTogether_TheRollbackActsWhateverTheTriggerOrder()
    {
        var page = ErrorRate(name: "latency", action: TriggerAction.Page);
        var rollback = ErrorRate(name: "errors");
        var policy = Policy(page, rollback).AlwaysArmed();

        var step = PolicyStateMachine.Step(policy, PolicyState.Empty, T0, [new(page, [V(B)]), new(rollback, [V(B)])]);

        Assert.Equal([(TriggerAction.Rollback, DecisionKind.Act), (TriggerAction.Page, DecisionKind.SuppressedByCooldown)], step.Decisions.Select(d => (d.Action, d.Kind)));
    }

    [Fact]
    public void Decisions_CarryThePolicyLabels()
    {
        var policy = Policy(ErrorRate()) with { Labels = new Dictionary<string, string> { ["team"] = "payments" } };

        var d = Assert.Single(Run(policy, B).Decisions);

        Assert.Equal("payments", d.PolicyLabels["team"]);
    }

    [Fact]
    public void Cooldown_OfAYear_DoesNotOverflowNearTheEndOfTime()
    {
        var policy = Policy(ErrorRate()).AlwaysArmed() with { Cooldown = TimeSpan.FromDays(366) };
        var late = DateTimeOffset.MaxValue.AddDays(-10);
        var s1 = PolicyStateMachine.Step(policy, PolicyState.Empty, late, [new(policy.Triggers[0], [V(B)])]);
        var s2 = PolicyStateMachine.Step(policy, s1.State, late.AddDays(1), [new(policy.Triggers[0], [V(P)])]);

        var s3 = PolicyStateMachine.Step(policy, s2.State, late.AddDays(2), [new(policy.Triggers[0], [V(B)])]);

        Assert.Equal(DecisionKind.SuppressedByCooldown, Assert.Single(s3.Decisions).Kind);
    }

    [Fact]
    public void WholeTriggerError_AppliesToEveryTrackedSeriesNotAPhantomEmptySeries()
    {
        var policy = Policy(ErrorRate(@for: TimeSpan.FromMinutes(1)));
        var cart = LabelSet.Of(("deployment", "cart"));
        var search = LabelSet.Of(("deployment", "search"));
        var s1 = PolicyStateMachine.Step(policy, PolicyState.Empty, T0, [new(policy.Triggers[0], [V(B, cart), V(B, search)])]);

        var s2 = PolicyStateMachine.Step(policy, s1.State, T0 + Step, [new(policy.Triggers[0], [V(E)])]);

        Assert.Equal([cart, search], s2.Transitions.Select(t => t.Key.Labels).OrderBy(l => l.ToString()));
        Assert.All(s2.Transitions, t => Assert.Equal(VerdictKind.Error, t.Verdict.Kind));
        Assert.DoesNotContain(s2.State.Series.Keys, k => k.Labels.IsEmpty);
    }

    [Fact]
    public void Transitions_ReportEachPhaseChange()
    {
        var policy = Policy(ErrorRate(@for: Step));
        var state = PolicyState.Empty;
        var transitions = new List<Transition>();
        foreach (var (i, kind) in new[] { (0, B), (1, B), (2, P) })
        {
            var step = PolicyStateMachine.Step(policy, state, T0 + (i * Step), [new(policy.Triggers[0], [V(kind)])]);
            state = step.State;
            transitions.AddRange(step.Transitions);
        }

        Assert.Equal(
            [(TriggerPhase.Ok, TriggerPhase.Pending), (TriggerPhase.Pending, TriggerPhase.Firing), (TriggerPhase.Firing, TriggerPhase.Ok)],
            transitions.Select(t => (t.From, t.To)));
    }

    [Fact]
    public void GapLongerThanMaxGap_RestartsPendingForButKeepsFiringSeries()
    {
        // A breach, then nothing for an hour (the daemon was down), then a breach: the breach was not seen
        // for those 60 minutes, so 'for' starts again instead of firing at once.
        var policy = Policy(ErrorRate(name: "slow", @for: TimeSpan.FromMinutes(2)), ErrorRate(name: "fired"));
        var s1 = PolicyStateMachine.Step(policy, PolicyState.Empty, T0, [new(policy.Triggers[0], [V(B)]), new(policy.Triggers[1], [V(B)])], maxGap: TimeSpan.FromSeconds(40));

        var s2 = PolicyStateMachine.Step(policy, s1.State, T0.AddHours(1), [new(policy.Triggers[0], [V(B)]), new(policy.Triggers[1], [V(B)])], maxGap: TimeSpan.FromSeconds(40));

        Assert.DoesNotContain(s2.Decisions, d => d.Kind == DecisionKind.Act);
        Assert.Equal(T0.AddHours(1), s2.State.Get(new SeriesKey("slow", LabelSet.Empty)).BreachingSince);
        Assert.Equal(TriggerPhase.Firing, s2.State.Get(new SeriesKey("fired", LabelSet.Empty)).Phase);
        Assert.Equal(T0.AddHours(1), s2.State.LastEvaluatedAt);
    }

    [Fact]
    public void StateForAnEditedPolicy_DropsTheSeriesOfEditedTriggersOnly()
    {
        var before = Policy(ErrorRate(name: "keep", @for: TimeSpan.FromMinutes(1)), ErrorRate(name: "edit", @for: TimeSpan.FromMinutes(1)));
        var state = PolicyStateMachine.Step(before, PolicyState.Empty, T0, [new(before.Triggers[0], [V(B)]), new(before.Triggers[1], [V(B)])]).State;
        var after = Policy(before.Triggers[0], before.Triggers[1] with { Action = TriggerAction.Page });

        var fitted = state.For(after);

        Assert.Equal(["keep"], fitted.Series.Keys.Select(k => k.Trigger));
    }

    [Fact]
    public void ExpiredCooldown_IsForgotten()
    {
        var policy = Policy(ErrorRate()).AlwaysArmed() with { Cooldown = TimeSpan.FromSeconds(30) };

        var (_, state) = Run(policy, B, P, P);

        Assert.Empty(state.LastActionAt);
    }
}
