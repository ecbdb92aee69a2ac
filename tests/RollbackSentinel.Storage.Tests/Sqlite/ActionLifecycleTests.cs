using RollbackSentinel.Core.Incidents;
using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Storage.Tests.Support;
using static RollbackSentinel.Storage.Tests.Support.Samples;

namespace RollbackSentinel.Storage.Tests.Sqlite;

public sealed class ActionLifecycleTests : IAsyncLifetime
{
    private readonly TempDatabase _db = new();
    private SqliteIncidentStore _store = null!;
    private IncidentService _incidents = null!;

    [Fact]
    public async Task MarkStarted_Pending_StartsOnceAndIncidentIsActing()
    {
        var opened = await OpenAsync(Cart);

        Assert.True(await _incidents.MarkActionStartedAsync(opened.Action.Id, T0.AddSeconds(1), Lease, None));
        Assert.False(await _incidents.MarkActionStartedAsync(opened.Action.Id, T0.AddSeconds(2), Lease, None));

        var timeline = (await _store.GetIncidentAsync(opened.Incident.Id, None))!;
        Assert.Equal(IncidentStatus.Acting, timeline.Incident.Status);
        Assert.Equal(T0.AddSeconds(1), timeline.Incident.UpdatedAt);
        Assert.Equal(opened.Action with { Status = ActionStatus.Started, StartedAt = T0.AddSeconds(1) }, Assert.Single(timeline.Actions));
        Assert.Equal(
            new IncidentEvent(opened.Incident.Id, T0.AddSeconds(1), IncidentEventKinds.ActionStarted, "rollback kubectl/checkout/shop started"),
            timeline.Events[^1]);
    }

    [Fact]
    public async Task MarkStarted_UnknownAction_Throws()
    {
        await Assert.ThrowsAsync<KeyNotFoundException>(() => _incidents.MarkActionStartedAsync(12345, T0, Lease, None));
    }

    [Theory]
    [InlineData(ActionStatus.Succeeded, IncidentStatus.Acted, IncidentEventKinds.ActionSucceeded)]
    [InlineData(ActionStatus.Failed, IncidentStatus.ActionFailed, IncidentEventKinds.ActionFailed)]
    [InlineData(ActionStatus.Skipped, IncidentStatus.Acted, IncidentEventKinds.ActionSkipped)]
    public async Task Complete_Started_RecordsOutcomeAndMovesIncident(ActionStatus final, IncidentStatus incidentStatus, string eventKind)
    {
        var opened = await OpenAsync(Cart);
        await _incidents.MarkActionStartedAsync(opened.Action.Id, T0.AddSeconds(1), Lease, None);

        await _incidents.CompleteActionAsync(opened.Action.Id, final, "rollout undo: revision 41", T0.AddSeconds(40), None);

        var timeline = (await _store.GetIncidentAsync(opened.Incident.Id, None))!;
        Assert.Equal(incidentStatus, timeline.Incident.Status);
        Assert.Equal(T0.AddSeconds(40), timeline.Incident.UpdatedAt);
        Assert.Null(timeline.Incident.ResolvedAt);
        Assert.Equal(
            opened.Action with { Status = final, StartedAt = T0.AddSeconds(1), CompletedAt = T0.AddSeconds(40), Outcome = "rollout undo: revision 41" },
            Assert.Single(timeline.Actions));
        Assert.Equal(
            new IncidentEvent(opened.Incident.Id, T0.AddSeconds(40), eventKind, "rollback kubectl/checkout/shop: rollout undo: revision 41"),
            timeline.Events[^1]);
    }

    [Fact]
    public async Task Complete_ActionThatNeverStarted_IsRefusedAndChangesNothing()
    {
        var opened = await OpenAsync(Cart);

        var error = await Assert.ThrowsAsync<InvalidOperationException>(
            () => _incidents.CompleteActionAsync(opened.Action.Id, ActionStatus.Succeeded, "done", T0.AddSeconds(5), None));

        Assert.Contains("is Pending; only a started action can be completed", error.Message, StringComparison.Ordinal);
        var timeline = (await _store.GetIncidentAsync(opened.Incident.Id, None))!;
        Assert.Equal(opened.Incident, timeline.Incident);
        Assert.Equal([opened.Action], timeline.Actions);
    }

