using RollbackSentinel.Core.Changes;
using RollbackSentinel.Core.Evaluation;
using RollbackSentinel.Core.Incidents;
using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Core.Policies;
using RollbackSentinel.Core.State;
using RollbackSentinel.Storage.Tests.Support;

namespace RollbackSentinel.Storage.Tests.Contract;

/// <summary>
/// What every <see cref="IIncidentStore"/> does, whatever it stores in: derive, return a fresh initialized store from
/// <see cref="CreateStoreAsync"/>, and it must pass. Only the contract is asserted (through the interface): no SQL,
/// no file, no sentence (those belong to <see cref="IncidentService"/>).
/// </summary>
public abstract class IncidentStoreContract : IAsyncLifetime
{
    protected static readonly DateTimeOffset T0 = new(2026, 11, 20, 14, 30, 0, TimeSpan.Zero);

    protected static readonly CancellationToken None = CancellationToken.None;

    private const string Policy = "checkout-api";
    private const string Trigger = "error-rate-spike";
    private static readonly LabelSet Cart = LabelSet.Of(("deployment", "cart"));

    private IIncidentStore? _store;

    /// <summary>The store under test (created by <see cref="CreateStoreAsync"/> before each test).</summary>
    protected IIncidentStore Store => _store ?? throw new InvalidOperationException("not initialized");

    /// <summary>A new, empty, initialized store.</summary>
    protected abstract Task<IIncidentStore> CreateStoreAsync();

    /// <summary>Releases what <see cref="CreateStoreAsync"/> made (files, schemas, connections).</summary>
    protected abstract Task CleanupAsync();

    public async Task InitializeAsync() => _store = await CreateStoreAsync();

    public Task DisposeAsync() => CleanupAsync();

    [Fact]
    public async Task Open_NewIncident_RoundTripsEveryFieldAtRevisionOne()
    {
        var open = Opening(T0, "k1", status: IncidentStatus.AwaitingConfirmation, actionStatus: ActionStatus.Held) with
        {
            Incident = Incident(T0, IncidentStatus.AwaitingConfirmation) with
            {
                Labels = LabelSet.Of(("deployment", "cart \"blue\"\nline2"), ("region", "zürich-🚀")),
                DryRun = false,
                AnswerDeadline = T0.AddMinutes(10),
                DisarmedReason = "outside every watch window",
            },
        };

        var opened = Assert.Single(await Store.ApplyAsync(StoreBatch.Of(new IncidentUpdate(0, 0, [open, new RecordEvent(T0, "opened", "it broke")])), None));

        Assert.True(opened.Incident.Id > 0);
        Assert.Equal(1, opened.Revision);
        Assert.Null(opened.ResolveRequestedAt);
        Assert.Equal(open.Incident with { Id = opened.Incident.Id, Version = opened.Incident.Version }, opened.Incident);
        var action = Assert.Single(opened.Actions);
        Assert.Equal(open.Action with { Id = action.Id, IncidentId = opened.Incident.Id }, action);
        Assert.True(action.Id > 0);

        await AssertSameRecordAsync(opened, await Store.LoadIncidentAsync(opened.Incident.Id, None));
        await AssertSameRecordAsync(opened, await Store.LoadIncidentOfActionAsync(action.Id, None));
        var timeline = (await Store.GetIncidentAsync(opened.Incident.Id, None))!;
        Assert.Equal(opened.Incident, timeline.Incident);
        Assert.Equal([action], timeline.Actions);
        Assert.Equal([new IncidentEvent(opened.Incident.Id, T0, "opened", "it broke")], timeline.Events);
    }

    [Fact]
    public async Task Load_Unknown_IsNull()
    {
        Assert.Null(await Store.LoadIncidentAsync(404, None));
        Assert.Null(await Store.LoadIncidentOfActionAsync(404, None));
        Assert.Null(await Store.GetIncidentAsync(404, None));
        Assert.Null(await Store.LoadStateAsync(Policy, None));
    }

    [Fact]
    public async Task Open_SameOpenKeyTwice_KeepsTheFirstAndReturnsIt()
    {
        var first = await OpenAsync(Opening(T0, "same-key"), new RecordEvent(T0, "opened", "first"));

        var again = Opening(T0.AddMinutes(1), "same-key") with { Incident = Incident(T0.AddMinutes(1), IncidentStatus.Open) with { Summary = "second" } };
        var returned = Assert.Single(await Store.ApplyAsync(StoreBatch.Of(new IncidentUpdate(0, 0, [again, new RecordEvent(T0.AddMinutes(1), "opened", "second")])), None));

        Assert.Equal(first.Incident, returned.Incident);
        Assert.Equal(first.Revision, returned.Revision);
        Assert.Equal(first.Actions, returned.Actions);
        Assert.Single(await Store.ListIncidentsAsync(null, 100, None));
        Assert.Equal(["first"], (await Store.GetIncidentAsync(first.Incident.Id, None))!.Events.Select(e => e.Message));
    }

    [Fact]
    public async Task Open_ActionKeyWithIncidentIdToken_NamesTheNewIncident()
    {
        var open = Opening(T0, "manual-1");
        open = open with { Action = open.Action with { IdempotencyKey = $"rs-manual-{Policy}-{OpenIncident.IncidentIdToken}" } };

        var opened = await OpenAsync(open);

        Assert.Equal($"rs-manual-{Policy}-{opened.Incident.Id}", Assert.Single(opened.Actions).IdempotencyKey);
    }

    [Fact]
    public async Task Open_BlamedChangeNotStored_IsNotKept_AStoredOneIs()
    {
        var unknown = await OpenAsync(Opening(T0, "k1") with { BlamedChangeId = 999_999 });
        Assert.Null(unknown.Incident.BlamedChange);

        var changes = Assert.IsAssignableFrom<IChangeStore>(Store);
        var change = (await changes.RecordChangeAsync(Change(T0.AddMinutes(-5), "v2"), None)).Change;
        var blaming = await OpenAsync(Opening(T0, "k2") with { BlamedChangeId = change.Id });

        Assert.Equal(change, blaming.Incident.BlamedChange);
        Assert.Equal(change, (await Store.LoadIncidentAsync(blaming.Incident.Id, None))!.Incident.BlamedChange);
    }

    [Fact]
    public async Task Apply_EveryUpdate_BumpsTheRevisionByOne()
    {
        var opened = await OpenAsync(Opening(T0, "k1"));

        var once = await ApplyOneAsync(opened, new RecordEvent(T0.AddSeconds(1), "note", "one"));
        var twice = await ApplyOneAsync(once, new RecordEvent(T0.AddSeconds(2), "note", "two"), new RecordEvent(T0.AddSeconds(3), "note", "three"));
        var empty = await ApplyOneAsync(twice);

        Assert.Equal([1L, 2L, 3L, 4L], new[] { opened, once, twice, empty }.Select(r => r.Revision));
    }

