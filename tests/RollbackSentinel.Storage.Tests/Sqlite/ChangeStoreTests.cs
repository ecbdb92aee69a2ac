using System.Collections.Immutable;
using RollbackSentinel.Core.Changes;
using RollbackSentinel.Core.Evaluation;
using RollbackSentinel.Core.Incidents;
using RollbackSentinel.Core.Metrics;
using TriggerAction = RollbackSentinel.Core.Policies.TriggerAction;
using RollbackSentinel.Core.Secrets;
using RollbackSentinel.Core.State;
using RollbackSentinel.Storage.Tests.Support;
using static RollbackSentinel.Storage.Tests.Support.Samples;

namespace RollbackSentinel.Storage.Tests.Sqlite;

/// <summary>Changes as the store keeps them: recorded once, listed, read back for decisions, blamed by incidents, pruned with care.</summary>
public sealed class ChangeStoreTests : IAsyncLifetime
{
    private readonly TempDatabase _db = new();
    private SqliteIncidentStore _store = null!;
    private IncidentService _incidents = null!;

    [Fact]
    public async Task RecordChange_EveryField_ComesBackAsGivenWithAnIdAndRecordedAtFromTheClock()
    {
        _db.Clock.Advance(TimeSpan.FromMinutes(3));
        var given = Change(T0, AwkwardLabels, "v42", ChangeSource.Api) with { PreviousRevision = "v41", By = "ci", Description = "deploy of cart \"blue\"\nline 2" };

        var recorded = await _store.RecordChangeAsync(given, None);
        var reread = await _store.GetChangeAsync(recorded.Change.Id, None);

        Assert.True(recorded.Created);
        Assert.True(recorded.Change.Id > 0);
        Assert.Equal(given with { Id = recorded.Change.Id, RecordedAt = T0.AddMinutes(3) }, recorded.Change);
        Assert.Equal(recorded.Change, reread);
        Assert.Equal(AwkwardLabels.ToArray(), reread!.Labels.ToArray());
        Assert.Null(await _store.GetChangeAsync(recorded.Change.Id + 1, None));
    }

    [Fact]
    public async Task RecordChange_RecordedAtGiven_IsKept()
    {
        var recorded = await _store.RecordChangeAsync(Change(T0, Cart, "v1", ChangeSource.Target) with { RecordedAt = T0.AddSeconds(30) }, None);

        Assert.Equal(T0.AddSeconds(30), (await _store.GetChangeAsync(recorded.Change.Id, None))!.RecordedAt);
    }

    [Theory]
    [InlineData(ChangeSource.Target)]
    [InlineData(ChangeSource.Query)]
    public async Task RecordChange_DetectedRevisionSeenBefore_ReturnsTheStoredOneAndStoresNothing(ChangeSource source)
    {
        var first = await _store.RecordChangeAsync(Change(T0, Cart, "7", source) with { By = "kubectl" }, None);

        // Read again 30s later: same policy, label set, source and revision.
        var again = await _store.RecordChangeAsync(Change(T0.AddSeconds(30), Cart, "7", source) with { By = "someone else" }, None);

        Assert.True(first.Created);
        Assert.False(again.Created);
        Assert.Equal(first.Change, again.Change);
        Assert.Equal(1L, _db.Scalar<long>("SELECT COUNT(*) FROM changes"));
    }

    [Fact]
    public async Task RecordChange_DetectedRevisionDifferingInAnyPart_IsANewChange()
    {
        var first = await _store.RecordChangeAsync(Change(T0, Cart, "7", ChangeSource.Target), None);

        var others = new[]
        {
            Change(T0, Cart, "8", ChangeSource.Target),
            Change(T0, Web, "7", ChangeSource.Target),
            Change(T0, Cart, "7", ChangeSource.Query),
            Change(T0, Cart, "7", ChangeSource.Target) with { Policy = "other-policy" },
            Change(T0, Cart, null, ChangeSource.Target),
        };
        var recorded = new List<RecordedChange>();
        foreach (var c in others)
        {
            recorded.Add(await _store.RecordChangeAsync(c, None));
        }

        Assert.All(recorded, r => Assert.True(r.Created));
        Assert.Equal(6, recorded.Select(r => r.Change.Id).Append(first.Change.Id).Distinct().Count());

        // Without a revision, the same missing revision is "seen before" too: a detector cannot flood the store.
        Assert.False((await _store.RecordChangeAsync(Change(T0.AddMinutes(1), Cart, null, ChangeSource.Target), None)).Created);
    }

