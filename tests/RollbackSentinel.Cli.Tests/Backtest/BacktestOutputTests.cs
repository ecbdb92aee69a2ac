namespace RollbackSentinel.Cli.Tests.Backtest;

/// <summary>
/// <c>backtest --output FILE</c>: any format goes to the file instead of standard output, replaced whole when the backtest
/// is done; a path that cannot be written is refused before the replay (exit 2, naming it). The history is
/// <see cref="ScenarioHistory"/>'s bad deploy, which rolls back once at T0+12m15s when the deploy is given.
/// </summary>
public sealed class BacktestOutputTests(ScenarioHistory prometheus) : IClassFixture<ScenarioHistory>
{
    private static readonly string Policy = PolicyYaml.WithWebhook("bad", """
        - name: error-rate-spike
          errorRate:
            errors: sum(rate(http_requests_total{app="bad",code=~"5.."}[1m]))
            total: sum(rate(http_requests_total{app="bad"}[1m]))
            max: 0.05
            minTotal: 0.5
          for: 2m
          action: rollback
        """);

    private static string[] Args(string rules, string prometheusUrl, params string[] extra) =>
    [
        "backtest", "--rules", rules, "--prometheus", prometheusUrl, "--from", "2026-11-20T10:00:00Z", "--to", "2026-11-20T10:40:00Z",
        "--deployed-at", "2026-11-20T10:10:00Z", .. extra,
    ];

    [Fact]
    public async Task Output_InAFolderThatDoesNotExist_ExitsTwoNamingThePathBeforeAnyQuery()
    {
        using var rules = new RulesFolder(("p.yaml", Policy));
        var path = Path.Combine(rules.Path, "missing", "report.html");

        // Nothing listens on port 9: the path is refused before the backend is asked anything.
        var run = await CliRun.RunAsync(Args(rules.Path, "http://127.0.0.1:9", "--format", "html", "--output", path));

        Assert.Equal(2, run.ExitCode);
        Assert.Equal($"error: --output: cannot write {path}: the folder {Path.GetDirectoryName(path)} does not exist\n", run.Error);
        Assert.Empty(run.Output);
    }

    [Fact]
    public async Task Output_IsAFolder_ExitsTwo()
    {
        using var rules = new RulesFolder(("p.yaml", Policy));

        var run = await CliRun.RunAsync(Args(rules.Path, "http://127.0.0.1:9", "--output", rules.Path));

        Assert.Equal(2, run.ExitCode);
        Assert.Equal($"error: --output: cannot write {rules.Path}: it is a folder\n", run.Error);
    }

    [Fact]
    public async Task Output_Json_WritesTheLinesStdoutWouldHaveAndReplacesTheFile()
    {
        using var rules = new RulesFolder(("p.yaml", Policy));
        var folder = Directory.CreateTempSubdirectory("sentinel-output-").FullName;
        try
        {
            var path = Path.Combine(folder, "decisions.jsonl");
            await File.WriteAllTextAsync(path, "an older run\n");

            var toStdout = await CliRun.RunAsync(Args(rules.Path, prometheus.BaseAddress.ToString(), "--format", "json"));
            var toFile = await CliRun.RunAsync(Args(rules.Path, prometheus.BaseAddress.ToString(), "--format", "json", "--output", path));

            Assert.Equal(0, toFile.ExitCode);
            Assert.Empty(toFile.Output);
            Assert.Contains("\"at\":\"2026-11-20T10:12:15Z\"", toStdout.Output);
            Assert.Equal(toStdout.Output, await File.ReadAllTextAsync(path));
            Assert.Contains($"wrote json to {path} (1 policy, 1 decision)\n", toFile.Error);
            Assert.Equal([path], Directory.GetFiles(folder));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public async Task Output_Table_WritesTheTableAndItsStatsLine()
    {
        using var rules = new RulesFolder(("p.yaml", Policy));
        var path = Path.Combine(rules.Path, "backtest.txt");

        var run = await CliRun.RunAsync(Args(rules.Path, prometheus.BaseAddress.ToString(), "--output", path));

        Assert.Equal(0, run.ExitCode);
        Assert.Empty(run.Output);
        var text = await File.ReadAllTextAsync(path);
        Assert.StartsWith("Backtest 2026-11-20T10:00:00Z..2026-11-20T10:40:00Z, deployed at 2026-11-20T10:10:00Z\n", text);
        Assert.Contains("2026-11-20T10:12:15Z  bad", text);
        Assert.Contains("1 policy, ", text);
        Assert.Contains($"wrote table to {path} (1 policy, 1 decision)\n", run.Error);
    }
}