    [Fact]
    public async Task Apply_StaleRevision_ConflictsAndWritesNothingOfTheBatch()
    {
        var a = await OpenAsync(Opening(T0, "a"));
        var b = await OpenAsync(Opening(T0, "b", labels: LabelSet.Of(("deployment", "web"))));
        var bMoved = await ApplyOneAsync(b, new RecordEvent(T0.AddSeconds(1), "note", "b moved on"));

        var batch = new StoreBatch(
            new PolicyStateWrite(Policy, PolicyState.Empty, T0.AddMinutes(1), ExpectedVersion: 0),
            [Row(1.5)],
            [
                new IncidentUpdate(a.Incident.Id, a.Revision, [new MoveIncident(IncidentStatus.Open, IncidentStatus.Resolved, T0.AddMinutes(1), T0.AddMinutes(1))]),
                new IncidentUpdate(0, 0, [Opening(T0.AddMinutes(1), "c")]),
                new IncidentUpdate(b.Incident.Id, b.Revision, [new RecordEvent(T0.AddMinutes(1), "note", "stale")]),
            ]) { Policy = Policy, At = T0.AddMinutes(1) };

        await Assert.ThrowsAsync<StoreConflictException>(() => Store.ApplyAsync(batch, None));

        await AssertSameRecordAsync(a, await Store.LoadIncidentAsync(a.Incident.Id, None));
        await AssertSameRecordAsync(bMoved, await Store.LoadIncidentAsync(b.Incident.Id, None));
        Assert.Equal(2, (await Store.ListIncidentsAsync(null, 100, None)).Count);
        Assert.Null(await Store.LoadStateAsync(Policy, None));
        Assert.Equal(0, await Store.PruneEvaluationsAsync(T0.AddDays(1), None));
    }

    [Fact]
    public async Task Apply_UnknownIncident_Conflicts()
    {
        await Assert.ThrowsAsync<StoreConflictException>(() => Store.ApplyAsync(StoreBatch.Of(new IncidentUpdate(404, 1, [new MarkChanged(T0)])), None));
    }

    [Fact]
    public async Task MoveIncident_FromElsewhere_ConflictsAndWritesNothing()
    {
        var opened = await OpenAsync(Opening(T0, "k1"));

        await Assert.ThrowsAsync<StoreConflictException>(() => Store.ApplyAsync(
            StoreBatch.Of(new IncidentUpdate(opened.Incident.Id, opened.Revision, [new RecordEvent(T0.AddSeconds(1), "note", "before"), new MoveIncident(IncidentStatus.Acting, IncidentStatus.Acted, T0.AddSeconds(1))])),
            None));

        await AssertSameRecordAsync(opened, await Store.LoadIncidentAsync(opened.Incident.Id, None));
        Assert.Empty((await Store.GetIncidentAsync(opened.Incident.Id, None))!.Events);
    }

    [Fact]
    public async Task MoveIncident_FromWhereItIs_MovesBumpsVersionAndSetsResolvedAt()
    {
        var opened = await OpenAsync(Opening(T0, "k1"));

        var moved = await ApplyOneAsync(opened, new MoveIncident(IncidentStatus.Open, IncidentStatus.Resolved, T0.AddMinutes(2), T0.AddMinutes(1)));

        Assert.Equal(IncidentStatus.Resolved, moved.Incident.Status);
        Assert.Equal(T0.AddMinutes(2), moved.Incident.UpdatedAt);
        Assert.Equal(T0.AddMinutes(1), moved.Incident.ResolvedAt);
        Assert.Equal(opened.Incident.Version + 1, moved.Incident.Version);

        var again = await ApplyOneAsync(moved, new MoveIncident(IncidentStatus.Resolved, IncidentStatus.Resolved, T0.AddMinutes(3)));
        Assert.Equal(T0.AddMinutes(1), again.Incident.ResolvedAt); // a move without ResolvedAt keeps it
    }

    [Fact]
    public async Task MoveAction_FromElsewhere_Conflicts()
    {
        var opened = await OpenAsync(Opening(T0, "k1"));
        var action = opened.Actions[0];

        await Assert.ThrowsAsync<StoreConflictException>(() => Store.ApplyAsync(
            StoreBatch.Of(new IncidentUpdate(opened.Incident.Id, opened.Revision, [new MoveAction(action.Id, ActionStatus.Started, ActionStatus.Succeeded) { Outcome = "done" }])),
            None));
        await Assert.ThrowsAsync<StoreConflictException>(() => Store.ApplyAsync(
            StoreBatch.Of(new IncidentUpdate(opened.Incident.Id, opened.Revision, [new MoveAction(action.Id + 1000, ActionStatus.Pending, ActionStatus.Started)])),
            None));

        await AssertSameRecordAsync(opened, await Store.LoadIncidentAsync(opened.Incident.Id, None));
    }

    [Fact]
    public async Task MoveAction_SetsOnlyTheFieldsGiven_AndTheLease()
    {
        var opened = await OpenAsync(Opening(T0, "k1"));
        var action = opened.Actions[0];

        var started = await ApplyOneAsync(
            opened,
            new MoveAction(action.Id, ActionStatus.Pending, ActionStatus.Started) { StartedAt = T0.AddSeconds(5), Lease = new ActionLease("node-a", T0.AddMinutes(5)) });
        Assert.Equal(action with { Status = ActionStatus.Started, StartedAt = T0.AddSeconds(5) }, started.Actions[0]);
        var (listed, lease) = Assert.Single(await Store.ListStartedActionsAsync(None));
        Assert.Equal(started.Actions[0], listed);
        Assert.Equal(new ActionLease("node-a", T0.AddMinutes(5)), lease);

        var done = await ApplyOneAsync(
            started,
            new MoveAction(action.Id, ActionStatus.Started, ActionStatus.Succeeded) { CompletedAt = T0.AddSeconds(9), Outcome = "rolled back", Before = "{\"rev\":2}", After = "{\"rev\":1}" });
        Assert.Equal(
            action with { Status = ActionStatus.Succeeded, StartedAt = T0.AddSeconds(5), CompletedAt = T0.AddSeconds(9), Outcome = "rolled back", Before = "{\"rev\":2}", After = "{\"rev\":1}" },
            done.Actions[0]);
        Assert.Empty(await Store.ListStartedActionsAsync(None));

        var released = await ApplyOneAsync(done, new MoveAction(action.Id, ActionStatus.Succeeded, ActionStatus.Succeeded) { CreatedAt = T0.AddMinutes(1), Plan = "{}" });
        Assert.Equal(done.Actions[0] with { CreatedAt = T0.AddMinutes(1), Plan = "{}" }, released.Actions[0]);
    }

    [Fact]
    public async Task SavePlan_Twice_KeepsTheFirst()
    {
        var opened = await OpenAsync(Opening(T0, "k1"));
        var id = opened.Actions[0].Id;

        var first = await ApplyOneAsync(opened, new SavePlan(id, "{\"plan\":1}"));
        var second = await ApplyOneAsync(first, new SavePlan(id, "{\"plan\":2}"));

        Assert.Equal("{\"plan\":1}", first.Actions[0].Plan);
        Assert.Equal("{\"plan\":1}", second.Actions[0].Plan);
        Assert.Equal(3, second.Revision);
    }

    [Fact]
    public async Task RecordEvent_SameEntryTwice_KeptOnce_InTimeOrder()
    {
        var opened = await OpenAsync(Opening(T0, "k1"));

        var once = await ApplyOneAsync(opened, new RecordEvent(T0.AddSeconds(20), "note", "later"), new RecordEvent(T0.AddSeconds(10), "note", "earlier"));
        await ApplyOneAsync(once, new RecordEvent(T0.AddSeconds(20), "note", "later"));

        Assert.Equal(
            [new IncidentEvent(opened.Incident.Id, T0.AddSeconds(10), "note", "earlier"), new IncidentEvent(opened.Incident.Id, T0.AddSeconds(20), "note", "later")],
            (await Store.GetIncidentAsync(opened.Incident.Id, None))!.Events);
    }

