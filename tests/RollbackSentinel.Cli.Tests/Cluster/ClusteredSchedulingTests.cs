using Npgsql;
using Quartz;
using RollbackSentinel.Cli.Tests.Api;
using RollbackSentinel.Cli.Tests.Daemon;
using RollbackSentinel.Daemon;
using RollbackSentinel.Rules;
using RollbackSentinel.Storage.Postgres;
using RollbackSentinel.Testing.Postgres;
using RollbackSentinel.Testing.Time;
using Xunit.Abstractions;

namespace RollbackSentinel.Cli.Tests.Cluster;

/// <summary>
/// Quartz's clustered job store on a real PostgreSQL, configured as the daemon configures it: the schema migration 2
/// makes, one run of a job at a time across nodes, failover of a dead node's jobs, and restarts that leave the
/// cluster's triggers alone. Nodes are containers in this process, each with its own connections, as separate
/// sentinels would be; a node "dies" when the database refuses its role and ends its sessions (no goodbye, as kill -9).
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class ClusteredSchedulingTests(PostgresFixture postgres, ITestOutputHelper output) : IAsyncLifetime
{
    /// <summary>Short, so failover happens within seconds here; the daemon's default is 5 s.</summary>
    private static readonly TimeSpan Checkin = TimeSpan.FromSeconds(1);

    private static readonly TimeSpan Within = TimeSpan.FromSeconds(120);

    private readonly List<QuartzNode> _nodes = [];
    private readonly List<string> _roles = [];
    private string _connectionString = string.Empty;

    public async Task InitializeAsync()
    {
        _connectionString = await postgres.Server.CreateDatabaseAsync(CancellationToken.None);
        await using var store = PostgresStore.Create(_connectionString, TimeProvider.System);
        await store.InitializeAsync(CancellationToken.None);
    }

    public async Task DisposeAsync()
    {
        foreach (var node in _nodes)
        {
            await node.DisposeAsync();
        }

        await postgres.Server.DropDatabaseAsync(_connectionString, CancellationToken.None);
        foreach (var role in _roles)
        {
            await ExecuteAsync(postgres.Server.ConnectionString(), $"DROP ROLE IF EXISTS \"{role}\"");
        }
    }

    [Fact]
    public async Task Migration_CreatesQuartzTablesInTheirSchema_AndAClusteredNodeChecksInAndRunsJobs()
    {
        var tables = await QueryAsync("SELECT table_name FROM information_schema.tables WHERE table_schema = 'quartz' ORDER BY table_name");
        Assert.Equal(
            [
                "qrtz_blob_triggers", "qrtz_calendars", "qrtz_cron_triggers", "qrtz_execution_history", "qrtz_fired_triggers", "qrtz_job_details",
                "qrtz_job_status", "qrtz_locks", "qrtz_misfire_history", "qrtz_paused_job_grps", "qrtz_paused_trigger_grps", "qrtz_scheduler_state",
                "qrtz_simple_triggers", "qrtz_simprop_triggers", "qrtz_triggers",
            ],
            tables);
        Assert.Empty(await QueryAsync("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_name LIKE 'qrtz%'"));

        var runs = new RunLog();
        var node = await StartNodeAsync("node-a", runs);
        Assert.Equal(SchedulerStatus.Running, node.Scheduler.Status);
        await node.ScheduleRecordingJobAsync("p1", TimeSpan.FromSeconds(1), TimeSpan.Zero, TimeProvider.System.GetUtcNow());

        await Eventually.WaitAsync(() => Task.FromResult(runs.Runs.Count(r => r.End is not null) >= 2), Within, "two runs of p1");
        Assert.All(runs.Runs, r => Assert.Equal(("p1", "node-a"), (r.Job, r.Node)));
        Assert.Equal(["RollbackSentinel|node-a"], await QueryAsync("SELECT sched_name || '|' || instance_name FROM quartz.qrtz_scheduler_state"));
        Assert.Equal(
            ["p1|policies|RollbackSentinel.Cli.Tests.Cluster.RecordingJob, RollbackSentinel.Cli.Tests"],
            await QueryAsync("SELECT job_name || '|' || job_group || '|' || job_class_name FROM quartz.qrtz_job_details"));
    }

    [Fact]
    public async Task ThreeNodes_ManyJobsLongerThanTheirInterval_EachJobRunsOnOneNodeAtATime_AndRunsAreSpreadOverAllNodes()
    {
        var runs = new RunLog();
        var nodes = new[] { await StartNodeAsync("node-a", runs), await StartNodeAsync("node-b", runs), await StartNodeAsync("node-c", runs) };

        // Each run takes longer than the interval: a node that ignored another's running firing would overlap it.
        var start = TimeProvider.System.GetUtcNow().AddSeconds(1);
        const int Jobs = 12;
        for (var i = 0; i < Jobs; i++)
        {
            await nodes[i % 3].ScheduleRecordingJobAsync($"p{i}", TimeSpan.FromSeconds(1), TimeSpan.FromMilliseconds(1200), start.AddMilliseconds(i * 83));
        }

        await Eventually.WaitAsync(
            () =>
            {
                var done = runs.Runs.Where(r => r.End is not null).ToList();
                return Task.FromResult(
                    Enumerable.Range(0, Jobs).All(i => done.Count(r => r.Job == $"p{i}") >= 5)
                    && nodes.All(n => done.Any(r => r.Node == n.Id)));
            },
            Within,
            "five runs of every job, and runs on every node");

        var all = runs.Runs.Where(r => r.End is not null).ToList();
        foreach (var job in all.GroupBy(r => r.Job))
        {
            var ordered = job.OrderBy(r => r.Start).ToList();
            for (var i = 1; i < ordered.Count; i++)
            {
                Assert.True(
                    ordered[i].Start >= ordered[i - 1].End,
                    $"{job.Key} ran on {ordered[i].Node} from {ordered[i].Start:HH:mm:ss.fff} while its run on {ordered[i - 1].Node} went on until {ordered[i - 1].End:HH:mm:ss.fff}");
            }
        }

        Assert.All(nodes, n => Assert.Contains(all, r => r.Node == n.Id));
        output.WriteLine(string.Join(", ", all.GroupBy(r => r.Node).OrderBy(g => g.Key).Select(g => $"{g.Key}: {g.Count()} runs")));
    }

    [Fact]
    public async Task NodeDiesWhileRunningAJob_ItsJobsAreRunByTheOthers_AfterItMissesItsCheckIns()
    {
        var runs = new RunLog();
        var doomed = await StartNodeAsync("node-c", runs, await RoleConnectionStringAsync("node_c"));
        var nodes = new[] { await StartNodeAsync("node-a", runs), await StartNodeAsync("node-b", runs), doomed };
        var start = TimeProvider.System.GetUtcNow().AddSeconds(1);
        const int Jobs = 9;
        for (var i = 0; i < Jobs; i++)
        {
            await nodes[i % 3].ScheduleRecordingJobAsync($"p{i}", TimeSpan.FromSeconds(1), TimeSpan.FromMilliseconds(700), start.AddMilliseconds(i * 111));
        }

        // Kill node-c in the middle of a run: that job's trigger is blocked for the whole cluster until the run is recovered.
        var inFlight = await Eventually.WaitAsync(
            () => Task.FromResult(runs.Runs.LastOrDefault(r => r.Node == doomed.Id && r.End is null && TimeProvider.System.GetUtcNow() - r.Start < TimeSpan.FromMilliseconds(300))),
            Within,
            "node-c in the middle of a run");
        var killedAt = TimeProvider.System.GetUtcNow();
        await ExecuteAsync(postgres.Server.ConnectionString(), $"ALTER ROLE \"{_roles[0]}\" NOLOGIN");
        await ExecuteAsync(postgres.Server.ConnectionString(), $"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{_roles[0]}'");

        // Every job runs again after the kill, on the two live nodes: the one node-c was running included.
        await Eventually.WaitAsync(
            () => Task.FromResult(Enumerable.Range(0, Jobs).All(i => runs.Runs.Any(r => r.Job == $"p{i}" && r.Node != doomed.Id && r.Start > killedAt))),
            Within,
            "every job run by node-a or node-b after node-c died");

        var after = runs.Runs.Where(r => r.Node != doomed.Id && r.Start > killedAt).ToList();
        var resumed = after.Where(r => r.Job == inFlight.Job).Min(r => r.Start);
        Assert.DoesNotContain(runs.Runs, r => r.Node == doomed.Id && r.Start > killedAt.AddSeconds(1));
        output.WriteLine($"check-in {Checkin.TotalSeconds} s: {inFlight.Job}, running on node-c when it died, ran again {(resumed - killedAt).TotalSeconds:0.0} s later; "
            + $"the last job to move did after {(Enumerable.Range(0, Jobs).Max(i => after.Where(r => r.Job == $"p{i}").Min(r => r.Start)) - killedAt).TotalSeconds:0.0} s");
    }

    [Fact]
    public async Task RestartingNode_LeavesUnchangedPoliciesTriggersAlone_ReschedulesAChangedOne_AndDeletesOnlyWhatItsReloadRemoved()
    {
        var time = new ManualTimeProvider(new DateTimeOffset(2026, 12, 5, 16, 0, 0, TimeSpan.Zero));
        var first = await StartNodeAsync("node-a", start: false);
        var registry = new PolicyRegistry(time);
        var loaded = registry.Apply([Parse("a.yaml", "checkout", "15s"), Parse("b.yaml", "search", "30s"), Parse("c.yaml", "cart", "1m")], []);
        Assert.Empty(await new PolicyScheduler(first.Factory, time).ApplyAsync(loaded, CancellationToken.None));
        var before = await TriggersAsync(first.Scheduler);
        await first.DisposeAsync();
        _nodes.Remove(first);

        // The node comes back later with "search" on a new interval and "cart" gone from its rules (another node may still have it).
        time.Advance(TimeSpan.FromMinutes(7));
        var restarted = await StartNodeAsync("node-a", start: false);
        var registryAgain = new PolicyRegistry(time);
        var reloaded = registryAgain.Apply([Parse("a.yaml", "checkout", "15s"), Parse("b.yaml", "search", "20s")], []);
        var scheduler = new PolicyScheduler(restarted.Factory, time);
        Assert.Empty(await scheduler.ApplyAsync(reloaded, CancellationToken.None));

        var after = await TriggersAsync(restarted.Scheduler);
        Assert.Equal(before["checkout"], after["checkout"]);
        Assert.Equal(before["cart"], after["cart"]);
        Assert.Equal(TimeSpan.FromSeconds(20), after["search"].Interval);
        Assert.True(after["search"].Start >= time.GetUtcNow(), "search's new schedule starts from the restart");
        var search = await restarted.Scheduler.GetJobDetail(new JobKey("search", PolicyScheduler.Group));
        Assert.Equal("every 20s", search!.JobDataMap.GetString(PolicyJob.ScheduleKey));

        // Only this node's own reload that drops "checkout" deletes its job.
        var removal = registryAgain.Apply([Parse("b.yaml", "search", "20s")], []);
        await scheduler.ApplyAsync(removal, CancellationToken.None);
        Assert.Equal(["cart", "search"], (await TriggersAsync(restarted.Scheduler)).Keys.Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task OnACluster_PolicyJobsAllowConcurrentExecution_SoTheirRoundsTakeNoLock_AndAJobStoredByAnOlderVersionIsReplacedOnce()
    {
        var time = new ManualTimeProvider(new DateTimeOffset(2026, 12, 5, 16, 0, 0, TimeSpan.Zero));
        var node = await StartNodeAsync("node-a", start: false);

        // What an earlier version stored: the same schedule, but a job that disallowed concurrent execution (every round
        // of it took Quartz's cluster-wide lock row).
        var old = JobBuilder.Create<PolicyJob>().WithIdentity("checkout", PolicyScheduler.Group).DisallowConcurrentExecution()
            .UsingJobData(PolicyJob.PolicyKey, "checkout").UsingJobData(PolicyJob.ScheduleKey, "every 15s").Build();
        var oldTrigger = TriggerBuilder.Create().WithIdentity("checkout", PolicyScheduler.Group).StartAt(time.GetUtcNow().AddMinutes(1))
            .WithSimpleSchedule(x => x.WithInterval(TimeSpan.FromSeconds(15)).RepeatForever()).Build();
        await node.Scheduler.ScheduleJob(old, [oldTrigger], ScheduleJobOptions.Replacing, CancellationToken.None);
        Assert.Equal(["checkout|t"], await QueryAsync("SELECT job_name || '|' || left(is_nonconcurrent::text, 1) FROM quartz.qrtz_job_details"));

        var registry = new PolicyRegistry(time);
        var loaded = registry.Apply([Parse("a.yaml", "checkout", "15s"), Parse("b.yaml", "search", "30s")], []);
        Assert.Empty(await new PolicyScheduler(node.Factory, time).ApplyAsync(loaded, CancellationToken.None));

        Assert.Equal(
            ["checkout|f", "search|f"],
            (await QueryAsync("SELECT job_name || '|' || left(is_nonconcurrent::text, 1) FROM quartz.qrtz_job_details")).Order(StringComparer.Ordinal));
        Assert.False((await node.Scheduler.GetJobDetail(new JobKey("checkout", PolicyScheduler.Group)))!.ConcurrentExecutionDisallowed);

        // Applied again (a restart, another node starting): nothing is rescheduled.
        var triggers = await TriggersAsync(node.Scheduler);
        time.Advance(TimeSpan.FromMinutes(3));
        var again = new PolicyRegistry(time).Apply([Parse("a.yaml", "checkout", "15s"), Parse("b.yaml", "search", "30s")], []);
        Assert.Empty(await new PolicyScheduler(node.Factory, time).ApplyAsync(again, CancellationToken.None));
        Assert.Equal(triggers, await TriggersAsync(node.Scheduler));
    }

    /// <summary>
    /// The product's store configuration leaves Quartz's lock-free firing rounds on (an isolation level above read
    /// committed, or the option off, would turn them off for every round): with the policy jobs allowing concurrent
    /// execution (OnACluster_PolicyJobsAllowConcurrentExecution_...), their rounds take no TRIGGER_ACCESS lock.
    /// </summary>
    [Fact]
    public async Task TwoNodes_ProductStoreConfiguration_KeepsQuartzLockFreeFiringRoundsOn()
    {
        var logs = new LogCapture();
        await StartNodeAsync("node-a", logs: logs);
        await StartNodeAsync("node-b", logs: logs);

        var state = await Eventually.WaitAsync(
            () => Task.FromResult(logs.Entries.LastOrDefault(e => e.Contains("Lock-free firing rounds are", StringComparison.Ordinal))),
            Within,
            "Quartz saying whether its firing rounds may go without the cluster lock");
        var peers = await Eventually.WaitAsync(
            () => Task.FromResult(logs.Entries.LastOrDefault(e => e.Contains("beside this one) is Quartz", StringComparison.Ordinal))),
            Within,
            "Quartz saying whether the live peers allow lock-free rounds");
        output.WriteLine(state + "\n" + peers);
        Assert.Contains("Lock-free firing rounds are on:", state, StringComparison.Ordinal);
        Assert.Contains("(1 beside this one)", peers, StringComparison.Ordinal);
        Assert.Contains("takes no TRIGGER_ACCESS lock", peers, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Daemon_OnPostgres_SchedulesItsPoliciesInTheClusteredStore_AsItsNodeId()
    {
        await using var sentinel = await InProcessSentinel.StartAsync(extraSettings: (options, _) =>
        {
            options.Storage.Postgres.ConnectionString = _connectionString;
            options.Node.Id = "sentinel-1";
            options.Cluster.CheckinInterval = "1s";
        });

        await Eventually.WaitAsync(
            async () => (await QueryAsync("SELECT instance_name FROM quartz.qrtz_scheduler_state WHERE sched_name = 'RollbackSentinel'")).Contains("sentinel-1"),
            Within,
            "the daemon's check-in as node sentinel-1");
        Assert.Equal(
            ["other|policies|RollbackSentinel.Daemon.PolicyJob, RollbackSentinel", "shop|policies|RollbackSentinel.Daemon.PolicyJob, RollbackSentinel"],
            await QueryAsync("SELECT job_name || '|' || job_group || '|' || job_class_name FROM quartz.qrtz_job_details ORDER BY job_name"));
        Assert.Equal(
            ["other|policies|SIMPLE", "shop|policies|SIMPLE"],
            await QueryAsync("SELECT trigger_name || '|' || trigger_group || '|' || trigger_type FROM quartz.qrtz_triggers ORDER BY trigger_name"));
    }

    [Fact]
    public async Task UnreachableDatabase_PasswordIsInNoErrorAndNoLog()
    {
        const string Password = "quartz-secret-Pa55word";
        var unreachable = new NpgsqlConnectionStringBuilder(_connectionString)
        {
            Port = Testing.Net.FreePort.Next(),
            Password = Password,
            Timeout = 2,
        }.ConnectionString;
        var logs = new LogCapture();

        var error = await Assert.ThrowsAnyAsync<Exception>(() => StartNodeAsync("node-a", connectionString: unreachable, logs: logs));

        var everything = error + "\n" + logs.Text;
        Assert.Contains("127.0.0.1", everything, StringComparison.Ordinal);
        Assert.DoesNotContain(Password, everything, StringComparison.Ordinal);
    }

    private static FileParseResult Parse(string file, string name, string interval) =>
        PolicyParser.Parse(file, PolicyYaml.WithWebhook(name, PolicyYaml.ErrorRateTrigger, interval));

    /// <summary>The policy triggers stored in the cluster (read from its table: every node's, not only this one's).</summary>
    private async Task<Dictionary<string, (DateTimeOffset Start, TimeSpan Interval, DateTimeOffset? Next)>> TriggersAsync(IScheduler scheduler)
    {
        var result = new Dictionary<string, (DateTimeOffset, TimeSpan, DateTimeOffset?)>(StringComparer.Ordinal);
        foreach (var name in await QueryAsync($"SELECT trigger_name FROM quartz.qrtz_triggers WHERE sched_name = 'RollbackSentinel' AND trigger_group = '{PolicyScheduler.Group}'"))
        {
            var trigger = (ISimpleTrigger)(await scheduler.GetTrigger(new TriggerKey(name, PolicyScheduler.Group)))!;
            result[name] = (trigger.StartTimeUtc, trigger.RepeatInterval, trigger.NextFireTimeUtc);
        }

        return result;
    }

    private async Task<QuartzNode> StartNodeAsync(string id, RunLog? runs = null, string? connectionString = null, bool start = true, LogCapture? logs = null)
    {
        var node = await QuartzNode.StartAsync(id, connectionString ?? _connectionString, Checkin, runs, start, logs);
        _nodes.Add(node);
        return node;
    }

    /// <summary>A login role of its own for a node, so the test can shut the database's door on that node alone.</summary>
    private async Task<string> RoleConnectionStringAsync(string node)
    {
        var database = new NpgsqlConnectionStringBuilder(_connectionString).Database!;
        var role = $"{database}_{node}";
        _roles.Add(role);
        await ExecuteAsync(postgres.Server.ConnectionString(), $"CREATE ROLE \"{role}\" LOGIN");
        await ExecuteAsync(_connectionString, $"GRANT USAGE ON SCHEMA quartz TO \"{role}\"; GRANT ALL ON ALL TABLES IN SCHEMA quartz TO \"{role}\"");
        return new NpgsqlConnectionStringBuilder(_connectionString) { Username = role }.ConnectionString;
    }

    private async Task<List<string>> QueryAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(_connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new List<string>();
        while (await reader.ReadAsync())
        {
            rows.Add(reader.GetString(0));
        }

        return rows;
    }

    private static async Task ExecuteAsync(string connectionString, string sql)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }
}
