using RollbackSentinel.Cli.Tests.Backtest;
using RollbackSentinel.Testing.Net;

namespace RollbackSentinel.Cli.Tests;

/// <summary><c>validate --prometheus</c> asks a real Prometheus to parse every query and points at the bad ones.</summary>
public sealed class ValidateAgainstPrometheusTests(ScenarioHistory prometheus) : IClassFixture<ScenarioHistory>
{
    private static readonly string Policy = PolicyYaml.WithWebhook("checkout", interval: null, triggers: """
        - name: errors
          errorRate:
            errors: sum(rate(http_requests_total{code=~"5.."}[1m]))
            total: sum(rate(http_requests_total[1m])) by by (app)
            max: 0.05
            minTotal: 0.5
          action: rollback
        - name: queue
          threshold:
            query: max(queue_depth) > bool
            op: ">"
            value: 1
          action: notify
        """);

    [Fact]
    public async Task Validate_WithPrometheus_ReportsEachRejectedQueryAtItsLine()
    {
        using var rules = new RulesFolder(("p.yaml", Policy));

        var run = await CliRun.RunAsync("validate", rules.Path, "--prometheus", prometheus.BaseAddress.ToString());

        Assert.Equal(1, run.ExitCode);
        var lines = run.Error.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, lines.Length);
        Assert.StartsWith(Path.Combine(rules.Path, "p.yaml") + ":13:16: spec.triggers[0].errorRate.total: Prometheus rejects the query: ", lines[0]);
        Assert.StartsWith(Path.Combine(rules.Path, "p.yaml") + ":19:16: spec.triggers[1].threshold.query: Prometheus rejects the query: ", lines[1]);
        Assert.Contains("parse error", lines[0]);
        Assert.Contains("1 file(s), 1 valid policy with 2 trigger(s): 2 error(s), 0 warning(s)", run.Output);
    }

    [Fact]
    public async Task Validate_WithoutPrometheus_OnlyChecksOffline()
    {
        using var rules = new RulesFolder(("p.yaml", Policy));

        var run = await CliRun.RunAsync("validate", rules.Path);

        Assert.Equal(0, run.ExitCode);
        Assert.Equal(string.Empty, run.Error);
    }

    [Fact]
    public async Task Validate_ExampleRules_AreAcceptedByARealPrometheus()
    {
        var run = await CliRun.RunAsync("validate", RepoRoot.Rules, "--prometheus", prometheus.BaseAddress.ToString());

        Assert.True(run.ExitCode == 0, run.Error);
        Assert.Contains("0 error(s)", run.Output);
    }

    [Fact]
    public async Task Validate_PrometheusUnreachable_ExitsThree()
    {
        using var rules = new RulesFolder(("p.yaml", Policy));

        var run = await CliRun.RunAsync("validate", rules.Path, "--prometheus", $"http://127.0.0.1:{FreePort.Next()}");

        Assert.Equal(3, run.ExitCode);
        Assert.Contains("error: cannot check queries against", run.Error);
    }
}

internal static class RepoRoot
{
    public static string Path { get; } = Find();

    public static string Rules => System.IO.Path.Combine(Path, "rules");

    private static string Find()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(System.IO.Path.Combine(dir.FullName, "RollbackSentinel.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("RollbackSentinel.sln not found above " + AppContext.BaseDirectory);
    }
}