    [Fact]
    public async Task RecordAnswer_IsInTheTimeline_OfTheIncidentUpdated()
    {
        var opened = await OpenAsync(
            Opening(T0, "k1"),
            new RecordAnswer(new Acknowledgment(0, "alice", "cli", "rollback", T0) { Reason = "p99 doubled" }));

        await ApplyOneAsync(opened, new RecordAnswer(new Acknowledgment(opened.Incident.Id, "bob", "slack", Answers.Ack, T0.AddSeconds(30))));

        Assert.Equal(
            [
                new Acknowledgment(opened.Incident.Id, "alice", "cli", "rollback", T0) { Reason = "p99 doubled" },
                new Acknowledgment(opened.Incident.Id, "bob", "slack", Answers.Ack, T0.AddSeconds(30)),
            ],
            (await Store.GetIncidentAsync(opened.Incident.Id, None))!.Acknowledgments);
    }

    [Fact]
    public async Task SetAnswerDeadline_SetsAndClears_AndBumpsTheVersion()
    {
        var opened = await OpenAsync(Opening(T0, "k1", IncidentStatus.AwaitingConfirmation, ActionStatus.Held) with
        {
            Incident = Incident(T0, IncidentStatus.AwaitingConfirmation) with { AnswerDeadline = T0.AddMinutes(10) },
        });

        var timedOut = await ApplyOneAsync(opened, new SetAnswerDeadline(null, T0.AddMinutes(10), T0.AddMinutes(10)));
        Assert.Null(timedOut.Incident.AnswerDeadline);
        Assert.Equal((T0.AddMinutes(10), T0.AddMinutes(10)), (timedOut.Incident.TimedOutAt!.Value, timedOut.Incident.UpdatedAt));
        Assert.Equal(opened.Incident.Version + 1, timedOut.Incident.Version);

        var snoozed = await ApplyOneAsync(timedOut, new SetAnswerDeadline(T0.AddMinutes(40), null, T0.AddMinutes(11)));
        Assert.Equal(T0.AddMinutes(40), snoozed.Incident.AnswerDeadline);
        Assert.Null(snoozed.Incident.TimedOutAt);
        Assert.Equal(timedOut.Incident.Version + 1, snoozed.Incident.Version);
    }

    [Fact]
    public async Task MarkChanged_BumpsTheVersion_RequestResolution_IsRemembered()
    {
        var opened = await OpenAsync(Opening(T0, "k1"));

        var marked = await ApplyOneAsync(opened, new MarkChanged(T0.AddSeconds(1)));
        var requested = await ApplyOneAsync(marked, new RequestResolution(T0.AddSeconds(2)));

        Assert.Equal(opened.Incident.Version + 1, marked.Incident.Version);
        Assert.Equal(opened.Incident.UpdatedAt, marked.Incident.UpdatedAt);
        Assert.Equal(marked.Incident.Version, requested.Incident.Version);
        Assert.Equal(T0.AddSeconds(2), requested.Incident.UpdatedAt);
        Assert.Equal(T0.AddSeconds(2), requested.ResolveRequestedAt);
        Assert.Equal(IncidentStatus.Open, requested.Incident.Status);
    }

    [Fact]
    public async Task State_VersionChecked_StaleWriterConflicts_NullWritesRegardless()
    {
        var one = PolicyState.Empty;

        await Store.ApplyAsync(new StoreBatch(new PolicyStateWrite(Policy, one, T0, 0), [], []), None);
        Assert.Equal(1, (await Store.LoadStateAsync(Policy, None))!.Version);

        await Assert.ThrowsAsync<PolicyStateConflictException>(() => Store.ApplyAsync(new StoreBatch(new PolicyStateWrite(Policy, one, T0, 0), [], []), None));
        await Assert.ThrowsAsync<PolicyStateConflictException>(() => Store.ApplyAsync(new StoreBatch(new PolicyStateWrite(Policy, one, T0, 2), [], []), None));
        await Assert.ThrowsAsync<PolicyStateConflictException>(() => Store.ApplyAsync(new StoreBatch(new PolicyStateWrite("other", one, T0, 1), [], []), None));

        await Store.ApplyAsync(new StoreBatch(new PolicyStateWrite(Policy, one, T0.AddMinutes(1), 1), [], []), None);
        await Store.ApplyAsync(new StoreBatch(new PolicyStateWrite(Policy, one, T0.AddMinutes(2), null), [], []), None);
        await Store.ApplyAsync(new StoreBatch(new PolicyStateWrite("other", one, T0.AddMinutes(2), null), [], []), None);

        var stored = (await Store.LoadStateAsync(Policy, None))!;
        Assert.Equal(3, stored.Version);
        StateAssert.Same(one, stored.State);
        Assert.Equal(1, (await Store.LoadStateAsync("other", None))!.Version);
    }

    [Fact]
    public async Task State_ConflictInTheBatch_LeavesTheStateAsItWas()
    {
        var opened = await OpenAsync(Opening(T0, "k1"));
        await Store.ApplyAsync(new StoreBatch(new PolicyStateWrite(Policy, PolicyState.Empty, T0, null), [], []), None);

        await Assert.ThrowsAsync<StoreConflictException>(() => Store.ApplyAsync(
            new StoreBatch(new PolicyStateWrite(Policy, PolicyState.Empty, T0.AddMinutes(1), 1), [], [new IncidentUpdate(opened.Incident.Id, opened.Revision + 7, [new MarkChanged(T0)])]),
            None));

        Assert.Equal(1, (await Store.LoadStateAsync(Policy, None))!.Version);
    }

    [Fact]
    public async Task Verdicts_SameTwice_KeptOnce_NaNAccepted()
    {
        var batch = new StoreBatch(null, [Row(0.09), Row(double.NaN, trigger: "latency")], []) { Policy = Policy, At = T0 };

        await Store.ApplyAsync(batch, None);
        await Store.ApplyAsync(batch, None);

        Assert.Equal(2, await Store.PruneEvaluationsAsync(T0.AddSeconds(1), None));
        Assert.Equal(0, await Store.PruneEvaluationsAsync(T0.AddSeconds(1), None));
    }

    [Fact]
    public async Task ClaimToNotify_TwoOwners_OnlyOneGetsAnIncidentUntilTheLeaseEnds()
    {
        var opened = await OpenAsync(Opening(T0, "k1"));

        var a = await Store.ClaimToNotifyAsync(false, 10, new ActionLease("node-a", T0.AddMinutes(1)), T0, None);
        var b = await Store.ClaimToNotifyAsync(false, 10, new ActionLease("node-b", T0.AddMinutes(1)), T0.AddSeconds(30), None);
        var aAgain = await Store.ClaimToNotifyAsync(false, 10, new ActionLease("node-a", T0.AddMinutes(2)), T0.AddSeconds(40), None);
        var bAfterLease = await Store.ClaimToNotifyAsync(false, 10, new ActionLease("node-b", T0.AddMinutes(3)), T0.AddMinutes(2), None);
        var aWhileBHolds = await Store.ClaimToNotifyAsync(false, 10, new ActionLease("node-a", T0.AddMinutes(3)), T0.AddMinutes(2).AddSeconds(1), None);

        Assert.Equal([opened.Incident], a);
        Assert.Empty(b);
        Assert.Equal([opened.Incident], aAgain); // its own lease does not keep it out
        Assert.Equal([opened.Incident], bAfterLease);
        Assert.Empty(aWhileBHolds);

        await Store.MarkNotifiedAsync(opened.Incident.Id, opened.Incident.Version, "node-b", None);
        Assert.Empty(await Store.ClaimToNotifyAsync(false, 10, new ActionLease("node-a", T0.AddMinutes(4)), T0.AddMinutes(2).AddSeconds(2), None));

        // Open incidents are offered again to channels that re-publish, and the lease ended with MarkNotified.
        Assert.Equal([opened.Incident], await Store.ClaimToNotifyAsync(true, 10, new ActionLease("node-a", T0.AddMinutes(4)), T0.AddMinutes(2).AddSeconds(3), None));
    }

