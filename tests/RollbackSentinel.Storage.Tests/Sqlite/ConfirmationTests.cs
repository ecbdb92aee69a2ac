using RollbackSentinel.Core.Incidents;
using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Core.Policies;
using RollbackSentinel.Storage.Tests.Support;
using static RollbackSentinel.Storage.Tests.Support.Samples;

namespace RollbackSentinel.Storage.Tests.Sqlite;

/// <summary>The confirmation flow as stored: a page holds a rollback until a person approves, denies or snoozes, or time runs out.</summary>
public sealed class ConfirmationTests : IAsyncLifetime
{
    private static readonly TimeSpan Wait = TimeSpan.FromMinutes(15);
    private readonly TempDatabase _db = new();
    private SqliteIncidentStore _store = null!;
    private IncidentService _incidents = null!;

    public async Task InitializeAsync()
    {
        _store = await _db.OpenStoreAsync();
        _incidents = _db.Incidents(_store);
    }

    public Task DisposeAsync() => _db.DisposeAsync();

    private async Task<OpenedIncident> PageAsync(LabelSet? labels = null) =>
        Assert.Single(await _incidents.CommitEvaluationAsync(Commit(T0, Act(T0, labels ?? Cart, action: TriggerAction.Page)) with { ConfirmTimeout = Wait }, None));

    private static Acknowledgment Answer(long id, string answer, int second = 10, string? reason = null) =>
        new(id, "alice", "slack", answer, T0.AddSeconds(second)) { Reason = reason };

    [Fact]
    public async Task Page_WithConfirmation_AwaitsWithTheRollbackHeldUntilTheDeadline()
    {
        var opened = await PageAsync();

        Assert.Equal((IncidentStatus.AwaitingConfirmation, (DateTimeOffset?)T0 + Wait), (opened.Incident.Status, opened.Incident.AnswerDeadline));
        Assert.Equal(("rollback", ActionStatus.Held), (opened.Action.Kind, opened.Action.Status));
        Assert.Empty(await _store.ListPendingActionsAsync(None)); // never run by the sweeper
        var timeline = (await _store.GetIncidentAsync(opened.Incident.Id, None))!;
        Assert.Equal(IncidentEventKinds.AwaitingConfirmation, timeline.Events[^1].Kind);
    }

    [Fact]
    public async Task Page_WithoutConfirmation_IsAPageAsBefore()
    {
        var opened = Assert.Single(await _incidents.CommitEvaluationAsync(Commit(T0, Act(T0, Cart, action: TriggerAction.Page)), None));

        Assert.Equal((IncidentStatus.Open, "page", ActionStatus.Pending), (opened.Incident.Status, opened.Action.Kind, opened.Action.Status));
    }

    [Fact]
    public async Task Approve_ReleasesTheRollbackOnce_ASecondAnswerIsRefusedPolitelyAndRecordsNothing()
    {
        var opened = await PageAsync();

        var approved = await _incidents.AnswerAsync(Answer(opened.Incident.Id, Answers.Approve, reason: "error budget gone"), null, None);
        var again = await _incidents.AnswerAsync(Answer(opened.Incident.Id, Answers.Deny, second: 20) with { By = "bob" }, null, None);

        Assert.True(approved.Accepted);
        Assert.Equal(($"rollback of incident {opened.Incident.Id} approved by alice: rolling back kubectl/checkout/shop", IncidentStatus.Open), (approved.Message, approved.Incident!.Status));
        Assert.Equal((opened.Action.Id, ActionStatus.Pending), (approved.ActionToRun!.Id, approved.ActionToRun.Status));
        Assert.False(again.Accepted);
        Assert.Equal($"incident {opened.Incident.Id} is not awaiting confirmation any more (it is rolling back): your deny was not applied", again.Message);
        var timeline = (await _store.GetIncidentAsync(opened.Incident.Id, None))!;
        var answer = Assert.Single(timeline.Acknowledgments);
        Assert.Equal(("alice", "slack", "approve", "error budget gone", T0.AddSeconds(10)), (answer.By, answer.Channel, answer.Answer, answer.Reason, answer.At));
        Assert.Contains(timeline.Events, e => e.Kind == IncidentEventKinds.Approved && e.Message == "rollback approved by alice via slack (error budget gone)");
        Assert.Equal(opened.Action.Id, Assert.Single(await _store.ListPendingActionsAsync(None)).Id);
    }

