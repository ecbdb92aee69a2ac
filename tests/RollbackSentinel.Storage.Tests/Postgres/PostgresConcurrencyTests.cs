using RollbackSentinel.Core.Changes;
using RollbackSentinel.Core.Incidents;
using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Core.Policies;
using RollbackSentinel.Core.State;
using RollbackSentinel.Storage.Postgres;
using RollbackSentinel.Testing.Postgres;

namespace RollbackSentinel.Storage.Tests.Postgres;

/// <summary>
/// What the contract cannot show on one store object: several sentinels (each its own store and connection pool) on one
/// database at the same moment. Each race is run by every node at once; exactly one may win it.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class PostgresConcurrencyTests(PostgresFixture postgres) : IAsyncLifetime
{
    private const int Nodes = 6;
    private const string Policy = "checkout-api";
    private static readonly DateTimeOffset T0 = new(2026, 11, 20, 14, 30, 0, TimeSpan.Zero);
    private static readonly CancellationToken None = CancellationToken.None;
    private static readonly LabelSet Cart = LabelSet.Of(("deployment", "cart"));

    private PostgresNodes _nodes = null!;

    private IReadOnlyList<IPostgresStore> Stores => _nodes.Stores;

    public async Task InitializeAsync() => _nodes = await PostgresNodes.StartAsync(postgres.Server, Nodes);

    public async Task DisposeAsync() => await _nodes.DisposeAsync();

    [Fact]
    public async Task ApplyState_SameExpectedVersionOnEveryNode_ExactlyOneCommits()
    {
        await Stores[0].ApplyAsync(new StoreBatch(new PolicyStateWrite(Policy, PolicyState.Empty, T0, 0), [], []), None);

        var outcomes = await Task.WhenAll(Stores.Select(async (store, i) =>
        {
            try
            {
                await store.ApplyAsync(new StoreBatch(new PolicyStateWrite(Policy, PolicyState.Empty, T0.AddSeconds(i + 1), 1), [], []), None);
                return "committed";
            }
            catch (PolicyStateConflictException)
            {
                return "conflict";
            }
        }));

        Assert.Single(outcomes, o => o == "committed");
        Assert.Equal(Nodes - 1, outcomes.Count(o => o == "conflict"));
        Assert.Equal(2, await Stores[0].LoadStateVersionAsync(Policy, None));
    }

    [Fact]
    public async Task MoveIncident_SameRevisionOnEveryNode_ExactlyOneMoves()
    {
        var opened = Assert.Single(await Stores[0].ApplyAsync(StoreBatch.Of(new IncidentUpdate(0, 0, [Opening("k1")])), None));

        var outcomes = await Task.WhenAll(Stores.Select(async (store, i) =>
        {
            try
            {
                await store.ApplyAsync(
                    StoreBatch.Of(new IncidentUpdate(opened.Incident.Id, opened.Revision, [
                        new MoveIncident(IncidentStatus.Open, IncidentStatus.Resolved, T0.AddMinutes(1), T0.AddMinutes(1)),
                        new RecordEvent(T0.AddMinutes(1), "resolved", $"by node {i}"),
                    ])),
                    None);
                return true;
            }
            catch (StoreConflictException)
            {
                return false;
            }
        }));

        Assert.Single(outcomes, won => won);
        var timeline = (await Stores[0].GetIncidentAsync(opened.Incident.Id, None))!;
        Assert.Equal(IncidentStatus.Resolved, timeline.Incident.Status);
        Assert.Single(timeline.Events);
        Assert.Equal(opened.Revision + 1, (await Stores[0].LoadIncidentAsync(opened.Incident.Id, None))!.Revision);
    }

    [Fact]
    public async Task ClaimToNotify_EveryNodeAtOnce_NoIncidentIsClaimedTwice()
    {
        for (var i = 0; i < 20; i++)
        {
            await Stores[0].ApplyAsync(StoreBatch.Of(new IncidentUpdate(0, 0, [Opening($"k{i}", T0.AddSeconds(i))])), None);
        }

        var claims = await Task.WhenAll(Stores.Select((store, i) =>
            store.ClaimToNotifyAsync(includeOpen: true, limit: 5, new ActionLease($"node-{i}", T0.AddMinutes(5)), T0.AddMinutes(1), None)));

        var claimed = claims.SelectMany(c => c.Select(incident => incident.Id)).ToList();
        Assert.Equal(claimed.Count, claimed.Distinct().Count());
        Assert.Equal(20, claimed.Count); // six nodes asking for five each cover all twenty
    }

    [Fact]
    public async Task ClaimDelivery_EveryNodeAtOnce_ExactlyOneWinsEachIncidentAndChannel()
    {
        var incidents = new List<long>();
        for (var i = 0; i < 10; i++)
        {
            incidents.Add(Assert.Single(await Stores[0].ApplyAsync(StoreBatch.Of(new IncidentUpdate(0, 0, [Opening($"k{i}", T0.AddSeconds(i))])), None)).Incident.Id);
        }

        foreach (var incident in incidents)
        {
            foreach (var channel in new[] { "slack", "pagerduty" })
            {
                // A new claim (nothing stored: an insert race), then a take-over once it ended (an update race).
                var first = await RaceAsync(incident, channel, T0, T0.AddMinutes(5));
                var takeOver = await RaceAsync(incident, channel, T0.AddMinutes(5), T0.AddMinutes(10));

                Assert.Single(first, w => w.Won);
                Assert.Single(takeOver, w => w.Won);
                var winner = first.Single(w => w.Won).Node;

                // The losers wrote nothing: the take-over's winner holds it, and the first winner cannot extend a claim it lost.
                var holder = takeOver.Single(w => w.Won).Node;
                Assert.True(await Stores[holder].ClaimDeliveryAsync(incident, channel, new ActionLease($"node-{holder}", T0.AddMinutes(11)), T0.AddMinutes(6), None));
                if (winner != holder)
                {
                    Assert.False(await Stores[winner].ClaimDeliveryAsync(incident, channel, new ActionLease($"node-{winner}", T0.AddMinutes(11)), T0.AddMinutes(6), None));
                }
            }
        }
    }

    [Fact]
    public async Task RenewActionLease_RacingAnInterruption_EitherRenewsBeforeItOrIsRefused()
    {
        var lease = new ActionLease("node-0", T0.AddMinutes(5));
        var opened = Assert.Single(await Stores[0].ApplyAsync(StoreBatch.Of(new IncidentUpdate(0, 0, [Opening("k1")])), None));
        var actionId = opened.Actions[0].Id;
        var started = Assert.Single(await Stores[0].ApplyAsync(
            StoreBatch.Of(new IncidentUpdate(opened.Incident.Id, opened.Revision, [new MoveAction(actionId, ActionStatus.Pending, ActionStatus.Started) { StartedAt = T0, Lease = lease }])),
            None));

        // node-0 renews again and again while node-1 interrupts the action (as a sweeper does after a missed renewal).
        var renewals = Task.WhenAll(Enumerable.Range(1, 20).Select(i =>
            Stores[0].RenewActionLeaseAsync(actionId, new ActionLease("node-0", T0.AddMinutes(5 + i)), T0.AddMinutes(1), None)));
        var interrupt = Stores[1].ApplyAsync(
            StoreBatch.Of(new IncidentUpdate(started.Incident.Id, started.Revision, [new MoveAction(actionId, ActionStatus.Started, ActionStatus.Interrupted) { CompletedAt = T0.AddMinutes(1) }])),
            None);
        await Task.WhenAll(renewals, interrupt);

        // Once interrupted, no renewal is granted, and the interruption stands.
        Assert.False(await Stores[0].RenewActionLeaseAsync(actionId, new ActionLease("node-0", T0.AddMinutes(30)), T0.AddMinutes(1), None));
        Assert.Equal(ActionStatus.Interrupted, (await Stores[2].LoadIncidentOfActionAsync(actionId, None))!.Actions[0].Status);
        Assert.Empty(await Stores[2].ListStartedActionsAsync(None));
    }

    private async Task<(int Node, bool Won)[]> RaceAsync(long incident, string channel, DateTimeOffset at, DateTimeOffset until) =>
        await Task.WhenAll(Stores.Select(async (store, i) => (i, await store.ClaimDeliveryAsync(incident, channel, new ActionLease($"node-{i}", until), at, None))));

    [Fact]
    public async Task RecordChange_SameDetectedRevisionOnEveryNode_StoredOnce()
    {
        var change = new Change { Policy = Policy, Labels = Cart, At = T0, Source = ChangeSource.Target, Revision = "rev-42", RecordedAt = T0 };

        var recorded = await Task.WhenAll(Stores.Select(store => store.RecordChangeAsync(change, None)));

        Assert.Single(recorded, r => r.Created);
        Assert.Single(recorded.Select(r => r.Change.Id).Distinct());
        Assert.Single(await Stores[0].ListChangesAsync(Policy, null, 10, None));
    }

    private static OpenIncident Opening(string key, DateTimeOffset? at = null)
    {
        var time = at ?? T0;
        return new(
            new Incident
            {
                Policy = Policy,
                Trigger = "error-rate-spike",
                Labels = Cart,
                Action = TriggerAction.Rollback,
                Status = IncidentStatus.Open,
                OpenedAt = time,
                UpdatedAt = time,
                Summary = "error ratio 0.09 (1.8/20) > max 0.05",
                EvidenceJson = """{"verdict":"Breach","queries":[]}""",
            },
            key,
            new ActionRecord { IncidentId = 0, Kind = "rollback", Target = "kubectl/checkout/shop", IdempotencyKey = "rs-" + key, Status = ActionStatus.Pending, CreatedAt = time },
            null);
    }
}
