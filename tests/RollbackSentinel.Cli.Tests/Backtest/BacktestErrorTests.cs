using RollbackSentinel.Testing.Net;

namespace RollbackSentinel.Cli.Tests.Backtest;

/// <summary>backtest exits non-zero with a clear message when it cannot give a meaningful answer.</summary>
public sealed class BacktestErrorTests(ScenarioHistory prometheus) : IClassFixture<ScenarioHistory>
{
    private static readonly string Policy = PolicyYaml.WithWebhook("checkout", interval: null, triggers: PolicyYaml.ErrorRateTrigger);

    private Task<CliRun> Backtest(string rules, string? url = null, string from = "2026-11-20T10:00:00Z", string to = "2026-11-20T10:10:00Z", params string[] extra) =>
        CliRun.RunAsync(["backtest", "--rules", rules, "--prometheus", url ?? prometheus.BaseAddress.ToString(), "--from", from, "--to", to, .. extra]);

    [Fact]
    public async Task Backtest_UnreachablePrometheus_ExitsThreeNamingTheServer()
    {
        using var rules = new RulesFolder(("p.yaml", Policy));
        var port = FreePort.Next();

        var run = await Backtest(rules.Path, $"http://127.0.0.1:{port}");

        Assert.Equal(3, run.ExitCode);
        Assert.Contains($"Prometheus at http://127.0.0.1:{port}/ could not be reached", run.Error);
        Assert.Equal(string.Empty, run.Output);
    }

    [Fact]
    public async Task Backtest_QueryThePrometheusRejects_ExitsThreeQuotingTheQueryAndTheParseError()
    {
        using var rules = new RulesFolder(("p.yaml", Policy.Replace("sum(rate(http_requests_total[1m]))", "sum(rate(http_requests_total))", StringComparison.Ordinal)));

        var run = await Backtest(rules.Path);

        Assert.Equal(3, run.ExitCode);
        Assert.Contains("Prometheus rejected query \"sum(rate(http_requests_total))\"", run.Error);
        Assert.Contains("expected type range vector in call to function \"rate\"", run.Error);
    }

    [Fact]
    public async Task Backtest_AnswerPastMaxResponseBytes_IsAnErrorVerdictNamingTheCap()
    {
        using var rules = new RulesFolder(("p.yaml", Policy));

        var run = await Backtest(rules.Path, extra: ["--prometheus-max-response-bytes", "100"]);

        Assert.Contains("maxResponseBytes cap of 100 bytes (100 B)", run.Output + run.Error);
        Assert.Equal(0, run.ExitCode);
    }

    [Fact]
    public async Task Backtest_MaxSeriesBelowOne_ExitsTwo()
    {
        using var rules = new RulesFolder(("p.yaml", Policy));

        var run = await Backtest(rules.Path, extra: ["--prometheus-max-series", "0"]);

        Assert.Equal(2, run.ExitCode);
        Assert.Contains("error: --prometheus: MaxSeries must be at least 1; got 0.", run.Error);
    }

    [Fact]
    public async Task Backtest_InvalidRules_ExitsOneWithEveryDiagnostic()
    {
        using var rules = new RulesFolder(("p.yaml", Policy.Replace("max: 0.05", "max: lots", StringComparison.Ordinal).Replace("action: rollback", "action: panic", StringComparison.Ordinal)));

        var run = await Backtest(rules.Path);

        Assert.Equal(1, run.ExitCode);
        Assert.Contains("p.yaml:14:14: spec.triggers[0].errorRate.max: must be a number, got 'lots'", run.Error);
        Assert.Contains("p.yaml:16:15: spec.triggers[0].action: must be one of rollback, page, notify, got 'panic'", run.Error);
        Assert.Contains("error: the rules have errors", run.Error);
    }

    [Theory]
    [InlineData("2026-11-20T10:10:00Z", "2026-11-20T10:00:00Z", "error: the window is empty: --to (2026-11-20T10:00:00Z) must be after --from (2026-11-20T10:10:00Z)")]
    [InlineData("yesterday", "2026-11-20T10:00:00Z", "error: --from: 'yesterday' is not an RFC 3339 time such as 2026-11-22T10:00:00Z, 'now', or a duration before now such as -1h")]
    [InlineData("2026-11-20T10:00:00Z", "2026-11-20", "error: --to: '2026-11-20' is not an RFC 3339 time such as 2026-11-22T10:00:00Z, 'now', or a duration before now such as -1h")]
    [InlineData("2026-11-20T10:00:00", "2026-11-20T11:00:00Z", "error: --from: '2026-11-20T10:00:00' is not an RFC 3339 time")]
    public async Task Backtest_BadWindow_ExitsTwoSayingWhatIsWrong(string from, string to, string message)
    {
        using var rules = new RulesFolder(("p.yaml", Policy));

        var run = await Backtest(rules.Path, from: from, to: to);

        Assert.Equal(2, run.ExitCode);
        Assert.Contains(message, run.Error);
    }

    [Fact]
    public async Task Backtest_WindowTooLargeForTheStep_ExitsTwoInsteadOfRunningForever()
    {
        using var rules = new RulesFolder(("p.yaml", Policy));

        var run = await Backtest(rules.Path, from: "2020-01-01T00:00:00Z", to: "2026-01-01T00:00:00Z");

        Assert.Equal(2, run.ExitCode);
        Assert.Contains("policy 'checkout' would be evaluated", run.Error);
        Assert.Contains("use a shorter window or a larger --step", run.Error);
    }

    [Fact]
    public async Task Backtest_BadStep_ExitsTwo()
    {
        using var rules = new RulesFolder(("p.yaml", Policy));

        var run = await Backtest(rules.Path, extra: ["--step", "fast"]);

        Assert.Equal(2, run.ExitCode);
        Assert.Contains("error: --step: 'fast' is not a duration", run.Error);
    }

    [Fact]
    public async Task Backtest_PrometheusUrlNotAUrl_ExitsTwo()
    {
        using var rules = new RulesFolder(("p.yaml", Policy));

        var run = await Backtest(rules.Path, url: "prometheus:9090:x");

        Assert.Equal(2, run.ExitCode);
        Assert.Contains("error: --prometheus:", run.Error);
    }

    [Fact]
    public async Task Backtest_CronPolicyFromAFractionOfASecond_EvaluatesOnTheScheduleOnly()
    {
        using var rules = new RulesFolder(("p.yaml", Policy.Replace("spec:\n", "spec:\n  schedule:\n    cron: \"0/30 * * * * ?\"\n", StringComparison.Ordinal)));

        var run = await Backtest(rules.Path, from: "2026-11-20T10:00:00.0001Z", to: "2026-11-20T10:02:00Z");

        Assert.True(run.ExitCode == 0, run.Error);
        Assert.Contains("checkout  4            ", run.Output);
    }

    [Fact]
    public async Task Backtest_LowerCaseRfc3339AndOffsets_AreAccepted()
    {
        using var rules = new RulesFolder(("p.yaml", Policy));

        var run = await Backtest(rules.Path, from: "2026-11-20t12:00:00+02:00", to: "2026-11-20t10:01:00z");

        Assert.True(run.ExitCode == 0, run.Error);
        Assert.Contains("Backtest 2026-11-20T10:00:00Z..2026-11-20T10:01:00Z", run.Output);
    }
}
