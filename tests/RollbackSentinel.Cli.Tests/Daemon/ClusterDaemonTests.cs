using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using RollbackSentinel.Testing.Postgres;

namespace RollbackSentinel.Cli.Tests.Daemon;

/// <summary>
/// Cluster membership of real daemon processes: <c>GET /api/v1/cluster</c>, <c>status</c>, the rules version and where it is
/// recorded, and the cluster metrics. On SQLite a daemon is a cluster of one.
/// </summary>
[Collection(StartupDaemonCollection.Name)]
public sealed class ClusterDaemonTests
{
    private static readonly TimeSpan Generous = TimeSpan.FromSeconds(60);

    /// <summary>The fields of <c>GET /api/v1/cluster</c> and of each of its nodes, in order (docs/ha.md).</summary>
    internal static readonly string[] ClusterFields = ["node", "clustered", "checkinInterval", "failoverWithin", "rulesVersion", "rulesVersions", "mixedRules", "nodes"];

    internal static readonly string[] NodeFields = ["id", "self", "alive", "lastCheckIn", "startedAt", "rulesVersion", "evaluationsLastMinute", "version", "clockSkewSeconds"];

    [Fact]
    public async Task Cluster_OnSqlite_ListsTheOneNodeWithItsRulesVersionAndEvaluations_AndStatusShowsIt()
    {
        await using var live = await LiveShop.StartAsync();
        using var workspace = new SentinelWorkspace(live.Prometheus.BaseAddress, "node:\n  id: solo\ncluster:\n  checkinInterval: 1s\n");
        workspace.WriteRule("shop.yaml", live.Policy());
        var expected = ExpectedVersion(workspace.RulesPath);
        await using var sentinel = await SentinelProcess.StartAsync(workspace);
        using var api = new SentinelApi(workspace.BaseAddress);

        var cluster = await Eventually.WaitAsync(
            async () => await api.GetJsonAsync("api/v1/cluster") is var c && c.GetProperty("nodes") is { ValueKind: JsonValueKind.Array } nodes
                && nodes.GetArrayLength() == 1 && nodes[0].GetProperty("evaluationsLastMinute").GetInt32() > 0 ? (object)c : null,
            Generous,
            "a check-in that counts evaluations" + Environment.NewLine + sentinel.Log);
        var tokenFile = Path.Combine(workspace.Root, "token");
        await File.WriteAllTextAsync(tokenFile, SentinelWorkspace.Token);
        var status = await CliRun.RunAsync("status", "--url", workspace.BaseAddress.ToString(), "--token-file", tokenFile);
        var statusJson = await CliRun.RunAsync("status", "--format", "json", "--url", workspace.BaseAddress.ToString(), "--token-file", tokenFile);
        var metrics = await api.Http.GetStringAsync("metrics");

        var c = (JsonElement)cluster;
        Assert.Equal(ClusterFields, c.EnumerateObject().Select(p => p.Name));
        Assert.Equal(("solo", false, "1s", "3s", expected, 1, false), (
            c.GetProperty("node").GetString(), c.GetProperty("clustered").GetBoolean(), c.GetProperty("checkinInterval").GetString(), c.GetProperty("failoverWithin").GetString(),
            c.GetProperty("rulesVersion").GetString(), c.GetProperty("rulesVersions").GetInt32(), c.GetProperty("mixedRules").GetBoolean()));
        var node = Assert.Single(c.GetProperty("nodes").EnumerateArray());
        Assert.Equal(NodeFields, node.EnumerateObject().Select(p => p.Name));
        Assert.Equal(("solo", true, true, expected), (node.GetProperty("id").GetString(), node.GetProperty("self").GetBoolean(), node.GetProperty("alive").GetBoolean(), node.GetProperty("rulesVersion").GetString()));
        Assert.Matches(@"^\d+\.\d+\.\d+", node.GetProperty("version").GetString());
        Assert.True(DateTimeOffset.Parse(node.GetProperty("startedAt").GetString()!, System.Globalization.CultureInfo.InvariantCulture) <= DateTimeOffset.Parse(node.GetProperty("lastCheckIn").GetString()!, System.Globalization.CultureInfo.InvariantCulture));

        Assert.True(status.ExitCode == 0, status.Error);
        Assert.StartsWith("POLICY  TRIGGER", status.Output, StringComparison.Ordinal);
        Assert.Contains("\nnodes (one node, not clustered; check-in every 1s, dead after 3s of silence):\nNODE ", status.Output, StringComparison.Ordinal);
        Assert.Matches($@"\nsolo \(this node\)\s+alive\s+\d+s ago\s+{Regex.Escape(expected)}\s+[1-9]\d*\s+\d+\.\d+\.\d+", status.Output);
        Assert.DoesNotContain("rules versions differ", status.Output, StringComparison.Ordinal);

        Assert.True(statusJson.ExitCode == 0, statusJson.Error);
        var both = JsonDocument.Parse(statusJson.Output).RootElement;
        Assert.Equal(["policies", "rules", "cluster"], both.EnumerateObject().Select(p => p.Name));
        Assert.Equal(("solo", expected), (both.GetProperty("cluster").GetProperty("node").GetString(), both.GetProperty("cluster").GetProperty("nodes")[0].GetProperty("rulesVersion").GetString()));

        Assert.Contains($"rollback_sentinel_rules_version_info{{version=\"{expected}\"}} 1\n", metrics, StringComparison.Ordinal);
        Assert.Contains("rollback_sentinel_cluster_nodes{state=\"alive\"} 1\n", metrics, StringComparison.Ordinal);
        Assert.Contains("rollback_sentinel_cluster_nodes{state=\"dead\"} 0\n", metrics, StringComparison.Ordinal);
        Assert.Contains("rollback_sentinel_cluster_rules_versions 1\n", metrics, StringComparison.Ordinal);
        Assert.Contains("rollback_sentinel_store_up 1\n", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RulesEdited_RulesVersionChanges_AndTheIncidentItOpensRecordsTheNewOne()
    {
        await using var live = await LiveShop.StartAsync();
        using var workspace = new SentinelWorkspace(live.Prometheus.BaseAddress, "cluster:\n  checkinInterval: 1s\n");
        workspace.WriteRule("shop.yaml", live.Policy(max: 0.2));
        var before = ExpectedVersion(workspace.RulesPath);
        await using var sentinel = await SentinelProcess.StartAsync(workspace);
        using var api = new SentinelApi(workspace.BaseAddress);
        await Eventually.WaitAsync(async () => (await api.GetJsonAsync("api/v1/cluster")).GetProperty("nodes") is { ValueKind: JsonValueKind.Array } n && n.GetArrayLength() == 1, Generous, "the first check-in");
        var first = await api.GetJsonAsync("api/v1/cluster");

        workspace.WriteRule("shop.yaml", live.Policy(max: 0.1));
        var after = ExpectedVersion(workspace.RulesPath);
        await Eventually.WaitAsync(
            async () => await api.GetJsonAsync("api/v1/cluster") is var c && c.GetProperty("rulesVersion").GetString() == after && c.GetProperty("nodes")[0].GetProperty("rulesVersion").GetString() == after,
            Generous,
            "the reload to change the rules version" + Environment.NewLine + sentinel.Log);
        await api.WaitForPassAsync(Generous);
        live.Shop.ErrorShare = 0.5;
        var timeline = await api.WaitForIncidentAsync(Generous, () => sentinel.Log, "acted");

        Assert.NotEqual(before, after);
        Assert.Equal((before, before), (first.GetProperty("rulesVersion").GetString(), first.GetProperty("nodes")[0].GetProperty("rulesVersion").GetString()));
        Assert.Equal(after, timeline.GetProperty("incident").GetProperty("rulesVersion").GetString());
        Assert.Equal(after, timeline.GetProperty("evidence").GetProperty("rulesVersion").GetString());
        Assert.Equal(0.1, timeline.GetProperty("evidence").GetProperty("threshold").GetDouble());
        Assert.All((await api.IncidentsAsync()).Select(i => i.EnumerateObject().Select(p => p.Name)), names => Assert.DoesNotContain("rulesVersion", names));
        // The decision is logged after its actions ran (they go first), so the line may follow the incident's record.
        var decision = new Regex($@"Decision shop/errors \{{\}}: Act Rollback \(dryRun=False, disarmed=False\): .*; evidence: .*; rules: {Regex.Escape(after)}");
        await sentinel.WaitForLogAsync(decision.IsMatch, Generous, "the decision's log line");
    }

    /// <summary>The rules version of a folder, computed here independently: SHA-256 over each file's relative path, NUL and bytes, by path.</summary>
    internal static string ExpectedVersion(string rulesFolder)
    {
        var bytes = new List<byte>();
        foreach (var file in Directory.GetFiles(rulesFolder, "*.yaml", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(rulesFolder, f)).Order(StringComparer.Ordinal))
        {
            bytes.AddRange(Encoding.UTF8.GetBytes(file));
            bytes.Add(0);
            bytes.AddRange(File.ReadAllBytes(Path.Combine(rulesFolder, file)));
        }

        return "sha256:" + Convert.ToHexStringLower(SHA256.HashData(bytes.ToArray()))[..12];
    }

    /// <summary>The value of one sample line of /metrics (name with its labels), or null when absent.</summary>
    internal static double? Sample(string metrics, string series) =>
        metrics.Split('\n').FirstOrDefault(l => l.StartsWith(series + " ", StringComparison.Ordinal)) is { } line
            ? double.Parse(line[(series.Length + 1)..], System.Globalization.CultureInfo.InvariantCulture)
            : null;
}

/// <summary>Daemons as processes on one real PostgreSQL: who is in the cluster, which rules each runs, and readiness while the store is down.</summary>
[Collection(PostgresDaemonCollection.Name)]
public sealed class PostgresClusterDaemonTests(PostgresFixture postgres)
{
    private static readonly TimeSpan Generous = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task TwoDaemons_DifferentRules_BothListedAsMixed_UntilTheRulesMatch_AndOneLeavesOnStop()
    {
        var database = await postgres.Server.CreateDatabaseAsync(CancellationToken.None);
        try
        {
            await using var live = await LiveShop.StartAsync();
            using var first = new SentinelWorkspace(live.Prometheus.BaseAddress);
            using var second = new SentinelWorkspace(live.Prometheus.BaseAddress);
            first.WriteRule("shop.yaml", live.Policy(max: 0.1));
            second.WriteRule("shop.yaml", live.Policy(max: 0.2));
            await using var a = await SentinelProcess.StartAsync(first, ["run", "--config", first.ConfigPath], Settings(database, "node-a"));
            await using var b = await SentinelProcess.StartAsync(second, ["run", "--config", second.ConfigPath], Settings(database, "node-b"));
            using var apiA = new SentinelApi(first.BaseAddress);
            using var apiB = new SentinelApi(second.BaseAddress);

            var mixed = await Eventually.WaitAsync(
                async () => await apiA.GetJsonAsync("api/v1/cluster") is var c && c.GetProperty("mixedRules").GetBoolean() ? (object)c : null,
                Generous,
                "both nodes listed with their rules" + Environment.NewLine + a.Log + b.Log);

            // The cluster gauges are refreshed by the check-in loop, not by the API answer above: wait for them to see it too.
            var metrics = await Eventually.WaitAsync(
                async () => await apiA.Http.GetStringAsync("metrics") is var text && ClusterDaemonTests.Sample(text, "rollback_sentinel_cluster_rules_versions") == 2 ? text : null,
                Generous,
                "the cluster gauges to count both rules versions" + Environment.NewLine + a.Log);
            var tokenFile = Path.Combine(first.Root, "token");
            await File.WriteAllTextAsync(tokenFile, SentinelWorkspace.Token);
            var status = await CliRun.RunAsync("status", "--url", first.BaseAddress.ToString(), "--token-file", tokenFile);
            var seenByB = await apiB.GetJsonAsync("api/v1/cluster");

            var m = (JsonElement)mixed;
            var (versionA, versionB) = (ClusterDaemonTests.ExpectedVersion(first.RulesPath), ClusterDaemonTests.ExpectedVersion(second.RulesPath));
            Assert.Equal(ClusterDaemonTests.ClusterFields, m.EnumerateObject().Select(p => p.Name));
            Assert.Equal(("node-a", true, versionA, 2), (m.GetProperty("node").GetString(), m.GetProperty("clustered").GetBoolean(), m.GetProperty("rulesVersion").GetString(), m.GetProperty("rulesVersions").GetInt32()));
            Assert.Equal(
                [("node-a", true, true, versionA), ("node-b", false, true, versionB)],
                m.GetProperty("nodes").EnumerateArray().Select(n => (n.GetProperty("id").GetString(), n.GetProperty("self").GetBoolean(), n.GetProperty("alive").GetBoolean(), n.GetProperty("rulesVersion").GetString())));
            Assert.Equal(["node-a", "node-b"], seenByB.GetProperty("nodes").EnumerateArray().Select(n => n.GetProperty("id").GetString()));
            Assert.Equal(("node-b", versionB), (seenByB.GetProperty("node").GetString(), seenByB.GetProperty("rulesVersion").GetString()));
            Assert.Equal(2, ClusterDaemonTests.Sample(metrics, "rollback_sentinel_cluster_rules_versions"));
            Assert.Equal(2, ClusterDaemonTests.Sample(metrics, "rollback_sentinel_cluster_nodes{state=\"alive\"}"));
            Assert.Equal(1, ClusterDaemonTests.Sample(metrics, $"rollback_sentinel_rules_version_info{{version=\"{versionA}\"}}"));
            Assert.True(status.ExitCode == 0, status.Error);
            Assert.Contains("\nnodes (clustered; check-in every 1s, dead after 3s of silence):\n", status.Output, StringComparison.Ordinal);
            Assert.Matches(@"\nnode-a \(this node\)\s+alive\s+\d+s ago\s+sha256:", status.Output);
            Assert.Matches(@"\nnode-b\s+alive\s+\d+s ago\s+sha256:", status.Output);
            Assert.Contains($"\nrules versions differ among alive nodes (2 versions): {versionA} on node-a; {versionB} on node-b\n", status.Output, StringComparison.Ordinal);
            await Eventually.WaitAsync(() => Task.FromResult(a.Log.Contains("Nodes run different rules: 2 rules versions among alive nodes", StringComparison.Ordinal)), Generous, "the mixed rules warning" + Environment.NewLine + a.Log);

            // Same rules everywhere again: reported once, and the metric follows.
            second.WriteRule("shop.yaml", live.Policy(max: 0.1));
            await Eventually.WaitAsync(
                async () => !(await apiA.GetJsonAsync("api/v1/cluster")).GetProperty("mixedRules").GetBoolean()
                    && ClusterDaemonTests.Sample(await apiA.Http.GetStringAsync("metrics"), "rollback_sentinel_cluster_rules_versions") == 1,
                Generous,
                "the rules to match" + Environment.NewLine + b.Log);
            await Eventually.WaitAsync(() => Task.FromResult(a.Log.Contains("Every alive node runs the same rules again", StringComparison.Ordinal)), Generous, "the same-rules notice" + Environment.NewLine + a.Log);
            Assert.Single(Regex.Matches(a.Log, "Nodes run different rules"));
            Assert.Equal(versionA, (await apiB.GetJsonAsync("api/v1/cluster")).GetProperty("rulesVersion").GetString());

            // A graceful stop leaves the cluster at once.
            Assert.Equal(0, await b.TerminateAsync());
            var alone = await apiA.GetJsonAsync("api/v1/cluster");
            Assert.Equal(["node-a"], alone.GetProperty("nodes").EnumerateArray().Select(n => n.GetProperty("id").GetString()));
        }
        finally
        {
            await postgres.Server.DropDatabaseAsync(database, CancellationToken.None);
        }
    }

    [Fact]
    public async Task Readyz_WhilePostgresIsStopped_Is503WithTheReason_AndReadyOnceItIsBack()
    {
        var database = await postgres.Server.CreateDatabaseAsync(CancellationToken.None);
        try
        {
            await using var live = await LiveShop.StartAsync();
            using var workspace = new SentinelWorkspace(live.Prometheus.BaseAddress);
            workspace.WriteRule("shop.yaml", live.Policy());
            await using var sentinel = await SentinelProcess.StartAsync(workspace, ["run", "--config", workspace.ConfigPath], Settings(database, "node-a"));
            using var api = new SentinelApi(workspace.BaseAddress);
            var ready = await api.ReadinessAsync();

            await postgres.Server.StopAsync();
            (int Status, string Detail) down;
            string downMetrics;
            try
            {
                down = ((int, string))await Eventually.WaitAsync(
                    async () => await api.ReadinessAsync() is var r && r.Status == 503 ? (object)r : null,
                    Generous,
                    "/readyz to say the store is unreachable" + Environment.NewLine + sentinel.Log);
                downMetrics = await api.Http.GetStringAsync("metrics");
            }
            finally
            {
                await postgres.Server.StartAsync();
            }

            await Eventually.WaitAsync(async () => (await api.ReadinessAsync()).Status == 200, Generous, "/readyz to recover" + Environment.NewLine + sentinel.Log);
            await Eventually.WaitAsync(() => Task.FromResult(sentinel.Log.Contains("The store is reachable again", StringComparison.Ordinal)), Generous, "the recovery to be logged");
            var upMetrics = await api.Http.GetStringAsync("metrics");

            Assert.Equal((200, "ready"), ready);
            Assert.StartsWith("the store is unreachable: ", down.Detail, StringComparison.Ordinal);
            Assert.Equal(0, ClusterDaemonTests.Sample(downMetrics, "rollback_sentinel_store_up"));
            Assert.Equal(1, ClusterDaemonTests.Sample(upMetrics, "rollback_sentinel_store_up"));
            Assert.True(Regex.Matches(sentinel.Log, "The store is unreachable \\(the cluster check-in failed\\)").Count == 1, sentinel.Log);
            Assert.True(Regex.Matches(sentinel.Log, "The store is reachable again").Count == 1, sentinel.Log);
        }
        finally
        {
            await postgres.Server.DropDatabaseAsync(database, CancellationToken.None);
        }
    }

    private static Dictionary<string, string> Settings(string connectionString, string node) => new()
    {
        ["SENTINEL__STORAGE__POSTGRES__CONNECTIONSTRING"] = connectionString,
        ["SENTINEL__NODE__ID"] = node,
        ["SENTINEL__CLUSTER__CHECKININTERVAL"] = "1s",
    };
}