    [Fact]
    public async Task LoadStateVersion_FollowsEveryCommit_ZeroWhenNeverStored()
    {
        Assert.Equal(0, await Store.LoadStateVersionAsync(Policy, None));

        await Store.ApplyAsync(new StoreBatch(new PolicyStateWrite(Policy, PolicyState.Empty, T0, 0), [], []), None);
        var afterOne = await Store.LoadStateVersionAsync(Policy, None);
        await Store.ApplyAsync(new StoreBatch(new PolicyStateWrite(Policy, PolicyState.Empty, T0.AddMinutes(1), 1), [], []), None);
        var afterTwo = await Store.LoadStateVersionAsync(Policy, None);

        Assert.Equal(1, afterOne);
        Assert.Equal(2, afterTwo);
        Assert.Equal((await Store.LoadStateAsync(Policy, None))!.Version, afterTwo);
        Assert.Equal(0, await Store.LoadStateVersionAsync("other", None));
    }

    [Fact]
    public async Task LoadStateUnlessAt_TheStateOnlyWhenTheVersionMoved()
    {
        Assert.Equal((0L, null), await Store.LoadStateUnlessAtAsync(Policy, null, None));
        Assert.Equal((0L, null), await Store.LoadStateUnlessAtAsync(Policy, 3, None));

        var state = PolicyState.Empty with { LastEvaluatedAt = T0 };
        await Store.ApplyAsync(new StoreBatch(new PolicyStateWrite(Policy, state, T0, 0), [], []), None);

        // Nothing known, or another version known: the state comes with its version.
        foreach (long? known in new long?[] { null, 0, 2 })
        {
            var (version, stored) = await Store.LoadStateUnlessAtAsync(Policy, known, None);
            Assert.Equal(1, version);
            Assert.Equal(1, stored!.Version);
            StateAssert.Same(state, stored.State);
        }

        // The version known is the stored one: no state to read.
        Assert.Equal((1L, null), await Store.LoadStateUnlessAtAsync(Policy, 1, None));
        Assert.Equal((0L, null), await Store.LoadStateUnlessAtAsync("other", 1, None));
    }

    [Fact]
    public async Task Apply_StaleStateWithStaleIncident_ThrowsPolicyStateConflict()
    {
        await Store.ApplyAsync(new StoreBatch(new PolicyStateWrite(Policy, PolicyState.Empty, T0, 0), [], []), None);

        var error = await Assert.ThrowsAsync<PolicyStateConflictException>(() => Store.ApplyAsync(new StoreBatch(new PolicyStateWrite(Policy, PolicyState.Empty, T0, 0), [], []), None));

        Assert.IsAssignableFrom<StoreConflictException>(error);
        Assert.Equal(1, await Store.LoadStateVersionAsync(Policy, None));
    }

    [Fact]
    public async Task MarkNotified_ByAnotherOwner_RecordsTheVersionButKeepsTheirLease()
    {
        var opened = await OpenAsync(Opening(T0, "k1"));
        Assert.Equal([opened.Incident], await Store.ClaimToNotifyAsync(false, 10, new ActionLease("node-a", T0.AddMinutes(5)), T0, None));

        await Store.MarkNotifiedAsync(opened.Incident.Id, opened.Incident.Version, "node-b", None);

        // Told (no longer changed), but still node-a's: node-b gets nothing even for open ones while node-a's lease runs.
        Assert.Empty(await Store.ClaimToNotifyAsync(true, 10, new ActionLease("node-b", T0.AddMinutes(5)), T0.AddMinutes(1), None));
        Assert.Empty(await Store.ClaimToNotifyAsync(false, 10, new ActionLease("node-a", T0.AddMinutes(5)), T0.AddMinutes(1), None));
        await Store.MarkNotifiedAsync(opened.Incident.Id, opened.Incident.Version, "node-a", None);
        Assert.Equal([opened.Incident], await Store.ClaimToNotifyAsync(true, 10, new ActionLease("node-b", T0.AddMinutes(5)), T0.AddMinutes(1), None));
    }

    [Fact]
    public async Task ReleaseNotificationLeases_OnlyTheOwnersOfTheGivenIncidents()
    {
        var first = await OpenAsync(Opening(T0, "k1"));
        var second = await OpenAsync(Opening(T0.AddMinutes(1), "k2", labels: LabelSet.Of(("deployment", "web"))));
        var third = await OpenAsync(Opening(T0.AddMinutes(2), "k3", labels: LabelSet.Of(("deployment", "db"))));
        await Store.ClaimToNotifyAsync(false, 2, new ActionLease("node-a", T0.AddMinutes(10)), T0.AddMinutes(3), None); // third, second
        await Store.ClaimToNotifyAsync(false, 10, new ActionLease("node-b", T0.AddMinutes(10)), T0.AddMinutes(3), None); // first

        await Store.ReleaseNotificationLeasesAsync("node-a", [second.Incident.Id, first.Incident.Id], None);
        await Store.ReleaseNotificationLeasesAsync("node-a", [], None);

        // node-a's lease of second ended; first stays node-b's, third node-a's.
        var c = await Store.ClaimToNotifyAsync(false, 10, new ActionLease("node-c", T0.AddMinutes(10)), T0.AddMinutes(4), None);
        Assert.Equal([second.Incident.Id], c.Select(i => i.Id));
        Assert.DoesNotContain(third.Incident.Id, c.Select(i => i.Id));
    }

    [Fact]
    public async Task ReleaseAllNotificationLeases_EveryOwnersLeaseEnds_NothingIsMarkedNotified()
    {
        var first = await OpenAsync(Opening(T0, "k1"));
        var second = await OpenAsync(Opening(T0.AddMinutes(1), "k2", labels: LabelSet.Of(("deployment", "web"))));
        await Store.ClaimToNotifyAsync(false, 1, new ActionLease("node-a", T0.AddMinutes(10)), T0.AddMinutes(2), None);
        await Store.ClaimToNotifyAsync(false, 1, new ActionLease("node-b", T0.AddMinutes(10)), T0.AddMinutes(2), None);
        Assert.Empty(await Store.ClaimToNotifyAsync(false, 10, new ActionLease("node-c", T0.AddMinutes(10)), T0.AddMinutes(2), None));

        await Store.ReleaseAllNotificationLeasesAsync(None);

        var c = await Store.ClaimToNotifyAsync(false, 10, new ActionLease("node-c", T0.AddMinutes(10)), T0.AddMinutes(3), None);
        Assert.Equal([second.Incident.Id, first.Incident.Id], c.Select(i => i.Id));
    }

