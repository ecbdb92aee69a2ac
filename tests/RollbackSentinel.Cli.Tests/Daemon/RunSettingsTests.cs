using System.Text.Json;

namespace RollbackSentinel.Cli.Tests.Daemon;

/// <summary>How <c>run</c> takes its settings: defaults, the config file, SENTINEL__* variables, and clear refusals.</summary>
[Collection(StartupDaemonCollection.Name)]
public sealed class RunSettingsTests
{
    [Fact]
    public async Task Run_WithNoArguments_UsesRulesAndDataBesideItAndTakesSettingsFromTheEnvironment()
    {
        await using var live = await LiveShop.StartAsync();
        using var workspace = new SentinelWorkspace(live.Prometheus.BaseAddress);
        workspace.WriteRule("shop.yaml", live.Policy());

        // No --config and no options: ./rules and ./data are the defaults; Prometheus and the listen
        // address come from the environment, as a Kubernetes manifest would set them.
        await using var sentinel = await SentinelProcess.StartAsync(workspace, ["run", "--log-format", "json"], new Dictionary<string, string>
        {
            ["SENTINEL__PROMETHEUS__URL"] = live.Prometheus.BaseAddress.ToString(),
            ["SENTINEL__HTTP__LISTEN"] = workspace.BaseAddress.ToString().TrimEnd('/'),
        });
        var token = await File.ReadAllTextAsync(Path.Combine(workspace.Root, "data", "api-token"));
        using var api = new SentinelApi(workspace.BaseAddress, token);

        await Eventually.WaitAsync(async () => await api.PhaseAsync("shop", "errors") is not null, TimeSpan.FromSeconds(45), "an evaluation of ./rules/shop.yaml");
        Assert.True(File.Exists(Path.Combine(workspace.Root, "data", "sentinel.db")));
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(workspace.Root, "data", "api-token")));
        }

        // --log-format json: every line is one JSON object.
        var lines = sentinel.Log.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.NotEmpty(lines);
        Assert.All(lines, line => Assert.Equal(JsonValueKind.Object, JsonDocument.Parse(line).RootElement.ValueKind));
        Assert.Contains(lines, l => l.Contains("\"RenderedMessage\":\"RollbackSentinel starting", StringComparison.Ordinal));
        Assert.DoesNotContain(token, sentinel.Log);
    }

    [Fact]
    public async Task Run_SecondDaemonOnTheSameStore_RefusesToStartAndLeavesTheFirstAlone()
    {
        await using var live = await LiveShop.StartAsync();
        using var workspace = new SentinelWorkspace(live.Prometheus.BaseAddress);
        workspace.WriteRule("shop.yaml", live.Policy());
        await using var first = await SentinelProcess.StartAsync(workspace);

        var second = await CliRun.RunAsync("run", "--config", workspace.ConfigPath, "--listen", $"http://127.0.0.1:{Testing.Net.FreePort.Next()}");

        Assert.Equal(2, second.ExitCode);
        Assert.Contains("error: another rollback-sentinel is running on", second.Error);
        using var api = new SentinelApi(workspace.BaseAddress);
        Assert.True(await api.IsReadyAsync());
    }

    [Fact]
    public async Task Run_BadSettings_ExitsTwoListingEveryProblem()
    {
        using var dir = new RulesFolder();
        var config = Path.Combine(dir.Path, "sentinel.yaml");
        await File.WriteAllTextAsync(config, $"""
            rules: {dir.Path}
            prometheus:
              url: not a url
              timeout: soon
            storage:
              retention: 7 days
            http:
              listen: ftp://0.0.0.0:21
            """);

        var run = await CliRun.RunAsync("run", "--config", config);

        Assert.Equal(2, run.ExitCode);
        Assert.Equal(
            [
                $"error: {config}:6:14: storage:retention: '7 days' is not a duration: the number 7 has no unit (ms, s, m, h, d, w, y)",
                $"error: {config}:4:12: prometheus:timeout: 'soon' is not a duration: expected a number at position 1 (use e.g. 30s, 2m, 1h30m)",
                $"error: {config}:3:8: prometheus:url: 'not a url' is not an http:// or https:// URL",
                $"error: {config}:8:11: http:listen: 'ftp://0.0.0.0:21' is not an http:// address such as http://0.0.0.0:8080",
            ],
            run.Error.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    [Fact]
    public async Task Run_MissingConfigFile_ExitsTwoNamingIt()
    {
        var run = await CliRun.RunAsync("run", "--config", "/nonexistent/sentinel.yaml");

        Assert.Equal(2, run.ExitCode);
        Assert.Contains("error: cannot read the settings: /nonexistent/sentinel.yaml does not exist", run.Error);
    }
}
