using FsCheck;
using FsCheck.Fluent;
using RollbackSentinel.Core.Changes;
using RollbackSentinel.Core.Evaluation;
using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Core.Policies;
using RollbackSentinel.Core.State;
using static RollbackSentinel.Core.Tests.Support.Build;

namespace RollbackSentinel.Core.Tests.State;

/// <summary>Invariants that must hold for every sequence of verdicts, not just the ones we thought of.</summary>
public sealed class PolicyStateMachinePropertyTests
{
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(15);

    private static Arbitrary<VerdictKind[]> Sequences() =>
        Gen.Elements(VerdictKind.Pass, VerdictKind.Breach, VerdictKind.Inconclusive, VerdictKind.Error).ArrayOf().ToArbitrary();

    private static List<Decision> Run(Policy policy, VerdictKind[] kinds, ChangeHistory? changes = null)
    {
        var state = PolicyState.Empty;
        var decisions = new List<Decision>();
        for (var i = 0; i < kinds.Length; i++)
        {
            var verdict = new Verdict { Kind = kinds[i], Reason = VerdictReason.NoData, Labels = LabelSet.Empty, Summary = "x" };
            var step = PolicyStateMachine.Step(policy, state, T0 + (i * Step), [new TriggerVerdicts(policy.Triggers[0], [verdict])], changes: changes);
            state = step.State;
            decisions.AddRange(step.Decisions);
        }

        return decisions;
    }

    private static void Check300(Property property) => Check.One(Config.QuickThrowOnFailure.WithMaxTest(300), property);

    [Fact]
    public void NoBreach_NeverActs() => Check300(
        Prop.ForAll(Sequences(), kinds =>
            Run(Policy(ErrorRate(@for: TimeSpan.FromSeconds(30))), kinds.Where(k => k != VerdictKind.Breach).ToArray())
                .All(d => d.Kind != DecisionKind.Act)));

    [Fact]
    public void EveryAction_IsPrecededByUnbrokenBreachesSpanningFor() => Check300(
        Prop.ForAll(Sequences(), kinds =>
        {
            var @for = TimeSpan.FromSeconds(45);
            return Run(Policy(ErrorRate(@for: @for)).AlwaysArmed() with { Cooldown = TimeSpan.Zero }, kinds)
                .Where(d => d.Kind == DecisionKind.Act)
                .All(d =>
                {
                    var index = (int)((d.At - T0) / Step);
                    var needed = (int)(@for / Step);
                    return index >= needed && Enumerable.Range(index - needed, needed + 1).All(i => kinds[i] == VerdictKind.Breach);
                });
        }));

    [Fact]
    public void Actions_AreAtMostOnePerFiringEpisodeAndRespectCooldown() => Check300(
        Prop.ForAll(Sequences(), kinds =>
        {
            var cooldown = TimeSpan.FromMinutes(1);
            var acts = Run(Policy(ErrorRate()).AlwaysArmed() with { Cooldown = cooldown }, kinds).Where(d => d.Kind == DecisionKind.Act).Select(d => d.At).ToArray();
            return acts.Zip(acts.Skip(1)).All(p => p.Second - p.First >= cooldown);
        }));

    [Fact]
    public void NoChangeKnown_OutsidePage_NeverRollsBack() => Check300(
        Prop.ForAll(Sequences(), kinds =>
        {
            var decisions = Run(Policy(ErrorRate(@for: TimeSpan.FromSeconds(30))) with { Cooldown = TimeSpan.Zero }, kinds);
            return decisions.All(d => d.Action != TriggerAction.Rollback)
                && decisions.Where(d => d.Kind == DecisionKind.Act).All(d => d.Disarmed && d.Action == TriggerAction.Page && d.Blamed is null);
        }));

    [Fact]
    public void OutsideRollback_DecidesAsIfEveryRollbackWereArmed_WhateverTheChanges() => Check300(
        Prop.ForAll(Sequences(), Gen.Choose(-10, 60).ToArbitrary(), (kinds, changeStep) =>
        {
            // Always-armed on purpose: changes only name the blamed change, they never alter what is done or when.
            var policy = Policy(ErrorRate(@for: TimeSpan.FromSeconds(30))) with { Watch = new WatchSettings { For = TimeSpan.FromMinutes(1), Outside = OutsideAction.Rollback } };
            var changes = new ChangeHistory([new Change { Id = 1, Policy = policy.Name, At = T0 + (changeStep * Step), Source = ChangeSource.Api, Revision = "v42" }]);
            var with = Run(policy, kinds, changes);
            var without = Run(policy, kinds);
            return with.Select(d => (d.Kind, d.Action, d.At, d.Disarmed)).SequenceEqual(without.Select(d => (d.Kind, d.Action, d.At, d.Disarmed)))
                && with.All(d => !d.Disarmed);
        }));

    [Fact]
    public void EveryRollback_BeganWithinTheWatchWindowOfTheChangeItBlames() => Check300(
        Prop.ForAll(Sequences(), Gen.Choose(-10, 60).ToArbitrary(), (kinds, changeStep) =>
        {
            var window = TimeSpan.FromMinutes(2);
            var policy = Policy(ErrorRate(@for: TimeSpan.FromSeconds(30))) with { Cooldown = TimeSpan.Zero, Watch = new WatchSettings { For = window } };
            var change = new Change { Id = 1, Policy = policy.Name, At = T0 + (changeStep * Step), Source = ChangeSource.Api, Revision = "v42" };
            var fired = Run(policy, kinds, new ChangeHistory([change])).Where(d => d.Kind == DecisionKind.Act).ToList();
            return fired.All(d => d.Action == TriggerAction.Rollback
                ? d.Blamed == change && d.Since - change.At >= TimeSpan.Zero && d.Since - change.At <= window && !d.Disarmed
                : d.Disarmed && d.Action == TriggerAction.Page && d.DisarmedReason is { Length: > 0 } && (d.Since < change.At || d.Since - change.At > window));
        }));
}
