using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using RollbackSentinel.Cli.Tests.Api;
using RollbackSentinel.Cli.Tests.Daemon;
using RollbackSentinel.Daemon;
using RollbackSentinel.Rules;
using RollbackSentinel.Storage.Postgres;
using RollbackSentinel.Testing.Postgres;

namespace RollbackSentinel.Cli.Tests.Cluster;

/// <summary>
/// The daemon in this process on the real PostgreSQL: its clock measured against the database's (a node whose clock is
/// offset), and the job of a policy no node has any more, kept while the rules versions are mixed and deleted once every
/// alive node agrees. Another node is its row in <c>cluster_nodes</c>, checked in by the test.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class ClusterMembershipPostgresTests(PostgresFixture postgres) : IAsyncLifetime
{
    private static readonly TimeSpan Within = TimeSpan.FromSeconds(90);

    private string _connectionString = string.Empty;

    public async Task InitializeAsync()
    {
        _connectionString = await postgres.Server.CreateDatabaseAsync(CancellationToken.None);
        await using var store = PostgresStore.Create(_connectionString, TimeProvider.System);
        await store.InitializeAsync(CancellationToken.None);
    }

    public Task DisposeAsync() => postgres.Server.DropDatabaseAsync(_connectionString, CancellationToken.None);

    [Fact]
    public async Task NodeClockAheadOfTheDatabase_TheSkewIsInTheApiTheGaugeAndOneWarning()
    {
        await using var sentinel = await InProcessSentinel.StartAsync(
            extraSettings: (options, _) =>
            {
                options.Storage.Postgres.ConnectionString = _connectionString;
                options.Node.Id = "skewed";
                options.Cluster.CheckinInterval = "1s";
            },
            services: s => s.AddSingleton<TimeProvider>(new OffsetTime(TimeSpan.FromSeconds(4))));
        using var api = sentinel.Api();

        var node = (JsonElement)await Eventually.WaitAsync(
            async () => (await api.GetJsonAsync("api/v1/cluster")).GetProperty("nodes") is var nodes && nodes.GetArrayLength() == 1
                && nodes[0].GetProperty("clockSkewSeconds").ValueKind == JsonValueKind.Number ? (object)nodes[0].Clone() : null,
            Within,
            "a check-in that records the measured skew" + Environment.NewLine + sentinel.Log.Text);
        await Eventually.WaitAsync(
            () => Task.FromResult(sentinel.Log.Entries.Any(e => e.Contains("[1150]", StringComparison.Ordinal))), Within, "the skew warning" + Environment.NewLine + sentinel.Log.Text);
        var metrics = await api.Http.GetStringAsync("metrics");
        await Eventually.WaitAsync(async () => (await api.GetJsonAsync("api/v1/cluster")).GetProperty("nodes")[0].GetProperty("lastCheckIn").GetString() != node.GetProperty("lastCheckIn").GetString(), Within, "more check-ins");

        // Node minus database: +4 s, give or take the round trips of a busy machine.
        Assert.InRange(node.GetProperty("clockSkewSeconds").GetDouble(), 3, 5);
        Assert.InRange(ClusterDaemonTests.Sample(metrics, "rollback_sentinel_cluster_clock_skew_seconds")!.Value, 3, 5);
        var warning = Assert.Single(sentinel.Log.Entries, e => e.Contains("[1150]", StringComparison.Ordinal));
        Assert.StartsWith("Warning RollbackSentinel.Daemon.ClockSkew[1150] This node's clock is +", warning, StringComparison.Ordinal);
        Assert.Contains("s off the store's (node minus database, ±", warning, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Sqlite_TheSkewIsZero_InTheApiAndTheGauge()
    {
        await using var sentinel = await InProcessSentinel.StartAsync(extraSettings: (options, _) => options.Cluster.CheckinInterval = "1s");
        using var api = sentinel.Api();

        var node = (JsonElement)await Eventually.WaitAsync(
            async () => (await api.GetJsonAsync("api/v1/cluster")).GetProperty("nodes") is var nodes && nodes.GetArrayLength() == 1 ? (object)nodes[0].Clone() : null,
            Within,
            "the first check-in");
        var metrics = await api.Http.GetStringAsync("metrics");

        Assert.Equal(0, node.GetProperty("clockSkewSeconds").GetDouble());
        Assert.Equal(0, ClusterDaemonTests.Sample(metrics, "rollback_sentinel_cluster_clock_skew_seconds"));
    }

    [Fact]
    public async Task JobOfAPolicyNoNodeHas_KeptWhileAnotherAliveNodeRunsOtherRules_DeletedOnceEveryAliveNodeAgrees()
    {
        // A policy "gone" was scheduled by nodes that have since all come back without it.
        var old = await QuartzNode.StartAsync("old-node", _connectionString, TimeSpan.FromSeconds(1), start: false);
        try
        {
            var registry = new PolicyRegistry(TimeProvider.System);
            var change = registry.Apply([PolicyParser.Parse("gone.yaml", PolicyYaml.WithWebhook("gone", """
                - name: errors
                  threshold:
                    query: sum(rate(http_requests_total[1m]))
                    op: ">"
                    value: 1
                  action: rollback
                """, "1s"))], []);
            Assert.Empty(await new PolicyScheduler(old.Factory, TimeProvider.System).ApplyAsync(change, CancellationToken.None));
        }
        finally
        {
            await old.DisposeAsync();
        }

        // Another node, alive, whose rules differ (a rollout in progress): it may have "gone".
        using var stopOther = new CancellationTokenSource();
        var other = CheckInAsync("rolling-node", "sha256:000000000000", stopOther.Token);
        await using var sentinel = await InProcessSentinel.StartAsync(extraSettings: (options, _) =>
        {
            options.Storage.Postgres.ConnectionString = _connectionString;
            options.Node.Id = "sentinel-1";
            options.Cluster.CheckinInterval = "1s";
        });
        using var api = sentinel.Api();

        await Eventually.WaitAsync(
            async () => ClusterDaemonTests.Sample(await api.Http.GetStringAsync("metrics"), "rollback_sentinel_cluster_foreign_policy_runs_total{policy=\"gone\"}") >= 4,
            Within,
            "slots of gone skipped here" + Environment.NewLine + sentinel.Log.Text);
        var keptWhileMixed = await JobsAsync();
        var mixed = (await api.GetJsonAsync("api/v1/cluster")).GetProperty("mixedRules").GetBoolean();

        // The other node stops (crashes): once it is dead, every alive node runs the same rules, which lack "gone".
        await stopOther.CancelAsync();
        await other;
        await Eventually.WaitAsync(async () => !(await JobsAsync()).Contains("gone"), Within, "the job of gone deleted" + Environment.NewLine + sentinel.Log.Text);

        Assert.True(mixed);
        Assert.Equal(["gone", "other", "shop"], keptWhileMixed);
        Assert.Equal(["other", "shop"], await JobsAsync());

        // The deletion is logged after it is made, so the line may follow what the test saw in the table.
        await Eventually.WaitAsync(() => Task.FromResult(sentinel.Log.Entries.Any(e => e.Contains("OrphanedJobs[1152]", StringComparison.Ordinal))), Within, "the deletion's log line" + Environment.NewLine + sentinel.Log.Text);
        // Deleted once, said once. A slot whose check could not reach the store first says so (1153) and the next one
        // tries again: on a loaded machine that happens, and is what the product promises.
        var said = sentinel.Log.Entries.Where(e => e.Contains("OrphanedJobs[", StringComparison.Ordinal)).ToList();
        Assert.Equal(
            ["Warning RollbackSentinel.Daemon.OrphanedJobs[1152] Deleted the cluster's job of policy gone: no node has it any more (all 1 alive nodes run rules " + (await api.GetJsonAsync("api/v1/cluster")).GetProperty("rulesVersion").GetString() + ", which lack it); it was left by a policy removed while its nodes were down"],
            said.Where(e => !e.Contains("OrphanedJobs[1153]", StringComparison.Ordinal)));
        Assert.All(said.TakeWhile(e => e.Contains("OrphanedJobs[1153]", StringComparison.Ordinal)), e => Assert.Contains("its next slot tries again", e, StringComparison.Ordinal));
        Assert.Contains("OrphanedJobs[1152]", said[^1], StringComparison.Ordinal);
    }

    /// <summary>Checks in as <paramref name="node"/> every 300 ms until stopped (then leaves its row, as a crashed node does).</summary>
    private async Task CheckInAsync(string node, string rulesVersion, CancellationToken stop)
    {
        await using var connection = new NpgsqlConnection(_connectionString);
        await connection.OpenAsync(CancellationToken.None);
        while (!stop.IsCancellationRequested)
        {
            await using (var command = new NpgsqlCommand(
                """
                INSERT INTO cluster_nodes (node_id, last_checkin, started_at, rules_version, evaluations_last_minute, sentinel_version)
                VALUES (@node, now(), now(), @rules, 0, '0.1.0')
                ON CONFLICT (node_id) DO UPDATE SET last_checkin = excluded.last_checkin
                """,
                connection))
            {
                command.Parameters.AddWithValue("node", node);
                command.Parameters.AddWithValue("rules", rulesVersion);
                await command.ExecuteNonQueryAsync(CancellationToken.None);
            }

            try
            {
                await Task.Delay(300, stop);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private async Task<List<string>> JobsAsync()
    {
        await using var connection = new NpgsqlConnection(_connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT job_name FROM quartz.qrtz_job_details WHERE job_group = 'policies' ORDER BY job_name", connection);
        await using var reader = await command.ExecuteReaderAsync();
        var jobs = new List<string>();
        while (await reader.ReadAsync())
        {
            jobs.Add(reader.GetString(0));
        }

        return jobs;
    }

    /// <summary>The system's clock, <paramref name="offset"/> ahead: a node whose clock is off.</summary>
    private sealed class OffsetTime(TimeSpan offset) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => base.GetUtcNow() + offset;
    }
}