    [Fact]
    public async Task RecordChange_ApiSameRevisionTwice_IsStoredTwice()
    {
        var first = await _store.RecordChangeAsync(Change(T0, Cart, "v42", ChangeSource.Api), None);
        var second = await _store.RecordChangeAsync(Change(T0.AddMinutes(1), Cart, "v42", ChangeSource.Api), None);

        Assert.True(first.Created);
        Assert.True(second.Created);
        Assert.NotEqual(first.Change.Id, second.Change.Id);
        Assert.Equal([second.Change.Id, first.Change.Id], (await _store.ListChangesAsync(Policy, null, 10, None)).Select(c => c.Id));
    }

    [Fact]
    public async Task RecordChange_SecretInDescriptionOrBy_IsRedacted_WhilePolicyLabelsAndRevisionAreStoredAsGiven()
    {
        var secret = "DeployK3y" + Guid.NewGuid().ToString("N");
        SecretRegistry.Shared.Register(secret);
        var labels = LabelSet.Of(("deployment", secret));
        var given = Change(T0, labels, "v-" + secret, ChangeSource.Api) with { Policy = "p-" + secret, By = "ci " + secret, Description = $"token {secret} pasted" };

        var recorded = await _store.RecordChangeAsync(given, None);

        var stored = string.Join("\n", _db.Rows("SELECT changed_by, description FROM changes").SelectMany(r => r));
        Assert.DoesNotContain(secret, stored, StringComparison.Ordinal);
        Assert.Equal(($"ci {SecretRegistry.Marker}", $"token {SecretRegistry.Marker} pasted"), (recorded.Change.By, recorded.Change.Description));
        Assert.Equal(("p-" + secret, "v-" + secret), (recorded.Change.Policy, recorded.Change.Revision));
        Assert.Equal(labels, recorded.Change.Labels);
        Assert.Equal(recorded.Change.Id, Assert.Single(await _store.ListChangesAsync("p-" + secret, null, 10, None)).Id);
    }