    [Fact]
    public async Task ClaimToNotify_ChangedSinceNotified_NewestFirstWithinTheLimit()
    {
        var first = await OpenAsync(Opening(T0, "k1"));
        var second = await OpenAsync(Opening(T0.AddMinutes(1), "k2", labels: LabelSet.Of(("deployment", "web"))));
        var third = await OpenAsync(Opening(T0.AddMinutes(2), "k3", labels: LabelSet.Of(("deployment", "db"))));
        foreach (var r in new[] { first, second, third })
        {
            await Store.MarkNotifiedAsync(r.Incident.Id, r.Incident.Version, "node-a", None);
        }

        var resolved = await ApplyOneAsync(first, new MoveIncident(IncidentStatus.Open, IncidentStatus.Resolved, T0.AddMinutes(5), T0.AddMinutes(5)));
        var lease = new ActionLease("node-a", T0.AddMinutes(10));

        Assert.Equal([resolved.Incident], await Store.ClaimToNotifyAsync(false, 10, lease, T0.AddMinutes(6), None));
        Assert.Equal([resolved.Incident.Id, third.Incident.Id], (await Store.ClaimToNotifyAsync(true, 2, lease, T0.AddMinutes(6), None)).Select(i => i.Id));

        await Store.MarkNotifiedAsync(resolved.Incident.Id, resolved.Incident.Version - 1, "node-a", None); // an older version changes nothing
        Assert.Equal([resolved.Incident], await Store.ClaimToNotifyAsync(false, 10, lease, T0.AddMinutes(6), None));
        await Store.MarkNotifiedAsync(resolved.Incident.Id, resolved.Incident.Version, "node-a", None);
        Assert.Empty(await Store.ClaimToNotifyAsync(false, 10, lease, T0.AddMinutes(6), None));
    }

    [Fact]
    public async Task Lists_OrdersAndFilters()
    {
        var ids = new Dictionary<int, IncidentRecord>();
        foreach (var minute in new[] { 3, 0, 4, 1, 2 })
        {
            ids[minute] = await OpenAsync(Opening(T0.AddMinutes(minute), $"k{minute}", labels: LabelSet.Of(("n", $"{minute}"))));
        }

        var resolved = await ApplyOneAsync(ids[1], new MoveIncident(IncidentStatus.Open, IncidentStatus.Resolved, T0.AddMinutes(10), T0.AddMinutes(10)));
        await ApplyOneAsync(ids[3], new MoveIncident(IncidentStatus.Open, IncidentStatus.Acting, T0.AddMinutes(11)), new MoveAction(ids[3].Actions[0].Id, ActionStatus.Pending, ActionStatus.Started) { StartedAt = T0.AddMinutes(11) });
        await ApplyOneAsync(ids[0], new MoveAction(ids[0].Actions[0].Id, ActionStatus.Pending, ActionStatus.Started) { StartedAt = T0.AddMinutes(12) });

        Assert.Equal([4, 3, 2], (await Store.ListIncidentsAsync(null, 3, None)).Select(i => Minute(ids, i.Id)));
        Assert.Equal([4, 2, 0], (await Store.ListIncidentsAsync(IncidentStatus.Open, 100, None)).Select(i => Minute(ids, i.Id)));
        Assert.Equal([resolved.Incident], await Store.ListIncidentsAsync(IncidentStatus.Resolved, 100, None));
        Assert.Equal([4, 3, 2, 0], (await Store.ListOpenIncidentsAsync(Policy, None)).Select(i => Minute(ids, i.Id)));
        Assert.Empty(await Store.ListOpenIncidentsAsync("other", None));
        Assert.Equal([1, 2, 4], (await Store.ListPendingActionsAsync(None)).Select(a => Minute(ids, a.IncidentId))); // oldest first
        Assert.Equal([3, 0], (await Store.ListStartedActionsAsync(None)).Select(s => Minute(ids, s.Action.IncidentId))); // by start
        Assert.All(await Store.ListStartedActionsAsync(None), s => Assert.Null(s.Lease));
    }

    [Fact]
    public async Task LoadActive_OpenAndRecentlyDenied_NewestFirst()
    {
        var open = await OpenAsync(Opening(T0, "open"));
        var oldDenial = await OpenAsync(Opening(T0.AddMinutes(1), "old", IncidentStatus.AwaitingConfirmation, ActionStatus.Held, LabelSet.Of(("n", "1"))));
        var newDenial = await OpenAsync(Opening(T0.AddMinutes(2), "new", IncidentStatus.AwaitingConfirmation, ActionStatus.Held, LabelSet.Of(("n", "2"))));
        var resolved = await OpenAsync(Opening(T0.AddMinutes(3), "resolved", labels: LabelSet.Of(("n", "3"))));
        var elsewhere = await OpenAsync(Opening(T0.AddMinutes(4), "elsewhere", policy: "other"));
        await ApplyOneAsync(oldDenial, new MoveIncident(IncidentStatus.AwaitingConfirmation, IncidentStatus.Denied, T0.AddMinutes(5), T0.AddMinutes(5)));
        await ApplyOneAsync(newDenial, new MoveIncident(IncidentStatus.AwaitingConfirmation, IncidentStatus.Denied, T0.AddMinutes(20), T0.AddMinutes(20)));
        await ApplyOneAsync(resolved, new MoveIncident(IncidentStatus.Open, IncidentStatus.Resolved, T0.AddMinutes(20), T0.AddMinutes(20)));

        var active = await Store.LoadActiveAsync(Policy, T0.AddMinutes(20), None);

        Assert.Equal([newDenial.Incident.Id, open.Incident.Id], active.Select(r => r.Incident.Id));
        Assert.Equal(IncidentStatus.Denied, active[0].Incident.Status);
        Assert.Single(active[0].Actions);
        await AssertSameRecordAsync(active[1], await Store.LoadIncidentAsync(open.Incident.Id, None));
        Assert.Equal([elsewhere.Incident.Id], (await Store.LoadActiveAsync("other", T0, None)).Select(r => r.Incident.Id));
    }

    [Fact]
    public async Task ListOverdue_AwaitingWithDeadlineReached_EarliestFirst()
    {
        var late = await OpenAsync(Opening(T0, "late", IncidentStatus.AwaitingConfirmation, ActionStatus.Held) with
        {
            Incident = Incident(T0, IncidentStatus.AwaitingConfirmation) with { AnswerDeadline = T0.AddMinutes(10) },
        });
        var early = await OpenAsync(Opening(T0.AddMinutes(1), "early", IncidentStatus.AwaitingConfirmation, ActionStatus.Held, LabelSet.Of(("n", "1"))) with
        {
            Incident = Incident(T0.AddMinutes(1), IncidentStatus.AwaitingConfirmation) with { Labels = LabelSet.Of(("n", "1")), AnswerDeadline = T0.AddMinutes(5) },
        });
        await OpenAsync(Opening(T0.AddMinutes(2), "later", IncidentStatus.AwaitingConfirmation, ActionStatus.Held, LabelSet.Of(("n", "2"))) with
        {
            Incident = Incident(T0.AddMinutes(2), IncidentStatus.AwaitingConfirmation) with { Labels = LabelSet.Of(("n", "2")), AnswerDeadline = T0.AddMinutes(30) },
        });

        Assert.Equal([early.Incident.Id, late.Incident.Id], (await Store.ListOverdueAsync(T0.AddMinutes(10), None)).Select(i => i.Id));
        Assert.Equal([early.Incident.Id], (await Store.ListOverdueAsync(T0.AddMinutes(9), None)).Select(i => i.Id));
    }

