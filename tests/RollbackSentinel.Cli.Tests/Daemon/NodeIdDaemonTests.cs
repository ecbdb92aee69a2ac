using System.Text.RegularExpressions;
using Npgsql;
using RollbackSentinel.Testing.Postgres;

namespace RollbackSentinel.Cli.Tests.Daemon;

/// <summary>
/// <c>node.id</c> is one process's: daemon processes on one real PostgreSQL. A second process with a live node's id refuses
/// to start; a node restarted after kill -9 starts; two processes that do share one (one was frozen past the liveness
/// window and the other started meanwhile) each say so and are not ready until only one is left.
/// </summary>
[Collection(PostgresDaemonCollection.Name)]
public sealed class NodeIdDaemonTests(PostgresFixture postgres)
{
    private static readonly TimeSpan Generous = TimeSpan.FromSeconds(60);
    private static readonly Uri NoPrometheus = new("http://127.0.0.1:9/");

    private static readonly string ValidPolicy = PolicyYaml.WithWebhook("checkout", PolicyYaml.ErrorRateTrigger);

    [Fact]
    public async Task Run_NodeIdOfALiveNode_ExitsTwoNamingNodeId_AndTheNodeRestartedAfterKillNineStarts()
    {
        var database = await postgres.Server.CreateDatabaseAsync(CancellationToken.None);
        try
        {
            using var first = Workspace();
            using var second = Workspace();
            var running = await SentinelProcess.StartAsync(first, ["run", "--config", first.ConfigPath], Settings(database, "node-a"));
            try
            {
                var (exitCode, output) = await SentinelProcess.RunToExitAsync(second, ["run", "--config", second.ConfigPath], Settings(database, "node-a"));

                Assert.Equal(2, exitCode);
                var error = Assert.Single(output.Split('\n'), l => l.StartsWith("error: ", StringComparison.Ordinal));
                Assert.StartsWith("error: node.id 'node-a' is in use: another process with node.id 'node-a' is checked in to the cluster", error, StringComparison.Ordinal);
                Assert.DoesNotContain("   at ", output, StringComparison.Ordinal);
                using var api = new SentinelApi(first.BaseAddress);
                Assert.Equal((200, "ready"), await api.ReadinessAsync());
            }
            finally
            {
                await running.KillAsync();
                await running.DisposeAsync();
            }

            // Restarted at once after kill -9: its old row is fresh, and no process writes it any more.
            await using var restarted = await SentinelProcess.StartAsync(first, ["run", "--config", first.ConfigPath], Settings(database, "node-a"), within: Generous);
            using var again = new SentinelApi(first.BaseAddress);
            var cluster = await again.GetJsonAsync("api/v1/cluster");

            Assert.Equal(["node-a"], cluster.GetProperty("nodes").EnumerateArray().Select(n => n.GetProperty("id").GetString()));
            Assert.Contains("Taking over node.id 'node-a' from a process that last checked in at", restarted.Log, StringComparison.Ordinal);
        }
        finally
        {
            await postgres.Server.DropDatabaseAsync(database, CancellationToken.None);
        }
    }

    [Fact]
    public async Task TwoProcessesShareANodeId_BothSaySoAndAreNotReady_UntilOneStops()
    {
        var database = await postgres.Server.CreateDatabaseAsync(CancellationToken.None);
        try
        {
            using var first = Workspace();
            using var second = Workspace();
            await using var frozen = await SentinelProcess.StartAsync(first, ["run", "--config", first.ConfigPath], Settings(database, "node-a"));
            using var frozenApi = new SentinelApi(first.BaseAddress);

            // Frozen past the liveness window (3 x 1 s): a process starting now takes its row for a dead node's.
            await frozen.SignalAsync("STOP");
            await Eventually.WaitAsync(async () => await SecondsSinceCheckInAsync(database, "node-a") > 5, Generous, "node-a's row to go stale");
            // Up, not necessarily ready: if the stop caught the frozen process inside its check-in's transaction, its
            // row of node-a stays locked, and the newcomer's first check-in waits for it, until the frozen one resumes.
            await using var newcomer = await SentinelProcess.StartAsync(second, ["run", "--config", second.ConfigPath], Settings(database, "node-a"), untilReady: false, within: Generous);
            using var newcomerApi = new SentinelApi(second.BaseAddress);
            await frozen.SignalAsync("CONT");

            // Just woken, it may first say its store did not answer while it was frozen: wait for the reason that lasts.
            var frozenSays = await Eventually.WaitAsync(
                async () => await frozenApi.ReadinessAsync() is var r && r.Status == 503 && r.Detail.Contains("node.id", StringComparison.Ordinal) ? (object)r : null,
                Generous,
                "the woken process to be not ready" + Environment.NewLine + frozen.Log);
            var newcomerSays = await Eventually.WaitAsync(
                async () => await newcomerApi.ReadinessAsync() is var r && r.Status == 503 && r.Detail.Contains("node.id", StringComparison.Ordinal) ? (object)r : null,
                Generous,
                "the newcomer to be not ready" + Environment.NewLine + newcomer.Log);

            Assert.StartsWith("another process checks in as node.id 'node-a'", (((int, string))frozenSays).Item2, StringComparison.Ordinal);
            Assert.StartsWith("another process checks in as node.id 'node-a'", (((int, string))newcomerSays).Item2, StringComparison.Ordinal);
            Assert.Single(Regex.Matches(frozen.Log, "Another process checks in as node.id 'node-a'"));
            Assert.Contains("Another process checks in as node.id 'node-a'", newcomer.Log, StringComparison.Ordinal);

            // One of them stops: the other is ready again once none has been seen for the window.
            Assert.Equal(0, await frozen.TerminateAsync());
            await Eventually.WaitAsync(async () => (await newcomerApi.ReadinessAsync()).Status == 200, Generous, "the one left to be ready again" + Environment.NewLine + newcomer.Log);
            var cluster = await newcomerApi.GetJsonAsync("api/v1/cluster");
            Assert.Equal(["node-a"], cluster.GetProperty("nodes").EnumerateArray().Select(n => n.GetProperty("id").GetString()));
        }
        finally
        {
            await postgres.Server.DropDatabaseAsync(database, CancellationToken.None);
        }
    }

    private static SentinelWorkspace Workspace()
    {
        var workspace = new SentinelWorkspace(NoPrometheus);
        workspace.WriteRule("checkout.yaml", ValidPolicy);
        return workspace;
    }

    private static async Task<double> SecondsSinceCheckInAsync(string connectionString, string node)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT extract(epoch FROM clock_timestamp() - last_checkin)::float8 FROM cluster_nodes WHERE node_id = @node", connection);
        command.Parameters.AddWithValue("node", node);
        return await command.ExecuteScalarAsync() is double seconds ? seconds : 0;
    }

    private static Dictionary<string, string> Settings(string connectionString, string node) => new()
    {
        ["SENTINEL__STORAGE__POSTGRES__CONNECTIONSTRING"] = connectionString,
        ["SENTINEL__NODE__ID"] = node,
        ["SENTINEL__CLUSTER__CHECKININTERVAL"] = "1s",
    };
}
