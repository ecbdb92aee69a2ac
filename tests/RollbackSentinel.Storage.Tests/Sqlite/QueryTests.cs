using RollbackSentinel.Core.Incidents;
using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Core.State;
using RollbackSentinel.Storage.Tests.Support;
using static RollbackSentinel.Storage.Tests.Support.Samples;

namespace RollbackSentinel.Storage.Tests.Sqlite;

public sealed class QueryTests : IAsyncLifetime
{
    private readonly TempDatabase _db = new();
    private SqliteIncidentStore _store = null!;
    private IncidentService _incidents = null!;

    [Fact]
    public async Task List_ByStatusAndLimit_NewestFirst()
    {
        // Five incidents a minute apart, committed out of time order; then one resolved and one acting.
        var ids = new Dictionary<int, long>();
        foreach (var minute in new[] { 3, 0, 4, 1, 2 })
        {
            var at = T0.AddMinutes(minute);
            ids[minute] = Assert.Single(await _incidents.CommitEvaluationAsync(Commit(at, Act(at, LabelSet.Of(("n", $"{minute}")))), None)).Incident.Id;
        }

        await _incidents.CommitEvaluationAsync(Commit(T0.AddMinutes(10), Resolved(T0.AddMinutes(10), LabelSet.Of(("n", "1")))), None);
        var actionOf3 = (await _store.GetIncidentAsync(ids[3], None))!.Actions[0].Id;
        await _incidents.MarkActionStartedAsync(actionOf3, T0.AddMinutes(11), Lease, None);

        Assert.Equal([ids[4], ids[3], ids[2]], (await _store.ListIncidentsAsync(null, 3, None)).Select(i => i.Id));
        Assert.Equal([ids[4], ids[3], ids[2], ids[1], ids[0]], (await _store.ListIncidentsAsync(null, 100, None)).Select(i => i.Id));
        Assert.Equal([ids[4], ids[2], ids[0]], (await _store.ListIncidentsAsync(IncidentStatus.Open, 100, None)).Select(i => i.Id));
        Assert.Equal([ids[4]], (await _store.ListIncidentsAsync(IncidentStatus.Open, 1, None)).Select(i => i.Id));
        var resolved = Assert.Single(await _store.ListIncidentsAsync(IncidentStatus.Resolved, 100, None));
        Assert.Equal((ids[1], T0.AddMinutes(1), T0.AddMinutes(10)), (resolved.Id, resolved.OpenedAt, resolved.ResolvedAt!.Value));
        Assert.Equal([ids[3]], (await _store.ListIncidentsAsync(IncidentStatus.Acting, 100, None)).Select(i => i.Id));
        Assert.Empty(await _store.ListIncidentsAsync(IncidentStatus.ActionFailed, 100, None));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    public async Task List_LimitNotPositive_Throws(int limit)
    {
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => _store.ListIncidentsAsync(null, limit, None));
    }

    [Fact]
    public async Task Get_UnknownIncident_IsNull()
    {
        Assert.Null(await _store.GetIncidentAsync(404, None));
    }

