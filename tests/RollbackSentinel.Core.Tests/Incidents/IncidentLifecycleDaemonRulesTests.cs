using RollbackSentinel.Core.Incidents;
using RollbackSentinel.Core.Metrics;
using HelmTarget = RollbackSentinel.Core.Policies.HelmTarget;
using IntervalSchedule = RollbackSentinel.Core.Policies.IntervalSchedule;
using KubectlTarget = RollbackSentinel.Core.Policies.KubectlTarget;
using OnTimeout = RollbackSentinel.Core.Policies.OnTimeout;
using PolicyModel = RollbackSentinel.Core.Policies.Policy;
using Template = RollbackSentinel.Core.Policies.Template;
using TriggerAction = RollbackSentinel.Core.Policies.TriggerAction;
using WebhookTarget = RollbackSentinel.Core.Policies.WebhookTarget;
using WorkloadKind = RollbackSentinel.Core.Policies.WorkloadKind;
using static RollbackSentinel.Core.Tests.Incidents.IncidentSamples;

namespace RollbackSentinel.Core.Tests.Incidents;

/// <summary>
/// The rules the daemon used to decide itself, pure: what a time-out does, when a recorded action may no longer run
/// (and how it is closed), and when a person's rollback is refused, with their sentences.
/// </summary>
public sealed class IncidentLifecycleDaemonRulesTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromMinutes(15);

    // ------------------------------------------------------------------ time-outs

    [Theory]
    [InlineData(OnTimeout.Rollback, true, OnTimeout.Rollback, true)]
    [InlineData(OnTimeout.Rollback, false, OnTimeout.Rollback, false)] // no longer firing: the question no longer stands
    [InlineData(OnTimeout.Hold, true, OnTimeout.Hold, false)]
    [InlineData(OnTimeout.Escalate, true, OnTimeout.Escalate, false)] // escalate holds; the channels escalate
    public void DecideTimeOut_OnlyRollbackWhileStillFiring_RollsBack(OnTimeout configured, bool stillFiring, OnTimeout applied, bool rollsBack)
    {
        var outcome = IncidentLifecycle.DecideTimeOut(Awaiting().Incident, new TimeOutFacts(PolicyLoaded: true, configured, stillFiring));

        Assert.Equal(new TimeOutOutcome(applied, rollsBack), outcome);
    }

    [Fact]
    public void DecideTimeOut_PolicyGoneOrNotConfirming_Holds()
    {
        Assert.Equal(new TimeOutOutcome(OnTimeout.Hold, false), IncidentLifecycle.DecideTimeOut(Awaiting().Incident, new TimeOutFacts(PolicyLoaded: false, OnTimeout.Rollback, StillFiring: true)));
        Assert.Equal(new TimeOutOutcome(OnTimeout.Hold, false), IncidentLifecycle.DecideTimeOut(Awaiting().Incident, new TimeOutFacts(PolicyLoaded: true, null, StillFiring: true)));
    }

    [Fact]
    public void DecideTimeOut_DisarmedIncident_HoldsWhateverOnTimeoutSays()
    {
        var disarmed = Awaiting().Incident with { DisarmedReason = "outside every watch window" };

        Assert.Equal(new TimeOutOutcome(OnTimeout.Hold, false), IncidentLifecycle.DecideTimeOut(disarmed, new TimeOutFacts(true, OnTimeout.Rollback, true)));
        Assert.Equal(new TimeOutOutcome(OnTimeout.Escalate, false), IncidentLifecycle.DecideTimeOut(disarmed, new TimeOutFacts(true, OnTimeout.Escalate, true)));
    }

    [Fact]
    public void TimeOut_WithFacts_ReleasesOnlyWhatTheRuleReleases_WithTheSameSentences()
    {
        var at = T0 + Wait;

        var rollback = IncidentLifecycle.TimeOut(Awaiting(), 7, new TimeOutFacts(true, OnTimeout.Rollback, true), at);
        var escalate = IncidentLifecycle.TimeOut(Awaiting(), 7, new TimeOutFacts(true, OnTimeout.Escalate, true), at);
        var gone = IncidentLifecycle.TimeOut(Awaiting(), 7, new TimeOutFacts(false, null, false), at);
        var passed = IncidentLifecycle.TimeOut(Awaiting(), 7, new TimeOutFacts(true, OnTimeout.Rollback, false), at);
        var disarmed = Awaiting() with { Incident = Awaiting().Incident with { DisarmedReason = "no change known" } };
        var asks = IncidentLifecycle.TimeOut(disarmed, 7, new TimeOutFacts(true, OnTimeout.Rollback, true), at);

        Assert.Equal(("timed out: rolling back", (long?)1), (rollback.Message, rollback.ActionToRun));
        Assert.Equal(IncidentLifecycle.TimeOut(Awaiting(), 7, approve: true, at).Update!.Changes, rollback.Update!.Changes);
        Assert.All([escalate, gone, passed, asks], s => Assert.Equal(("timed out: held", (long?)null), (s.Message, s.ActionToRun)));
        Assert.Equal(IncidentLifecycle.TimeOut(Awaiting(), 7, approve: false, at).Update!.Changes, escalate.Update!.Changes);
        Assert.Equal(
            new RecordEvent(at, IncidentEventKinds.TimedOut, "nobody answered by 2026-11-20T14:45:00Z: the rollback stays held until someone approves or denies it"),
            asks.Update!.Changes[^1]);
        Assert.Equal("incident 9 is not overdue", IncidentLifecycle.TimeOut(null, 9, new TimeOutFacts(true, OnTimeout.Rollback, true), at).Message);
    }

    // ------------------------------------------------------------------ recorded actions

    [Fact]
    public void WhyNotRunRecorded_StillWhatThePolicyWouldDo_RunsIt()
    {
        Assert.Null(IncidentLifecycle.WhyNotRunRecorded(Facts(), T0 + IncidentLifecycle.RecordedActionMaxAge));
    }

    [Fact]
    public void WhyNotRunRecorded_EachReason_SaysWhy()
    {
        var other = Action(ActionStatus.Succeeded) with { Id = 4, IncidentId = 3, StartedAt = T0.AddMinutes(2) };
        var at = T0.AddMinutes(1);

        Assert.Equal(
            "kubectl/checkout/shop was already rolled back at 2026-11-20T14:32:00Z (incident 3), after this incident opened",
            IncidentLifecycle.WhyNotRunRecorded(Facts() with { RolledBackSince = other, PolicyLoaded = false }, at));
        Assert.Equal("policy 'checkout-api' is no longer loaded", IncidentLifecycle.WhyNotRunRecorded(Facts() with { PolicyLoaded = false, CurrentTarget = null }, at));
        Assert.Equal("the policy is now in dry-run", IncidentLifecycle.WhyNotRunRecorded(Facts() with { DryRun = true }, at));
        Assert.Equal("the policy's target changed since (now kubectl/checkout/cart)", IncidentLifecycle.WhyNotRunRecorded(Facts() with { CurrentTarget = "kubectl/checkout/cart" }, at));
        Assert.Equal("recorded 15m1s ago, too old to act on", IncidentLifecycle.WhyNotRunRecorded(Facts(), T0 + IncidentLifecycle.RecordedActionMaxAge + TimeSpan.FromSeconds(1)));
    }

    [Fact]
    public void RefuseRecordedAction_Pending_StartedAndFailedInOneUpdate_WithTheStartAndCompletionEvents()
    {
        var at = T0.AddMinutes(20);

        var update = IncidentLifecycle.RefuseRecordedAction(Record(IncidentStatus.Open, 4, Action(ActionStatus.Pending)), 1, "the policy is now in dry-run", at).Update!;

        Assert.Equal((7L, 4L), (update.IncidentId, update.ExpectedRevision));
        Assert.Equal(
            [
                new MoveAction(1, ActionStatus.Pending, ActionStatus.Started) { StartedAt = at },
                new MoveIncident(IncidentStatus.Open, IncidentStatus.Acting, at),
                new RecordEvent(at, IncidentEventKinds.ActionStarted, "rollback kubectl/checkout/shop started"),
                new MoveIncident(IncidentStatus.Acting, IncidentStatus.ActionFailed, at),
                new MoveAction(1, ActionStatus.Started, ActionStatus.Failed) { CompletedAt = at, Outcome = "not run: the policy is now in dry-run" },
                new RecordEvent(at, IncidentEventKinds.ActionFailed, "rollback kubectl/checkout/shop: not run: the policy is now in dry-run"),
            ],
            update.Changes);
        var after = IncidentLifecycle.Preview(Record(IncidentStatus.Open, 4, Action(ActionStatus.Pending)), update.Changes);
        Assert.Equal((IncidentStatus.ActionFailed, ActionStatus.Failed, "not run: the policy is now in dry-run"), (after.Incident.Status, after.Actions[0].Status, after.Actions[0].Outcome));
    }

    [Fact]
    public void RefuseRecordedAction_NotPending_IsNone_AnIncidentThatCannotActThrows()
    {
        Assert.False(IncidentLifecycle.RefuseRecordedAction(Record(IncidentStatus.Acting, 1, Action(ActionStatus.Started)), 1, "x", T0).Changes);
        var error = Assert.Throws<InvalidOperationException>(() => IncidentLifecycle.RefuseRecordedAction(Record(IncidentStatus.Acted, 1, Action(ActionStatus.Pending)), 1, "x", T0));
        Assert.Equal("Incident 7 cannot move from Acted to Acting.", error.Message);
        Assert.Throws<KeyNotFoundException>(() => IncidentLifecycle.RefuseRecordedAction(Record(IncidentStatus.Open, 1, Action(ActionStatus.Pending)), 99, "x", T0));
    }

    // ------------------------------------------------------------------ manual rollbacks

    [Fact]
    public void WhyNoManualRollback_NoPolicyDryRunOrMissingLabels_SaysWhy()
    {
        var kubectl = Kubectl("{{ labels.deployment }}", "{{ labels.namespace }}");

        Assert.Equal("there is no policy 'shop'", IncidentLifecycle.WhyNoManualRollback("shop", null, Cart));
        Assert.Equal("policy 'shop' is in dry-run: it never acts, not even when asked", IncidentLifecycle.WhyNoManualRollback("shop", kubectl with { DryRun = true }, Cart));
        Assert.Equal(
            "the target of 'shop' needs the label(s) deployment, namespace to know what to roll back",
            IncidentLifecycle.WhyNoManualRollback("shop", kubectl, LabelSet.Empty));
        Assert.Equal(
            "the target of 'shop' needs the label(s) release to know what to roll back",
            IncidentLifecycle.WhyNoManualRollback("shop", kubectl with { Target = new HelmTarget(Template.Parse("{{ labels.release }}")) }, Cart));
        Assert.Equal(
            "the target of 'shop' needs the label(s) region to know what to roll back",
            IncidentLifecycle.WhyNoManualRollback("shop", kubectl with { Target = new WebhookTarget(Template.Parse("https://deploy.example.com/{{ labels.region }}/{{ labels.region }}")) }, Cart));
    }

    [Fact]
    public void WhyNoManualRollback_TheLabelsNameTheTarget_MayRun()
    {
        Assert.Null(IncidentLifecycle.WhyNoManualRollback("shop", Kubectl("{{ labels.deployment }}", "{{ labels.namespace }}"), LabelSet.Of(("deployment", "cart"), ("namespace", "shop"))));
        Assert.Null(IncidentLifecycle.WhyNoManualRollback("shop", Kubectl("checkout", null), LabelSet.Empty));
    }

    // ------------------------------------------------------------------ helpers

    private static PolicyModel Kubectl(string name, string? @namespace) => new()
    {
        Name = "shop",
        Target = new KubectlTarget(WorkloadKind.Deployment, Template.Parse(name)) { Namespace = @namespace is null ? null : Template.Parse(@namespace) },
        Schedule = new IntervalSchedule(TimeSpan.FromSeconds(15)),
        Triggers = [],
    };

    private static RecordedActionFacts Facts() => new()
    {
        Action = Action(ActionStatus.Pending),
        Policy = Policy,
        PolicyLoaded = true,
        Target = Target,
        CurrentTarget = Target,
    };

    private static ActionRecord Action(ActionStatus status) => new()
    {
        Id = 1,
        IncidentId = 7,
        Kind = "rollback",
        Target = Target,
        IdempotencyKey = "rs-0123",
        Status = status,
        CreatedAt = T0,
    };

    private static IncidentRecord Record(IncidentStatus status, long revision = 1, params ActionRecord[] actions) => new(
        new Incident
        {
            Id = 7,
            Policy = Policy,
            Trigger = Trigger,
            Labels = Cart,
            Action = TriggerAction.Rollback,
            Status = status,
            OpenedAt = T0,
            UpdatedAt = T0,
            Summary = "error ratio 0.09 (1.8/20) > max 0.05",
            EvidenceJson = "{}",
            Version = 1,
        },
        actions)
    {
        Revision = revision,
    };

    private static IncidentRecord Awaiting() =>
        Record(IncidentStatus.AwaitingConfirmation, 5, Action(ActionStatus.Held)) is var r
            ? r with { Incident = r.Incident with { Action = TriggerAction.Page, AnswerDeadline = T0 + Wait } }
            : r;
}
