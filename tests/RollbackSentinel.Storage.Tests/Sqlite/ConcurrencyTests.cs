using System.Collections.Immutable;
using RollbackSentinel.Core.Incidents;
using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Core.State;
using RollbackSentinel.Storage.Tests.Support;
using static RollbackSentinel.Storage.Tests.Support.Samples;

namespace RollbackSentinel.Storage.Tests.Sqlite;

/// <summary>The daemon's jobs call one store from many threads at once; two stores on one file stand in for a second process.</summary>
public sealed class ConcurrencyTests : IAsyncLifetime
{
    private const int Tasks = 8;
    private const int CommitsPerTask = 12;
    private readonly TempDatabase _db = new();
    private SqliteIncidentStore _store = null!;
    private IncidentService _incidents = null!;

    [Fact]
    public async Task ParallelCommits_From8Tasks_AllLandWithTheirContent()
    {
        // Half the tasks share one store, half another on the same file: in-process gate and SQLite locking both at work.
        var other = await _db.OpenStoreAsync();
        var start = new TaskCompletionSource();
        var workers = Enumerable.Range(0, Tasks).Select(task => Task.Run(async () =>
        {
            await start.Task;
            var store = task % 2 == 0 ? _store : other;
            var policy = $"policy-{task}";
            for (var i = 0; i < CommitsPerTask; i++)
            {
                var at = T0.AddSeconds(i * 15);
                var labels = LabelSet.Of(("deployment", $"d{i}"));
                var state = new PolicyState
                {
                    LastActionAt = ImmutableDictionary<string, DateTimeOffset>.Empty.Add($"kubectl/d{i}/shop", at),
                };
                var opened = await _db.Incidents(store).CommitEvaluationAsync(Commit(at, state, Act(at, labels, policy: policy)), None);
                Assert.Equal(policy, Assert.Single(opened).Incident.Policy);
            }
        })).ToList();

        start.SetResult();
        await Task.WhenAll(workers);

        var incidents = await _store.ListIncidentsAsync(null, 1000, None);
        var expected = Enumerable.Range(0, Tasks)
            .SelectMany(task => Enumerable.Range(0, CommitsPerTask).Select(i => (Policy: $"policy-{task}", Labels: $"{{deployment=\"d{i}\"}}", At: T0.AddSeconds(i * 15))))
            .OrderBy(x => x.Policy, StringComparer.Ordinal).ThenBy(x => x.At)
            .ToList();
        Assert.Equal(
            expected,
            incidents.Select(x => (x.Policy, Labels: x.Labels.ToString(), At: x.OpenedAt)).OrderBy(x => x.Policy, StringComparer.Ordinal).ThenBy(x => x.At));
        Assert.All(incidents, x => Assert.Equal(IncidentStatus.Open, x.Status));

        var (_, pending) = await _incidents.RecoverAsync(T0.AddHours(1), None);
        Assert.Equal(Tasks * CommitsPerTask, pending.Select(a => a.IdempotencyKey).Distinct().Count());
        Assert.Equal(incidents.Select(x => x.Id).Order(), pending.Select(a => a.IncidentId).Order());
        Assert.Equal((long)Tasks * CommitsPerTask, _db.Scalar<long>("SELECT COUNT(*) FROM evaluations"));

        // Each policy's state is its last commit's.
        for (var task = 0; task < Tasks; task++)
        {
            var state = (await _store.LoadStateAsync($"policy-{task}", None))?.State;
            var last = CommitsPerTask - 1;
            Assert.Equal([$"kubectl/d{last}/shop"], state!.LastActionAt.Keys);
            Assert.Equal(T0.AddSeconds(last * 15), state.LastActionAt[$"kubectl/d{last}/shop"]);
        }
    }

    [Fact]
    public async Task SameDecisionFrom8TasksAtOnce_OpensOneIncident()
    {
        var commit = Commit(T0, Act(T0));
        var start = new TaskCompletionSource();
        var results = Enumerable.Range(0, Tasks).Select(_ => Task.Run(async () =>
        {
            await start.Task;
            return Assert.Single(await _incidents.CommitEvaluationAsync(commit, None));
        })).ToList();

        start.SetResult();
        var opened = await Task.WhenAll(results);

        Assert.Single(opened.Distinct());
        Assert.Single(await _store.ListIncidentsAsync(null, 10, None));
    }

