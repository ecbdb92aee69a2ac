using System.Text.Json;
using Npgsql;
using RollbackSentinel.Daemon;
using RollbackSentinel.Testing.Net;
using RollbackSentinel.Testing.Postgres;

namespace RollbackSentinel.Cli.Tests.Daemon;

/// <summary>
/// <c>rollback-sentinel run</c> on PostgreSQL (<c>storage.postgres</c>), as a real process on the real PostgreSQL fixture:
/// it starts, migrates and records there; when the database cannot be used it refuses to start with one line naming the
/// setting; the password never shows, in its output, its errors or /metrics.
/// </summary>
[Collection(PostgresDaemonCollection.Name)]
public sealed class PostgresDaemonTests(PostgresFixture postgres)
{
    private const string Password = "Tr0ub4dor-and-3-horses";
    private static readonly TimeSpan Generous = TimeSpan.FromSeconds(45);
    private static readonly Uri NoPrometheus = new("http://127.0.0.1:9/");

    private static readonly string ValidPolicy = PolicyYaml.WithWebhook("checkout", PolicyYaml.ErrorRateTrigger);

    [Fact]
    public async Task Run_OnPostgres_RecordsTheIncidentThere_AndThePasswordShowsNowhere()
    {
        var connectionString = await postgres.Server.CreateDatabaseWithLoginAsync(Password, CancellationToken.None);
        try
        {
            await using var live = await LiveShop.StartAsync();
            using var workspace = new SentinelWorkspace(live.Prometheus.BaseAddress);
            UsePostgres(workspace, $"connectionString: '{connectionString}'");
            workspace.WriteRule("shop.yaml", live.Policy());
            await using var sentinel = await SentinelProcess.StartAsync(workspace);
            using var api = new SentinelApi(workspace.BaseAddress);

            await Eventually.WaitAsync(async () => await api.LastVerdictAsync() == "pass", Generous, "a passing evaluation" + Environment.NewLine + sentinel.Log);
            live.Shop.ErrorShare = 0.5;
            var timeline = await api.WaitForIncidentAsync(Generous, () => sentinel.Log, "acted");
            var id = timeline.GetProperty("incident").GetProperty("id").GetInt64();

            // Read back through the API, and there in PostgreSQL: the daemon wrote no SQLite file.
            Assert.Equal("succeeded", Assert.Single(timeline.GetProperty("actions").EnumerateArray()).GetProperty("status").GetString());
            Assert.Single(live.Rollbacks);
            var (policy, status) = await ReadIncidentAsync(connectionString, id);
            Assert.Equal("shop", policy);
            Assert.Contains(status, new[] { "Acted", "Resolved" });
            Assert.False(File.Exists(Path.Combine(workspace.Root, "data", "sentinel.db")));
            var where = new NpgsqlConnectionStringBuilder(connectionString);
            Assert.Contains($"store PostgreSQL 127.0.0.1:{where.Port}/{where.Database} (storage.postgres.connectionString)", sentinel.Log);

            using var metrics = await api.Http.GetAsync("metrics");
            var exported = await metrics.Content.ReadAsStringAsync();
            Assert.Contains("rollback_sentinel_", exported);
            Assert.DoesNotContain(Password, exported, StringComparison.Ordinal);
            Assert.DoesNotContain(Password, sentinel.Log, StringComparison.Ordinal);
        }
        finally
        {
            await postgres.Server.DropDatabaseAsync(connectionString, CancellationToken.None);
        }
    }

    [Fact]
    public async Task Run_WrongPassword_ExitsTwoWithOneLineNamingTheSetting_WithoutThePassword()
    {
        var connectionString = await postgres.Server.CreateDatabaseWithLoginAsync(Password, CancellationToken.None);
        try
        {
            const string Wrong = "not-the-password-4711";
            using var workspace = new SentinelWorkspace(NoPrometheus);
            workspace.WriteRule("checkout.yaml", ValidPolicy);
            UsePostgres(workspace, $"connectionString: '{new NpgsqlConnectionStringBuilder(connectionString) { Password = Wrong }}'");

            var (exitCode, output) = await SentinelProcess.RunToExitAsync(workspace, ["run", "--config", workspace.ConfigPath]);

            Assert.Equal(2, exitCode);
            var error = Assert.Single(output.Split('\n'), l => l.StartsWith("error: ", StringComparison.Ordinal));
            Assert.Contains("storage.postgres.connectionString", error);
            Assert.Contains("password authentication failed", error);
            Assert.DoesNotContain(Wrong, output, StringComparison.Ordinal);
            Assert.DoesNotContain(Password, output, StringComparison.Ordinal);
            Assert.DoesNotContain("   at ", output);
        }
        finally
        {
            await postgres.Server.DropDatabaseAsync(connectionString, CancellationToken.None);
        }
    }