    [Fact]
    public async Task FindRollbackSince_StartedRollbacksOfTheTarget_LatestFirst_ExcludingOne()
    {
        var a = await OpenAsync(Opening(T0, "a"));
        var b = await OpenAsync(Opening(T0.AddMinutes(1), "b", labels: LabelSet.Of(("n", "1"))));
        await ApplyOneAsync(a, new MoveAction(a.Actions[0].Id, ActionStatus.Pending, ActionStatus.Started) { StartedAt = T0.AddMinutes(2) });
        await ApplyOneAsync(b, new MoveAction(b.Actions[0].Id, ActionStatus.Pending, ActionStatus.Started) { StartedAt = T0.AddMinutes(3) });

        Assert.Equal(b.Actions[0].Id, (await Store.FindRollbackSinceAsync(Target, T0, 0, None))!.Id);
        Assert.Equal(a.Actions[0].Id, (await Store.FindRollbackSinceAsync(Target, T0, b.Actions[0].Id, None))!.Id);
        Assert.Null(await Store.FindRollbackSinceAsync(Target, T0.AddMinutes(4), 0, None));
        Assert.Null(await Store.FindRollbackSinceAsync("kubectl/other/shop", T0, 0, None));
    }

    [Fact]
    public async Task Notifications_SavedReplacedAndListedByChannel()
    {
        var opened = await OpenAsync(Opening(T0, "k1"));
        var id = opened.Incident.Id;

        await Store.SaveNotificationAsync(new NotificationRecord(id, "slack", "ts-1", "Open", T0), None);
        await Store.SaveNotificationAsync(new NotificationRecord(id, "pagerduty", null, "Open", T0), None);
        await Store.SaveNotificationAsync(new NotificationRecord(id, "slack", "ts-1", "Resolved", T0.AddMinutes(1)), None);

        Assert.Equal(
            [new NotificationRecord(id, "pagerduty", null, "Open", T0), new NotificationRecord(id, "slack", "ts-1", "Resolved", T0.AddMinutes(1))],
            await Store.GetNotificationsAsync(id, None));
        Assert.Empty(await Store.GetNotificationsAsync(id + 1, None));
    }

    [Fact]
    public async Task Prune_KeepsIncidentsTheLatestChangeAndBlamedChanges()
    {
        var changes = Assert.IsAssignableFrom<IChangeStore>(Store);
        var blamed = (await changes.RecordChangeAsync(Change(T0.AddDays(-10), "v1"), None)).Change;
        var superseded = (await changes.RecordChangeAsync(Change(T0.AddDays(-9), "v2"), None)).Change;
        var latest = (await changes.RecordChangeAsync(Change(T0.AddDays(-8), "v3"), None)).Change;
        var opened = await OpenAsync(Opening(T0.AddDays(-10), "k1") with { BlamedChangeId = blamed.Id });
        await Store.ApplyAsync(new StoreBatch(null, [Row(0.09)], []) { Policy = Policy, At = T0.AddDays(-10) }, None);

        Assert.Equal(1, await Store.PruneEvaluationsAsync(T0.AddDays(-1), None));

        Assert.Equal([latest.Id, blamed.Id], (await changes.ListChangesAsync(Policy, null, 100, None)).Select(c => c.Id));
        Assert.Null(await changes.GetChangeAsync(superseded.Id, None));
        Assert.Equal(blamed, (await Store.LoadIncidentAsync(opened.Incident.Id, None))!.Incident.BlamedChange);
    }

    [Fact]
    public async Task RenewActionLease_ByTheHolderWhileItRuns_ExtendsIt()
    {
        var (_, actionId) = await StartedAsync("k1", new ActionLease("node-a", T0.AddMinutes(5)));

        Assert.True(await Store.RenewActionLeaseAsync(actionId, new ActionLease("node-a", T0.AddMinutes(10)), T0.AddMinutes(1), None));
        Assert.Equal(new ActionLease("node-a", T0.AddMinutes(10)), await LeaseOfAsync(actionId));

        // Past the first lease, within the renewed one: still the holder's.
        Assert.True(await Store.RenewActionLeaseAsync(actionId, new ActionLease("node-a", T0.AddMinutes(15)), T0.AddMinutes(7), None));
        Assert.Equal(new ActionLease("node-a", T0.AddMinutes(15)), await LeaseOfAsync(actionId));
    }

    [Fact]
    public async Task RenewActionLease_AtOrAfterItsEnd_IsRefusedAndWritesNothing()
    {
        var (_, actionId) = await StartedAsync("k1", new ActionLease("node-a", T0.AddMinutes(5)));

        Assert.False(await Store.RenewActionLeaseAsync(actionId, new ActionLease("node-a", T0.AddMinutes(10)), T0.AddMinutes(5), None));
        Assert.False(await Store.RenewActionLeaseAsync(actionId, new ActionLease("node-a", T0.AddMinutes(10)), T0.AddMinutes(6), None));

        Assert.Equal(new ActionLease("node-a", T0.AddMinutes(5)), await LeaseOfAsync(actionId));
    }

    [Fact]
    public async Task RenewActionLease_AnotherOwner_IsRefusedAndWritesNothing()
    {
        var (_, actionId) = await StartedAsync("k1", new ActionLease("node-a", T0.AddMinutes(5)));

        Assert.False(await Store.RenewActionLeaseAsync(actionId, new ActionLease("node-b", T0.AddMinutes(10)), T0.AddMinutes(1), None));

        Assert.Equal(new ActionLease("node-a", T0.AddMinutes(5)), await LeaseOfAsync(actionId));
    }

    [Fact]
    public async Task RenewActionLease_ActionInterruptedCompletedOrNeverStarted_IsRefused()
    {
        var lease = new ActionLease("node-a", T0.AddMinutes(5));
        var renewal = new ActionLease("node-a", T0.AddMinutes(10));
        var (interrupted, interruptedId) = await StartedAsync("k1", lease);
        await ApplyOneAsync(interrupted, new MoveAction(interruptedId, ActionStatus.Started, ActionStatus.Interrupted) { CompletedAt = T0.AddMinutes(1), Outcome = "interrupted" });
        var (succeeded, succeededId) = await StartedAsync("k2", lease, LabelSet.Of(("deployment", "web")));
        await ApplyOneAsync(succeeded, new MoveAction(succeededId, ActionStatus.Started, ActionStatus.Succeeded) { CompletedAt = T0.AddMinutes(1), Outcome = "rolled back" });
        var pending = await OpenAsync(Opening(T0, "k3", labels: LabelSet.Of(("deployment", "db"))));

        Assert.False(await Store.RenewActionLeaseAsync(interruptedId, renewal, T0.AddMinutes(2), None));
        Assert.False(await Store.RenewActionLeaseAsync(succeededId, renewal, T0.AddMinutes(2), None));
        Assert.False(await Store.RenewActionLeaseAsync(pending.Actions[0].Id, renewal, T0.AddMinutes(2), None));
        Assert.False(await Store.RenewActionLeaseAsync(999_999, renewal, T0.AddMinutes(2), None));

        Assert.Equal(ActionStatus.Interrupted, (await Store.LoadIncidentOfActionAsync(interruptedId, None))!.Actions[0].Status);
        Assert.Empty(await Store.ListStartedActionsAsync(None));
    }

    [Fact]
    public async Task ClaimDelivery_WhileAClaimRuns_OnlyItsOwnerGetsThatIncidentAndChannel()
    {
        var incident = (await OpenAsync(Opening(T0, "k1"))).Incident.Id;
        var other = (await OpenAsync(Opening(T0, "k2", labels: LabelSet.Of(("deployment", "web"))))).Incident.Id;

        Assert.True(await Store.ClaimDeliveryAsync(incident, "slack", new ActionLease("node-a", T0.AddMinutes(1)), T0, None));
        Assert.False(await Store.ClaimDeliveryAsync(incident, "slack", new ActionLease("node-b", T0.AddMinutes(2)), T0.AddSeconds(30), None));
        Assert.False(await Store.ClaimDeliveryAsync(incident, "slack", new ActionLease("node-b", T0.AddMinutes(2)), T0.AddSeconds(59), None));

        // Independent across channels and incidents.
        Assert.True(await Store.ClaimDeliveryAsync(incident, "pagerduty", new ActionLease("node-b", T0.AddMinutes(2)), T0.AddSeconds(30), None));
        Assert.True(await Store.ClaimDeliveryAsync(other, "slack", new ActionLease("node-b", T0.AddMinutes(2)), T0.AddSeconds(30), None));
        Assert.False(await Store.ClaimDeliveryAsync(incident, "pagerduty", new ActionLease("node-a", T0.AddMinutes(2)), T0.AddSeconds(31), None));
    }

