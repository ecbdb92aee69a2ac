using RollbackSentinel.Core.Incidents;
using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Core.Policies;
using RollbackSentinel.Core.State;
using RollbackSentinel.Storage.Postgres;
using RollbackSentinel.Testing.Postgres;

namespace RollbackSentinel.Storage.Tests.Postgres;

/// <summary>
/// The time rule of the PostgreSQL store: <c>timestamptz</c> keeps microseconds, .NET ticks are 100 ns, so every time it
/// writes or compares with is truncated to the whole microsecond; policy state (JSON) keeps every tick.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class PostgresTimeTests(PostgresFixture postgres) : FreshDatabaseTests(postgres)
{
    private const string Policy = "checkout-api";

    // 14:30:01.2345678: seven digits, one more than timestamptz keeps.
    private static readonly DateTimeOffset Precise = new DateTimeOffset(2026, 11, 20, 14, 30, 1, TimeSpan.Zero).AddTicks(2_345_678);
    private static readonly DateTimeOffset Truncated = new DateTimeOffset(2026, 11, 20, 14, 30, 1, TimeSpan.Zero).AddTicks(2_345_670);

    [Fact]
    public void StoredTime_TruncatesToTheMicrosecondInUtc_KeepsTheInfinities()
    {
        Assert.Equal(Truncated, PostgresCommands.StoredTime(Precise));
        Assert.Equal(TimeSpan.Zero, PostgresCommands.StoredTime(Precise.ToOffset(TimeSpan.FromHours(2))).Offset);
        Assert.Equal(Truncated, PostgresCommands.StoredTime(Precise.ToOffset(TimeSpan.FromHours(2))));
        Assert.Equal(Truncated, PostgresCommands.StoredTime(Truncated)); // whole microseconds are kept as they are
        Assert.Equal(DateTimeOffset.MaxValue, PostgresCommands.StoredTime(DateTimeOffset.MaxValue));
        Assert.Equal(DateTimeOffset.MinValue, PostgresCommands.StoredTime(DateTimeOffset.MinValue));
    }

    [Fact]
    public async Task IncidentTimes_ReadBackTruncatedToTheMicrosecond_AndARetriedEventIsKeptOnce()
    {
        var opened = Assert.Single(await Store.ApplyAsync(StoreBatch.Of(new IncidentUpdate(0, 0, [Opening(Precise), new RecordEvent(Precise, "opened", "it broke")])), None));

        Assert.Equal((Truncated, Truncated, Truncated), (opened.Incident.OpenedAt, opened.Incident.UpdatedAt, opened.Actions[0].CreatedAt));

        // A retried commit carries the precise time again: it meets the stored, truncated one.
        await Store.ApplyAsync(StoreBatch.Of(new IncidentUpdate(opened.Incident.Id, opened.Revision, [new RecordEvent(Precise, "opened", "it broke")])), None);
        var timeline = (await Store.GetIncidentAsync(opened.Incident.Id, None))!;
        Assert.Equal(Truncated, Assert.Single(timeline.Events).At);
    }

    [Fact]
    public async Task PolicyState_KeepsEveryTick_SoTheNextSlotComparesExactly()
    {
        var state = PolicyState.Empty with { LastEvaluatedAt = Precise };

        await Store.ApplyAsync(new StoreBatch(new PolicyStateWrite(Policy, state, Precise, 0), [], []), None);

        var stored = (await Store.LoadStateAsync(Policy, None))!.State;
        Assert.Equal(Precise, stored.LastEvaluatedAt);

        // The slot just evaluated is not after the last evaluation (it would be run twice if the time lost its ticks).
        Assert.False(Precise > stored.LastEvaluatedAt);
    }

    [Fact]
    public async Task Leases_EndAtTheirTruncatedTime_NeverLater()
    {
        var opened = Assert.Single(await Store.ApplyAsync(StoreBatch.Of(new IncidentUpdate(0, 0, [Opening(Precise)])), None));
        var actionId = opened.Actions[0].Id;
        await Store.ApplyAsync(
            StoreBatch.Of(new IncidentUpdate(opened.Incident.Id, opened.Revision, [new MoveAction(actionId, ActionStatus.Pending, ActionStatus.Started) { StartedAt = Precise, Lease = new ActionLease("node-a", Precise) }])),
            None);

        // Read back as stored: until 14:30:01.234567.
        Assert.Equal(new ActionLease("node-a", Truncated), Assert.Single(await Store.ListStartedActionsAsync(None)).Lease);

        // A check within that microsecond, even before the precise end asked for, finds the lease ended (never running longer than asked).
        Assert.False(await Store.RenewActionLeaseAsync(actionId, new ActionLease("node-a", Precise.AddMinutes(1)), Truncated.AddTicks(1), None));
        Assert.True(await Store.RenewActionLeaseAsync(actionId, new ActionLease("node-a", Precise.AddMinutes(1)), Truncated.AddTicks(-1), None));

        // The same for a delivery claim: another owner takes it over within the microsecond it ends in.
        Assert.True(await Store.ClaimDeliveryAsync(opened.Incident.Id, "slack", new ActionLease("node-a", Precise), Truncated.AddTicks(-10), None));
        Assert.False(await Store.ClaimDeliveryAsync(opened.Incident.Id, "slack", new ActionLease("node-b", Precise.AddMinutes(1)), Truncated.AddTicks(-1), None));
        Assert.True(await Store.ClaimDeliveryAsync(opened.Incident.Id, "slack", new ActionLease("node-b", Precise.AddMinutes(1)), Truncated.AddTicks(1), None));
    }

    private static OpenIncident Opening(DateTimeOffset at) => new(
        new Incident
        {
            Policy = Policy,
            Trigger = "error-rate-spike",
            Labels = LabelSet.Of(("deployment", "cart")),
            Action = TriggerAction.Rollback,
            Status = IncidentStatus.Open,
            OpenedAt = at,
            UpdatedAt = at,
            Summary = "error ratio 0.09 (1.8/20) > max 0.05",
            EvidenceJson = """{"verdict":"Breach","queries":[]}""",
        },
        "k1",
        new ActionRecord { IncidentId = 0, Kind = "rollback", Target = "kubectl/checkout/shop", IdempotencyKey = "rs-k1", Status = ActionStatus.Pending, CreatedAt = at },
        null);
}
