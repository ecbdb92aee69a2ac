using System.Net;
using System.Net.Sockets;
using Microsoft.Data.Sqlite;
using RollbackSentinel.Storage;

namespace RollbackSentinel.Cli.Tests.Daemon;

/// <summary>
/// The daemon never pretends to guard: whatever stops it from starting (the port, the settings, the rules folder, the
/// store) ends the real process with one clear line and a non-zero exit; while running, /readyz says when it guards nothing.
/// </summary>
[Collection(StartupDaemonCollection.Name)]
public sealed class StartupRefusalTests
{
    private static readonly Uri NoPrometheus = new("http://127.0.0.1:9/");

    private static readonly string ValidPolicy = PolicyYaml.WithWebhook("checkout", PolicyYaml.ErrorRateTrigger);

    [Fact]
    public async Task Run_PortInUse_ExitsTwoWithOneLineNamingTheAddress()
    {
        using var workspace = new SentinelWorkspace(NoPrometheus);
        workspace.WriteRule("checkout.yaml", ValidPolicy);
        var taken = new TcpListener(IPAddress.Loopback, workspace.Port);
        taken.Start();
        try
        {
            // Before the fix the process logged a stack trace and spun at 100% CPU forever: this wait would time out.
            var (exitCode, output) = await SentinelProcess.RunToExitAsync(workspace, ["run", "--config", workspace.ConfigPath]);

            Assert.Equal(2, exitCode);
            Assert.Contains($"error: cannot listen on http://127.0.0.1:{workspace.Port}: address already in use", output);
            Assert.DoesNotContain("Hosting failed to start", output);
            Assert.DoesNotContain("   at ", output);
        }
        finally
        {
            taken.Stop();
        }
    }

    [Fact]
    public async Task Run_UnknownKeysInTheFileAndTheEnvironment_ExitsTwoNamingEachWhereItIsWithADidYouMean()
    {
        using var workspace = new SentinelWorkspace(NoPrometheus, "promethues:\n  url: http://127.0.0.1:9090\nadapters:\n  kubctl: /usr/bin/kubectl\n");
        workspace.WriteRule("checkout.yaml", ValidPolicy);
        var lines = File.ReadAllLines(workspace.ConfigPath);
        var typo = Array.FindIndex(lines, l => l.StartsWith("promethues:", StringComparison.Ordinal)) + 1;
        var nested = Array.FindIndex(lines, l => l.Contains("kubctl", StringComparison.Ordinal)) + 1;

        var (exitCode, output) = await SentinelProcess.RunToExitAsync(
            workspace,
            ["run", "--config", workspace.ConfigPath],
            new Dictionary<string, string> { ["SENTINEL__HTTP__LISTN"] = "http://0.0.0.0:8080", ["SENTINEL__NOTIFICATIONS__SLACK__CHANEL"] = "C1" });

        Assert.Equal(2, exitCode);
        Assert.Contains($"error: {workspace.ConfigPath}:{typo}:1: promethues: unknown setting; did you mean prometheus?", output);
        Assert.Contains($"error: {workspace.ConfigPath}:{nested}:3: adapters:kubctl: unknown setting; did you mean adapters:kubectl?", output);
        Assert.Contains("error: SENTINEL__HTTP__LISTN: unknown setting http:listn; did you mean SENTINEL__HTTP__LISTEN?", output);
        Assert.Contains("error: SENTINEL__NOTIFICATIONS__SLACK__CHANEL: unknown setting notifications:slack:chanel; did you mean SENTINEL__NOTIFICATIONS__SLACK__CHANNEL?", output);
        Assert.DoesNotContain("RollbackSentinel starting", output);
    }