    [Fact]
    public async Task Deny_ClosesTheIncidentAndSkipsTheRollback_ALaterBreachOpensANewIncident()
    {
        var opened = await PageAsync();

        var denied = await _incidents.AnswerAsync(Answer(opened.Incident.Id, Answers.Deny), null, None);

        Assert.True(denied.Accepted);
        Assert.Equal(IncidentStatus.Denied, denied.Incident!.Status);
        var action = Assert.Single((await _store.GetIncidentAsync(opened.Incident.Id, None))!.Actions);
        Assert.Equal((ActionStatus.Skipped, "not run: denied by alice via slack"), (action.Status, action.Outcome));
        var next = Assert.Single(await _incidents.CommitEvaluationAsync(Commit(T0.AddHours(1), Act(T0.AddHours(1), Cart, action: TriggerAction.Page)) with { ConfirmTimeout = Wait }, None));
        Assert.NotEqual(opened.Incident.Id, next.Incident.Id);
    }

    [Fact]
    public async Task Snooze_MovesTheDeadline_AndTheIncidentKeepsWaiting()
    {
        var opened = await PageAsync();

        var snoozed = await _incidents.AnswerAsync(Answer(opened.Incident.Id, Answers.Snooze), T0.AddMinutes(40), None);

        Assert.True(snoozed.Accepted);
        Assert.Equal((IncidentStatus.AwaitingConfirmation, (DateTimeOffset?)T0.AddMinutes(40)), (snoozed.Incident!.Status, snoozed.Incident.AnswerDeadline));
        Assert.Empty(await _store.ListOverdueAsync(T0.AddMinutes(20), None));
        Assert.Single(await _store.ListOverdueAsync(T0.AddMinutes(40), None));
    }

    [Fact]
    public async Task BreachClearsBeforeAnyoneAnswers_TheIncidentRecoversAndTheRollbackIsNotRun()
    {
        var opened = await PageAsync();

        await _incidents.CommitEvaluationAsync(Commit(T0.AddMinutes(2), Resolved(T0.AddMinutes(2), Cart)), None);

        var timeline = (await _store.GetIncidentAsync(opened.Incident.Id, None))!;
        Assert.Equal(IncidentStatus.Resolved, timeline.Incident.Status);
        Assert.Equal((ActionStatus.Skipped, "not run: the breach cleared before anyone answered"), (timeline.Actions[0].Status, timeline.Actions[0].Outcome));
        var late = await _incidents.AnswerAsync(Answer(opened.Incident.Id, Answers.Approve, second: 200), null, None);
        Assert.Equal((false, $"incident {opened.Incident.Id} is not awaiting confirmation any more (it is resolved): your approve was not applied"), (late.Accepted, late.Message));
    }

    [Fact]
    public async Task TimeOut_HoldMarksItOnce_RollbackReleasesTheAction()
    {
        var held = await PageAsync(Cart);
        var rolled = await PageAsync(Web);
        var after = T0 + Wait;

        Assert.Equal(2, (await _store.ListOverdueAsync(after, None)).Count);
        var hold = await _incidents.TimeOutAsync(held.Incident.Id, approve: false, after, None);
        var rollback = await _incidents.TimeOutAsync(rolled.Incident.Id, approve: true, after, None);

        Assert.Equal((true, IncidentStatus.AwaitingConfirmation, (DateTimeOffset?)after, (DateTimeOffset?)null), (hold.Accepted, hold.Incident!.Status, hold.Incident.TimedOutAt, hold.Incident.AnswerDeadline));
        Assert.Equal((true, IncidentStatus.Open, ActionStatus.Pending), (rollback.Accepted, rollback.Incident!.Status, rollback.ActionToRun!.Status));
        Assert.Empty(await _store.ListOverdueAsync(after.AddHours(1), None));
        Assert.False((await _incidents.TimeOutAsync(held.Incident.Id, approve: false, after.AddHours(1), None)).Accepted);

        // Someone answers after the hold: still possible.
        Assert.True((await _incidents.AnswerAsync(Answer(held.Incident.Id, Answers.Approve, second: 3600), null, None)).Accepted);
    }

    [Fact]
    public async Task Ack_IsRecordedOnOpenIncidents_AndRefusedOnClosedOnes()
    {
        var opened = Assert.Single(await _incidents.CommitEvaluationAsync(Commit(T0, Act(T0, Cart, action: TriggerAction.Page)), None));

        var ack = await _incidents.AnswerAsync(Answer(opened.Incident.Id, Answers.Ack) with { Channel = "cli" }, null, None);
        await _incidents.CommitEvaluationAsync(Commit(T0.AddMinutes(1), Resolved(T0.AddMinutes(1), Cart)), None);
        var late = await _incidents.AnswerAsync(Answer(opened.Incident.Id, Answers.Ack, second: 90), null, None);
        var missing = await _incidents.AnswerAsync(Answer(999, Answers.Approve), null, None);

        Assert.Equal((true, $"incident {opened.Incident.Id} acknowledged by alice"), (ack.Accepted, ack.Message));
        Assert.Equal((false, $"incident {opened.Incident.Id} is already resolved: nothing to acknowledge"), (late.Accepted, late.Message));
        Assert.Equal((false, "there is no incident 999", (Incident?)null), (missing.Accepted, missing.Message, missing.Incident));
    }