    [Fact]
    public async Task Complete_Twice_SecondIsRefused()
    {
        var opened = await OpenAsync(Cart);
        await _incidents.MarkActionStartedAsync(opened.Action.Id, T0.AddSeconds(1), Lease, None);
        await _incidents.CompleteActionAsync(opened.Action.Id, ActionStatus.Failed, "timeout", T0.AddSeconds(5), None);

        await Assert.ThrowsAsync<InvalidOperationException>(
            () => _incidents.CompleteActionAsync(opened.Action.Id, ActionStatus.Succeeded, "done after all", T0.AddSeconds(6), None));

        var action = Assert.Single((await _store.GetIncidentAsync(opened.Incident.Id, None))!.Actions);
        Assert.Equal(ActionStatus.Failed, action.Status);
        Assert.Equal("timeout", action.Outcome);
    }

    [Theory]
    [InlineData(ActionStatus.Pending)]
    [InlineData(ActionStatus.Started)]
    public async Task Complete_WithAStatusThatIsNotFinal_Throws(ActionStatus status)
    {
        var opened = await OpenAsync(Cart);
        await _incidents.MarkActionStartedAsync(opened.Action.Id, T0.AddSeconds(1), Lease, None);

        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => _incidents.CompleteActionAsync(opened.Action.Id, status, "?", T0.AddSeconds(2), None));
    }

    [Fact]
    public async Task Complete_WhenTheIncidentCannotTakeTheNextStatus_ThrowsAndChangesNothing()
    {
        var opened = await OpenAsync(Cart);
        await _incidents.MarkActionStartedAsync(opened.Action.Id, T0.AddSeconds(1), Lease, None);

        // Resolved -> ActionFailed is not a move IncidentTransitions allows (a hand edit, or a bug elsewhere).
        _db.Execute($"UPDATE incidents SET status = 'Resolved' WHERE id = {opened.Incident.Id}");

        var error = await Assert.ThrowsAsync<InvalidOperationException>(
            () => _incidents.CompleteActionAsync(opened.Action.Id, ActionStatus.Failed, "timeout", T0.AddSeconds(9), None));

        Assert.Equal($"Incident {opened.Incident.Id} cannot move from Resolved to ActionFailed.", error.Message);
        var timeline = (await _store.GetIncidentAsync(opened.Incident.Id, None))!;
        Assert.Equal(ActionStatus.Started, timeline.Actions[0].Status);
        Assert.Null(timeline.Actions[0].Outcome);
        Assert.DoesNotContain(timeline.Events, e => e.Kind == IncidentEventKinds.ActionFailed);
    }

    [Fact]
    public async Task MarkStarted_WhenTheIncidentCannotAct_ThrowsAndLeavesTheActionPending()
    {
        var opened = await OpenAsync(Cart);
        _db.Execute($"UPDATE incidents SET status = 'Acted' WHERE id = {opened.Incident.Id}");

        await Assert.ThrowsAsync<InvalidOperationException>(() => _incidents.MarkActionStartedAsync(opened.Action.Id, T0.AddSeconds(1), Lease, None));

        Assert.Equal(ActionStatus.Pending, (await _store.GetIncidentAsync(opened.Incident.Id, None))!.Actions[0].Status);
    }

    [Fact]
    public async Task Recover_AfterAProcessDiedMidAction_InterruptsStartedAndReturnsPendingSeparately()
    {
        var started = await OpenAsync(Cart);
        var waiting = await OpenAsync(Web);
        Assert.True(await _incidents.MarkActionStartedAsync(started.Action.Id, T0.AddSeconds(1), Lease, None));

        // The process dies: the store goes away without the action completing.
        await _store.DisposeAsync();
        await using var restarted = await _db.OpenStoreAsync();
        var recoveredAt = T0.AddMinutes(10);

        var (interrupted, pending) = await _db.Incidents(restarted).RecoverAsync(recoveredAt, None);

        const string Why = "process stopped while the action ran; not retried automatically";
        Assert.Equal(
            [started.Action with { Status = ActionStatus.Interrupted, StartedAt = T0.AddSeconds(1), CompletedAt = recoveredAt, Outcome = Why }],
            interrupted);
        Assert.Equal([waiting.Action], pending);

        var incident = (await restarted.GetIncidentAsync(started.Incident.Id, None))!;
        Assert.Equal(IncidentStatus.ActionInterrupted, incident.Incident.Status);
        Assert.Equal(recoveredAt, incident.Incident.UpdatedAt);
        Assert.Equal(
            new IncidentEvent(started.Incident.Id, recoveredAt, IncidentEventKinds.ActionInterrupted, $"rollback kubectl/checkout/shop: {Why}"),
            incident.Events[^1]);
        Assert.Equal(IncidentStatus.Open, (await restarted.GetIncidentAsync(waiting.Incident.Id, None))!.Incident.Status);

        // Never retried by itself: not startable, not completable, not returned again.
        Assert.False(await _db.Incidents(restarted).MarkActionStartedAsync(started.Action.Id, recoveredAt.AddSeconds(1), Lease, None));
        await Assert.ThrowsAsync<InvalidOperationException>(
            () => _db.Incidents(restarted).CompleteActionAsync(started.Action.Id, ActionStatus.Succeeded, "late", recoveredAt.AddSeconds(2), None));
        var again = await _db.Incidents(restarted).RecoverAsync(recoveredAt.AddMinutes(1), None);
        Assert.Empty(again.Interrupted);
        Assert.Equal([waiting.Action], again.Pending);

        // The trigger passing later still resolves it; the action keeps its outcome.
        await _db.Incidents(restarted).CommitEvaluationAsync(Commit(recoveredAt.AddMinutes(2), Resolved(recoveredAt.AddMinutes(2), Cart)), None);
        var resolved = (await restarted.GetIncidentAsync(started.Incident.Id, None))!;
        Assert.Equal(IncidentStatus.Resolved, resolved.Incident.Status);
        Assert.Equal(ActionStatus.Interrupted, resolved.Actions[0].Status);
    }

    [Fact]
    public async Task Recover_ResolutionRequestedWhileTheActionRan_ResolvesTheInterruptedIncident()
    {
        var opened = await OpenAsync(Cart);
        await _incidents.MarkActionStartedAsync(opened.Action.Id, T0.AddSeconds(1), Lease, None);
        await _incidents.CommitEvaluationAsync(Commit(T0.AddSeconds(30), Resolved(T0.AddSeconds(30), Cart)), None);
        await _store.DisposeAsync();

        await using var restarted = await _db.OpenStoreAsync();
        var (interrupted, _) = await _db.Incidents(restarted).RecoverAsync(T0.AddMinutes(5), None);

        Assert.Equal(opened.Action.Id, Assert.Single(interrupted).Id);
        var timeline = (await restarted.GetIncidentAsync(opened.Incident.Id, None))!;
        Assert.Equal(IncidentStatus.Resolved, timeline.Incident.Status);
        Assert.Equal(T0.AddSeconds(30), timeline.Incident.ResolvedAt);
        Assert.Equal(
            [IncidentEventKinds.Opened, IncidentEventKinds.ActionStarted, IncidentEventKinds.ResolveDeferred, IncidentEventKinds.ActionInterrupted, IncidentEventKinds.Resolved],
            timeline.Events.Select(e => e.Kind));
    }

    [Fact]
    public async Task SavePlan_FirstPlanWins_LaterPlansGetItBack()
    {
        var opened = await OpenAsync(Cart);

        var first = await _incidents.SavePlanAsync(opened.Action.Id, "{\"to\":2}", None);
        var second = await _incidents.SavePlanAsync(opened.Action.Id, "{\"to\":3}", None);

        Assert.Equal("{\"to\":2}", first);
        Assert.Equal("{\"to\":2}", second);
        Assert.Equal("{\"to\":2}", Assert.Single((await _store.GetIncidentAsync(opened.Incident.Id, None))!.Actions).Plan);
        await Assert.ThrowsAsync<KeyNotFoundException>(() => _incidents.SavePlanAsync(12345, "{}", None));
    }

    [Fact]
    public async Task Complete_WithBeforeAndAfter_KeepsBoth()
    {
        var opened = await OpenAsync(Cart);
        await _incidents.MarkActionStartedAsync(opened.Action.Id, T0.AddSeconds(1), Lease, None);

        await _incidents.CompleteActionAsync(
            opened.Action.Id,
            new ActionCompletion(ActionStatus.Succeeded, "rolled back from revision 3 to 2") { Before = "revision 3", After = "revision 4 (template of 2)" },
            T0.AddSeconds(30),
            None);

        var action = Assert.Single((await _store.GetIncidentAsync(opened.Incident.Id, None))!.Actions);
        Assert.Equal(("revision 3", "revision 4 (template of 2)"), (action.Before, action.After));
        Assert.Equal("rolled back from revision 3 to 2", action.Outcome);
    }

    [Fact]
    public async Task RecordDryRun_SkippedAction_RecordsPlanAndOutcomeOnce()
    {
        var opened = Assert.Single(await _incidents.CommitEvaluationAsync(Commit(T0, Act(T0, Cart, dryRun: true)), None));
        Assert.Equal(ActionStatus.Skipped, opened.Action.Status);

        Assert.True(await _incidents.RecordDryRunAsync(opened.Action.Id, "{\"to\":2}", "dry-run: would roll back to 2", wouldFail: false, T0.AddSeconds(1), None));
        Assert.False(await _incidents.RecordDryRunAsync(opened.Action.Id, "{\"to\":3}", "dry-run: would roll back to 3", wouldFail: false, T0.AddSeconds(2), None));

        var timeline = (await _store.GetIncidentAsync(opened.Incident.Id, None))!;
        var action = Assert.Single(timeline.Actions);
        Assert.Equal((ActionStatus.Skipped, "{\"to\":2}", "dry-run: would roll back to 2"), (action.Status, action.Plan, action.Outcome));
        Assert.Equal(
            new IncidentEvent(opened.Incident.Id, T0.AddSeconds(1), IncidentEventKinds.DryRun, "rollback kubectl/checkout/shop: dry-run: would roll back to 2"),
            timeline.Events[^1]);
        Assert.Equal(IncidentStatus.DryRun, timeline.Incident.Status);
    }

    [Fact]
    public async Task RecordDryRun_PlanFailed_IncidentIsDryRunFailedNotActedAndResolvesLater()
    {
        var opened = Assert.Single(await _incidents.CommitEvaluationAsync(Commit(T0, Act(T0, Cart, dryRun: true)), None));

        Assert.True(await _incidents.RecordDryRunAsync(opened.Action.Id, "{}", "dry-run: a rollback would fail: no earlier revision", wouldFail: true, T0.AddSeconds(1), None));

        var timeline = (await _store.GetIncidentAsync(opened.Incident.Id, None))!;
        Assert.Equal(IncidentStatus.DryRunFailed, timeline.Incident.Status);
        Assert.Equal((ActionStatus.Skipped, "dry-run: a rollback would fail: no earlier revision"), (timeline.Actions[0].Status, timeline.Actions[0].Outcome));
        Assert.Equal(timeline.Incident, Assert.Single(await _store.ListIncidentsAsync(IncidentStatus.DryRunFailed, 10, None)));
        Assert.Empty(await _store.ListIncidentsAsync(IncidentStatus.Acted, 10, None));

        await _incidents.CommitEvaluationAsync(Commit(T0.AddMinutes(1), Resolved(T0.AddMinutes(1), Cart)), None);
        Assert.Equal(IncidentStatus.Resolved, (await _store.GetIncidentAsync(opened.Incident.Id, None))!.Incident.Status);
    }

    [Fact]
    public async Task RecordDryRun_PendingAction_IsRefused()
    {
        var opened = await OpenAsync(Cart);

        Assert.False(await _incidents.RecordDryRunAsync(opened.Action.Id, "{}", "dry-run", wouldFail: false, T0.AddSeconds(1), None));
        Assert.Null(Assert.Single((await _store.GetIncidentAsync(opened.Incident.Id, None))!.Actions).Plan);
    }

    [Fact]
    public async Task Reopen_EverythingCommittedIsStillThere()
    {
        var opened = await OpenAsync(Cart);
        await _incidents.MarkActionStartedAsync(opened.Action.Id, T0.AddSeconds(1), Lease, None);
        await _incidents.SavePlanAsync(opened.Action.Id, "{\"to\":2}", None);
        await _incidents.CompleteActionAsync(opened.Action.Id, new ActionCompletion(ActionStatus.Succeeded, "rolled back") { Before = "b", After = "a" }, T0.AddSeconds(20), None);
        await _incidents.AddAcknowledgmentAsync(new Acknowledgment(opened.Incident.Id, "alice", "slack", "ack", T0.AddSeconds(25)), None);
        var before = (await _store.GetIncidentAsync(opened.Incident.Id, None))!;
        var state = (await _store.LoadStateAsync(Policy, None))?.State;
        await _store.DisposeAsync();

        await using var reopened = await _db.OpenStoreAsync();
        var after = (await reopened.GetIncidentAsync(opened.Incident.Id, None))!;

        Assert.Equal(before.Incident, after.Incident);
        Assert.Equal(before.Events, after.Events);
        Assert.Equal(before.Actions, after.Actions);
        Assert.Equal(before.Acknowledgments, after.Acknowledgments);
        StateAssert.Same(state!, (await reopened.LoadStateAsync(Policy, None))!.State);
    }

    public async Task InitializeAsync()
    {
        _store = await _db.OpenStoreAsync();
        _incidents = _db.Incidents(_store);
    }

    public Task DisposeAsync() => _db.DisposeAsync();

    private async Task<OpenedIncident> OpenAsync(LabelSet labels) =>
        Assert.Single(await _incidents.CommitEvaluationAsync(Commit(T0, Act(T0, labels)), None));
}