    [Fact]
    public async Task ClaimDelivery_AtOrAfterTheClaimEnds_AnotherOwnerTakesItOver()
    {
        var incident = (await OpenAsync(Opening(T0, "k1"))).Incident.Id;
        Assert.True(await Store.ClaimDeliveryAsync(incident, "slack", new ActionLease("node-a", T0.AddMinutes(1)), T0, None));

        Assert.True(await Store.ClaimDeliveryAsync(incident, "slack", new ActionLease("node-b", T0.AddMinutes(3)), T0.AddMinutes(1), None));

        // node-b holds it now: node-a, back from a pause, is refused until node-b's claim ends.
        Assert.False(await Store.ClaimDeliveryAsync(incident, "slack", new ActionLease("node-a", T0.AddMinutes(4)), T0.AddMinutes(2), None));
        Assert.True(await Store.ClaimDeliveryAsync(incident, "slack", new ActionLease("node-a", T0.AddMinutes(5)), T0.AddMinutes(3), None));
    }

    [Fact]
    public async Task ClaimDelivery_OwnersOwnClaim_IsExtended()
    {
        var incident = (await OpenAsync(Opening(T0, "k1"))).Incident.Id;
        Assert.True(await Store.ClaimDeliveryAsync(incident, "slack", new ActionLease("node-a", T0.AddMinutes(1)), T0, None));

        Assert.True(await Store.ClaimDeliveryAsync(incident, "slack", new ActionLease("node-a", T0.AddMinutes(5)), T0.AddSeconds(30), None));

        // Past the first claim's end: the extension holds others off.
        Assert.False(await Store.ClaimDeliveryAsync(incident, "slack", new ActionLease("node-b", T0.AddMinutes(6)), T0.AddMinutes(2), None));
        Assert.True(await Store.ClaimDeliveryAsync(incident, "slack", new ActionLease("node-b", T0.AddMinutes(6)), T0.AddMinutes(5), None));
    }

    [Fact]
    public async Task RenewDeliveryClaim_AfterAnotherOwnerTookItOverAndEndedIt_IsRefused_AndRecreatesNoClaim()
    {
        var incident = (await OpenAsync(Opening(T0, "k1"))).Incident.Id;
        Assert.True(await Store.ClaimDeliveryAsync(incident, "slack", new ActionLease("node-a", T0.AddMinutes(1)), T0, None));

        // node-a is paused past its claim; node-b takes it over, publishes and records it (which ends the claim).
        Assert.True(await Store.ClaimDeliveryAsync(incident, "slack", new ActionLease("node-b", T0.AddMinutes(3)), T0.AddMinutes(1), None));
        await Store.SaveNotificationAsync(new NotificationRecord(incident, "slack", "ts-1", "Open", T0.AddMinutes(1).AddSeconds(5)), None);

        // node-a wakes up and renews the claim it held: refused, and nothing is written back.
        Assert.False(await Store.RenewDeliveryClaimAsync(incident, "slack", new ActionLease("node-a", T0.AddMinutes(6)), T0.AddMinutes(1).AddSeconds(10), None));
        Assert.True(await Store.ClaimDeliveryAsync(incident, "slack", new ActionLease("node-c", T0.AddMinutes(7)), T0.AddMinutes(1).AddSeconds(20), None));
        Assert.Equal([new NotificationRecord(incident, "slack", "ts-1", "Open", T0.AddMinutes(1).AddSeconds(5))], await Store.GetNotificationsAsync(incident, None));
    }

    [Fact]
    public async Task RenewDeliveryClaim_AfterAReset_IsRefused_AndRecreatesNoClaim()
    {
        var incident = (await OpenAsync(Opening(T0, "k1"))).Incident.Id;
        Assert.True(await Store.ClaimDeliveryAsync(incident, "slack", new ActionLease("node-a", T0.AddMinutes(5)), T0, None));
        await Store.ReleaseAllNotificationLeasesAsync(None);

        Assert.False(await Store.RenewDeliveryClaimAsync(incident, "slack", new ActionLease("node-a", T0.AddMinutes(6)), T0.AddSeconds(10), None));

        Assert.True(await Store.ClaimDeliveryAsync(incident, "slack", new ActionLease("node-b", T0.AddMinutes(6)), T0.AddSeconds(20), None));
    }

    [Fact]
    public async Task RenewDeliveryClaim_ByAnotherOwner_IsRefused_AndTheHolderKeepsIt()
    {
        var incident = (await OpenAsync(Opening(T0, "k1"))).Incident.Id;
        Assert.True(await Store.ClaimDeliveryAsync(incident, "slack", new ActionLease("node-a", T0.AddMinutes(1)), T0, None));

        Assert.False(await Store.RenewDeliveryClaimAsync(incident, "slack", new ActionLease("node-b", T0.AddMinutes(5)), T0.AddSeconds(30), None));
        Assert.False(await Store.RenewDeliveryClaimAsync(incident, "pagerduty", new ActionLease("node-a", T0.AddMinutes(5)), T0.AddSeconds(30), None));

        // node-a's claim is unchanged: it holds others off until its own end, not node-b's.
        Assert.False(await Store.ClaimDeliveryAsync(incident, "slack", new ActionLease("node-c", T0.AddMinutes(6)), T0.AddSeconds(59), None));
        Assert.True(await Store.ClaimDeliveryAsync(incident, "slack", new ActionLease("node-c", T0.AddMinutes(6)), T0.AddMinutes(1), None));
    }

    [Fact]
    public async Task RenewDeliveryClaim_ByTheOwnerWhileItRuns_ExtendsIt()
    {
        var incident = (await OpenAsync(Opening(T0, "k1"))).Incident.Id;
        Assert.True(await Store.ClaimDeliveryAsync(incident, "slack", new ActionLease("node-a", T0.AddMinutes(1)), T0, None));

        Assert.True(await Store.RenewDeliveryClaimAsync(incident, "slack", new ActionLease("node-a", T0.AddMinutes(5)), T0.AddSeconds(30), None));

        Assert.False(await Store.ClaimDeliveryAsync(incident, "slack", new ActionLease("node-b", T0.AddMinutes(6)), T0.AddMinutes(2), None));
        Assert.True(await Store.RenewDeliveryClaimAsync(incident, "slack", new ActionLease("node-a", T0.AddMinutes(8)), T0.AddMinutes(4), None));
        Assert.False(await Store.ClaimDeliveryAsync(incident, "slack", new ActionLease("node-b", T0.AddMinutes(9)), T0.AddMinutes(7), None));
        Assert.True(await Store.ClaimDeliveryAsync(incident, "slack", new ActionLease("node-b", T0.AddMinutes(9)), T0.AddMinutes(8), None));
    }

