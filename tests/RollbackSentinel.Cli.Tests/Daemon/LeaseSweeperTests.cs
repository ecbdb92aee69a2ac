using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using RollbackSentinel.Cli.Tests.Api;
using RollbackSentinel.Core.Incidents;
using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Core.Policies;
using RollbackSentinel.Daemon;

namespace RollbackSentinel.Cli.Tests.Daemon;

/// <summary>
/// While the daemon runs, a started action whose owner's lease ended (a sentinel sharing the store died mid-action) is
/// interrupted and paged as a restart's would be; one under a live lease is left alone.
/// </summary>
public sealed class LeaseSweeperTests
{
    [Fact]
    public async Task SweepAsync_AnotherOwnersLeaseEnded_InterruptsAndPagesIt_LiveLeaseLeftAlone()
    {
        await using var sentinel = await InProcessSentinel.StartAsync();
        var store = sentinel.App.Services.GetRequiredService<IIncidentStore>();
        var sweeper = sentinel.App.Services.GetServices<IHostedService>().OfType<LeaseSweeper>().Single();
        var now = TimeProvider.System.GetUtcNow();
        var dead = await StartedAsync(store, "cart", new ActionLease("sentinel-dead", now.AddMinutes(-1)), now.AddMinutes(-10));
        var live = await StartedAsync(store, "web", new ActionLease("sentinel-live", now.AddHours(1)), now.AddMinutes(-1));

        var interrupted = await sweeper.SweepAsync(CancellationToken.None);

        var action = Assert.Single(interrupted);
        Assert.Equal((dead.Actions[0].Id, ActionStatus.Interrupted), (action.Id, action.Status));
        Assert.Equal(IncidentStatus.ActionInterrupted, (await store.LoadIncidentAsync(dead.Incident.Id, CancellationToken.None))!.Incident.Status);
        Assert.Equal(ActionStatus.Started, (await store.LoadIncidentAsync(live.Incident.Id, CancellationToken.None))!.Actions[0].Status);
        Assert.Contains(sentinel.Log.Entries, e => e.Contains("[400]", StringComparison.Ordinal) && e.Contains($"incident {dead.Incident.Id}", StringComparison.Ordinal));
        Assert.Contains(sentinel.Log.Entries, e => e.Contains($"(incident {dead.Incident.Id}): rollback of kubectl/shop/cart was interrupted: the sentinel running it crashed, stopped or lost the store before recording how it ended; its effect is unknown and it is not run again", StringComparison.Ordinal));
        Assert.Empty(await sweeper.SweepAsync(CancellationToken.None)); // once
    }

    [Fact]
    public async Task SweepAsync_OnSqlite_OwnActionLeftBehindPastItsLease_InterruptsAndPagesItOnce_OneRunningHereLeftAlone()
    {
        await using var sentinel = await InProcessSentinel.StartAsync();
        var store = sentinel.App.Services.GetRequiredService<IIncidentStore>();
        var owner = sentinel.App.Services.GetRequiredService<IncidentService>().Owner;
        var running = sentinel.App.Services.GetRequiredService<RunningActions>();
        var sweeper = sentinel.App.Services.GetServices<IHostedService>().OfType<LeaseSweeper>().Single();
        var now = TimeProvider.System.GetUtcNow();
        Assert.True(store.ExclusiveToOneProcess);

        // This process left one behind (its end could not be recorded before it stopped trying); another runs here.
        var behind = await StartedAsync(store, "cart", new ActionLease(owner, now.AddMinutes(-1)), now.AddMinutes(-10));
        var mine = await StartedAsync(store, "web", new ActionLease(owner, now.AddMinutes(-1)), now.AddMinutes(-10));
        using var executing = running.Enter(mine.Actions[0].Id);

        var interrupted = await sweeper.SweepAsync(CancellationToken.None);

        Assert.Equal(behind.Actions[0].Id, Assert.Single(interrupted).Id);
        Assert.Equal(IncidentStatus.ActionInterrupted, (await store.LoadIncidentAsync(behind.Incident.Id, CancellationToken.None))!.Incident.Status);
        Assert.Equal(ActionStatus.Started, (await store.LoadIncidentAsync(mine.Incident.Id, CancellationToken.None))!.Actions[0].Status);
        Assert.Single(sentinel.Log.Entries, e => e.Contains($"(incident {behind.Incident.Id}): rollback of kubectl/shop/cart was interrupted: the sentinel running it crashed, stopped or lost the store before recording how it ended; its effect is unknown and it is not run again", StringComparison.Ordinal));
        Assert.Empty(await sweeper.SweepAsync(CancellationToken.None)); // once
    }

    /// <summary>An incident whose rollback another sentinel started (held first, so the daemon's own sweeper never runs it).</summary>
    private static async Task<IncidentRecord> StartedAsync(IIncidentStore store, string deployment, ActionLease lease, DateTimeOffset at)
    {
        var incident = new Incident
        {
            Policy = "shop",
            Trigger = "errors",
            Labels = LabelSet.Of(("deployment", deployment)),
            Action = TriggerAction.Rollback,
            Status = IncidentStatus.Acting,
            OpenedAt = at,
            UpdatedAt = at,
            Summary = "error ratio 0.5 > max 0.05",
            EvidenceJson = """{"verdict":"Breach","queries":[]}""",
        };
        var action = new ActionRecord { IncidentId = 0, Kind = "rollback", Target = $"kubectl/shop/{deployment}", IdempotencyKey = "rs-sweep-" + deployment, Status = ActionStatus.Held, CreatedAt = at };
        var opened = Assert.Single(await store.ApplyAsync(StoreBatch.Of(new IncidentUpdate(0, 0, [new OpenIncident(incident, "sweep-" + deployment, action, null)])), CancellationToken.None));
        return Assert.Single(await store.ApplyAsync(
            StoreBatch.Of(new IncidentUpdate(opened.Incident.Id, opened.Revision, [new MoveAction(opened.Actions[0].Id, ActionStatus.Held, ActionStatus.Started) { StartedAt = at, Lease = lease }])),
            CancellationToken.None));
    }
}
