using RollbackSentinel.Core.Changes;
using RollbackSentinel.Core.Incidents;
using RollbackSentinel.Core.Metrics;
using TriggerAction = RollbackSentinel.Core.Policies.TriggerAction;
using RollbackSentinel.Core.State;
using static RollbackSentinel.Core.Tests.Incidents.IncidentSamples;

namespace RollbackSentinel.Core.Tests.Incidents;

/// <summary>IncidentService over the store contract (in memory): one batch per write, decided again on a conflict, the caller's conflict rethrown.</summary>
public sealed class IncidentServiceTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromMinutes(15);
    private static readonly TimeSpan Lease = TimeSpan.FromMinutes(5);
    private readonly InMemoryIncidentStore _store = new();
    private readonly IncidentService _incidents;

    public IncidentServiceTests() => _incidents = Service("sentinel-a");

    [Fact]
    public async Task CommitEvaluation_Act_WritesStateVerdictsAndTheIncidentInOneBatch()
    {
        var decision = Act(T0, Cart);

        var opened = Assert.Single(await _incidents.CommitEvaluationAsync(Commit(T0, decision) with { ExpectedStateVersion = 0 }, None));

        Assert.Equal(1, _store.ApplyCalls);
        Assert.Equal(1L, (await _store.LoadStateAsync(Policy, None))!.Version);
        Assert.Equal((Policy, T0, "error-rate-spike"), Assert.Single(_store.Verdicts) is var v ? (v.Policy, v.At, v.Row.Trigger) : default);
        Assert.Equal((IncidentStatus.Open, ActionStatus.Pending, DecisionKeys.IdempotencyKey(decision)), (opened.Incident.Status, opened.Action.Status, opened.Action.IdempotencyKey));
        Assert.Equal(opened.Incident.Id, opened.Action.IncidentId);
        var timeline = (await _store.GetIncidentAsync(opened.Incident.Id, None))!;
        Assert.Equal([new IncidentEvent(opened.Incident.Id, T0, IncidentEventKinds.Opened, decision.Message)], timeline.Events);
    }

    [Fact]
    public async Task CommitEvaluation_WithRulesVersion_RecordsItInTheEvidenceOfTheIncidentItOpens()
    {
        var opened = Assert.Single(await _incidents.CommitEvaluationAsync(Commit(T0, Act(T0, Cart)) with { RulesVersion = "sha256:0123456789ab" }, None));

        var stored = (await _store.GetIncidentAsync(opened.Incident.Id, None))!.Incident;
        Assert.Equal("sha256:0123456789ab", stored.ReadEvidence().RulesVersion);
        Assert.EndsWith(""","rulesVersion":"sha256:0123456789ab"}""", stored.EvidenceJson, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CommitEvaluation_WithoutRulesVersion_EvidenceIsAsBefore()
    {
        var decision = Act(T0, Cart);

        var opened = Assert.Single(await _incidents.CommitEvaluationAsync(Commit(T0, decision), None));

        var stored = (await _store.GetIncidentAsync(opened.Incident.Id, None))!.Incident;
        Assert.Equal(IncidentEvidence.Of(decision).ToJson(), stored.EvidenceJson);
        Assert.Null(stored.ReadEvidence().RulesVersion);
    }

    [Fact]
    public async Task CommitEvaluation_SameDecisionTwice_ReturnsWhatTheFirstRecorded()
    {
        var commit = Commit(T0, Act(T0, Cart));

        var first = Assert.Single(await _incidents.CommitEvaluationAsync(commit, None));
        var second = Assert.Single(await _incidents.CommitEvaluationAsync(commit, None));

        Assert.Equal(first, second);
        Assert.Single(await _store.ListIncidentsAsync(null, 10, None));
        Assert.Single(_store.Verdicts);
        Assert.Single((await _store.GetIncidentAsync(first.Incident.Id, None))!.Events);
    }

    [Fact]
    public async Task CommitEvaluation_RetriedWithTheIncidentStillOpen_LaterDecisionsActOnTheRecordedIncident()
    {
        var first = Assert.Single(await _incidents.CommitEvaluationAsync(Commit(T0, Act(T0, Cart)), None));

        var again = Assert.Single(await _incidents.CommitEvaluationAsync(Commit(T0, Act(T0, Cart), Notice(DecisionKind.InconclusiveRun, T0, Cart)), None));

        Assert.Equal(first.Action, again.Action);
        Assert.Equal(first.Incident.Id, again.Incident.Id);
        Assert.Single(await _store.ListIncidentsAsync(null, 10, None));
        Assert.Equal(
            [IncidentEventKinds.Opened, IncidentEventKinds.InconclusiveRun],
            (await _store.GetIncidentAsync(first.Incident.Id, None))!.Events.Select(e => e.Kind));
    }

    [Fact]
    public async Task CommitEvaluation_ALaterDecisionOfTheSameSeries_SeesTheIncidentAnEarlierOneOpened()
    {
        var resolved = Resolved(T0, Cart);

        var opened = Assert.Single(await _incidents.CommitEvaluationAsync(Commit(T0, Act(T0, Cart), Notice(DecisionKind.InconclusiveRun, T0, Cart), resolved), None));

        Assert.Equal(1, _store.ApplyCalls);
        var timeline = (await _store.GetIncidentAsync(opened.Incident.Id, None))!;
        Assert.Equal(IncidentStatus.Resolved, timeline.Incident.Status);
        Assert.Equal((ActionStatus.Skipped, "not run: the trigger passed before the action started"), (timeline.Actions[0].Status, timeline.Actions[0].Outcome));
        Assert.Equal(
            [IncidentEventKinds.Opened, IncidentEventKinds.InconclusiveRun, IncidentEventKinds.ActionSkipped, IncidentEventKinds.Resolved],
            timeline.Events.Select(e => e.Kind));
        Assert.Equal(opened.Incident, timeline.Incident); // the record after the whole commit
    }

    [Fact]
    public async Task CommitEvaluation_TwoDecisionsAboutOneStoredIncident_OneUpdate()
    {
        var opened = Assert.Single(await _incidents.CommitEvaluationAsync(Commit(T0, Act(T0, Cart)), None));
        var suppressed = Notice(DecisionKind.SuppressedByCooldown, T0.AddMinutes(1), Cart);
        var inconclusive = Notice(DecisionKind.InconclusiveRun, T0.AddMinutes(1), Cart);
        StoreBatch? seen = null;
        _store.BeforeApply = (_, batch) => seen = batch;

        await _incidents.CommitEvaluationAsync(Commit(T0.AddMinutes(1), suppressed, inconclusive), None);

        var update = Assert.Single(seen!.Updates);
        Assert.Equal((opened.Incident.Id, 1L), (update.IncidentId, update.ExpectedRevision));
        Assert.Equal(
            [new RecordEvent(suppressed.At, IncidentEventKinds.SuppressedByCooldown, suppressed.Message), new RecordEvent(inconclusive.At, IncidentEventKinds.InconclusiveRun, inconclusive.Message)],
            update.Changes);
    }

    [Fact]
    public async Task CommitEvaluation_TheIncidentChangedMeanwhile_IsDecidedAgainFromAFreshRead()
    {
        var opened = Assert.Single(await _incidents.CommitEvaluationAsync(Commit(T0, Act(T0, Cart)), None));
        var other = Service("sentinel-b");

        // Between this commit's read and its write, another sentinel starts the action.
        _store.BeforeApply = (call, _) =>
        {
            if (call == 2)
            {
                Assert.True(other.MarkActionStartedAsync(opened.Action.Id, T0.AddSeconds(1), Lease, None).GetAwaiter().GetResult());
            }
        };
        await _incidents.CommitEvaluationAsync(Commit(T0.AddSeconds(30), Resolved(T0.AddSeconds(30), Cart)) with { ExpectedStateVersion = 1 }, None);

        Assert.Equal(1, _store.Conflicts);
        var record = (await _store.LoadIncidentAsync(opened.Incident.Id, None))!;
        Assert.Equal((IncidentStatus.Acting, (DateTimeOffset?)T0.AddSeconds(30), ActionStatus.Started), (record.Incident.Status, record.ResolveRequestedAt, record.Actions[0].Status));
        Assert.Equal(IncidentEventKinds.ResolveDeferred, (await _store.GetIncidentAsync(opened.Incident.Id, None))!.Events[^1].Kind);
        Assert.Equal(2L, (await _store.LoadStateAsync(Policy, None))!.Version);
    }

    [Fact]
    public async Task CommitEvaluation_StateCommittedByAnotherWriter_IsTheCallersConflictAndNothingIsWritten()
    {
        await _incidents.CommitEvaluationAsync(Commit(T0, Act(T0, Web)) with { ExpectedStateVersion = 0 }, None);
        _store.BumpState(Policy); // another sentinel evaluated the policy

        await Assert.ThrowsAsync<PolicyStateConflictException>(() => _incidents.CommitEvaluationAsync(Commit(T0.AddSeconds(15), Act(T0.AddSeconds(15), Cart)) with { ExpectedStateVersion = 1 }, None));

        Assert.Equal(2, _store.ApplyCalls); // not tried again
        Assert.Single(await _store.ListIncidentsAsync(null, 10, None));
        Assert.Single(_store.Verdicts);
        Assert.Equal(2L, (await _store.LoadStateAsync(Policy, None))!.Version);
    }

    [Fact]
    public async Task CommitEvaluation_ConflictingEveryTime_GivesUpAfterMaxAttempts()
    {
        var opened = Assert.Single(await _incidents.CommitEvaluationAsync(Commit(T0, Act(T0, Cart)), None));
        _store.BeforeApply = (_, _) => _store.Mutate(opened.Incident.Id, i => i);

        await Assert.ThrowsAsync<StoreConflictException>(() => _incidents.CommitEvaluationAsync(Commit(T0.AddMinutes(1), Resolved(T0.AddMinutes(1), Cart)), None));

        Assert.Equal((1 + IncidentService.MaxAttempts, IncidentService.MaxAttempts), (_store.ApplyCalls, _store.Conflicts));
        Assert.Equal(IncidentStatus.Open, (await _store.LoadIncidentAsync(opened.Incident.Id, None))!.Incident.Status);
    }

    [Fact]
    public async Task CommitEvaluation_ADecisionOfAnotherPolicyOrOfAnUnknownKind_IsRefusedBeforeAnythingIsWritten()
    {
        var other = await Assert.ThrowsAsync<ArgumentException>(() => _incidents.CommitEvaluationAsync(Commit(T0, Act(T0, Cart)) with { Policy = "other" }, None));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => _incidents.CommitEvaluationAsync(Commit(T0, Act(T0, Cart), Act(T0, Web) with { Kind = (DecisionKind)42 }), None));

        Assert.Equal("A decision of policy 'checkout-api' cannot be committed with policy 'other'. (Parameter 'commit')", other.Message);
        Assert.Equal(0, _store.ApplyCalls);
    }

    [Fact]
    public async Task CommitEvaluation_PageDeniedWithinTheCooldown_NotAskedAgain_NotedOnTheDeniedIncident()
    {
        var first = await PageAsync(Cart);
        await _incidents.AnswerAsync(new Acknowledgment(first.Incident.Id, "alice", "slack", Answers.Deny, T0.AddSeconds(10)), null, None);
        EvaluationCommit Again(int minutes, LabelSet labels) =>
            Commit(T0.AddMinutes(minutes), Act(T0.AddMinutes(minutes), labels, action: TriggerAction.Page)) with { ConfirmTimeout = Wait, DenialHoldsFor = TimeSpan.FromMinutes(30) };

        Assert.Empty(await _incidents.CommitEvaluationAsync(Again(10, Cart), None));
        Assert.Single(await _incidents.CommitEvaluationAsync(Again(10, Web), None));
        Assert.Single(await _incidents.CommitEvaluationAsync(Again(45, Cart), None));

        var note = (await _store.GetIncidentAsync(first.Incident.Id, None))!.Events[^1];
        Assert.Equal(IncidentEventKinds.SuppressedByCooldown, note.Kind);
        Assert.EndsWith("not asked again: the rollback was denied at 2026-11-20T14:30:10Z, within the cooldown", note.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task MarkActionStarted_IsAClaimLeasedToThisSentinel()
    {
        var opened = Assert.Single(await _incidents.CommitEvaluationAsync(Commit(T0, Act(T0, Cart)), None));

        Assert.True(await _incidents.MarkActionStartedAsync(opened.Action.Id, T0.AddSeconds(1), Lease, None));
        Assert.False(await Service("sentinel-b").MarkActionStartedAsync(opened.Action.Id, T0.AddSeconds(2), Lease, None));

        var (action, lease) = Assert.Single(await _store.ListStartedActionsAsync(None));
        Assert.Equal((opened.Action.Id, (DateTimeOffset?)T0.AddSeconds(1)), (action.Id, action.StartedAt));
        Assert.Equal(new ActionLease("sentinel-a", T0.AddSeconds(1) + Lease), lease);
        Assert.Equal(IncidentStatus.Acting, (await _store.LoadIncidentAsync(opened.Incident.Id, None))!.Incident.Status);
        await Assert.ThrowsAsync<KeyNotFoundException>(() => _incidents.MarkActionStartedAsync(12345, T0, Lease, None));
    }

    [Fact]
    public async Task MarkActionStarted_ClaimedByAnotherSentinelMeanwhile_IsFalse()
    {
        var opened = Assert.Single(await _incidents.CommitEvaluationAsync(Commit(T0, Act(T0, Cart)), None));
        var other = Service("sentinel-b");
        _store.BeforeApply = (call, _) =>
        {
            if (call == 2)
            {
                Assert.True(other.MarkActionStartedAsync(opened.Action.Id, T0.AddSeconds(1), Lease, None).GetAwaiter().GetResult());
            }
        };

        Assert.False(await _incidents.MarkActionStartedAsync(opened.Action.Id, T0.AddSeconds(1), Lease, None));

        Assert.Equal("sentinel-b", Assert.Single(await _store.ListStartedActionsAsync(None)).Lease!.Owner);
    }

    [Fact]
    public async Task Recover_InterruptsItsOwnAndEndedLeases_LeavesAnotherSentinelsLiveLease()
    {
        var own = await StartedAsync(Cart, _incidents, T0);
        var others = await StartedAsync(Web, Service("sentinel-b"), T0);
        var ended = await StartedAsync(LabelSet.Of(("deployment", "search")), Service("sentinel-c"), T0 - Lease);
        var waiting = Assert.Single(await _incidents.CommitEvaluationAsync(Commit(T0, Act(T0, LabelSet.Of(("deployment", "api")))), None));
        var at = T0.AddMinutes(1);

        var (interrupted, pending) = await Service("sentinel-a").RecoverAsync(at, None);

        const string Why = "process stopped while the action ran; not retried automatically";
        Assert.Equal([own.Action.Id, ended.Action.Id], interrupted.Select(a => a.Id).Order());
        Assert.All(interrupted, a => Assert.Equal((ActionStatus.Interrupted, Why, (DateTimeOffset?)at), (a.Status, a.Outcome, a.CompletedAt)));
        Assert.Equal([waiting.Action.Id], pending.Select(a => a.Id));
        Assert.Equal(IncidentStatus.ActionInterrupted, (await _store.LoadIncidentAsync(own.Incident.Id, None))!.Incident.Status);
        Assert.Equal(IncidentStatus.Acting, (await _store.LoadIncidentAsync(others.Incident.Id, None))!.Incident.Status);
        Assert.Equal(
            new IncidentEvent(own.Incident.Id, at, IncidentEventKinds.ActionInterrupted, $"rollback kubectl/checkout/shop: {Why}"),
            (await _store.GetIncidentAsync(own.Incident.Id, None))!.Events[^1]);
    }

    [Fact]
    public async Task Recover_Exclusive_InterruptsAnotherOwnersLiveLease()
    {
        // The same daemon restarted under a new name (node.id defaults to the host name; a new pod has a new one).
        var before = await StartedAsync(Cart, Service("pod-old"), T0);
        var at = T0.AddMinutes(1);

        var shared = await Service("pod-new").RecoverAsync(at, exclusive: false, None);
        var (interrupted, _) = await Service("pod-new").RecoverAsync(at, exclusive: true, None);

        Assert.Empty(shared.Interrupted);
        var action = Assert.Single(interrupted);
        Assert.Equal((before.Action.Id, ActionStatus.Interrupted, (DateTimeOffset?)at), (action.Id, action.Status, action.CompletedAt));
        Assert.Equal(IncidentStatus.ActionInterrupted, (await _store.LoadIncidentAsync(before.Incident.Id, None))!.Incident.Status);
        Assert.Empty(await _store.ListStartedActionsAsync(None));
    }

    [Fact]
    public async Task InterruptExpired_AnotherOwnersEndedLease_Interrupted_LiveAndOwnLeft()
    {
        var own = await StartedAsync(Cart, _incidents, T0 - Lease - Lease);
        var live = await StartedAsync(Web, Service("sentinel-b"), T0);
        var ended = await StartedAsync(LabelSet.Of(("deployment", "search")), Service("sentinel-c"), T0 - Lease - Lease);
        var at = T0.AddMinutes(1);

        var interrupted = await _incidents.InterruptExpiredAsync(at, None);

        var action = Assert.Single(interrupted);
        Assert.Equal((ended.Action.Id, ActionStatus.Interrupted, (DateTimeOffset?)at), (action.Id, action.Status, action.CompletedAt));
        Assert.Equal([own.Action.Id, live.Action.Id], (await _store.ListStartedActionsAsync(None)).Select(s => s.Action.Id).Order());
        Assert.Equal(IncidentStatus.ActionInterrupted, (await _store.LoadIncidentAsync(ended.Incident.Id, None))!.Incident.Status);
        Assert.Empty(await _incidents.InterruptExpiredAsync(at.AddMinutes(1), None)); // once
    }

    [Fact]
    public async Task InterruptExpired_OwnEndedLeaseNotRunningHere_Interrupted_OwnRunningHereAndLiveLeft()
    {
        var leftBehind = await StartedAsync(Cart, _incidents, T0 - Lease - Lease);
        var runningHere = await StartedAsync(Web, _incidents, T0 - Lease - Lease);
        var live = await StartedAsync(LabelSet.Of(("deployment", "search")), _incidents, T0);
        var at = T0.AddSeconds(30);

        var interrupted = await _incidents.InterruptExpiredAsync(at, id => id == runningHere.Action.Id, None);

        var action = Assert.Single(interrupted);
        Assert.Equal((leftBehind.Action.Id, ActionStatus.Interrupted, (DateTimeOffset?)at), (action.Id, action.Status, action.CompletedAt));
        Assert.Equal(IncidentStatus.ActionInterrupted, (await _store.LoadIncidentAsync(leftBehind.Incident.Id, None))!.Incident.Status);
        Assert.Equal([runningHere.Action.Id, live.Action.Id], (await _store.ListStartedActionsAsync(None)).Select(s => s.Action.Id).Order());
        Assert.Empty(await _incidents.InterruptExpiredAsync(at.AddSeconds(1), id => id == runningHere.Action.Id, None)); // once
    }

    [Fact]
    public async Task FinishAction_StillStarted_IsTheCompletion()
    {
        var opened = await StartedAsync(Cart, _incidents, T0.AddSeconds(1));

        Assert.True(await _incidents.FinishActionAsync(opened.Action.Id, new ActionCompletion(ActionStatus.Succeeded, "rolled back") { Before = "b", After = "a" }, T0.AddMinutes(2), None));

        var record = (await _store.LoadIncidentAsync(opened.Incident.Id, None))!;
        Assert.Equal((ActionStatus.Succeeded, "rolled back", "b", "a"), (record.Actions[0].Status, record.Actions[0].Outcome, record.Actions[0].Before, record.Actions[0].After));
        Assert.Equal(IncidentStatus.Acted, record.Incident.Status);
    }

    [Fact]
    public async Task FinishAction_InterruptedMeanwhileByAnotherSentinel_KeepsTheInterruption_AndNotesTheOutcomeOnce()
    {
        // sentinel-a starts the rollback and is paused past its lease; sentinel-b finds the lease ended and interrupts it.
        var opened = await StartedAsync(Cart, _incidents, T0.AddSeconds(1));
        var other = Service("sentinel-b");
        var interrupted = Assert.Single(await other.InterruptExpiredAsync(T0.AddSeconds(1) + Lease, None));
        Assert.Equal(opened.Action.Id, interrupted.Id);

        // sentinel-a wakes up and its adapter call (which could not be taken back) ends.
        Assert.False(await _incidents.FinishActionAsync(opened.Action.Id, new ActionCompletion(ActionStatus.Succeeded, "rolled back to revision 41") { After = "41" }, T0.AddMinutes(7), None));

        var timeline = (await _store.GetIncidentAsync(opened.Incident.Id, None))!;
        Assert.Equal(IncidentStatus.ActionInterrupted, timeline.Incident.Status);
        Assert.Equal((ActionStatus.Interrupted, IncidentLifecycle.InterruptedOutcome, (string?)null), (timeline.Actions[0].Status, timeline.Actions[0].Outcome, timeline.Actions[0].After));
        Assert.Equal(
            new IncidentEvent(opened.Incident.Id, T0.AddMinutes(7), IncidentEventKinds.ActionFinishedLate,
                $"rollback {opened.Action.Target} finished after it was interrupted (succeeded): rolled back to revision 41; the interruption stands"),
            timeline.Events[^1]);
        Assert.Single(timeline.Events, e => e.Kind == IncidentEventKinds.ActionFinishedLate);
        Assert.Single(timeline.Events, e => e.Kind == IncidentEventKinds.ActionInterrupted);

        // CompleteActionAsync itself still refuses a non-started action: nothing overwrites an interruption.
        await Assert.ThrowsAsync<InvalidOperationException>(() => _incidents.CompleteActionAsync(opened.Action.Id, ActionStatus.Succeeded, "late", T0.AddMinutes(8), None));
    }

    [Fact]
    public async Task InterruptAction_StartedActionOfAFencedSentinel_IsInterruptedOnce()
    {
        var opened = await StartedAsync(Cart, _incidents, T0.AddSeconds(1));

        var interrupted = await _incidents.InterruptActionAsync(opened.Action.Id, T0.AddMinutes(6), None);

        Assert.Equal((opened.Action.Id, ActionStatus.Interrupted), (interrupted!.Id, interrupted.Status));
        Assert.Equal(IncidentStatus.ActionInterrupted, (await _store.LoadIncidentAsync(opened.Incident.Id, None))!.Incident.Status);
        Assert.Null(await _incidents.InterruptActionAsync(opened.Action.Id, T0.AddMinutes(7), None));
        Assert.Null(await Service("sentinel-b").InterruptActionAsync(opened.Action.Id, T0.AddMinutes(7), None));
    }

    [Fact]
    public async Task CompleteAction_ConflictingMoreThanMaxAttempts_IsDecidedAgainUntilRecorded()
    {
        var opened = await StartedAsync(Cart, _incidents, T0.AddSeconds(1));
        var calls = _store.ApplyCalls;
        var conflicts = IncidentService.MaxAttempts * 3;
        _store.BeforeApply = (call, _) =>
        {
            if (call - calls <= conflicts)
            {
                _store.Mutate(opened.Incident.Id, i => i); // someone answers, times out, notes the incident meanwhile
            }
        };

        await _incidents.CompleteActionAsync(opened.Action.Id, ActionStatus.Succeeded, "rolled back", T0.AddMinutes(2), None);

        var record = (await _store.LoadIncidentAsync(opened.Incident.Id, None))!;
        Assert.Equal(conflicts, _store.Conflicts);
        Assert.Equal((ActionStatus.Succeeded, "rolled back"), (record.Actions[0].Status, record.Actions[0].Outcome));
        Assert.Equal(IncidentStatus.Acted, record.Incident.Status);
    }

    [Fact]
    public async Task CompleteAction_ConflictingEveryTime_GivesUpAfterCompletionAttempts()
    {
        var opened = await StartedAsync(Cart, _incidents, T0.AddSeconds(1));
        var calls = _store.ApplyCalls;
        _store.BeforeApply = (_, _) => _store.Mutate(opened.Incident.Id, i => i);

        await Assert.ThrowsAsync<StoreConflictException>(() => _incidents.CompleteActionAsync(opened.Action.Id, ActionStatus.Succeeded, "rolled back", T0.AddMinutes(2), None));

        Assert.Equal(IncidentService.CompletionAttempts, _store.ApplyCalls - calls);
        Assert.Equal(ActionStatus.Started, (await _store.LoadIncidentAsync(opened.Incident.Id, None))!.Actions[0].Status);
    }

    [Fact]
    public async Task CompleteAction_AfterADeferredResolution_Resolves_AndANotStartedActionIsRefused()
    {
        var opened = await StartedAsync(Cart, _incidents, T0.AddSeconds(1));
        await _incidents.CommitEvaluationAsync(Commit(T0.AddSeconds(45), Resolved(T0.AddSeconds(45), Cart)), None);

        await _incidents.CompleteActionAsync(opened.Action.Id, new ActionCompletion(ActionStatus.Succeeded, "rolled back") { Before = "b", After = "a" }, T0.AddMinutes(2), None);

        var record = (await _store.LoadIncidentAsync(opened.Incident.Id, None))!;
        Assert.Equal((IncidentStatus.Resolved, (DateTimeOffset?)T0.AddSeconds(45), T0.AddMinutes(2)), (record.Incident.Status, record.Incident.ResolvedAt, record.Incident.UpdatedAt));
        Assert.Equal((ActionStatus.Succeeded, "rolled back", "b", "a"), (record.Actions[0].Status, record.Actions[0].Outcome, record.Actions[0].Before, record.Actions[0].After));
        var again = await Assert.ThrowsAsync<InvalidOperationException>(() => _incidents.CompleteActionAsync(opened.Action.Id, ActionStatus.Succeeded, "late", T0.AddMinutes(3), None));
        Assert.Equal($"Action {opened.Action.Id} is Succeeded; only a started action can be completed.", again.Message);
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => _incidents.CompleteActionAsync(opened.Action.Id, ActionStatus.Pending, "?", T0, None));
        await Assert.ThrowsAsync<KeyNotFoundException>(() => _incidents.CompleteActionAsync(12345, ActionStatus.Failed, "?", T0, None));
    }

    [Fact]
    public async Task SavePlan_FirstPlanWins_AndRecordDryRunOnce()
    {
        var opened = Assert.Single(await _incidents.CommitEvaluationAsync(Commit(T0, Act(T0, Cart)), None));
        var dry = Assert.Single(await _incidents.CommitEvaluationAsync(Commit(T0, Act(T0, Web, dryRun: true)), None));

        Assert.Equal("{\"to\":2}", await _incidents.SavePlanAsync(opened.Action.Id, "{\"to\":2}", None));
        Assert.Equal("{\"to\":2}", await _incidents.SavePlanAsync(opened.Action.Id, "{\"to\":3}", None));
        await Assert.ThrowsAsync<KeyNotFoundException>(() => _incidents.SavePlanAsync(12345, "{}", None));
        Assert.True(await _incidents.RecordDryRunAsync(dry.Action.Id, "{}", "dry-run: a rollback would fail", wouldFail: true, T0.AddSeconds(1), None));
        Assert.False(await _incidents.RecordDryRunAsync(dry.Action.Id, "{}", "again", wouldFail: false, T0.AddSeconds(2), None));
        Assert.False(await _incidents.RecordDryRunAsync(opened.Action.Id, "{}", "pending", wouldFail: false, T0.AddSeconds(2), None));

        var record = (await _store.LoadIncidentAsync(dry.Incident.Id, None))!;
        Assert.Equal((IncidentStatus.DryRunFailed, "{}", "dry-run: a rollback would fail"), (record.Incident.Status, record.Actions[0].Plan, record.Actions[0].Outcome));
    }

    [Fact]
    public async Task Answer_Approve_ReleasesTheRollbackOnce_AndTheResultCarriesTheStoredRecords()
    {
        var opened = await PageAsync(Cart);

        var approved = await _incidents.AnswerAsync(new Acknowledgment(opened.Incident.Id, "alice", "slack", Answers.Approve, T0.AddSeconds(10)), null, None);
        var again = await _incidents.AnswerAsync(new Acknowledgment(opened.Incident.Id, "bob", "slack", Answers.Deny, T0.AddSeconds(20)), null, None);

        Assert.Equal((true, $"rollback of incident {opened.Incident.Id} approved by alice: rolling back kubectl/checkout/shop"), (approved.Accepted, approved.Message));
        Assert.Equal((IncidentStatus.Open, (DateTimeOffset?)null), (approved.Incident!.Status, approved.Incident.AnswerDeadline));
        Assert.Equal((opened.Action.Id, ActionStatus.Pending, T0.AddSeconds(10)), (approved.ActionToRun!.Id, approved.ActionToRun.Status, approved.ActionToRun.CreatedAt));
        Assert.True(approved.Incident.Version > opened.Incident.Version);
        Assert.Equal((false, approved.Incident), (again.Accepted, again.Incident));
        Assert.Single((await _store.GetIncidentAsync(opened.Incident.Id, None))!.Acknowledgments);
        Assert.Equal((false, "there is no incident 999", (Incident?)null), await _incidents.AnswerAsync(new Acknowledgment(999, "a", "b", Answers.Ack, T0), null, None) is var m ? (m.Accepted, m.Message, m.Incident) : default);
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => _incidents.AnswerAsync(new Acknowledgment(opened.Incident.Id, "a", "b", "maybe", T0), null, None));
    }

    [Fact]
    public async Task Answer_AnotherAnswerLandedFirst_IsDecidedAgainAndRefusedSayingWhy()
    {
        var opened = await PageAsync(Cart);
        var calls = _store.ApplyCalls;
        _store.BeforeApply = (call, _) =>
        {
            if (call == calls + 1)
            {
                Assert.True(Service("sentinel-b").AnswerAsync(new Acknowledgment(opened.Incident.Id, "bob", "slack", Answers.Deny, T0.AddSeconds(9)), null, None).GetAwaiter().GetResult().Accepted);
            }
        };

        var late = await _incidents.AnswerAsync(new Acknowledgment(opened.Incident.Id, "alice", "slack", Answers.Approve, T0.AddSeconds(10)), null, None);

        Assert.Equal((false, $"incident {opened.Incident.Id} is not awaiting confirmation any more (it is denied): your approve was not applied"), (late.Accepted, late.Message));
        Assert.Equal((1, IncidentStatus.Denied), (_store.Conflicts, late.Incident!.Status));
        Assert.Equal("bob", Assert.Single((await _store.GetIncidentAsync(opened.Incident.Id, None))!.Acknowledgments).By);
    }

    [Fact]
    public async Task TimeOut_HoldOnce_RollbackReleases()
    {
        var held = await PageAsync(Cart);
        var rolled = await PageAsync(Web);
        var after = T0 + Wait;

        var hold = await _incidents.TimeOutAsync(held.Incident.Id, approve: false, after, None);
        var rollback = await _incidents.TimeOutAsync(rolled.Incident.Id, approve: true, after, None);
        var twice = await _incidents.TimeOutAsync(held.Incident.Id, approve: false, after.AddHours(1), None);

        Assert.Equal((true, "timed out: held", (DateTimeOffset?)after, (DateTimeOffset?)null), (hold.Accepted, hold.Message, hold.Incident!.TimedOutAt, hold.Incident.AnswerDeadline));
        Assert.Equal((true, "timed out: rolling back", IncidentStatus.Open, ActionStatus.Pending), (rollback.Accepted, rollback.Message, rollback.Incident!.Status, rollback.ActionToRun!.Status));
        Assert.Equal((false, $"incident {held.Incident.Id} is not overdue", IncidentStatus.AwaitingConfirmation), (twice.Accepted, twice.Message, twice.Incident!.Status));
    }

    [Fact]
    public async Task OpenManualRollback_BlamesTheLatestChangeAtOrBeforeTheRequest_AndResolvesWhenItSucceeds()
    {
        var changes = new InMemoryChangeStore(
            Support.Changes.Deploy(T0.AddMinutes(-30), "v41", "v40", Cart, id: 1, policy: Policy),
            Support.Changes.Deploy(T0.AddMinutes(-5), "v42", "v41", Cart, id: 2, policy: Policy),
            Support.Changes.Deploy(T0.AddMinutes(-1), "w9", "w8", Web, id: 3, policy: Policy),
            Support.Changes.Deploy(T0.AddMinutes(5), "v43", "v42", Cart, id: 4, policy: Policy));
        var incidents = new IncidentService(_store, changes, TimeProvider.System, "sentinel-a");

        var opened = await incidents.OpenManualRollbackAsync(new ManualRollback(Policy, Cart, Target, "erin", "api", "customers report errors", T0), None);
        var unblamed = await _incidents.OpenManualRollbackAsync(new ManualRollback(Policy, Cart, Target, "erin", "api", "again", T0), None);

        Assert.Equal(("manual", IncidentStatus.Open, ActionStatus.Pending), (opened.Incident.Trigger, opened.Incident.Status, opened.Action.Status));
        Assert.Equal((2L, (long?)null), (opened.Incident.BlamedChange!.Id, unblamed.Incident.BlamedChange?.Id));
        Assert.Equal($"rs-manual-checkout-api-{opened.Incident.Id}", opened.Action.IdempotencyKey);
        Assert.NotEqual(opened.Incident.Id, unblamed.Incident.Id);
        var asked = Assert.Single((await _store.GetIncidentAsync(opened.Incident.Id, None))!.Acknowledgments);
        Assert.Equal((opened.Incident.Id, "erin", "api", "rollback", "customers report errors"), (asked.IncidentId, asked.By, asked.Channel, asked.Answer, asked.Reason));

        await incidents.MarkActionStartedAsync(opened.Action.Id, T0.AddSeconds(1), Lease, None);
        await incidents.CompleteActionAsync(opened.Action.Id, ActionStatus.Succeeded, "rolled back", T0.AddSeconds(5), None);

        Assert.Equal(IncidentStatus.Resolved, (await _store.LoadIncidentAsync(opened.Incident.Id, None))!.Incident.Status);
    }

    [Fact]
    public async Task AddAcknowledgment_RecordsWithoutChangingTheIncident_OrThrowsForNone()
    {
        var opened = Assert.Single(await _incidents.CommitEvaluationAsync(Commit(T0, Act(T0, Cart)), None));

        await _incidents.AddAcknowledgmentAsync(new Acknowledgment(opened.Incident.Id, "alice", "slack", "ack", T0.AddSeconds(25)), None);

        var timeline = (await _store.GetIncidentAsync(opened.Incident.Id, None))!;
        Assert.Equal((opened.Incident, "alice"), (timeline.Incident, Assert.Single(timeline.Acknowledgments).By));
        Assert.Single(timeline.Events);
        await Assert.ThrowsAsync<KeyNotFoundException>(() => _incidents.AddAcknowledgmentAsync(new Acknowledgment(999, "a", "b", "ack", T0), None));
    }

    private IncidentService Service(string owner) => new(_store, null, TimeProvider.System, owner);

    private async Task<OpenedIncident> PageAsync(LabelSet labels) =>
        Assert.Single(await _incidents.CommitEvaluationAsync(Commit(T0, Act(T0, labels, action: TriggerAction.Page)) with { ConfirmTimeout = Wait }, None));

    private async Task<OpenedIncident> StartedAsync(LabelSet labels, IncidentService by, DateTimeOffset at)
    {
        var opened = Assert.Single(await _incidents.CommitEvaluationAsync(Commit(T0, Act(T0, labels)), None));
        Assert.True(await by.MarkActionStartedAsync(opened.Action.Id, at, Lease, None));
        return opened;
    }
}
