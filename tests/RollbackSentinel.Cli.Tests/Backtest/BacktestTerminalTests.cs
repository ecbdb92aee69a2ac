using System.Diagnostics;
using System.Globalization;
using RollbackSentinel.Core.Evaluation;

namespace RollbackSentinel.Cli.Tests.Backtest;

/// <summary>backtest for people at a terminal: times relative to now, and a progress line that never reaches files.</summary>
public sealed class BacktestTerminalTests(ScenarioHistory prometheus) : IClassFixture<ScenarioHistory>
{
    private static readonly DateTimeOffset Now = new(2026, 12, 5, 8, 0, 0, TimeSpan.Zero);

    private static readonly string Policy = PolicyYaml.WithWebhook("checkout", interval: null, triggers: PolicyYaml.ErrorRateTrigger);

    [Theory]
    [InlineData("now", "2026-12-05T08:00:00Z")]
    [InlineData("NOW", "2026-12-05T08:00:00Z")]
    [InlineData("-1h", "2026-12-05T07:00:00Z")]
    [InlineData("-1h30m", "2026-12-05T06:30:00Z")]
    [InlineData("-2d", "2026-12-03T08:00:00Z")]
    [InlineData("2026-11-20T10:00:00Z", "2026-11-20T10:00:00Z")]
    public void CliTime_NowRelativeOrAbsolute_IsThatTime(string text, string expected)
    {
        Assert.True(CliTime.TryParse(text, Now, out var time));
        Assert.Equal(expected, Rfc3339.Format(time));
    }

    [Theory]
    [InlineData("1h")]
    [InlineData("+1h")]
    [InlineData("-0s")]
    [InlineData("-soon")]
    [InlineData("yesterday")]
    public void CliTime_AmbiguousOrUnknown_IsRefused(string text) => Assert.False(CliTime.TryParse(text, Now, out _));

    [Fact]
    public async Task Backtest_FromAnHourAgoToNow_RunsOverTheLastHour()
    {
        using var rules = new RulesFolder(("p.yaml", Policy));
        var before = TimeProvider.System.GetUtcNow();

        var run = await CliRun.RunAsync("backtest", "--rules", rules.Path, "--prometheus", prometheus.BaseAddress.ToString(), "--from", "-1h", "--to", "now", "--step", "5m");

        var after = TimeProvider.System.GetUtcNow();
        Assert.True(run.ExitCode == 0, run.Error);
        var range = run.OutputLines[0]["Backtest ".Length..].Split(' ')[0].Split("..");
        var (from, to) = (DateTimeOffset.Parse(range[0], CultureInfo.InvariantCulture), DateTimeOffset.Parse(range[1], CultureInfo.InvariantCulture));
        Assert.Equal(TimeSpan.FromHours(1), to - from);
        Assert.InRange(to, before.AddSeconds(-1), after.AddSeconds(1));
    }

    [Fact]
    public async Task Backtest_StderrOnATerminal_ShowsAProgressLineClearedAtTheEndAndNeverInTheJsonFile()
    {
        using var rules = new RulesFolder(("p.yaml", Policy));
        var json = Path.Combine(rules.Path, "decisions.jsonl");
        var command = $"{SentinelCommand.Shell} backtest --rules '{rules.Path}/p.yaml' --prometheus {prometheus.BaseAddress} "
            + $"--from {Rfc3339.Format(ScenarioHistory.T0)} --to {Rfc3339.Format(ScenarioHistory.End)} --deployed-at {Rfc3339.Format(ScenarioHistory.DeployAt)} --format json > '{json}'";

        // script(1) runs the command on a terminal (stderr is the terminal; stdout goes to the file) and copies what it shows.
        var terminal = await RunAsync("script", "-qec", command, "/dev/null");
        // stderr to a pipe (RunAsync's), not a terminal: the summary but no progress line.
        var piped = await RunAsync("sh", "-c", command);

        Assert.Contains("\rbacktest: fetching history, ", terminal);
        Assert.Contains("\rbacktest: replaying, ", terminal);
        Assert.Contains("evaluations (100%)", terminal);
        var lastProgress = terminal.LastIndexOf("(100%)", StringComparison.Ordinal);
        var cleared = terminal.IndexOf("\r", lastProgress, StringComparison.Ordinal);
        Assert.True(cleared > 0 && terminal[(cleared + 1)..].TrimStart(' ').StartsWith('\r'), "the progress line is cleared: " + terminal[lastProgress..]);
        Assert.Contains("backtest: 1 policy", terminal);

        var decisions = await File.ReadAllTextAsync(json);
        Assert.Contains("\"action\":\"rollback\"", decisions);
        Assert.DoesNotContain('\r', decisions);
        Assert.Contains("backtest: 1 policy", piped); // it ran to the end: no progress because it is not a terminal
        Assert.DoesNotContain("backtest: fetching", piped);
        Assert.DoesNotContain('\r', piped);
    }

    private static async Task<string> RunAsync(string file, params string[] args)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        using var process = Process.Start(info)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await process.WaitForExitAsync(timeout.Token);
        return await output + await error;
    }
}