    [Fact]
    public async Task Notifications_AreKeptPerIncidentAndChannel_TheLastOneWins()
    {
        var opened = await PageAsync();

        await _store.SaveNotificationAsync(new NotificationRecord(opened.Incident.Id, "slack", "C1:111.2", "AwaitingConfirmation", T0), None);
        await _store.SaveNotificationAsync(new NotificationRecord(opened.Incident.Id, "slack", "C1:111.2", "RollingBack", T0.AddSeconds(5)), None);
        await _store.SaveNotificationAsync(new NotificationRecord(opened.Incident.Id, "pagerduty", "key", "AwaitingConfirmation", T0), None);

        Assert.Equal(
            [new NotificationRecord(opened.Incident.Id, "pagerduty", "key", "AwaitingConfirmation", T0), new NotificationRecord(opened.Incident.Id, "slack", "C1:111.2", "RollingBack", T0.AddSeconds(5))],
            await _store.GetNotificationsAsync(opened.Incident.Id, None));
    }

    [Fact]
    public async Task ClaimToNotify_HasEveryChangeUntilMarkedNotified_AndOpenIncidents()
    {
        var waiting = await PageAsync(Cart);
        var denied = await PageAsync(Web);
        await _incidents.AnswerAsync(Answer(denied.Incident.Id, Answers.Deny), null, None);

        var first = await _store.ClaimToNotifyAsync(includeOpen: true, 10, NotifyLease, T0, None);
        Assert.Equal([waiting.Incident.Id, denied.Incident.Id], first.Select(i => i.Id).Order());

        // Told: the closed one drops out; the open one stays (channels that re-post), until the next change.
        foreach (var incident in first)
        {
            await _store.MarkNotifiedAsync(incident.Id, incident.Version, NotifyLease.Owner, None);
        }

        Assert.Equal([waiting.Incident.Id], (await _store.ClaimToNotifyAsync(includeOpen: true, 10, NotifyLease, T0, None)).Select(i => i.Id));
        Assert.Empty(await _store.ClaimToNotifyAsync(includeOpen: false, 10, NotifyLease, T0, None)); // told, and nothing re-publishes

        // A change made while a channel was down (never marked) stays listed, however long ago it was made.
        var recovered = await PageAsync(LabelSet.Of(("deployment", "search")));
        await _incidents.CommitEvaluationAsync(Commit(T0.AddMinutes(1), Resolved(T0.AddMinutes(1), LabelSet.Of(("deployment", "search")))), None);
        Assert.Contains(recovered.Incident.Id, (await _store.ClaimToNotifyAsync(includeOpen: false, 10, NotifyLease, T0, None)).Select(i => i.Id));

        // Marking an older version does not hide a newer change.
        var stale = waiting.Incident.Version;
        await _incidents.AnswerAsync(Answer(waiting.Incident.Id, Answers.Snooze), T0.AddHours(1), None);
        await _store.MarkNotifiedAsync(waiting.Incident.Id, stale, NotifyLease.Owner, None);
        var listed = Assert.Single(await _store.ClaimToNotifyAsync(includeOpen: false, 10, NotifyLease, T0, None), i => i.Id == waiting.Incident.Id);
        Assert.True(listed.Version > stale);
    }

    [Fact]
    public async Task Denied_TheSameTriggerAndSeriesAreNotAskedAgainWithinTheCooldown()
    {
        var first = await PageAsync(Cart);
        await _incidents.AnswerAsync(Answer(first.Incident.Id, Answers.Deny), null, None);

        var within = await _incidents.CommitEvaluationAsync(Commit(T0.AddMinutes(10), Act(T0.AddMinutes(10), Cart, action: TriggerAction.Page)) with { ConfirmTimeout = Wait, DenialHoldsFor = TimeSpan.FromMinutes(30) }, None);
        var otherSeries = await _incidents.CommitEvaluationAsync(Commit(T0.AddMinutes(10), Act(T0.AddMinutes(10), Web, action: TriggerAction.Page)) with { ConfirmTimeout = Wait, DenialHoldsFor = TimeSpan.FromMinutes(30) }, None);
        var after = await _incidents.CommitEvaluationAsync(Commit(T0.AddMinutes(45), Act(T0.AddMinutes(45), Cart, action: TriggerAction.Page)) with { ConfirmTimeout = Wait, DenialHoldsFor = TimeSpan.FromMinutes(30) }, None);

        Assert.Empty(within);
        Assert.Single(otherSeries);
        Assert.Single(after);
        var events = (await _store.GetIncidentAsync(first.Incident.Id, None))!.Events;
        Assert.Contains(events, e => e.Kind == IncidentEventKinds.SuppressedByCooldown && e.Message.EndsWith("within the cooldown", StringComparison.Ordinal));
    }

