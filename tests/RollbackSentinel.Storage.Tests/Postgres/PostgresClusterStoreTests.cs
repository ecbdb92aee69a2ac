using Npgsql;
using RollbackSentinel.Core.Cluster;
using RollbackSentinel.Storage.Postgres;
using RollbackSentinel.Testing.Postgres;

namespace RollbackSentinel.Storage.Tests.Postgres;

/// <summary>Cluster membership on the real PostgreSQL: every node's check-in in one shared table (migration 3).</summary>
[Collection(PostgresCollection.Name)]
public sealed class PostgresClusterStoreTests(PostgresFixture postgres) : IAsyncLifetime
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 20, 14, 30, 0, TimeSpan.Zero);
    private static readonly CancellationToken None = CancellationToken.None;

    private PostgresNodes _nodes = null!;

    private IReadOnlyList<IPostgresStore> Stores => _nodes.Stores;

    public async Task InitializeAsync() => _nodes = await PostgresNodes.StartAsync(postgres.Server, 2);

    public async Task DisposeAsync() => await _nodes.DisposeAsync();

    [Fact]
    public async Task CheckIn_FromTwoNodes_EachListsBothOrderedById()
    {
        await Stores[0].CheckInAsync(new NodeCheckIn("node-b", T0, T0.AddMinutes(-5), "sha256:aaaaaaaaaaaa", 12, "0.1.0"), None);
        await Stores[1].CheckInAsync(new NodeCheckIn("node-a", T0.AddSeconds(1), T0.AddMinutes(-3), "sha256:bbbbbbbbbbbb", 7, "0.2.0"), None);

        var seenByFirst = await Stores[0].ListNodesAsync(None);
        var seenBySecond = await Stores[1].ListNodesAsync(None);

        Assert.Equal(
            [
                new ClusterNode("node-a", T0.AddSeconds(1), T0.AddMinutes(-3), "sha256:bbbbbbbbbbbb", 7, "0.2.0"),
                new ClusterNode("node-b", T0, T0.AddMinutes(-5), "sha256:aaaaaaaaaaaa", 12, "0.1.0"),
            ],
            seenByFirst);
        Assert.Equal(seenByFirst, seenBySecond);
    }

    [Fact]
    public async Task CheckIn_AgainBySameNode_ReplacesItsRow()
    {
        await Stores[0].CheckInAsync(new NodeCheckIn("node-a", T0, T0.AddMinutes(-5), "sha256:aaaaaaaaaaaa", 12, "0.1.0"), None);

        await Stores[0].CheckInAsync(new NodeCheckIn("node-a", T0.AddSeconds(5), T0.AddMinutes(-5), "sha256:cccccccccccc", 15, "0.1.0"), None);

        var node = Assert.Single(await Stores[1].ListNodesAsync(None));
        Assert.Equal(new ClusterNode("node-a", T0.AddSeconds(5), T0.AddMinutes(-5), "sha256:cccccccccccc", 15, "0.1.0"), node);
    }

    [Fact]
    public async Task Leave_RemovesOnlyThatNode_AndAnUnknownNodeIsNoError()
    {
        await Stores[0].CheckInAsync(new NodeCheckIn("node-a", T0, T0, "sha256:aaaaaaaaaaaa", 1, "0.1.0"), None);
        await Stores[1].CheckInAsync(new NodeCheckIn("node-b", T0, T0, "sha256:aaaaaaaaaaaa", 2, "0.1.0"), None);

        await Stores[0].LeaveAsync("node-a", None);
        await Stores[0].LeaveAsync("never-seen", None);

        Assert.Equal(["node-b"], (await Stores[1].ListNodesAsync(None)).Select(n => n.NodeId));
    }

    [Fact]
    public async Task CheckIn_ManyNodesAtOnce_EachStoredOnceWithItsLatestCheckIn()
    {
        var nodes = Enumerable.Range(0, 6).Select(i => $"node-{i}").ToArray();

        await Task.WhenAll(nodes.SelectMany(n => Enumerable.Range(0, 5).Select(k => (n, k))).Select(x =>
            Stores[x.k % 2].CheckInAsync(new NodeCheckIn(x.n, T0, T0, "sha256:aaaaaaaaaaaa", x.k, "0.1.0"), None)));
        await Task.WhenAll(nodes.Select(n => Stores[0].CheckInAsync(new NodeCheckIn(n, T0.AddSeconds(5), T0, "sha256:aaaaaaaaaaaa", 99, "0.1.0"), None)));

        var listed = await Stores[1].ListNodesAsync(None);
        Assert.Equal(nodes, listed.Select(n => n.NodeId));
        Assert.All(listed, n => Assert.Equal((T0.AddSeconds(5), 99), (n.LastCheckIn, n.EvaluationsLastMinute)));
    }

    [Fact]
    public async Task CheckIn_AnswersTheTokenItReplacedAndTheDatabasesClock_AndStoresTokenAndSkew()
    {
        var before = TimeProvider.System.GetUtcNow();
        var first = await Stores[0].CheckInAsync(new NodeCheckIn("node-a", T0, T0, "sha256:aaaaaaaaaaaa", 1, "0.1.0") { InstanceToken = "one", ClockSkewSeconds = 0.25 }, None);
        var second = await Stores[1].CheckInAsync(new NodeCheckIn("node-a", T0.AddSeconds(1), T0, "sha256:aaaaaaaaaaaa", 1, "0.1.0") { InstanceToken = "two" }, None);
        var reading = await Stores[0].ReadNodeAsync("node-a", None);
        var none = await Stores[0].ReadNodeAsync("never-seen", None);
        var after = TimeProvider.System.GetUtcNow();

        Assert.Null(first.PreviousToken);
        Assert.Equal("one", second.PreviousToken);
        Assert.InRange(first.StoreTime, before.AddSeconds(-5), after.AddSeconds(5)); // the fixture's server runs on this machine's clock
        Assert.True(second.StoreTime >= first.StoreTime);
        Assert.Equal(new ClusterNode("node-a", T0.AddSeconds(1), T0, "sha256:aaaaaaaaaaaa", 1, "0.1.0") { InstanceToken = "two" }, reading.Node);
        Assert.Null(none.Node);
        Assert.InRange(none.StoreTime, before.AddSeconds(-5), after.AddSeconds(5));
    }

    [Fact]
    public async Task Leave_WithAToken_RemovesTheRowOnlyIfThatProcessWroteItLast()
    {
        await Stores[0].CheckInAsync(new NodeCheckIn("node-a", T0, T0, "sha256:aaaaaaaaaaaa", 1, "0.1.0") { InstanceToken = "one", ClockSkewSeconds = -0.5 }, None);
        var stored = Assert.Single(await Stores[1].ListNodesAsync(None));

        await Stores[1].LeaveAsync("node-a", "two", None);
        var kept = await Stores[1].ListNodesAsync(None);
        await Stores[0].LeaveAsync("node-a", "one", None);

        Assert.Equal(("one", -0.5), (stored.InstanceToken, stored.ClockSkewSeconds));
        Assert.Single(kept);
        Assert.Empty(await Stores[1].ListNodesAsync(None));
    }

    [Fact]
    public async Task ClusterNodes_TableHasTheDocumentedColumns()
    {
        await using var connection = new NpgsqlConnection(_nodes.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'cluster_nodes' ORDER BY ordinal_position", connection);
        await using var reader = await command.ExecuteReaderAsync();
        var columns = new List<(string, string)>();
        while (await reader.ReadAsync())
        {
            columns.Add((reader.GetString(0), reader.GetString(1)));
        }

        Assert.Equal(
            [
                ("node_id", "text"),
                ("last_checkin", "timestamp with time zone"),
                ("started_at", "timestamp with time zone"),
                ("rules_version", "text"),
                ("evaluations_last_minute", "integer"),
                ("sentinel_version", "text"),
                ("instance_token", "text"),
                ("clock_skew_seconds", "double precision"),
            ],
            columns);
    }
}
