using RollbackSentinel.Core.Incidents;
using RollbackSentinel.Core.Metrics;
using OnTimeout = RollbackSentinel.Core.Policies.OnTimeout;
using TriggerAction = RollbackSentinel.Core.Policies.TriggerAction;
using static RollbackSentinel.Core.Tests.Incidents.IncidentSamples;

namespace RollbackSentinel.Core.Tests.Incidents;

/// <summary>IncidentService applying the rules the daemon used to decide itself (time-outs from facts, refused recorded actions), over the store contract.</summary>
public sealed class IncidentServiceDaemonRulesTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromMinutes(15);
    private readonly InMemoryIncidentStore _store = new();
    private readonly IncidentService _incidents;

    public IncidentServiceDaemonRulesTests() => _incidents = new IncidentService(_store, null, TimeProvider.System, "sentinel-a");

    [Fact]
    public async Task TimeOut_WithFacts_RollbackWhileFiringReleases_EscalateAndPassedHold()
    {
        var rolled = await PageAsync(Cart);
        var escalated = await PageAsync(Web);
        var passed = await PageAsync(LabelSet.Of(("deployment", "search")));
        var at = T0 + Wait;

        var rollback = await _incidents.TimeOutAsync(rolled.Incident.Id, new TimeOutFacts(true, OnTimeout.Rollback, true), at, None);
        var escalate = await _incidents.TimeOutAsync(escalated.Incident.Id, new TimeOutFacts(true, OnTimeout.Escalate, true), at, None);
        var notFiring = await _incidents.TimeOutAsync(passed.Incident.Id, new TimeOutFacts(true, OnTimeout.Rollback, false), at, None);

        Assert.Equal((true, "timed out: rolling back", IncidentStatus.Open, ActionStatus.Pending), (rollback.Accepted, rollback.Message, rollback.Incident!.Status, rollback.ActionToRun!.Status));
        Assert.All([escalate, notFiring], r => Assert.Equal((true, "timed out: held", IncidentStatus.AwaitingConfirmation, (DateTimeOffset?)at), (r.Accepted, r.Message, r.Incident!.Status, r.Incident.TimedOutAt)));
        Assert.Null(escalate.ActionToRun);
    }

    [Fact]
    public async Task RefuseRecordedAction_OneBatch_StartedThenFailed_AndAClaimedActionIsLeftAlone()
    {
        var opened = Assert.Single(await _incidents.CommitEvaluationAsync(Commit(T0, Act(T0, Cart)), None));
        var applied = _store.ApplyCalls;
        var at = T0.AddMinutes(20);

        Assert.True(await _incidents.RefuseRecordedActionAsync(opened.Action.Id, "recorded 20m ago, too old to act on", at, None));

        Assert.Equal(applied + 1, _store.ApplyCalls);
        var timeline = (await _store.GetIncidentAsync(opened.Incident.Id, None))!;
        Assert.Equal(IncidentStatus.ActionFailed, timeline.Incident.Status);
        var action = Assert.Single(timeline.Actions);
        Assert.Equal((ActionStatus.Failed, "not run: recorded 20m ago, too old to act on", (DateTimeOffset?)at, (DateTimeOffset?)at), (action.Status, action.Outcome, action.StartedAt, action.CompletedAt));
        Assert.Equal(
            [
                (IncidentEventKinds.ActionStarted, "rollback kubectl/checkout/shop started"),
                (IncidentEventKinds.ActionFailed, "rollback kubectl/checkout/shop: not run: recorded 20m ago, too old to act on"),
            ],
            timeline.Events.Skip(1).Select(e => (e.Kind, e.Message)));
        Assert.False(await _incidents.RefuseRecordedActionAsync(opened.Action.Id, "again", at.AddMinutes(1), None));
        await Assert.ThrowsAsync<KeyNotFoundException>(() => _incidents.RefuseRecordedActionAsync(12345, "x", at, None));
    }

    private async Task<OpenedIncident> PageAsync(LabelSet labels) =>
        Assert.Single(await _incidents.CommitEvaluationAsync(Commit(T0, Act(T0, labels, action: TriggerAction.Page)) with { ConfirmTimeout = Wait }, None));
}