    [Fact]
    public async Task Run_PostgresUnreachable_FromTheEnvironment_ExitsTwoNamingTheSettingAndWhere_WithoutThePassword()
    {
        using var workspace = new SentinelWorkspace(NoPrometheus);
        workspace.WriteRule("checkout.yaml", ValidPolicy);
        var port = FreePort.Next();
        var nowhere = $"Host=127.0.0.1;Port={port};Database=sentinel;Username=sentinel;Password={Password};Timeout=3";

        var (exitCode, output) = await SentinelProcess.RunToExitAsync(
            workspace, ["run", "--config", workspace.ConfigPath], new Dictionary<string, string> { ["SENTINEL__STORAGE__POSTGRES__CONNECTIONSTRING"] = nowhere });

        Assert.Equal(2, exitCode);
        var error = Assert.Single(output.Split('\n'), l => l.StartsWith("error: ", StringComparison.Ordinal));
        Assert.StartsWith($"error: the store PostgreSQL 127.0.0.1:{port}/sentinel (storage.postgres.connectionString) cannot be used: ", error);
        Assert.DoesNotContain(Password, output, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", output);
    }

    [Fact]
    public async Task Run_ConnectionStringFromTheEnvironment_StartsOnPostgresAndMigratesIt()
    {
        var connectionString = await postgres.Server.CreateDatabaseWithLoginAsync(Password, CancellationToken.None);
        try
        {
            using var workspace = new SentinelWorkspace(NoPrometheus);
            workspace.WriteRule("checkout.yaml", ValidPolicy);

            await using (var sentinel = await SentinelProcess.StartAsync(
                workspace, ["run", "--config", workspace.ConfigPath], new Dictionary<string, string> { ["SENTINEL__STORAGE__POSTGRES__CONNECTIONSTRING"] = connectionString }))
            {
                using var api = new SentinelApi(workspace.BaseAddress);
                Assert.Empty(await api.IncidentsAsync());
                Assert.Equal(0, await sentinel.TerminateAsync());
                Assert.DoesNotContain(Password, sentinel.Log, StringComparison.Ordinal);
            }

            // Its schema is in that database, every migration applied once.
            await using var connection = new NpgsqlConnection(connectionString);
            await connection.OpenAsync();
            await using var versions = new NpgsqlCommand("SELECT count(*), max(version) FROM schema_version", connection);
            await using var reader = await versions.ExecuteReaderAsync();
            Assert.True(await reader.ReadAsync());
            Assert.Equal(reader.GetInt32(1), reader.GetInt64(0));
            Assert.True(reader.GetInt32(1) >= 4);
            Assert.False(File.Exists(Path.Combine(workspace.Root, "data", "sentinel.db")));
        }
        finally
        {
            await postgres.Server.DropDatabaseAsync(connectionString, CancellationToken.None);
        }
    }

    [Fact]
    public async Task Run_ConnectionStringAndItsFileBoth_OrAMissingFile_ExitsTwoNamingTheKey()
    {
        using var workspace = new SentinelWorkspace(NoPrometheus);
        workspace.WriteRule("checkout.yaml", ValidPolicy);
        var missing = Path.Combine(workspace.Root, "no-such-secret");
        UsePostgres(workspace, $"connectionStringFile: {missing}");

        var (bothCode, both) = await SentinelProcess.RunToExitAsync(
            workspace,
            ["run", "--config", workspace.ConfigPath],
            new Dictionary<string, string> { ["SENTINEL__STORAGE__POSTGRES__CONNECTIONSTRING"] = $"Host=127.0.0.1;Password={Password}" });
        var (missingCode, alone) = await SentinelProcess.RunToExitAsync(workspace, ["run", "--config", workspace.ConfigPath]);

        Assert.Equal(2, bothCode);
        Assert.Contains("storage:postgres: set storage.postgres.connectionString or storage.postgres.connectionStringFile, not both", both);
        Assert.DoesNotContain(Password, both, StringComparison.Ordinal);
        Assert.Equal(2, missingCode);
        Assert.Contains($"storage:postgres:connectionStringFile: {missing} does not exist", alone);
        Assert.DoesNotContain("RollbackSentinel starting", both + alone);
    }

    [Fact]
    public async Task Run_OneNodeOnPostgres_KilledWhileTheActionRuns_RestartInterruptsAndPagesItOnce_NeverRunsItAgain()
    {
        var connectionString = await postgres.Server.CreateDatabaseWithLoginAsync(Password, CancellationToken.None);
        try
        {
            // The webhook target hangs: the node is killed (-9) while the action runs, with it started under its lease.
            await using var live = await LiveShop.StartAsync(webhookDelay: TimeSpan.FromMinutes(2));
            using var workspace = new SentinelWorkspace(live.Prometheus.BaseAddress);
            UsePostgres(workspace, $"connectionString: '{connectionString}'");
            workspace.WriteRule("shop.yaml", live.Policy());
            var first = await SentinelProcess.StartAsync(workspace);
            using var api = new SentinelApi(workspace.BaseAddress);
            live.Shop.ErrorShare = 0.5;
            await Eventually.WaitAsync(() => Task.FromResult(live.Webhook.Requests.Count > 0), Generous, "the webhook call to start" + Environment.NewLine + first.Log);
            Assert.Equal("acting", (await api.IncidentsAsync()).Single().GetProperty("state").GetString());

            await first.KillAsync();
            await first.DisposeAsync();
            await using var second = await SentinelProcess.StartAsync(workspace);

            var incident = Assert.Single(await api.IncidentsAsync());
            var id = incident.GetProperty("id").GetInt64();
            Assert.Equal("actioninterrupted", incident.GetProperty("state").GetString());
            var timeline = await api.GetJsonAsync($"api/v1/incidents/{id}");
            Assert.Equal("interrupted", Assert.Single(timeline.GetProperty("actions").EnumerateArray()).GetProperty("status").GetString());
            Assert.Equal(("shop", "ActionInterrupted"), await ReadIncidentAsync(connectionString, id));

            // Longer than a lease sweep (LeaseSweeper.Every) with the breach still on: no second page, no second action.
            var interruptedAt = DateTimeOffset.Parse(incident.GetProperty("updatedAt").GetString()!, System.Globalization.CultureInfo.InvariantCulture);
            await Eventually.WaitAsync(
                async () => await api.LastEvaluatedAtAsync() is { } t && t > interruptedAt + LeaseSweeper.Every + TimeSpan.FromSeconds(5),
                TimeSpan.FromMinutes(2),
                "evaluations past a lease sweep" + Environment.NewLine + second.Log);
            Assert.Single(Occurrences(second.Log, $"PAGE shop/errors (incident {id}): rollback of "));
            Assert.Single(Occurrences(second.Log, "was interrupted by a restart; its effect is unknown and it is not run again"));
            Assert.Contains("NOT retried", second.Log);
            Assert.Single(live.Webhook.Requests);
            Assert.Single(await api.IncidentsAsync());
        }
        finally
        {
            await postgres.Server.DropDatabaseAsync(connectionString, CancellationToken.None);
        }
    }

    private static IEnumerable<int> Occurrences(string text, string what)
    {
        for (var at = text.IndexOf(what, StringComparison.Ordinal); at >= 0; at = text.IndexOf(what, at + what.Length, StringComparison.Ordinal))
        {
            yield return at;
        }
    }

    /// <summary>Adds <c>storage.postgres</c> (<paramref name="setting"/>, one line) under the workspace's <c>storage</c> section.</summary>
    private static void UsePostgres(SentinelWorkspace workspace, string setting)
    {
        var lines = File.ReadAllLines(workspace.ConfigPath).ToList();
        var path = lines.FindIndex(l => l.StartsWith("  path: ", StringComparison.Ordinal));
        lines.InsertRange(path + 1, ["  postgres:", $"    {setting}"]);
        File.WriteAllLines(workspace.ConfigPath, lines);
    }

    private static async Task<(string Policy, string Status)> ReadIncidentAsync(string connectionString, long id)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT policy, status FROM incidents WHERE id = @id", connection);
        command.Parameters.AddWithValue("id", id);
        await using var reader = await command.ExecuteReaderAsync();
        Assert.True(await reader.ReadAsync(), $"incident {id} is not in PostgreSQL");
        return (reader.GetString(0), reader.GetString(1));
    }
}

/// <summary>Daemon processes on the real PostgreSQL fixture, one at a time, beside the other daemon collections (see DaemonCollections.cs).</summary>
[CollectionDefinition(Name)]
public sealed class PostgresDaemonCollection : ICollectionFixture<PostgresFixture>
{
    public const string Name = "Daemon processes on PostgreSQL";
}