    [Fact]
    public async Task ManualRollback_IsRecordedWithWhoAndWhy_AndResolvesWhenItSucceeds()
    {
        var opened = await _incidents.OpenManualRollbackAsync(new ManualRollback(Samples.Policy, Cart, Samples.Target, "erin", "api", "customers report errors", T0), None);

        Assert.Equal((IncidentService.ManualTrigger, IncidentStatus.Open, ActionStatus.Pending), (opened.Incident.Trigger, opened.Incident.Status, opened.Action.Status));
        var asked = Assert.Single((await _store.GetIncidentAsync(opened.Incident.Id, None))!.Acknowledgments);
        Assert.Equal(("erin", "api", "rollback", "customers report errors"), (asked.By, asked.Channel, asked.Answer, asked.Reason));

        await _incidents.MarkActionStartedAsync(opened.Action.Id, T0.AddSeconds(1), Lease, None);
        await _incidents.CompleteActionAsync(opened.Action.Id, ActionStatus.Succeeded, "rolled back", T0.AddSeconds(5), None);

        Assert.Equal(IncidentStatus.Resolved, (await _store.GetIncidentAsync(opened.Incident.Id, None))!.Incident.Status);
    }

    [Fact]
    public async Task FindRollbackSince_SeesRollbacksOfTheSameTargetThatStartedAfter()
    {
        var held = await PageAsync(Cart);
        var manual = await _incidents.OpenManualRollbackAsync(new ManualRollback(Samples.Policy, Cart, Samples.Target, "erin", "api", "why", T0.AddMinutes(1)), None);
        Assert.Null(await _store.FindRollbackSinceAsync(Samples.Target, T0, held.Action.Id, None)); // pending is not started

        await _incidents.MarkActionStartedAsync(manual.Action.Id, T0.AddMinutes(2), Lease, None);

        Assert.Equal(manual.Action.Id, (await _store.FindRollbackSinceAsync(Samples.Target, T0, held.Action.Id, None))!.Id);
        Assert.Null(await _store.FindRollbackSinceAsync(Samples.Target, T0.AddMinutes(3), held.Action.Id, None));
        Assert.Null(await _store.FindRollbackSinceAsync("kubectl/other/shop", T0, held.Action.Id, None));
        Assert.Null(await _store.FindRollbackSinceAsync(Samples.Target, T0, manual.Action.Id, None));
    }

    [Fact]
    public async Task FindRollbackSince_AnotherPolicysWebhookRollback_IsNotThisTarget_ButTheSameDeploymentIs()
    {
        // Two policies posting to webhooks without templates, and two policies guarding the same Deployment.
        static Policy With(string name, Target target) => new()
        {
            Name = name,
            Target = target,
            Schedule = new IntervalSchedule(TimeSpan.FromSeconds(15)),
            Triggers = [],
        };
        var hook = new WebhookTarget(Template.Parse("https://deploy.example.com/rollback"));
        var deployment = new KubectlTarget(WorkloadKind.Deployment, Template.Parse("{{ labels.deployment }}")) { Namespace = Template.Parse("shop") };
        async Task<OpenedIncident> StartedAsync(Policy policy, DateTimeOffset at)
        {
            var opened = await _incidents.OpenManualRollbackAsync(new ManualRollback(policy.Name, Cart, TargetIdentity.For(policy, Cart), "erin", "api", "why", at), None);
            await _incidents.MarkActionStartedAsync(opened.Action.Id, at, Lease, None);
            return opened;
        }

        var held = await _incidents.OpenManualRollbackAsync(new ManualRollback("checkout", Cart, TargetIdentity.For(With("checkout", hook), Cart), "erin", "api", "why", T0), None);
        await StartedAsync(With("search", hook), T0.AddMinutes(1));
        var errors = await StartedAsync(With("cart-errors", deployment), T0.AddMinutes(2));

        Assert.Null(await _store.FindRollbackSinceAsync(held.Action.Target, T0, held.Action.Id, None));
        var sameDeployment = TargetIdentity.For(With("cart-latency", deployment), Cart);
        Assert.Equal(errors.Action.Id, (await _store.FindRollbackSinceAsync(sameDeployment, T0, -1, None))!.Id);
    }
}