    [Fact]
    public async Task Run_PrometheusWithoutSchemeAndMissingRulesFolder_ExitsTwoListingBothBeforeStarting()
    {
        using var workspace = new SentinelWorkspace(NoPrometheus);
        var missing = Path.Combine(workspace.Root, "no-such-rules");

        var (exitCode, output) = await SentinelProcess.RunToExitAsync(
            workspace, ["run", "--config", workspace.ConfigPath, "--prometheus", "localhost:9090", "--rules", missing]);

        Assert.Equal(2, exitCode);
        Assert.Equal(
            [
                "error: --prometheus: prometheus:url: 'localhost:9090' is not an http:// or https:// URL (did you mean http://localhost:9090?)",
                $"error: --rules: rules: {missing} does not exist; mount your policies there, or point rules (--rules, SENTINEL__RULES) at their folder",
            ],
            output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
    }

    [Fact]
    public async Task Run_SettingsOfTheWrongShapeOrType_ReportsEachWithItsPosition()
    {
        using var dir = new RulesFolder();
        var config = Path.Combine(dir.Path, "sentinel.yaml");
        await File.WriteAllTextAsync(config, $"""
            rules: {dir.Path}
            prometheus: localhost:9090
            evaluationTimeoutShare: most
            notifications:
              alertmanager:
                url: alertmanager:9093
            """);

        var run = await CliRun.RunAsync("run", "--config", config);

        Assert.Equal(2, run.ExitCode);
        Assert.Equal(
            [
                $"error: {config}:2:13: prometheus: expected a section with bearerTokenFile, headers, limits, passwordFile, timeout, url, username, found 'localhost:9090'",
                $"error: {config}:3:25: evaluationTimeoutShare: 'most' is not a number",
                $"error: {config}:6:10: notifications:alertmanager:url: 'alertmanager:9093' is not an http:// or https:// URL (did you mean http://alertmanager:9093?)",
            ],
            run.Error.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    [Fact]
    public async Task Run_NoValidPolicy_IsAliveButUnreadySayingWhyAndNeverClaimsALastGoodVersion()
    {
        using var workspace = new SentinelWorkspace(NoPrometheus);
        workspace.WriteRule("checkout.yaml", ValidPolicy.Replace("max: 0.05", "max: lots", StringComparison.Ordinal));
        await using var sentinel = await SentinelProcess.StartAsync(workspace, ["run", "--config", workspace.ConfigPath], new Dictionary<string, string>(), untilReady: false);
        using var api = new SentinelApi(workspace.BaseAddress);

        var (status, detail) = await api.ReadinessAsync();

        Assert.Equal(503, status);
        Assert.Equal("no policy is loaded: 1 rule file(s) have errors (GET /api/v1/rules lists them)", detail);
        Assert.Contains("Rule error (no version of this file has loaded, so none of its policies run)", sentinel.Log);
        Assert.DoesNotContain("last good version", sentinel.Log);

        // A valid policy makes it ready.
        workspace.WriteRule("checkout.yaml", ValidPolicy);
        await Eventually.WaitAsync(api.IsReadyAsync, TimeSpan.FromSeconds(30), "ready once a policy loads" + Environment.NewLine + sentinel.Log);
    }

    [Fact]
    public async Task Run_EmptyRulesFolder_IsUnreadySayingToMountRules()
    {
        using var workspace = new SentinelWorkspace(NoPrometheus);
        await using var sentinel = await SentinelProcess.StartAsync(workspace, ["run", "--config", workspace.ConfigPath], new Dictionary<string, string>(), untilReady: false);
        using var api = new SentinelApi(workspace.BaseAddress);

        Assert.Equal((503, "no policy is loaded: the rules folder has no policy (mount your rules there)"), await api.ReadinessAsync());
        Assert.Contains($"No policy is loaded from {workspace.RulesPath}: nothing is guarded", sentinel.Log);
    }

    [Fact]
    public async Task Run_EmptyDatabaseFile_RefusesToStartInsteadOfForgettingEverything()
    {
        using var workspace = new SentinelWorkspace(NoPrometheus);
        workspace.WriteRule("checkout.yaml", ValidPolicy);
        var db = Path.Combine(workspace.Root, "data", "sentinel.db");
        Directory.CreateDirectory(Path.GetDirectoryName(db)!);
        await File.WriteAllBytesAsync(db, []);

        var (exitCode, output) = await SentinelProcess.RunToExitAsync(workspace, ["run", "--config", workspace.ConfigPath]);

        Assert.Equal(2, exitCode);
        Assert.Contains($"error: the store {db} cannot be used: {db} exists but is empty (0 bytes), so its cooldowns and interrupted actions are gone", output);
        Assert.Equal(0, new FileInfo(db).Length);
    }

    [Fact]
    public async Task Run_DatabaseWithDamagedPages_RefusesToStartNamingQuickCheck()
    {
        using var workspace = new SentinelWorkspace(NoPrometheus);
        workspace.WriteRule("checkout.yaml", ValidPolicy);
        var db = Path.Combine(workspace.Root, "data", "sentinel.db");
        await CreateStoreWithDamagedMiddlePagesAsync(db);

        var (exitCode, output) = await SentinelProcess.RunToExitAsync(workspace, ["run", "--config", workspace.ConfigPath]);

        Assert.Equal(2, exitCode);
        var line = Assert.Single(output.Split('\n'), l => l.StartsWith("error: ", StringComparison.Ordinal));
        Assert.StartsWith($"error: the store {db} cannot be used: {db} ", line);
        Assert.Contains("quick_check", line);
        Assert.DoesNotContain("   at ", output);
    }

    [Fact]
    public async Task Run_StoreFailsWhileRunning_GoesUnreadyNamingTheStoreAndReadyAgainWhenItRecovers()
    {
        await using var live = await LiveShop.StartAsync();
        using var workspace = new SentinelWorkspace(live.Prometheus.BaseAddress);
        workspace.WriteRule("shop.yaml", live.Policy());
        await using var sentinel = await SentinelProcess.StartAsync(workspace);
        using var api = new SentinelApi(workspace.BaseAddress);
        var db = Path.Combine(workspace.Root, "data", "sentinel.db");

        // Another writer holds the database: every commit of the daemon fails once its busy timeout runs out.
        await using (var other = new SqliteConnection($"Data Source={db};Pooling=False"))
        {
            await other.OpenAsync();
            using (var begin = other.CreateCommand())
            {
                begin.CommandText = "BEGIN IMMEDIATE";
                await begin.ExecuteNonQueryAsync();
            }

            var detail = await Eventually.WaitAsync(
                async () => await api.ReadinessAsync() is (503, var d) ? d : null,
                TimeSpan.FromSeconds(60),
                "/readyz to report the failing store" + Environment.NewLine + sentinel.Log);
            Assert.StartsWith($"the store is failing: writing {db} failed: ", detail);
            Assert.Contains("database is locked", detail);

            using var rollback = other.CreateCommand();
            rollback.CommandText = "ROLLBACK";
            await rollback.ExecuteNonQueryAsync();
        }

        await Eventually.WaitAsync(api.IsReadyAsync, TimeSpan.FromSeconds(60), "ready again once commits succeed" + Environment.NewLine + sentinel.Log);
    }

    /// <summary>A real store with some history, checkpointed into the main file, then garbage written over pages in the middle.</summary>
    private static async Task CreateStoreWithDamagedMiddlePagesAsync(string path)
    {
        await using (var store = new SqliteIncidentStore(path))
        {
            await store.InitializeAsync(CancellationToken.None);
        }

        await using (var connection = new SqliteConnection($"Data Source={path};Pooling=False"))
        {
            await connection.OpenAsync();
            using var fill = connection.CreateCommand();
            fill.CommandText = """
                CREATE TABLE filler (id INTEGER PRIMARY KEY, body BLOB);
                WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 400)
                INSERT INTO filler (body) SELECT randomblob(600) FROM n;
                PRAGMA wal_checkpoint(TRUNCATE);
                """;
            await fill.ExecuteNonQueryAsync();
        }

        SqliteConnection.ClearAllPools();
        var length = new FileInfo(path).Length;
        Assert.True(length > 40 * 4096, $"the store has {length} bytes, too few pages to damage the middle");
        await using var file = new FileStream(path, FileMode.Open, FileAccess.Write);
        file.Position = length / 2 / 4096 * 4096;
        var garbage = new byte[3 * 4096];
        new Random(11).NextBytes(garbage);
        await file.WriteAsync(garbage);
    }
}