    [Fact]
    public async Task MarkStartedFrom8TasksAtOnce_ExactlyOneStartsIt()
    {
        var opened = Assert.Single(await _incidents.CommitEvaluationAsync(Commit(T0, Act(T0)), None));
        var other = await _db.OpenStoreAsync();
        var start = new TaskCompletionSource();
        var claims = Enumerable.Range(0, Tasks).Select(task => Task.Run(async () =>
        {
            await start.Task;
            return await (task % 2 == 0 ? _incidents : _db.Incidents(other)).MarkActionStartedAsync(opened.Action.Id, T0.AddSeconds(task), Lease, None);
        })).ToList();

        start.SetResult();
        var started = await Task.WhenAll(claims);

        Assert.Single(started, s => s);
        var timeline = (await _store.GetIncidentAsync(opened.Incident.Id, None))!;
        Assert.Equal(IncidentStatus.Acting, timeline.Incident.Status);
        Assert.Single(timeline.Events, e => e.Kind == IncidentEventKinds.ActionStarted);
    }

    [Fact]
    public async Task ReadsDuringWrites_SeeWholeCommitsOnly()
    {
        var start = new TaskCompletionSource();
        var writer = Task.Run(async () =>
        {
            await start.Task;
            for (var i = 0; i < 40; i++)
            {
                await _incidents.CommitEvaluationAsync(Commit(T0.AddSeconds(i), Act(T0.AddSeconds(i), LabelSet.Of(("n", $"{i}")))), None);
            }
        });
        var reader = Task.Run(async () =>
        {
            await start.Task;
            while (!writer.IsCompleted)
            {
                foreach (var incident in await _store.ListIncidentsAsync(null, 5, None))
                {
                    // Incident and action are written in one transaction: a reader never sees one without the other.
                    var timeline = (await _store.GetIncidentAsync(incident.Id, None))!;
                    Assert.Single(timeline.Actions);
                    Assert.Single(timeline.Events);
                }
            }
        });

        start.SetResult();
        await Task.WhenAll(writer, reader);

        Assert.Equal(40, (await _store.ListIncidentsAsync(null, 100, None)).Count);
    }

    [Fact]
    public async Task ApplyFrom8TasksOnTwoStores_SameRevision_ExactlyOneAppliesTheOthersConflict()
    {
        var opened = Assert.Single(await _incidents.CommitEvaluationAsync(Commit(T0, Act(T0)), None));
        var record = (await _store.LoadIncidentAsync(opened.Incident.Id, None))!;
        var other = await _db.OpenStoreAsync();
        var start = new TaskCompletionSource();
        var writers = Enumerable.Range(0, Tasks).Select(task => Task.Run(async () =>
        {
            await start.Task;
            var update = new IncidentUpdate(record.Incident.Id, record.Revision, [new RecordEvent(T0.AddSeconds(task), "note", $"writer {task}"), new MarkChanged(T0.AddSeconds(task))]);
            try
            {
                await (task % 2 == 0 ? _store : other).ApplyAsync(StoreBatch.Of(update), None);
                return true;
            }
            catch (StoreConflictException)
            {
                return false;
            }
        })).ToList();

        start.SetResult();
        var applied = await Task.WhenAll(writers);

        var winner = Assert.Single(Enumerable.Range(0, Tasks), task => applied[task]);
        var after = (await _store.GetIncidentAsync(record.Incident.Id, None))!;
        Assert.Equal($"writer {winner}", Assert.Single(after.Events, e => e.Kind == "note").Message);
        Assert.Equal(record.Incident.Version + 1, after.Incident.Version);
        Assert.Equal(record.Revision + 1, (await other.LoadIncidentAsync(record.Incident.Id, None))!.Revision);
    }