    [Fact]
    public async Task Timeline_EventsActionsAndAcknowledgments_InTimeOrderWhateverTheOrderOfCalls()
    {
        var opened = Assert.Single(await _incidents.CommitEvaluationAsync(Commit(T0, Act(T0)), None));
        var id = opened.Incident.Id;

        // Recorded in this order, stamped with times out of that order.
        await _incidents.MarkActionStartedAsync(opened.Action.Id, T0.AddSeconds(20), Lease, None);
        await _incidents.AddAcknowledgmentAsync(new Acknowledgment(id, "bob", "pagerduty", "ack", T0.AddSeconds(50)), None);
        await _incidents.AddAcknowledgmentAsync(new Acknowledgment(id, "alice \"oncall\"", "slack", "approve rollback ✅", T0.AddSeconds(10)), None);
        await _incidents.CommitEvaluationAsync(Commit(T0.AddSeconds(30), Notice(DecisionKind.InconclusiveRun, T0.AddSeconds(30))), None);
        await _incidents.CompleteActionAsync(opened.Action.Id, ActionStatus.Succeeded, "rolled back to revision 41", T0.AddSeconds(40), None);

        var timeline = (await _store.GetIncidentAsync(id, None))!;

        Assert.Equal(
            [
                (IncidentEventKinds.Opened, T0),
                (IncidentEventKinds.ActionStarted, T0.AddSeconds(20)),
                (IncidentEventKinds.InconclusiveRun, T0.AddSeconds(30)),
                (IncidentEventKinds.ActionSucceeded, T0.AddSeconds(40)),
            ],
            timeline.Events.Select(e => (e.Kind, e.At)));
        Assert.Equal(
            [
                new Acknowledgment(id, "alice \"oncall\"", "slack", "approve rollback ✅", T0.AddSeconds(10)),
                new Acknowledgment(id, "bob", "pagerduty", "ack", T0.AddSeconds(50)),
            ],
            timeline.Acknowledgments);
        Assert.Equal(
            opened.Action with { Status = ActionStatus.Succeeded, StartedAt = T0.AddSeconds(20), CompletedAt = T0.AddSeconds(40), Outcome = "rolled back to revision 41" },
            Assert.Single(timeline.Actions));
        Assert.Equal(IncidentStatus.Acted, timeline.Incident.Status);
    }

    [Fact]
    public async Task Acknowledge_UnknownIncident_Throws()
    {
        await Assert.ThrowsAsync<KeyNotFoundException>(
            () => _incidents.AddAcknowledgmentAsync(new Acknowledgment(404, "alice", "slack", "ack", T0), None));

        Assert.Equal(0L, _db.Scalar<long>("SELECT COUNT(*) FROM acknowledgments"));
    }

    [Fact]
    public async Task Prune_RemovesOnlyOlderEvaluations_AndKeepsIncidents()
    {
        var opened = Assert.Single(await _incidents.CommitEvaluationAsync(Commit(T0, Act(T0), Notice(DecisionKind.InconclusiveRun, T0, LabelSet.Of(("n", "1")))), None));
        await _incidents.CommitEvaluationAsync(Commit(T0.AddHours(1), Resolved(T0.AddHours(1))), None);
        await _incidents.CommitEvaluationAsync(Commit(T0.AddHours(2), Act(T0.AddHours(2))), None);

        var deleted = await _store.PruneEvaluationsAsync(T0.AddHours(1), None);

        Assert.Equal(2, deleted);
        Assert.Equal(
            [["2026-11-20T15:30:00.0000000Z", "Pass"], ["2026-11-20T16:30:00.0000000Z", "Breach"]],
            _db.Rows("SELECT at, kind FROM evaluations ORDER BY at"));
        var timeline = (await _store.GetIncidentAsync(opened.Incident.Id, None))!;
        Assert.Equal(IncidentStatus.Resolved, timeline.Incident.Status);
        Assert.Equal(3, timeline.Events.Count);
        Assert.Equal(2, (await _store.ListIncidentsAsync(null, 10, None)).Count);
        Assert.Equal(0, await _store.PruneEvaluationsAsync(T0.AddHours(1), None));
    }

    [Fact]
    public async Task Prune_MoreRowsThanOneBatch_DeletesThemAll()
    {
        var rows = Enumerable.Range(0, SqliteIncidentStore.PruneBatchSize + 7)
            .Select(i => Row(Trigger, Pass(LabelSet.Of(("n", $"{i}")))))
            .ToList();
        await _incidents.CommitEvaluationAsync(Commit(T0, PolicyState.Empty) with { Verdicts = rows }, None);
        await _incidents.CommitEvaluationAsync(Commit(T0.AddDays(2), PolicyState.Empty) with { Verdicts = rows.Take(3).ToList() }, None);

        var deleted = await _store.PruneEvaluationsAsync(T0.AddDays(1), None);

        Assert.Equal(SqliteIncidentStore.PruneBatchSize + 7, deleted);
        Assert.Equal(3L, _db.Scalar<long>("SELECT COUNT(*) FROM evaluations"));
    }

    public async Task InitializeAsync()
    {
        _store = await _db.OpenStoreAsync();
        _incidents = _db.Incidents(_store);
    }

    public Task DisposeAsync() => _db.DisposeAsync();
}