    [Fact]
    public async Task RenewDeliveryClaim_AtOrAfterItsEnd_IsRefused()
    {
        var incident = (await OpenAsync(Opening(T0, "k1"))).Incident.Id;
        Assert.True(await Store.ClaimDeliveryAsync(incident, "slack", new ActionLease("node-a", T0.AddMinutes(1)), T0, None));

        // Ran out: another sentinel may have taken it meanwhile, so it is not this one's to extend.
        Assert.False(await Store.RenewDeliveryClaimAsync(incident, "slack", new ActionLease("node-a", T0.AddMinutes(5)), T0.AddMinutes(1), None));
        Assert.True(await Store.ClaimDeliveryAsync(incident, "slack", new ActionLease("node-b", T0.AddMinutes(6)), T0.AddMinutes(1).AddSeconds(1), None));
    }

    [Fact]
    public async Task RenewDeliveryClaim_ToNow_HandsTheClaimBack()
    {
        var incident = (await OpenAsync(Opening(T0, "k1"))).Incident.Id;
        Assert.True(await Store.ClaimDeliveryAsync(incident, "slack", new ActionLease("node-a", T0.AddMinutes(1)), T0, None));

        Assert.True(await Store.RenewDeliveryClaimAsync(incident, "slack", new ActionLease("node-a", T0.AddSeconds(10)), T0.AddSeconds(10), None));

        Assert.True(await Store.ClaimDeliveryAsync(incident, "slack", new ActionLease("node-b", T0.AddMinutes(2)), T0.AddSeconds(10), None));
    }

    [Fact]
    public async Task SaveNotification_EndsTheClaimOfThatChannelOnly()
    {
        var incident = (await OpenAsync(Opening(T0, "k1"))).Incident.Id;
        Assert.True(await Store.ClaimDeliveryAsync(incident, "slack", new ActionLease("node-a", T0.AddMinutes(5)), T0, None));
        Assert.True(await Store.ClaimDeliveryAsync(incident, "pagerduty", new ActionLease("node-a", T0.AddMinutes(5)), T0, None));

        await Store.SaveNotificationAsync(new NotificationRecord(incident, "slack", "ts-1", "Open", T0.AddSeconds(5)), None);

        Assert.True(await Store.ClaimDeliveryAsync(incident, "slack", new ActionLease("node-b", T0.AddMinutes(6)), T0.AddSeconds(10), None));
        Assert.False(await Store.ClaimDeliveryAsync(incident, "pagerduty", new ActionLease("node-b", T0.AddMinutes(6)), T0.AddSeconds(10), None));
        Assert.Equal([new NotificationRecord(incident, "slack", "ts-1", "Open", T0.AddSeconds(5))], await Store.GetNotificationsAsync(incident, None));
    }

    [Fact]
    public async Task SaveNotification_OlderThanTheStoredRecord_IsNotWrittenOverIt()
    {
        var incident = (await OpenAsync(Opening(T0, "k1"))).Incident.Id;
        await Store.SaveNotificationAsync(new NotificationRecord(incident, "slack", "ts-1", "Open", T0.AddSeconds(5)), None);
        await Store.SaveNotificationAsync(new NotificationRecord(incident, "slack", "ts-1", "Acted", T0.AddSeconds(20)), None);

        // A sentinel paused while publishing the older state saves it late.
        await Store.SaveNotificationAsync(new NotificationRecord(incident, "slack", "ts-1", "Open", T0.AddSeconds(6)), None);

        Assert.Equal([new NotificationRecord(incident, "slack", "ts-1", "Acted", T0.AddSeconds(20))], await Store.GetNotificationsAsync(incident, None));
    }

    [Fact]
    public async Task ReleaseAllNotificationLeases_EndsEveryDeliveryClaim()
    {
        var incident = (await OpenAsync(Opening(T0, "k1"))).Incident.Id;
        Assert.True(await Store.ClaimDeliveryAsync(incident, "slack", new ActionLease("node-a", T0.AddMinutes(5)), T0, None));

        await Store.ReleaseAllNotificationLeasesAsync(None);

        Assert.True(await Store.ClaimDeliveryAsync(incident, "slack", new ActionLease("node-b", T0.AddMinutes(6)), T0.AddSeconds(10), None));
        Assert.Empty(await Store.GetNotificationsAsync(incident, None));
    }

    private const string Target = "kubectl/checkout/shop";

    private static int Minute(Dictionary<int, IncidentRecord> ids, long id) => ids.Single(p => p.Value.Incident.Id == id).Key;

    private static Incident Incident(DateTimeOffset at, IncidentStatus status, LabelSet? labels = null, string policy = Policy) => new()
    {
        Policy = policy,
        Trigger = Trigger,
        Labels = labels ?? Cart,
        Action = status == IncidentStatus.AwaitingConfirmation ? TriggerAction.Page : TriggerAction.Rollback,
        Status = status,
        OpenedAt = at,
        UpdatedAt = at,
        Summary = "error ratio 0.09 (1.8/20) > max 0.05",
        EvidenceJson = """{"verdict":"Breach","queries":[]}""",
    };

    private static OpenIncident Opening(
        DateTimeOffset at,
        string key,
        IncidentStatus status = IncidentStatus.Open,
        ActionStatus actionStatus = ActionStatus.Pending,
        LabelSet? labels = null,
        string policy = Policy) => new(
        Incident(at, status, labels, policy),
        key,
        new ActionRecord { IncidentId = 0, Kind = "rollback", Target = Target, IdempotencyKey = "rs-" + key, Status = actionStatus, CreatedAt = at },
        null);

    private static EvaluationRow Row(double value, string trigger = Trigger) =>
        new(trigger, Cart, VerdictKind.Breach, VerdictReason.ThresholdExceeded, value, 0.05, null, $"error ratio {value} > max 0.05");

    private static Change Change(DateTimeOffset at, string revision) => new()
    {
        Policy = Policy,
        Labels = Cart,
        At = at,
        Source = ChangeSource.Api,
        Revision = revision,
        RecordedAt = at,
    };

    /// <summary>An incident whose rollback was started under <paramref name="lease"/> at T0.</summary>
    private async Task<(IncidentRecord Record, long ActionId)> StartedAsync(string key, ActionLease lease, LabelSet? labels = null)
    {
        var opened = await OpenAsync(Opening(T0, key, labels: labels));
        var actionId = opened.Actions[0].Id;
        var started = await ApplyOneAsync(opened, new MoveAction(actionId, ActionStatus.Pending, ActionStatus.Started) { StartedAt = T0, Lease = lease });
        return (started, actionId);
    }

    private async Task<ActionLease?> LeaseOfAsync(long actionId) =>
        (await Store.ListStartedActionsAsync(None)).Single(s => s.Action.Id == actionId).Lease;

    private async Task<IncidentRecord> OpenAsync(OpenIncident open, params IncidentChange[] more) =>
        Assert.Single(await Store.ApplyAsync(StoreBatch.Of(new IncidentUpdate(0, 0, [open, .. more])), None));

    private async Task<IncidentRecord> ApplyOneAsync(IncidentRecord record, params IncidentChange[] changes) =>
        Assert.Single(await Store.ApplyAsync(StoreBatch.Of(new IncidentUpdate(record.Incident.Id, record.Revision, changes)), None));

    private static Task AssertSameRecordAsync(IncidentRecord expected, IncidentRecord? actual)
    {
        Assert.NotNull(actual);
        Assert.Equal(expected.Incident, actual.Incident);
        Assert.Equal(expected.Actions, actual.Actions);
        Assert.Equal(expected.Revision, actual.Revision);
        Assert.Equal(expected.ResolveRequestedAt, actual.ResolveRequestedAt);
        return Task.CompletedTask;
    }
}
