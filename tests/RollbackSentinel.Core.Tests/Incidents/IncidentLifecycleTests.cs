using RollbackSentinel.Core.Changes;
using RollbackSentinel.Core.Incidents;
using RollbackSentinel.Core.Metrics;
using TriggerAction = RollbackSentinel.Core.Policies.TriggerAction;
using RollbackSentinel.Core.State;
using static RollbackSentinel.Core.Tests.Incidents.IncidentSamples;

namespace RollbackSentinel.Core.Tests.Incidents;

/// <summary>Every incident rule and sentence, pure: an incident (or none) and one input in, the changes and the words out.</summary>
public sealed class IncidentLifecycleTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromMinutes(15);

    // ------------------------------------------------------------------ decisions

    [Fact]
    public void Decide_Act_OpensAnIncidentWithItsPendingActionAndTheOpenedEvent()
    {
        var decision = Act(T0, Cart) with { Blamed = Support.Changes.Deploy(T0.AddMinutes(-5), id: 7) };

        var update = Decide(null, decision).Update!;

        Assert.Equal((0L, 0L), (update.IncidentId, update.ExpectedRevision));
        var open = Assert.IsType<OpenIncident>(update.Changes[0]);
        Assert.Equal(DecisionKeys.OpenKey(decision), open.OpenKey);
        Assert.Equal(7L, open.BlamedChangeId);
        var i = open.Incident;
        Assert.Equal((Policy, Trigger, Cart, TriggerAction.Rollback, false, IncidentStatus.Open), (i.Policy, i.Trigger, i.Labels, i.Action, i.DryRun, i.Status));
        Assert.Equal((T0, T0, (DateTimeOffset?)null, (DateTimeOffset?)null), (i.OpenedAt, i.UpdatedAt, i.ResolvedAt, i.AnswerDeadline));
        Assert.Equal(("error ratio 0.09 (1.8/20) > max 0.05", (string?)null), (i.Summary, i.DisarmedReason));
        Assert.Equal(IncidentEvidence.Of(decision).ToJson(), i.EvidenceJson);
        Assert.Equal(
            new ActionRecord { IncidentId = 0, Kind = "rollback", Target = Target, IdempotencyKey = DecisionKeys.IdempotencyKey(decision), Status = ActionStatus.Pending, CreatedAt = T0 },
            open.Action);
        Assert.Equal([new RecordEvent(T0, IncidentEventKinds.Opened, decision.Message)], update.Changes.Skip(1));
    }

    [Fact]
    public void Decide_ActWithoutAMessage_TheOpenedEventSaysTheSummary_AndADisarmedDecisionSaysWhy()
    {
        var decision = Act(T0, Cart) with { Message = " ", Disarmed = true, Blamed = Support.Changes.Deploy(T0, id: 0) };

        var update = Decide(null, decision).Update!;

        var open = Assert.IsType<OpenIncident>(update.Changes[0]);
        Assert.Null(open.BlamedChangeId); // a change never stored has no id to keep
        Assert.Equal("outside every watch window", open.Incident.DisarmedReason);
        Assert.Equal(new RecordEvent(T0, IncidentEventKinds.Opened, "error ratio 0.09 (1.8/20) > max 0.05"), update.Changes[1]);
        Assert.Equal("no change known", Assert.IsType<OpenIncident>(Decide(null, decision with { DisarmedReason = "no change known" }).Update!.Changes[0]).Incident.DisarmedReason);
    }

    [Fact]
    public void Decide_PageOfAPolicyThatConfirms_HoldsARollbackUntilTheDeadline()
    {
        var update = Decide(null, Act(T0, Cart, action: TriggerAction.Page), confirm: Wait).Update!;

        var open = Assert.IsType<OpenIncident>(update.Changes[0]);
        Assert.Equal((IncidentStatus.AwaitingConfirmation, (DateTimeOffset?)T0 + Wait, TriggerAction.Page), (open.Incident.Status, open.Incident.AnswerDeadline, open.Incident.Action));
        Assert.Equal(("rollback", ActionStatus.Held), (open.Action.Kind, open.Action.Status));
        Assert.Equal(
            new RecordEvent(T0, IncidentEventKinds.AwaitingConfirmation, "rollback of kubectl/checkout/shop held until someone approves it, by 2026-11-20T14:45:00Z"),
            update.Changes[^1]);
    }

    [Theory]
    [InlineData(TriggerAction.Rollback, "rollback", "dry run: would have rolled back kubectl/checkout/shop")]
    [InlineData(TriggerAction.Page, "page", "dry run: would have paged about kubectl/checkout/shop")]
    [InlineData(TriggerAction.Notify, "notify", "dry run: would have notified about kubectl/checkout/shop")]
    public void Decide_DryRun_IncidentDryRunAndActionSkippedWithWhatItWouldHaveDone(TriggerAction action, string kind, string outcome)
    {
        // A dry-run never asks anyone, even when the policy confirms.
        var decision = Act(T0, Cart, action: action, dryRun: true);
        var update = Decide(null, decision, confirm: Wait).Update!;

        var open = Assert.IsType<OpenIncident>(update.Changes[0]);
        Assert.Equal((IncidentStatus.DryRun, true, (DateTimeOffset?)null), (open.Incident.Status, open.Incident.DryRun, open.Incident.AnswerDeadline));
        Assert.Equal((kind, ActionStatus.Skipped, outcome, (DateTimeOffset?)T0, (DateTimeOffset?)null), (open.Action.Kind, open.Action.Status, open.Action.Outcome, open.Action.CompletedAt, open.Action.StartedAt));
        Assert.Equal(
            [new RecordEvent(T0, IncidentEventKinds.Opened, decision.Message), new RecordEvent(T0, IncidentEventKinds.ActionSkipped, outcome)],
            update.Changes.Skip(1));
    }

    [Fact]
    public void Decide_PageWithinTheCooldownOfADenial_NotesTheDeniedIncidentAndOpensNone()
    {
        var denied = Record(IncidentStatus.Denied, revision: 4) with { Incident = Record(IncidentStatus.Denied).Incident with { ResolvedAt = T0.AddMinutes(1) } };
        var decision = Act(T0.AddMinutes(10), Cart, action: TriggerAction.Page);

        var within = IncidentLifecycle.Decide(null, new EvaluationInput(decision, Target, Wait, TimeSpan.FromMinutes(30), denied));
        var after = IncidentLifecycle.Decide(null, new EvaluationInput(decision with { At = T0.AddMinutes(31) }, Target, Wait, TimeSpan.FromMinutes(30), denied));
        var noHold = IncidentLifecycle.Decide(null, new EvaluationInput(decision, Target, Wait, TimeSpan.Zero, denied));
        var noConfirm = IncidentLifecycle.Decide(null, new EvaluationInput(decision, Target, null, TimeSpan.FromMinutes(30), denied));

        Assert.Equal(
            new IncidentUpdate(denied.Incident.Id, 4, [new RecordEvent(
                T0.AddMinutes(10),
                IncidentEventKinds.SuppressedByCooldown,
                $"the trigger fired again ({decision.Message}); not asked again: the rollback was denied at 2026-11-20T14:31:00Z, within the cooldown")]),
            within.Update,
            UpdateComparer.Instance);
        Assert.IsType<OpenIncident>(after.Update!.Changes[0]);
        Assert.IsType<OpenIncident>(noHold.Update!.Changes[0]);
        Assert.IsType<OpenIncident>(noConfirm.Update!.Changes[0]);
    }

    [Fact]
    public void Decide_ResolvedWhileTheActionRuns_RequestsTheResolutionAndSaysItWaits()
    {
        var acting = Record(IncidentStatus.Acting, revision: 2, Action(ActionStatus.Started));
        var resolved = Resolved(T0.AddSeconds(45), Cart);

        var update = Decide(acting, resolved).Update!;

        Assert.Equal((acting.Incident.Id, 2L), (update.IncidentId, update.ExpectedRevision));
        Assert.Equal(
            [
                new RequestResolution(T0.AddSeconds(45)),
                new RecordEvent(T0.AddSeconds(45), IncidentEventKinds.ResolveDeferred, $"{resolved.Message}; the action is still running, so the incident resolves when it finishes"),
            ],
            update.Changes);
    }

    [Theory]
    [InlineData(IncidentStatus.Open, ActionStatus.Pending, "not run: the trigger passed before the action started")]
    [InlineData(IncidentStatus.AwaitingConfirmation, ActionStatus.Held, "not run: the breach cleared before anyone answered")]
    public void Decide_ResolvedBeforeTheActionStarted_SkipsItAndResolves(IncidentStatus status, ActionStatus action, string outcome)
    {
        var open = Record(status, revision: 1, Action(action));
        var at = T0.AddMinutes(5);
        var resolved = Resolved(at, Cart);

        var update = Decide(open, resolved).Update!;

        Assert.Equal(
            [
                new MoveAction(1, action, ActionStatus.Skipped) { CompletedAt = at, Outcome = outcome },
                new RecordEvent(at, IncidentEventKinds.ActionSkipped, outcome),
                new MoveIncident(status, IncidentStatus.Resolved, at, at),
                new RecordEvent(at, IncidentEventKinds.Resolved, resolved.Message),
            ],
            update.Changes);
    }

    [Theory]
    [InlineData(IncidentStatus.Acted)]
    [InlineData(IncidentStatus.ActionFailed)]
    [InlineData(IncidentStatus.ActionInterrupted)]
    [InlineData(IncidentStatus.DryRun)]
    [InlineData(IncidentStatus.DryRunFailed)]
    public void Decide_ResolvedAfterTheAction_ResolvesAndKeepsTheActionsOutcome(IncidentStatus status)
    {
        var open = Record(status, revision: 1, Action(ActionStatus.Succeeded));
        var resolved = Resolved(T0.AddMinutes(3), Cart);

        Assert.Equal(
            [new MoveIncident(status, IncidentStatus.Resolved, T0.AddMinutes(3), T0.AddMinutes(3)), new RecordEvent(T0.AddMinutes(3), IncidentEventKinds.Resolved, resolved.Message)],
            Decide(open, resolved).Update!.Changes);
    }

    [Theory]
    [InlineData(DecisionKind.SuppressedByCooldown, IncidentEventKinds.SuppressedByCooldown)]
    [InlineData(DecisionKind.InconclusiveRun, IncidentEventKinds.InconclusiveRun)]
    public void Decide_Notices_AreTimelineNotesOfTheOpenIncident_OrNothing(DecisionKind kind, string eventKind)
    {
        var open = Record(IncidentStatus.Open, revision: 3, Action(ActionStatus.Pending));
        var notice = Notice(kind, T0.AddMinutes(1), Cart);

        Assert.Equal([new RecordEvent(T0.AddMinutes(1), eventKind, notice.Message)], Decide(open, notice).Update!.Changes);
        Assert.Null(Decide(null, notice).Update);
        Assert.Null(Decide(null, Resolved(T0, Cart)).Update);
    }

    [Fact]
    public void Decide_UnknownKind_Throws() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => Decide(null, Act(T0, Cart) with { Kind = (DecisionKind)42 }));

    [Fact]
    public void FindOpen_NewestOpenOfTheTriggerAndSeries_WithoutAResolutionWaiting()
    {
        var older = Record(IncidentStatus.Acted, id: 1);
        var newer = Record(IncidentStatus.Open, id: 2) with { Incident = Record(IncidentStatus.Open, id: 2).Incident with { OpenedAt = T0.AddMinutes(1) } };
        var waiting = Record(IncidentStatus.Acting, id: 3) with { ResolveRequestedAt = T0, Incident = Record(IncidentStatus.Acting, id: 3).Incident with { OpenedAt = T0.AddMinutes(2) } };
        var resolved = Record(IncidentStatus.Resolved, id: 4) with { Incident = Record(IncidentStatus.Resolved, id: 4).Incident with { OpenedAt = T0.AddMinutes(3) } };
        var web = Record(IncidentStatus.Open, id: 5) with { Incident = Record(IncidentStatus.Open, id: 5).Incident with { Labels = Web, OpenedAt = T0.AddMinutes(4) } };
        var notYetStored = Record(IncidentStatus.Open, id: -1) with { Incident = Record(IncidentStatus.Open, id: -1).Incident with { OpenedAt = T0.AddMinutes(1) } };

        Assert.Equal(2, IncidentLifecycle.FindOpen([older, newer, waiting, resolved, web], Resolved(T0, Cart))!.Incident.Id);
        Assert.Equal(-1, IncidentLifecycle.FindOpen([older, newer, notYetStored], Resolved(T0, Cart))!.Incident.Id);
        Assert.Null(IncidentLifecycle.FindOpen([older, newer], Resolved(T0, Cart, trigger: "p95")));
    }

    [Fact]
    public void FindLastDenial_TheLatestDeniedOfTheTriggerAndSeries()
    {
        Incident Denied(long id, int minute) => Record(IncidentStatus.Denied, id: id).Incident with { ResolvedAt = T0.AddMinutes(minute) };
        var first = new IncidentRecord(Denied(1, 5), []);
        var later = new IncidentRecord(Denied(2, 9), []);
        var open = Record(IncidentStatus.Open, id: 3);

        Assert.Equal(2, IncidentLifecycle.FindLastDenial([first, later, open], Act(T0, Cart))!.Incident.Id);
        Assert.Null(IncidentLifecycle.FindLastDenial([first, later], Act(T0, Web)));
    }

    // ------------------------------------------------------------------ answers

    [Fact]
    public void Answer_Approve_ReleasesTheHeldRollbackAndSaysWhatRuns()
    {
        var awaiting = Awaiting(timedOut: T0.AddMinutes(15));
        var answer = Answer(Answers.Approve, reason: "error budget gone");

        var step = IncidentLifecycle.Answer(awaiting, answer, null);

        Assert.Equal("rollback of incident 7 approved by alice: rolling back kubectl/checkout/shop", step.Message);
        Assert.Equal(1L, step.ActionToRun);
        var at = answer.At;
        Assert.Equal(
            [
                new RecordAnswer(answer),
                new MarkChanged(at),
                new MoveAction(1, ActionStatus.Held, ActionStatus.Pending) { CreatedAt = at },
                new MoveIncident(IncidentStatus.AwaitingConfirmation, IncidentStatus.Open, at),
                new SetAnswerDeadline(null, T0.AddMinutes(15), at),
                new RecordEvent(at, IncidentEventKinds.Approved, "rollback approved by alice via slack (error budget gone)"),
            ],
            step.Update!.Changes);
        Assert.Equal((7L, 5L), (step.Update.IncidentId, step.Update.ExpectedRevision));
    }

    [Fact]
    public void Answer_Deny_ClosesTheIncidentAndSkipsTheRollback()
    {
        var answer = Answer(Answers.Deny);

        var step = IncidentLifecycle.Answer(Awaiting(), answer, null);

        Assert.Equal("rollback of incident 7 denied by alice: closed, nothing was changed", step.Message);
        Assert.Null(step.ActionToRun);
        Assert.Equal(
            [
                new RecordAnswer(answer),
                new MarkChanged(answer.At),
                new MoveAction(1, ActionStatus.Held, ActionStatus.Skipped) { CompletedAt = answer.At, Outcome = "not run: denied by alice via slack" },
                new MoveIncident(IncidentStatus.AwaitingConfirmation, IncidentStatus.Denied, answer.At, answer.At),
                new SetAnswerDeadline(null, null, answer.At),
                new RecordEvent(answer.At, IncidentEventKinds.Denied, "rollback denied by alice via slack"),
            ],
            step.Update!.Changes);
    }

    [Fact]
    public void Answer_Snooze_MovesTheDeadlineAndClearsTheTimeOut()
    {
        var answer = Answer(Answers.Snooze);

        var step = IncidentLifecycle.Answer(Awaiting(timedOut: T0), answer, T0.AddMinutes(40));

        Assert.Equal("incident 7 snoozed by alice until 2026-11-20T15:10:00Z", step.Message);
        Assert.Equal(
            [
                new RecordAnswer(answer),
                new MarkChanged(answer.At),
                new SetAnswerDeadline(T0.AddMinutes(40), null, answer.At),
                new MarkChanged(answer.At),
                new RecordEvent(answer.At, IncidentEventKinds.Snoozed, "snoozed by alice via slack until 2026-11-20T15:10:00Z"),
            ],
            step.Update!.Changes);
        Assert.Throws<ArgumentNullException>(() => IncidentLifecycle.Answer(Awaiting(), answer, null));
    }

    [Fact]
    public void Answer_Ack_IsRecordedOnAnIncidentNotClosed_AndRefusedOnAClosedOne()
    {
        var answer = Answer(Answers.Ack) with { Channel = "cli" };

        var ack = IncidentLifecycle.Answer(Record(IncidentStatus.Acting), answer, null);
        var resolved = IncidentLifecycle.Answer(Record(IncidentStatus.Resolved), answer, null);
        var denied = IncidentLifecycle.Answer(Record(IncidentStatus.Denied), answer, null);

        Assert.Equal("incident 7 acknowledged by alice", ack.Message);
        Assert.Equal([new RecordAnswer(answer), new RecordEvent(answer.At, IncidentEventKinds.Acknowledged, "acknowledged by alice via cli")], ack.Update!.Changes);
        Assert.Equal((false, "incident 7 is already resolved: nothing to acknowledge"), (resolved.Changes, resolved.Message));
        Assert.Equal((false, "incident 7 is already denied: nothing to acknowledge"), (denied.Changes, denied.Message));
    }

    [Theory]
    [InlineData(IncidentStatus.Open, "rolling back")]
    [InlineData(IncidentStatus.Acting, "rolling back")]
    [InlineData(IncidentStatus.Acted, "acted on")]
    [InlineData(IncidentStatus.ActionFailed, "failed (its action failed)")]
    [InlineData(IncidentStatus.ActionInterrupted, "interrupted")]
    [InlineData(IncidentStatus.Resolved, "resolved")]
    [InlineData(IncidentStatus.Denied, "denied")]
    [InlineData(IncidentStatus.DryRun, "a dry-run (nothing runs)")]
    [InlineData(IncidentStatus.DryRunFailed, "a dry-run whose rollback could not be planned (nothing runs)")]
    public void Answer_NotAwaitingConfirmation_IsRefusedSayingWhatItIs(IncidentStatus status, string described)
    {
        foreach (var answer in new[] { Answers.Approve, Answers.Deny, Answers.Snooze })
        {
            var step = IncidentLifecycle.Answer(Record(status), Answer(answer), T0.AddHours(1));

            Assert.Equal((false, $"incident 7 is not awaiting confirmation any more (it is {described}): your {answer} was not applied"), (step.Changes, step.Message));
        }
    }

    [Fact]
    public void Answer_NoIncident_SaysSo_AndAnUnknownAnswerThrows()
    {
        Assert.Equal((false, "there is no incident 7"), (IncidentLifecycle.Answer(null, Answer(Answers.Approve), null) is var s ? (s.Changes, s.Message) : default));
        Assert.Throws<ArgumentOutOfRangeException>(() => IncidentLifecycle.Answer(Awaiting(), Answer("maybe"), null));
    }

    [Fact]
    public void TimeOut_Rollback_ReleasesTheHeldRollback()
    {
        var at = T0 + Wait;

        var step = IncidentLifecycle.TimeOut(Awaiting(), 7, approve: true, at);

        Assert.Equal(("timed out: rolling back", (long?)1), (step.Message, step.ActionToRun));
        Assert.Equal(
            [
                new MoveAction(1, ActionStatus.Held, ActionStatus.Pending) { CreatedAt = at },
                new MoveIncident(IncidentStatus.AwaitingConfirmation, IncidentStatus.Open, at),
                new SetAnswerDeadline(null, null, at),
                new RecordEvent(at, IncidentEventKinds.TimedOut, "nobody answered by 2026-11-20T14:45:00Z: rolling back, as the policy says (onTimeout: rollback)"),
            ],
            step.Update!.Changes);
    }

    [Fact]
    public void TimeOut_Hold_MarksItTimedOutAndClearsTheDeadline_SoOnlyOnce()
    {
        var at = T0 + Wait + TimeSpan.FromSeconds(3);

        var step = IncidentLifecycle.TimeOut(Awaiting(), 7, approve: false, at);

        Assert.Equal("timed out: held", step.Message);
        Assert.Equal(
            [
                new SetAnswerDeadline(null, at, at),
                new MarkChanged(at),
                new RecordEvent(at, IncidentEventKinds.TimedOut, "nobody answered by 2026-11-20T14:45:00Z: the rollback stays held until someone approves or denies it"),
            ],
            step.Update!.Changes);
        var held = Awaiting() with { Incident = Awaiting().Incident with { AnswerDeadline = null, TimedOutAt = at } };
        Assert.Equal((false, "incident 7 is not overdue"), (IncidentLifecycle.TimeOut(held, 7, false, at.AddHours(1)) is var again ? (again.Changes, again.Message) : default));
    }

    [Fact]
    public void TimeOut_BeforeTheDeadline_OrNotAwaiting_OrMissing_IsNotOverdue()
    {
        Assert.False(IncidentLifecycle.TimeOut(Awaiting(), 7, true, T0 + Wait - TimeSpan.FromTicks(1)).Changes);
        Assert.False(IncidentLifecycle.TimeOut(Record(IncidentStatus.Open), 7, true, T0.AddHours(1)).Changes);
        Assert.Equal("incident 9 is not overdue", IncidentLifecycle.TimeOut(null, 9, true, T0).Message);
    }

    [Fact]
    public void OpenManualRollback_OpensWithAPendingRollbackWhoAskedAndWhy()
    {
        var request = new ManualRollback(Policy, Cart, Target, "erin", "api", "customers report errors", T0);
        var nonce = Guid.Parse("0123456789abcdef0123456789abcdef");
        var blamed = Support.Changes.Deploy(T0.AddMinutes(-3), id: 4);

        var update = IncidentLifecycle.OpenManualRollback(request, blamed, nonce).Update!;

        var open = Assert.IsType<OpenIncident>(update.Changes[0]);
        const string Summary = "manual rollback asked by erin via api: customers report errors";
        Assert.Equal($"manual/{Policy}/{Cart}/{T0.UtcTicks}/0123456789abcdef0123456789abcdef", open.OpenKey);
        Assert.Equal(4L, open.BlamedChangeId);
        var i = open.Incident;
        Assert.Equal(("manual", TriggerAction.Rollback, IncidentStatus.Open, Summary, T0, T0), (i.Trigger, i.Action, i.Status, i.Summary, i.OpenedAt, i.UpdatedAt));
        Assert.Equal($$"""{"verdict":"Manual","summary":"{{Summary}}","decidedAt":"2026-11-20T14:30:00Z","since":"2026-11-20T14:30:00Z","queries":[]}""", i.EvidenceJson);
        Assert.Equal(
            new ActionRecord { IncidentId = 0, Kind = "rollback", Target = Target, IdempotencyKey = "rs-manual-checkout-api-{incident}", Status = ActionStatus.Pending, CreatedAt = T0 },
            open.Action);
        Assert.Equal(
            [new RecordAnswer(new Acknowledgment(0, "erin", "api", "rollback", T0) { Reason = "customers report errors" }), new RecordEvent(T0, IncidentEventKinds.Opened, Summary)],
            update.Changes.Skip(1));
        Assert.Null(Assert.IsType<OpenIncident>(IncidentLifecycle.OpenManualRollback(request, null, nonce).Update!.Changes[0]).BlamedChangeId);
    }

    [Fact]
    public void Acknowledge_RecordsTheAnswerOnly()
    {
        var ack = new Acknowledgment(7, "alice", "slack", "ack", T0);

        Assert.Equal(new IncidentUpdate(7, 5, [new RecordAnswer(ack)]), IncidentLifecycle.Acknowledge(Record(IncidentStatus.Acted, revision: 5), ack).Update, UpdateComparer.Instance);
    }

    // ------------------------------------------------------------------ actions

    [Fact]
    public void StartAction_Pending_StartsItLeasedAndTheIncidentActs()
    {
        var lease = new ActionLease("sentinel-a", T0.AddMinutes(5));

        var step = IncidentLifecycle.StartAction(Record(IncidentStatus.Open, revision: 2, Action(ActionStatus.Pending)), 1, T0.AddSeconds(1), lease);

        Assert.Equal(
            [
                new MoveAction(1, ActionStatus.Pending, ActionStatus.Started) { StartedAt = T0.AddSeconds(1), Lease = lease },
                new MoveIncident(IncidentStatus.Open, IncidentStatus.Acting, T0.AddSeconds(1)),
                new RecordEvent(T0.AddSeconds(1), IncidentEventKinds.ActionStarted, "rollback kubectl/checkout/shop started"),
            ],
            step.Update!.Changes);
    }

    [Fact]
    public void StartAction_NotPending_IsNotClaimed_AnIncidentThatCannotActThrows_AnUnknownActionThrows()
    {
        var lease = new ActionLease("a", T0.AddMinutes(1));

        Assert.False(IncidentLifecycle.StartAction(Record(IncidentStatus.Acting, 1, Action(ActionStatus.Started)), 1, T0, lease).Changes);
        Assert.False(IncidentLifecycle.StartAction(Record(IncidentStatus.DryRun, 1, Action(ActionStatus.Skipped)), 1, T0, lease).Changes);
        var error = Assert.Throws<InvalidOperationException>(() => IncidentLifecycle.StartAction(Record(IncidentStatus.Acted, 1, Action(ActionStatus.Pending)), 1, T0, lease));
        Assert.Equal("Incident 7 cannot move from Acted to Acting.", error.Message);
        Assert.Equal("Action 99 does not exist.", Assert.Throws<KeyNotFoundException>(() => IncidentLifecycle.StartAction(Record(IncidentStatus.Open, 1, Action(ActionStatus.Pending)), 99, T0, lease)).Message);
    }

    [Fact]
    public void SavePlan_FirstPlanOnly()
    {
        Assert.Equal([new SavePlan(1, "{}")], IncidentLifecycle.SavePlan(Record(IncidentStatus.Open, 1, Action(ActionStatus.Pending)), 1, "{}").Update!.Changes);
        Assert.False(IncidentLifecycle.SavePlan(Record(IncidentStatus.Open, 1, Action(ActionStatus.Pending) with { Plan = "{\"to\":2}" }), 1, "{}").Changes);
    }

    [Theory]
    [InlineData(ActionStatus.Succeeded, IncidentStatus.Acted, IncidentEventKinds.ActionSucceeded)]
    [InlineData(ActionStatus.Failed, IncidentStatus.ActionFailed, IncidentEventKinds.ActionFailed)]
    [InlineData(ActionStatus.Skipped, IncidentStatus.Acted, IncidentEventKinds.ActionSkipped)]
    [InlineData(ActionStatus.Interrupted, IncidentStatus.ActionInterrupted, IncidentEventKinds.ActionInterrupted)]
    public void CompleteAction_Started_RecordsTheOutcomeAndMovesTheIncident(ActionStatus final, IncidentStatus next, string kind)
    {
        var at = T0.AddSeconds(40);
        var completion = new ActionCompletion(final, "rollout undo: revision 41") { Before = "revision 42", After = "revision 43" };

        var step = IncidentLifecycle.CompleteAction(Record(IncidentStatus.Acting, 3, Action(ActionStatus.Started)), 1, completion, at);

        Assert.Equal(
            [
                new MoveIncident(IncidentStatus.Acting, next, at),
                new MoveAction(1, ActionStatus.Started, final) { CompletedAt = at, Outcome = "rollout undo: revision 41", Before = "revision 42", After = "revision 43" },
                new RecordEvent(at, kind, "rollback kubectl/checkout/shop: rollout undo: revision 41"),
            ],
            step.Update!.Changes);
    }

    [Fact]
    public void CompleteAction_AResolutionWaited_ResolvesAsOfWhenTheTriggerPassed()
    {
        var acting = Record(IncidentStatus.Acting, 3, Action(ActionStatus.Started)) with { ResolveRequestedAt = T0.AddSeconds(45) };
        var at = T0.AddMinutes(2);

        var changes = IncidentLifecycle.CompleteAction(acting, 1, new ActionCompletion(ActionStatus.Succeeded, "rolled back"), at).Update!.Changes;

        Assert.Equal(
            [
                new MoveIncident(IncidentStatus.Acted, IncidentStatus.Resolved, at, T0.AddSeconds(45)),
                new RecordEvent(at, IncidentEventKinds.Resolved, "the trigger had passed at 2026-11-20T14:30:45Z, while the action ran"),
            ],
            changes.Skip(3));
    }

    [Fact]
    public void CompleteAction_ManualRollback_ResolvedWhenItSucceeded_NotWhenItFailed()
    {
        var manual = Record(IncidentStatus.Acting, 3, Action(ActionStatus.Started)) with { Incident = Record(IncidentStatus.Acting).Incident with { Trigger = "manual" } };

        var succeeded = IncidentLifecycle.CompleteAction(manual, 1, new ActionCompletion(ActionStatus.Succeeded, "rolled back"), T0.AddSeconds(5)).Update!.Changes;
        var failed = IncidentLifecycle.CompleteAction(manual, 1, new ActionCompletion(ActionStatus.Failed, "no"), T0.AddSeconds(5)).Update!.Changes;

        Assert.Equal(new MoveIncident(IncidentStatus.Acted, IncidentStatus.Resolved, T0.AddSeconds(5), T0.AddSeconds(5)), succeeded[^1]);
        Assert.Equal(3, failed.Count);
    }

    [Fact]
    public void CompleteAction_NotStarted_NotFinal_OrAnIncidentThatCannotMove_Throws()
    {
        var pending = Assert.Throws<InvalidOperationException>(() => IncidentLifecycle.CompleteAction(Record(IncidentStatus.Open, 1, Action(ActionStatus.Pending)), 1, new ActionCompletion(ActionStatus.Succeeded, "done"), T0));
        Assert.Equal("Action 1 is Pending; only a started action can be completed.", pending.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => IncidentLifecycle.CompleteAction(Record(IncidentStatus.Acting, 1, Action(ActionStatus.Started)), 1, new ActionCompletion(ActionStatus.Started, "?"), T0));
        var resolved = Assert.Throws<InvalidOperationException>(() => IncidentLifecycle.CompleteAction(Record(IncidentStatus.Resolved, 1, Action(ActionStatus.Started)), 1, new ActionCompletion(ActionStatus.Failed, "timeout"), T0));
        Assert.Equal("Incident 7 cannot move from Resolved to ActionFailed.", resolved.Message);
    }

    [Fact]
    public void RecordDryRun_Skipped_RecordsPlanAndOutcomeOnce_AndAFailedPlanMakesItDryRunFailed()
    {
        var dryRun = Record(IncidentStatus.DryRun, 2, Action(ActionStatus.Skipped));

        var fine = IncidentLifecycle.RecordDryRun(dryRun, 1, "{\"to\":2}", "dry-run: would roll back to 2", wouldFail: false, T0.AddSeconds(1)).Update!.Changes;
        var failing = IncidentLifecycle.RecordDryRun(dryRun, 1, "{}", "dry-run: a rollback would fail", wouldFail: true, T0.AddSeconds(1)).Update!.Changes;

        Assert.Equal(
            [
                new MoveAction(1, ActionStatus.Skipped, ActionStatus.Skipped) { Plan = "{\"to\":2}", Outcome = "dry-run: would roll back to 2" },
                new RecordEvent(T0.AddSeconds(1), IncidentEventKinds.DryRun, "rollback kubectl/checkout/shop: dry-run: would roll back to 2"),
            ],
            fine);
        Assert.Equal(new MoveIncident(IncidentStatus.DryRun, IncidentStatus.DryRunFailed, T0.AddSeconds(1)), failing[^1]);
        Assert.False(IncidentLifecycle.RecordDryRun(Record(IncidentStatus.DryRun, 2, Action(ActionStatus.Skipped) with { Plan = "{}" }), 1, "{}", "x", false, T0).Changes);
        Assert.False(IncidentLifecycle.RecordDryRun(Record(IncidentStatus.Open, 2, Action(ActionStatus.Pending)), 1, "{}", "x", false, T0).Changes);
    }

    [Theory]
    [InlineData(null, null, true)] // started before leases
    [InlineData("me", 60, true)] // its own: this sentinel restarted
    [InlineData("other", 0, true)] // the lease ended now
    [InlineData("other", -60, true)]
    [InlineData("other", 60, false)] // another sentinel runs it
    public void IsInterrupted_OwnNoneOrEndedLeases(string? owner, int? secondsLeft, bool interrupted)
    {
        var lease = owner is null ? null : new ActionLease(owner, T0.AddSeconds(secondsLeft!.Value));

        Assert.Equal(interrupted, IncidentLifecycle.IsInterrupted(lease, "me", T0));
    }

    [Theory]
    [InlineData(null, null)]
    [InlineData("me", 60)]
    [InlineData("other", 60)] // a live lease of another name: with one process per store, a dead process's
    [InlineData("other", -60)]
    public void IsInterrupted_Exclusive_EveryStartedAction(string? owner, int? secondsLeft)
    {
        var lease = owner is null ? null : new ActionLease(owner, T0.AddSeconds(secondsLeft!.Value));

        Assert.True(IncidentLifecycle.IsInterrupted(lease, "me", T0, exclusive: true));
    }

    [Fact]
    public void Interrupt_Started_InterruptsItAndTheIncident_AndAppliesAWaitingResolution()
    {
        var acting = Record(IncidentStatus.Acting, 3, Action(ActionStatus.Started)) with { ResolveRequestedAt = T0.AddSeconds(30) };
        var at = T0.AddMinutes(5);
        const string Why = "process stopped while the action ran; not retried automatically";

        var changes = IncidentLifecycle.Interrupt(acting, 1, at).Update!.Changes;

        Assert.Equal(
            [
                new MoveAction(1, ActionStatus.Started, ActionStatus.Interrupted) { CompletedAt = at, Outcome = Why },
                new MoveIncident(IncidentStatus.Acting, IncidentStatus.ActionInterrupted, at),
                new RecordEvent(at, IncidentEventKinds.ActionInterrupted, $"rollback kubectl/checkout/shop: {Why}"),
                new MoveIncident(IncidentStatus.ActionInterrupted, IncidentStatus.Resolved, at, T0.AddSeconds(30)),
                new RecordEvent(at, IncidentEventKinds.Resolved, "the trigger had passed at 2026-11-20T14:30:30Z, while the action ran"),
            ],
            changes);
    }

    [Fact]
    public void Interrupt_AnIncidentFoundOtherwise_KeepsItsStatus_AndAnActionNotStartedIsLeftAlone()
    {
        var edited = IncidentLifecycle.Interrupt(Record(IncidentStatus.Acted, 3, Action(ActionStatus.Started)), 1, T0).Update!.Changes;

        Assert.DoesNotContain(edited, c => c is MoveIncident);
        Assert.Equal(2, edited.Count);
        Assert.False(IncidentLifecycle.Interrupt(Record(IncidentStatus.Acted, 3, Action(ActionStatus.Succeeded)), 1, T0).Changes);
    }

    // ------------------------------------------------------------------ preview

    [Fact]
    public void Preview_ShowsTheRecordAfterTheChanges()
    {
        var opened = Decide(null, Act(T0, Cart)).Update!;
        var resolved = Resolved(T0.AddMinutes(1), Cart);

        var record = IncidentLifecycle.Preview(null, opened.Changes, -1);
        var after = IncidentLifecycle.Preview(record, Decide(record, resolved).Update!.Changes);

        Assert.Equal((-1L, IncidentStatus.Open, ActionStatus.Pending), (record.Incident.Id, record.Incident.Status, record.Actions[0].Status));
        Assert.Equal((IncidentStatus.Resolved, (DateTimeOffset?)T0.AddMinutes(1), ActionStatus.Skipped), (after.Incident.Status, after.Incident.ResolvedAt, after.Actions[0].Status));
        Assert.True(after.Incident.Version > record.Incident.Version);
    }

    // ------------------------------------------------------------------ helpers

    private static LifecycleStep Decide(IncidentRecord? open, Decision decision, TimeSpan? confirm = null) =>
        IncidentLifecycle.Decide(open, new EvaluationInput(decision, decision.Kind == DecisionKind.Act ? Target : null, confirm, TimeSpan.Zero));

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

    private static IncidentRecord Record(IncidentStatus status, long revision = 1, params ActionRecord[] actions) => Record(status, 7, revision, actions);

    private static IncidentRecord Record(IncidentStatus status, long id, long revision = 1, params ActionRecord[] actions) => new(
        new Incident
        {
            Id = id,
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

    private static IncidentRecord Awaiting(DateTimeOffset? timedOut = null) =>
        Record(IncidentStatus.AwaitingConfirmation, 5, Action(ActionStatus.Held)) is var r
            ? r with { Incident = r.Incident with { Action = TriggerAction.Page, AnswerDeadline = T0 + Wait, TimedOutAt = timedOut } }
            : r;

    private static Acknowledgment Answer(string answer, string? reason = null) => new(7, "alice", "slack", answer, T0.AddSeconds(10)) { Reason = reason };

    /// <summary>Updates compared by content (records compare lists by reference).</summary>
    private sealed class UpdateComparer : IEqualityComparer<IncidentUpdate?>
    {
        public static readonly UpdateComparer Instance = new();

        public bool Equals(IncidentUpdate? x, IncidentUpdate? y) =>
            x is null ? y is null : y is not null && x.IncidentId == y.IncidentId && x.ExpectedRevision == y.ExpectedRevision && x.Changes.SequenceEqual(y.Changes);

        public int GetHashCode(IncidentUpdate? obj) => obj?.IncidentId.GetHashCode() ?? 0;
    }
}