    [Fact]
    public async Task StateWritesFrom8TasksOnTwoStores_SameVersion_ExactlyOneCommits()
    {
        var other = await _db.OpenStoreAsync();
        var start = new TaskCompletionSource();
        var writers = Enumerable.Range(0, Tasks).Select(task => Task.Run(async () =>
        {
            await start.Task;
            var state = new PolicyState { LastEvaluatedAt = T0.AddSeconds(task) };
            try
            {
                await (task % 2 == 0 ? _store : other).ApplyAsync(new StoreBatch(new PolicyStateWrite(Policy, state, T0.AddSeconds(task), 0), [], []), None);
                return true;
            }
            catch (StoreConflictException)
            {
                return false;
            }
        })).ToList();

        start.SetResult();
        var committed = await Task.WhenAll(writers);

        var winner = Assert.Single(Enumerable.Range(0, Tasks), task => committed[task]);
        var stored = (await _store.LoadStateAsync(Policy, None))!;
        Assert.Equal((1L, T0.AddSeconds(winner)), (stored.Version, stored.State.LastEvaluatedAt!.Value));
    }

    [Fact]
    public async Task ClaimsFrom8OwnersOnTwoStores_EachIncidentGoesToOneOwner()
    {
        for (var i = 0; i < 20; i++)
        {
            await _incidents.CommitEvaluationAsync(Commit(T0.AddSeconds(i), Act(T0.AddSeconds(i), LabelSet.Of(("n", $"{i}")))), None);
        }

        var other = await _db.OpenStoreAsync();
        var start = new TaskCompletionSource();
        var claims = Enumerable.Range(0, Tasks).Select(task => Task.Run(async () =>
        {
            await start.Task;
            var claimed = await (task % 2 == 0 ? _store : other).ClaimToNotifyAsync(includeOpen: true, 5, new ActionLease($"node-{task}", T0.AddMinutes(5)), T0.AddMinutes(1), None);
            return claimed.Select(i => i.Id).ToList();
        })).ToList();

        start.SetResult();
        var byOwner = await Task.WhenAll(claims);

        var all = byOwner.SelectMany(ids => ids).ToList();
        Assert.Equal(20, all.Count);
        Assert.Equal(all.Count, all.Distinct().Count());
        Assert.Equal(20L, _db.Scalar<long>("SELECT COUNT(*) FROM incidents WHERE notify_owner LIKE 'node-%' AND notify_lease_until = '2026-11-20T14:35:00.0000000Z'"));
    }

    [Fact]
    public async Task ClaimToNotify_StoresTheLease_MarkNotifiedEndsIt()
    {
        var opened = Assert.Single(await _incidents.CommitEvaluationAsync(Commit(T0, Act(T0)), None));

        await _store.ClaimToNotifyAsync(includeOpen: false, 10, new ActionLease("node-a", T0.AddMinutes(2)), T0, None);
        var leased = _db.Rows($"SELECT notify_owner, notify_lease_until, notified_seq FROM incidents WHERE id = {opened.Incident.Id}");
        await _store.MarkNotifiedAsync(opened.Incident.Id, opened.Incident.Version, "node-a", None);
        var told = _db.Rows($"SELECT notify_owner, notify_lease_until, notified_seq FROM incidents WHERE id = {opened.Incident.Id}");

        Assert.Equal([["node-a", "2026-11-20T14:32:00.0000000Z", "0"]], leased);
        Assert.Equal([["NULL", "NULL", $"{opened.Incident.Version}"]], told);
    }

    [Fact]
    public async Task MarkActionStarted_StoresTheOwnersLease()
    {
        var opened = Assert.Single(await _incidents.CommitEvaluationAsync(Commit(T0, Act(T0)), None));

        Assert.True(await _incidents.MarkActionStartedAsync(opened.Action.Id, T0.AddSeconds(1), Lease, None));

        Assert.Equal(
            [["test-node", "2026-11-20T14:40:01.0000000Z", "Started"]],
            _db.Rows($"SELECT lease_owner, lease_until, status FROM actions WHERE id = {opened.Action.Id}"));
    }

    public async Task InitializeAsync()
    {
        _store = await _db.OpenStoreAsync();
        _incidents = _db.Incidents(_store);
    }

    public Task DisposeAsync() => _db.DisposeAsync();
}