    [Fact]
    public async Task ListChanges_NewestFirst_FilteredByPolicySinceAndLimit()
    {
        var a = await Record(T0, Cart, "v1");
        var b = await Record(T0.AddMinutes(10), Web, "w1");
        var c = await Record(T0.AddMinutes(20), Cart, "v2");
        var other = await Record(T0.AddMinutes(15), Cart, "x1", policy: "other");

        Assert.Equal([c, other, b, a], Ids(await _store.ListChangesAsync(null, null, 10, None)));
        Assert.Equal([c, b, a], Ids(await _store.ListChangesAsync(Policy, null, 10, None)));
        Assert.Equal([c, b], Ids(await _store.ListChangesAsync(Policy, T0.AddMinutes(10), 10, None)));
        Assert.Equal([c], Ids(await _store.ListChangesAsync(Policy, null, 1, None)));
        Assert.Empty(await _store.ListChangesAsync("nobody", null, 10, None));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => _store.ListChangesAsync(null, null, 0, None));
    }

    [Fact]
    public async Task LoadChangeHistory_ChangesSinceAndTheLatestOfEachLabelSetBefore_OldestFirst()
    {
        await Record(T0.AddHours(-30), Cart, "v1");
        var cartBefore = await Record(T0.AddHours(-20), Cart, "v2");
        await Record(T0.AddHours(-25), Web, "w1");
        var webBefore = await Record(T0.AddHours(-2), Web, "w2");
        var allBefore = await Record(T0.AddHours(-40), LabelSet.Empty, "schema-7");
        var cartSince = await Record(T0.AddMinutes(-5), Cart, "v3");
        var cartAt = await Record(T0, Cart, "v4");
        await Record(T0, Cart, "elsewhere", policy: "other");

        var history = await _store.LoadChangeHistoryAsync(Policy, T0.AddMinutes(-30), None);

        Assert.Equal([allBefore, cartBefore, webBefore, cartSince, cartAt], history.All.Select(c => c.Id));
        Assert.Equal("v4", history.LatestFor(Cart, T0)!.Revision);
        Assert.Equal("schema-7", history.LatestFor(LabelSet.Of(("deployment", "search")), T0)!.Revision);
    }

    [Fact]
    public async Task LoadChangeHistory_LatestBeforeSinceIsTheSentinelsRollback_KeepsTheDeployBeforeItToo()
    {
        var deploy = await Record(T0.AddHours(-3), Cart, "v42");
        var rollback = (await _store.RecordChangeAsync(Change(T0.AddHours(-2), Cart, "v41", ChangeSource.Target) with { By = Core.Changes.Change.SentinelActor }, None)).Change.Id;
        await Record(T0.AddHours(-4), Cart, "v40");

        var history = await _store.LoadChangeHistoryAsync(Policy, T0.AddHours(-1), None);

        Assert.Equal([deploy, rollback], history.All.Select(c => c.Id));
        Assert.True(history.LatestFor(Cart, T0)!.IsSentinelRollback);
        Assert.Equal("v42", history.BaselineChangeFor(Cart, T0)!.Revision);
    }

    [Fact]
    public async Task CommitEvaluation_DecisionBlamingAChangeAndDisarmed_IncidentCarriesTheFullChangeAndTheReasonInEveryRead()
    {
        var change = (await _store.RecordChangeAsync(Change(T0.AddHours(-3), Cart, "v42", ChangeSource.Api) with { PreviousRevision = "v41", By = "ci" }, None)).Change;
        const string Reason = "no change of checkout-api{deployment=\"cart\"} within 1h (last: v41 -> v42, 3h ago): a rollback would not undo the cause";
        var decision = Act(T0, Cart, action: TriggerAction.Page) with { Blamed = change, Disarmed = true, DisarmedReason = Reason };

        var opened = Assert.Single(await _incidents.CommitEvaluationAsync(Commit(T0, decision), None));

        Assert.Equal(change, opened.Incident.BlamedChange);
        Assert.Equal(Reason, opened.Incident.DisarmedReason);
        await _store.DisposeAsync();
        var reopened = await _db.OpenStoreAsync();
        var reads = new[]
        {
            Assert.Single(await reopened.ListIncidentsAsync(null, 10, None)),
            Assert.Single(await reopened.ListIncidentsAsync(IncidentStatus.Open, 10, None)),
            (await reopened.GetIncidentAsync(opened.Incident.Id, None))!.Incident,
            Assert.Single(await reopened.ClaimToNotifyAsync(includeOpen: true, 10, NotifyLease, T0, None)),
            Assert.Single(await reopened.ListOpenIncidentsAsync(Policy, None)),
        };
        Assert.All(reads, i => Assert.Equal((change, Reason), (i.BlamedChange, i.DisarmedReason)));
        Assert.Equal(("v42", "ci", ChangeSource.Api), (reads[0].BlamedChange!.Revision, reads[0].BlamedChange!.By, reads[0].BlamedChange!.Source));
    }

    [Fact]
    public async Task CommitEvaluation_ArmedDecision_BlamesItsChangeWithNoDisarmReason()
    {
        var change = (await _store.RecordChangeAsync(Change(T0.AddMinutes(-5), Cart, "v42", ChangeSource.Api), None)).Change;

        var opened = Assert.Single(await _incidents.CommitEvaluationAsync(Commit(T0, Act(T0, Cart) with { Blamed = change }), None));

        Assert.Equal(change.Id, opened.Incident.BlamedChange?.Id);
        Assert.Null(opened.Incident.DisarmedReason);
        Assert.Equal([[change.Id.ToString(System.Globalization.CultureInfo.InvariantCulture), "NULL"]], _db.Rows("SELECT change_id, disarmed_reason FROM incidents"));
    }

    [Fact]
    public async Task CommitEvaluation_BlamedChangeNeverStored_OpensTheIncidentWithNoChange()
    {
        // A change the store does not have (id 0: never stored; an id it never gave): the incident opens all the same.
        var unstored = Change(T0.AddMinutes(-5), Cart, "v42", ChangeSource.Api);
        var a = Assert.Single(await _incidents.CommitEvaluationAsync(Commit(T0, Act(T0, Cart) with { Blamed = unstored }), None));
        var b = Assert.Single(await _incidents.CommitEvaluationAsync(Commit(T0.AddMinutes(1), Act(T0.AddMinutes(1), Web) with { Blamed = unstored with { Id = 999 } }), None));

        Assert.Null(a.Incident.BlamedChange);
        Assert.Null(b.Incident.BlamedChange);
        Assert.Equal(2, (await _store.ListIncidentsAsync(null, 10, None)).Count);
    }

    [Fact]
    public async Task OpenManualRollback_BlamesTheLatestChangeOfItsLabels_NotAnotherSeriesNorALaterOne()
    {
        var cart = await Record(T0.AddMinutes(-30), Cart, "v42");
        await Record(T0.AddMinutes(-10), Web, "w9");
        await Record(T0.AddMinutes(5), Cart, "v43");

        var cartRollback = await _incidents.OpenManualRollbackAsync(new ManualRollback(Policy, Cart, Target, "alice", "api", "bad deploy", T0), None);
        var searchRollback = await _incidents.OpenManualRollbackAsync(new ManualRollback(Policy, LabelSet.Of(("deployment", "search")), Target, "alice", "api", "bad", T0), None);

        Assert.Equal(cart, cartRollback.Incident.BlamedChange?.Id);
        Assert.Equal("v42", (await _store.GetIncidentAsync(cartRollback.Incident.Id, None))!.Incident.BlamedChange?.Revision);
        Assert.Null(searchRollback.Incident.BlamedChange);
    }

    [Fact]
    public async Task OpenManualRollback_LatestChangeIsTheSentinelsOwnRollback_BlamesNothing()
    {
        await Record(T0.AddHours(-1), Cart, "v42");
        await _store.RecordChangeAsync(Change(T0.AddMinutes(-10), Cart, "v41", ChangeSource.Target) with { By = Core.Changes.Change.SentinelActor }, None);

        var opened = await _incidents.OpenManualRollbackAsync(new ManualRollback(Policy, Cart, Target, "alice", "api", "still bad", T0), None);

        Assert.Null(opened.Incident.BlamedChange);
    }

    [Fact]
    public async Task ListOpenIncidents_OnlyThatPolicysNotResolvedNorDenied_NewestFirst()
    {
        var resolved = Assert.Single(await _incidents.CommitEvaluationAsync(Commit(T0, Act(T0, Cart)), None));
        await _incidents.CommitEvaluationAsync(Commit(T0.AddMinutes(1), Resolved(T0.AddMinutes(1), Cart)), None);
        var open = Assert.Single(await _incidents.CommitEvaluationAsync(Commit(T0.AddMinutes(2), Act(T0.AddMinutes(2), Web)), None));
        var awaiting = Assert.Single(await _incidents.CommitEvaluationAsync(
            Commit(T0.AddMinutes(3), Act(T0.AddMinutes(3), Cart, trigger: "latency", action: TriggerAction.Page)) with { ConfirmTimeout = TimeSpan.FromMinutes(10) }, None));
        var denied = Assert.Single(await _incidents.CommitEvaluationAsync(
            Commit(T0.AddMinutes(4), Act(T0.AddMinutes(4), Web, trigger: "latency", action: TriggerAction.Page)) with { ConfirmTimeout = TimeSpan.FromMinutes(10) }, None));
        await _incidents.AnswerAsync(new Acknowledgment(denied.Incident.Id, "bob", "api", Answers.Deny, T0.AddMinutes(5)), null, None);
        await _incidents.CommitEvaluationAsync(Commit(T0.AddMinutes(6), Act(T0.AddMinutes(6), Cart, policy: "other")), None);

        var list = await _store.ListOpenIncidentsAsync(Policy, None);

        Assert.Equal([awaiting.Incident.Id, open.Incident.Id], list.Select(i => i.Id));
        Assert.DoesNotContain(resolved.Incident.Id, list.Select(i => i.Id));
        Assert.All(list, i => Assert.True(i.IsOpen));
        Assert.Empty(await _store.ListOpenIncidentsAsync("nobody", None));
    }

    [Fact]
    public async Task Prune_OldChanges_GoExceptTheLatestOfEachLabelSetTheLatestDeployBeforeARollbackAndThoseIncidentsBlame()
    {
        var cartOld = await Record(T0.AddDays(-30), Cart, "v1");
        var cartBlamed = await Record(T0.AddDays(-29), Cart, "v2");
        var cartDeploy = await Record(T0.AddDays(-20), Cart, "v3");
        var cartRollback = (await _store.RecordChangeAsync(Change(T0.AddDays(-19), Cart, "v2", ChangeSource.Target) with { By = Core.Changes.Change.SentinelActor }, None)).Change.Id;
        var webOld = await Record(T0.AddDays(-30), Web, "w1");
        var webLatest = await Record(T0.AddDays(-25), Web, "w2");
        var otherPolicy = await Record(T0.AddDays(-30), Web, "o1", policy: "other");
        var cartRecent = await Record(T0.AddHours(-1), LabelSet.Empty, "schema-7");
        var blamed = (await _store.GetChangeAsync(cartBlamed, None))!;
        await _incidents.CommitEvaluationAsync(Commit(T0.AddDays(-29), Act(T0.AddDays(-29), Cart) with { Blamed = blamed }), None);

        await _store.PruneEvaluationsAsync(T0.AddDays(-7), None);

        var left = _db.Rows("SELECT id FROM changes ORDER BY id").Select(r => long.Parse(r[0], System.Globalization.CultureInfo.InvariantCulture)).ToList();
        Assert.Equal([cartBlamed, cartDeploy, cartRollback, webLatest, otherPolicy, cartRecent], left);
        Assert.DoesNotContain(cartOld, left);
        Assert.DoesNotContain(webOld, left);
        var history = await _store.LoadChangeHistoryAsync(Policy, T0.AddHours(-2), None);
        Assert.Equal("v3", history.BaselineChangeFor(Cart, T0.AddDays(-1))!.Revision);
        Assert.Equal("w2", history.LatestFor(Web, T0.AddDays(-1))!.Revision);
        Assert.Equal(cartBlamed, Assert.Single(await _store.ListIncidentsAsync(null, 10, None)).BlamedChange?.Id);
    }

    [Fact]
    public async Task LoadState_AfterRestart_KeepsGateProgress()
    {
        var key = new SeriesKey(Trigger, Cart);
        var state = new PolicyState { Progress = ImmutableDictionary<SeriesKey, GateProgress>.Empty.Add(key, new GateProgress(VerdictKind.Pass, T0, 2, T0.AddMinutes(-4), 12)) };
        await _incidents.CommitEvaluationAsync(Commit(T0, state), None);
        await _store.DisposeAsync();

        var reopened = await _db.OpenStoreAsync();
        var back = (await reopened.LoadStateAsync(Policy, None))?.State;

        StateAssert.Same(state, back!);
        Assert.Equal(new GateProgress(VerdictKind.Pass, T0, 2, T0.AddMinutes(-4), 12), back!.Progress[key]);
    }

    public async Task InitializeAsync()
    {
        _store = await _db.OpenStoreAsync();
        _incidents = _db.Incidents(_store);
    }

    public Task DisposeAsync() => _db.DisposeAsync();

    private static Change Change(DateTimeOffset at, LabelSet labels, string? revision, ChangeSource source) =>
        new() { Policy = Policy, Labels = labels, At = at, Source = source, Revision = revision };

    private async Task<long> Record(DateTimeOffset at, LabelSet labels, string revision, string policy = Policy) =>
        (await _store.RecordChangeAsync(Change(at, labels, revision, ChangeSource.Api) with { Policy = policy }, None)).Change.Id;

    private static long[] Ids(IReadOnlyList<Change> changes) => changes.Select(c => c.Id).ToArray();
}
