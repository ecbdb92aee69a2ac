using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using RollbackSentinel.Cli.Tests.Api;
using RollbackSentinel.Core.Cluster;
using RollbackSentinel.Daemon;
using RollbackSentinel.Hosting;
using RollbackSentinel.Rules;
using RollbackSentinel.Telemetry;
using RollbackSentinel.Testing.Time;

namespace RollbackSentinel.Cli.Tests.Daemon;

/// <summary>The parts of cluster membership that need no process: the rules version, the evaluation window, reachability, the alive rule, the check-in's logs.</summary>
public sealed class ClusterMembershipTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 20, 10, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(5);

    private static FileParseResult File(string path, string yaml) => PolicyParser.Parse(path, yaml) with { Content = Encoding.UTF8.GetBytes(yaml) };

    private static string Policy(string name, double max = 0.05) => PolicyYaml.WithWebhook(name, $"""
        - name: errors
          errorRate:
            errors: sum(rate(errors_total[1m]))
            total: sum(rate(requests_total[1m]))
            max: {max.ToString(System.Globalization.CultureInfo.InvariantCulture)}
            minTotal: 1
          action: rollback
        """, "15s");

    /// <summary>The documented format, computed here: sha256: and 12 hex digits over path, NUL, bytes of each file by path.</summary>
    private static string Oracle(params (string Path, string Yaml)[] files)
    {
        var bytes = new List<byte>();
        foreach (var (path, yaml) in files.OrderBy(f => f.Path, StringComparer.Ordinal))
        {
            bytes.AddRange(Encoding.UTF8.GetBytes(path));
            bytes.Add(0);
            bytes.AddRange(Encoding.UTF8.GetBytes(yaml));
        }

        return "sha256:" + Convert.ToHexStringLower(SHA256.HashData(bytes.ToArray()))[..12];
    }

    [Fact]
    public void RulesVersion_SameFilesOnTwoNodes_IsTheSameAndTheDocumentedDigest()
    {
        var (a, b) = (Policy("a"), Policy("b"));
        var first = new PolicyRegistry(new ManualTimeProvider(T0));
        var second = new PolicyRegistry(new ManualTimeProvider(T0.AddHours(1)));

        first.Apply([File("/rules/a.yaml", a), File("/rules/team/b.yaml", b)], [], rulesFolder: "/rules");
        second.Apply([File("/srv/git/rules/team/b.yaml", b), File("/srv/git/rules/a.yaml", a)], [], rulesFolder: "/srv/git/rules");

        Assert.Equal(Oracle(("a.yaml", a), ("team/b.yaml", b)), first.RulesVersion);
        Assert.Equal(first.RulesVersion, second.RulesVersion);
        Assert.Matches("^sha256:[0-9a-f]{12}$", first.RulesVersion);
    }

    [Fact]
    public void RulesVersion_EditedOrRemovedFile_Changes_ABrokenEditKeepsTheVersionThatRuns()
    {
        var registry = new PolicyRegistry(new ManualTimeProvider(T0));
        registry.Apply([File("/rules/a.yaml", Policy("a")), File("/rules/b.yaml", Policy("b"))], [], rulesFolder: "/rules");
        var loaded = registry.RulesVersion;

        registry.Apply([File("/rules/a.yaml", Policy("a", max: 0.2)), File("/rules/b.yaml", Policy("b"))], [], rulesFolder: "/rules");
        var edited = registry.RulesVersion;
        registry.Apply([File("/rules/a.yaml", "spec: [broken"), File("/rules/b.yaml", Policy("b"))], [], rulesFolder: "/rules");
        var broken = registry.RulesVersion;
        registry.Apply([File("/rules/a.yaml", Policy("a", max: 0.2))], [], rulesFolder: "/rules");
        var removed = registry.RulesVersion;

        Assert.NotEqual(loaded, edited);
        Assert.Equal(Oracle(("a.yaml", Policy("a", max: 0.2)), ("b.yaml", Policy("b"))), edited);
        Assert.Equal(edited, broken); // the last good a.yaml still runs
        Assert.Equal(Oracle(("a.yaml", Policy("a", max: 0.2))), removed);
    }

    [Fact]
    public void RulesVersion_OneRuleFile_IsNamedByItsFileName()
    {
        var registry = new PolicyRegistry(new ManualTimeProvider(T0));

        registry.Apply([File("/etc/sentinel/shop.yaml", Policy("shop"))], []);

        Assert.Equal(Oracle(("shop.yaml", Policy("shop"))), registry.RulesVersion);
    }

    [Fact]
    public void EvaluationCounter_CountsTheLastSixtySecondsOnly()
    {
        var time = new ManualTimeProvider(T0);
        var counter = new EvaluationCounter(time);

        counter.Record();
        counter.Record();
        counter.Record();
        time.Advance(TimeSpan.FromSeconds(30));
        counter.Record();
        counter.Record();
        var atThirty = counter.LastMinute();
        time.Advance(TimeSpan.FromSeconds(29));
        var atFiftyNine = counter.LastMinute();
        time.Advance(TimeSpan.FromSeconds(1));
        var atSixty = counter.LastMinute();
        time.Advance(TimeSpan.FromSeconds(30));
        var atNinety = counter.LastMinute();

        Assert.Equal((5, 5, 2, 0), (atThirty, atFiftyNine, atSixty, atNinety));
    }

    [Fact]
    public void StoreReachability_SaysNothingBeforeTheCheckIns_ThenFollowsThem_AndSilenceBeyondTwoIntervalsIsUnreachable()
    {
        var time = new ManualTimeProvider(T0);
        var reachability = new StoreReachability(time, new SentinelOptions { Cluster = new SentinelOptions.ClusterSettings { CheckinInterval = "5s" } });
        var before = (reachability.Problem(), reachability.Up());

        reachability.Start();
        time.Advance(TimeSpan.FromSeconds(10));
        var withinTwoIntervals = reachability.Problem();
        time.Advance(TimeSpan.FromSeconds(1));
        var silent = reachability.Problem();
        reachability.Succeeded(time.GetUtcNow());
        var succeeded = (reachability.Problem(), reachability.Up());
        reachability.Failed(time.GetUtcNow(), "SocketException: Connection refused");
        var failed = (reachability.Problem(), reachability.Up());
        reachability.Succeeded(time.GetUtcNow());

        Assert.Equal((null, null), before);
        Assert.Null(withinTwoIntervals);
        Assert.Equal("the store is unreachable: no check-in has succeeded for 11s (more than two check-in intervals of 5s)", silent);
        Assert.Equal((null, 1), succeeded);
        Assert.Equal(("the store is unreachable: the check-in at 2026-11-20T10:00:11Z failed: SocketException: Connection refused", 0), failed);
        Assert.Null(reachability.Problem());
    }

    [Fact]
    public void ClusterView_AliveWithinThreeIntervals_RulesVersionsCountAliveNodesOnly()
    {
        var now = T0;
        ClusterNode Node(string id, TimeSpan silent, string rules) => new(id, now - silent, T0.AddHours(-1), rules, 4, "0.1.0");

        var view = ClusterView.Of(
            [Node("a", TimeSpan.Zero, "sha256:aaaaaaaaaaaa"), Node("b", TimeSpan.FromSeconds(15), "sha256:aaaaaaaaaaaa"), Node("c", TimeSpan.FromSeconds(15.001), "sha256:cccccccccccc")],
            "a",
            "sha256:aaaaaaaaaaaa",
            clustered: true,
            Interval,
            now);
        var mixed = ClusterView.Of([Node("a", TimeSpan.Zero, "sha256:aaaaaaaaaaaa"), Node("b", TimeSpan.FromSeconds(3), "sha256:bbbbbbbbbbbb")], "b", "sha256:bbbbbbbbbbbb", true, Interval, now);

        Assert.Equal([("a", true, true), ("b", false, true), ("c", false, false)], view.Nodes.Select(n => (n.Id, n.Self, n.Alive)));
        Assert.Equal(("5s", "15s", 1, false), (view.CheckinInterval, view.FailoverWithin, view.RulesVersions, view.MixedRules));
        Assert.Equal((2, true, "b"), (mixed.RulesVersions, mixed.MixedRules, mixed.Node));
    }

    [Fact]
    public async Task CheckIn_StoreFailsTwiceThenAnswers_LogsTheOutageOnceAndTheRecoveryOnce_MixedRulesLikewise()
    {
        var time = new ManualTimeProvider(T0);
        var store = new FlakyClusterStore();
        var log = new LogCapture();
        var options = new SentinelOptions { Node = new SentinelOptions.NodeSettings { Id = "a" }, Cluster = new SentinelOptions.ClusterSettings { CheckinInterval = "5s" } };
        var registry = new PolicyRegistry(time);
        var reachability = new StoreReachability(time, options);
        using var metrics = new SentinelMetrics();
        var checkIn = new ClusterCheckIn(store, registry, new EvaluationCounter(time), reachability, metrics, options, time, new Microsoft.Extensions.Logging.Logger<ClusterCheckIn>(new SingleLoggerFactory(log.CreateLogger("ClusterCheckIn"))));
        reachability.Start();

        store.Failing = true;
        await checkIn.CheckInOnceAsync(CancellationToken.None);
        await checkIn.CheckInOnceAsync(CancellationToken.None);
        var down = reachability.Problem();
        store.Failing = false;
        store.Others = [new ClusterNode("b", T0, T0, "sha256:bbbbbbbbbbbb", 0, "0.1.0")];
        await checkIn.CheckInOnceAsync(CancellationToken.None);
        await checkIn.CheckInOnceAsync(CancellationToken.None);
        store.Others = [new ClusterNode("b", T0, T0, registry.RulesVersion, 0, "0.1.0")];
        await checkIn.CheckInOnceAsync(CancellationToken.None);
        await checkIn.CheckInOnceAsync(CancellationToken.None);

        Assert.StartsWith("the store is unreachable: the check-in at 2026-11-20T10:00:00Z failed: NpgsqlLikeException: connection refused", down, StringComparison.Ordinal);
        Assert.Null(reachability.Problem());
        Assert.Equal(
            [
                "Error ClusterCheckIn[1140] The store is unreachable (the cluster check-in failed): NpgsqlLikeException: connection refused; /readyz answers 503 until a check-in succeeds, and evaluations fail (never pass) meanwhile",
                "Information ClusterCheckIn[1141] The store is reachable again (a cluster check-in succeeded)",
                $"Warning ClusterCheckIn[1142] Nodes run different rules: 2 rules versions among alive nodes ({registry.RulesVersion} on a; sha256:bbbbbbbbbbbb on b); each evaluates its own and records which in its decisions",
                $"Information ClusterCheckIn[1143] Every alive node runs the same rules again: {registry.RulesVersion} on a, b",
            ],
            log.Entries);
        Assert.Equal(4, store.CheckIns.Count);
        Assert.All(store.CheckIns, c => Assert.Equal(("a", registry.RulesVersion), (c.NodeId, c.RulesVersion)));
    }

    [Fact]
    public async Task CheckIn_SilentPastTheFailoverThreshold_LogsThatThisNodeIsFenced_OncePerSilence()
    {
        var time = new ManualTimeProvider(T0);
        var store = new FlakyClusterStore();
        var log = new LogCapture();
        var options = new SentinelOptions { Node = new SentinelOptions.NodeSettings { Id = "a" }, Cluster = new SentinelOptions.ClusterSettings { CheckinInterval = "5s" } };
        var reachability = new StoreReachability(time, options);
        using var metrics = new SentinelMetrics();
        var checkIn = new ClusterCheckIn(store, new PolicyRegistry(time), new EvaluationCounter(time), reachability, metrics, options, time, new Microsoft.Extensions.Logging.Logger<ClusterCheckIn>(new SingleLoggerFactory(log.CreateLogger("ClusterCheckIn"))));

        await checkIn.CheckInOnceAsync(CancellationToken.None);
        time.Advance(TimeSpan.FromSeconds(10)); // two intervals late: within the threshold
        await checkIn.CheckInOnceAsync(CancellationToken.None);
        Assert.Empty(log.Entries);

        time.Advance(TimeSpan.FromSeconds(42)); // SIGSTOP, then SIGCONT
        await checkIn.CheckInOnceAsync(CancellationToken.None);
        time.Advance(TimeSpan.FromSeconds(5));
        await checkIn.CheckInOnceAsync(CancellationToken.None);

        var entry = Assert.Single(log.Entries);
        Assert.StartsWith("Warning ClusterCheckIn[1170] This node was silent for 42s (no check-in; more than the failover threshold of 10s): it was taken for dead and the others took over its policies. It is fenced", entry, StringComparison.Ordinal);
    }

    private static SentinelOptions OnPostgres(string node = "a", string interval = "5s") => new()
    {
        Node = new SentinelOptions.NodeSettings { Id = node },
        Cluster = new SentinelOptions.ClusterSettings { CheckinInterval = interval },
        Storage = new SentinelOptions.StorageSettings { Postgres = new SentinelOptions.PostgresSettings { ConnectionString = "Host=db.example;Database=sentinel" } },
    };

    private static Microsoft.Extensions.Logging.ILogger<T> Logger<T>(LogCapture log) =>
        new Microsoft.Extensions.Logging.Logger<T>(new SingleLoggerFactory(log.CreateLogger(typeof(T).Name)));

    [Fact]
    public void ClockSkew_NodeMinusStoreFromTheRoundTripsMidpoint_WarnsOncePerCrossing_OnlyBeyondTheRoundTripsUncertainty()
    {
        var log = new LogCapture();
        var skew = new ClockSkew(OnPostgres(), Logger<ClockSkew>(log));

        // The store read its clock 1.5 s behind the node's midpoint, over a round trip of 0.2 s: +1.5 s, ±0.1 s.
        skew.Measure(T0, T0.AddSeconds(-1.4), T0.AddSeconds(0.2));
        var ahead = skew.Seconds;
        skew.Measure(T0, T0.AddSeconds(-1.9), T0.AddSeconds(0.2)); // still over: not logged again
        skew.Measure(T0, T0.AddSeconds(0.1).AddSeconds(0.8), T0.AddSeconds(0.2)); // -0.8 s: under 1 s, not under half of it
        var middle = log.Entries.Count;
        skew.Measure(T0, T0.AddSeconds(0.1).AddSeconds(0.2), T0.AddSeconds(0.2)); // -0.2 s: back in step
        skew.Measure(T0, T0.AddSeconds(2), T0.AddSeconds(3)); // -0.5 s ± 1.5 s: beyond 1 s maybe, not surely
        var slowRoundTrip = log.Entries.Count;
        skew.Measure(T0, T0.AddSeconds(-3), T0); // +3 s over a round trip of nothing
        var onSqlite = new ClockSkew(new SentinelOptions(), Logger<ClockSkew>(log));
        onSqlite.Measure(T0, T0.AddSeconds(-30), T0);

        Assert.Equal(1.5, ahead!.Value, 6);
        Assert.Equal(3, skew.Seconds!.Value, 6);
        Assert.Equal(TimeSpan.FromSeconds(1), skew.Threshold);
        Assert.Equal(TimeSpan.FromSeconds(0.2), new ClockSkew(OnPostgres(interval: "1s"), Logger<ClockSkew>(log)).Threshold);
        Assert.Equal((1, 2), (middle, slowRoundTrip));
        Assert.Equal(0, onSqlite.Seconds);
        Assert.Equal(
            [
                "Warning ClockSkew[1150] This node's clock is +1.500s off the store's (node minus database, ±0.100s), more than 1s: leases and claims are judged on each node's clock and Quartz takes nodes for dead by their check-in times, so a node acts early or holds on too long. Fix its time sync (NTP); rollback_sentinel_cluster_clock_skew_seconds follows it",
                "Information ClockSkew[1151] This node's clock is back in step with the store's: -0.200s off (under half of 1s)",
                "Warning ClockSkew[1150] This node's clock is +3.000s off the store's (node minus database, ±0.000s), more than 1s: leases and claims are judged on each node's clock and Quartz takes nodes for dead by their check-in times, so a node acts early or holds on too long. Fix its time sync (NTP); rollback_sentinel_cluster_clock_skew_seconds follows it",
            ],
            log.Entries);
    }

    [Fact]
    public async Task CheckIn_OnPostgres_MeasuresTheSkewAgainstTheStoresClock_ReportsItWithTheNextCheckIn_AndInTheGauge()
    {
        var time = new ManualTimeProvider(T0);
        var store = new FlakyClusterStore { StoreAhead = TimeSpan.FromSeconds(2.5) };
        var log = new LogCapture();
        var options = OnPostgres();
        using var services = new ServiceCollection().AddSentinelTelemetry().BuildServiceProvider();
        var metrics = services.GetRequiredService<SentinelMetrics>();
        var checkIn = new ClusterCheckIn(
            store, new PolicyRegistry(time), new EvaluationCounter(time), new StoreReachability(time, options), metrics, options, time, Logger<ClusterCheckIn>(log), new ClockSkew(options, Logger<ClockSkew>(log)));
        metrics.SetClusterSnapshotProvider(checkIn.Snapshot);

        await checkIn.CheckInOnceAsync(CancellationToken.None);
        time.Advance(Interval);
        await checkIn.CheckInOnceAsync(CancellationToken.None);
        time.Advance(Interval);
        await checkIn.CheckInOnceAsync(CancellationToken.None);
        var view = checkIn.View()!;

        Assert.Equal([null, -2.5, -2.5], store.CheckIns.Select(c => c.ClockSkewSeconds));
        Assert.Equal(-2.5, Assert.Single(view.Nodes).ClockSkewSeconds);
        Assert.Single(log.Entries, e => e.StartsWith("Warning ClockSkew[1150] This node's clock is -2.500s off the store's", StringComparison.Ordinal));
        Assert.All(store.CheckIns, c => Assert.Equal(store.CheckIns[0].InstanceToken, c.InstanceToken));
        Assert.Matches("^[0-9a-f]{32}$", store.CheckIns[0].InstanceToken);
        var text = Telemetry.Exposition.Collect(services);
        Assert.Contains("\nrollback_sentinel_cluster_clock_skew_seconds -2.5\n", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task NodeInstance_AnotherTokenOnItsRow_LogsOnce_IsNotReadyForAWindow_ADeadPredecessorsTokenIsNoConflict()
    {
        var time = new ManualTimeProvider(T0);
        var log = new LogCapture();
        var options = OnPostgres("node-a");
        var store = new FlakyClusterStore { Row = new ClusterNode("node-a", T0.AddSeconds(-16), T0.AddHours(-1), "sha256:aaaaaaaaaaaa", 3, "0.1.0") { InstanceToken = "crashed" } };
        var instance = new NodeInstance(store, new ClockSkew(options, Logger<ClockSkew>(log)), options, time, Logger<NodeInstance>(log));

        await instance.EnsureAloneAsync(CancellationToken.None); // the row is older than 3 x 5 s: a crashed predecessor's
        instance.Noticed("crashed", time.GetUtcNow()); // the first check-in replaces the predecessor's row
        var afterTakeOver = instance.Problem();
        time.Advance(Interval);
        instance.Noticed(instance.Token, time.GetUtcNow());
        instance.Noticed("intruder", time.GetUtcNow());
        var duplicate = instance.Problem();
        time.Advance(Interval);
        instance.Noticed("intruder", time.GetUtcNow());
        time.Advance(TimeSpan.FromSeconds(15));
        var stillWithinTheWindow = instance.Problem();
        time.Advance(TimeSpan.FromSeconds(1));
        var afterTheWindow = instance.Problem();
        instance.Noticed(instance.Token, time.GetUtcNow());

        Assert.Null(afterTakeOver);
        Assert.Equal(
            "another process checks in as node.id 'node-a' (last seen 2026-11-20T10:00:10Z): two sentinels share one node.id, so one Quartz instance and one lease owner; give each its own node.id (node.id, SENTINEL__NODE__ID)",
            stillWithinTheWindow);
        Assert.Equal(duplicate?.Replace("10:00:05Z", "10:00:10Z", StringComparison.Ordinal), stillWithinTheWindow);
        Assert.Null(afterTheWindow);
        Assert.Equal(
            [
                "Information NodeInstance[1149] Taking over node.id 'node-a' from a process that last checked in at 2026-11-20T09:59:44Z, longer ago than a node counts as alive (a crash)",
                "Error NodeInstance[1146] Another process checks in as node.id 'node-a' (its row holds another process's token): two sentinels share one node.id, so one Quartz instance and one lease owner, and fencing cannot tell them apart. /readyz answers 503 until none has been seen for 15s; give every sentinel its own node.id (node.id, SENTINEL__NODE__ID)",
                "Information NodeInstance[1147] No other process has checked in as node.id 'node-a' for 15s: this node is ready again",
            ],
            log.Entries);
    }

    [Fact]
    public void OrphanedJobs_DeletedOnlyWhenEveryAliveNodeRunsThisNodesRules_AndThisNodesCheckInShowsThem()
    {
        const string Mine = "sha256:aaaaaaaaaaaa";
        var now = T0;
        ClusterNode Node(string id, string rules, double silentSeconds = 1) => new(id, now.AddSeconds(-silentSeconds), T0.AddHours(-1), rules, 0, "0.1.0");
        var window = TimeSpan.FromSeconds(15);

        Assert.Null(OrphanedJobs.WhyKeep([Node("a", Mine), Node("b", Mine)], "a", Mine, now, window));
        Assert.Null(OrphanedJobs.WhyKeep([Node("a", Mine), Node("b", Mine), Node("dead", "sha256:bbbbbbbbbbbb", silentSeconds: 16)], "a", Mine, now, window));
        Assert.Equal(
            "the rules versions are mixed (b runs sha256:bbbbbbbbbbbb)",
            OrphanedJobs.WhyKeep([Node("a", Mine), Node("b", "sha256:bbbbbbbbbbbb")], "a", Mine, now, window));
        Assert.Equal(
            "this node's check-in does not show its rules version yet",
            OrphanedJobs.WhyKeep([Node("a", "sha256:cccccccccccc"), Node("b", Mine)], "a", Mine, now, window));
        Assert.NotNull(OrphanedJobs.WhyKeep([Node("b", Mine)], "a", Mine, now, window));
        Assert.NotNull(OrphanedJobs.WhyKeep([Node("a", Mine, silentSeconds: 16), Node("b", Mine)], "a", Mine, now, window));
    }

    private sealed class NpgsqlLikeException(string message) : Exception(message);

    /// <summary>A cluster store that fails while told to, listing this node's check-in beside <see cref="Others"/>.</summary>
    private sealed class FlakyClusterStore : IClusterStore
    {
        public bool Failing { get; set; }

        public IReadOnlyList<ClusterNode> Others { get; set; } = [];

        public List<NodeCheckIn> CheckIns { get; } = [];

        public Task<CheckInReceipt> CheckInAsync(NodeCheckIn checkIn, CancellationToken cancellationToken)
        {
            if (Failing)
            {
                throw new NpgsqlLikeException("connection refused");
            }

            var previous = CheckIns.Count > 0 ? CheckIns[^1].InstanceToken : null;
            CheckIns.Add(checkIn);
            return Task.FromResult(new CheckInReceipt(previous, checkIn.At + StoreAhead));
        }

        /// <summary>How far the store's clock is ahead of the node's.</summary>
        public TimeSpan StoreAhead { get; set; }

        /// <summary>What <see cref="ReadNodeAsync"/> finds.</summary>
        public ClusterNode? Row { get; set; }

        public Task<NodeReading> ReadNodeAsync(string nodeId, CancellationToken cancellationToken) =>
            Task.FromResult(new NodeReading(Row, T0));

        public Task<IReadOnlyList<ClusterNode>> ListNodesAsync(CancellationToken cancellationToken)
        {
            var self = CheckIns[^1];
            IReadOnlyList<ClusterNode> nodes = [new ClusterNode(self.NodeId, self.At, self.StartedAt, self.RulesVersion, self.EvaluationsLastMinute, self.SentinelVersion) { InstanceToken = self.InstanceToken, ClockSkewSeconds = self.ClockSkewSeconds }, .. Others];
            return Task.FromResult(nodes);
        }

        public Task LeaveAsync(string nodeId, string? instanceToken, CancellationToken cancellationToken) => Task.CompletedTask;
    }

    private sealed class SingleLoggerFactory(Microsoft.Extensions.Logging.ILogger logger) : Microsoft.Extensions.Logging.ILoggerFactory
    {
        public void AddProvider(Microsoft.Extensions.Logging.ILoggerProvider provider)
        {
        }

        public Microsoft.Extensions.Logging.ILogger CreateLogger(string categoryName) => logger;

        public void Dispose()
        {
        }
    }
}
