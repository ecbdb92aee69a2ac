namespace RollbackSentinel.Cli.Tests;

/// <summary><c>--help</c> names the program <c>rollback-sentinel</c> and lists the exit codes of the command asked about.</summary>
public sealed class HelpTests
{
    [Fact]
    public async Task RootHelp_NamesTheProgramAndListsEveryExitCode()
    {
        var help = await CliRun.RunAsync("--help");

        Assert.Equal(0, help.ExitCode);
        Assert.Contains("Usage:\n  rollback-sentinel [command] [options]\n", help.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("RollbackSentinel [", help.Output, StringComparison.Ordinal);
        Assert.Contains(
            "Exit codes:\n  0  ran (a backtest whatever it found; run after a graceful stop)\n  1  the rules have errors (healthcheck: unhealthy)\n  2  bad command line or settings\n"
            + "  3  Prometheus, the target or the daemon could not be used or reached\n  4  not authorized by the daemon (HTTP 401/403)\n"
            + "  5  the daemon refused the request (other 4xx: no such incident, late answer, bad field)\n",
            help.Output,
            StringComparison.Ordinal);
    }

    [Fact]
    public async Task IncidentsHelp_StateOption_ListsEveryIncidentStateTheApiAccepts()
    {
        var help = await CliRun.RunAsync("incidents", "--help");

        Assert.Equal(0, help.ExitCode);
        var line = string.Join(" ", help.Output.Split('\n').SkipWhile(l => !l.Contains("--state", StringComparison.Ordinal)).TakeWhile(l => !l.Contains("--limit", StringComparison.Ordinal)).Select(l => l.Trim()));
        foreach (var state in Enum.GetNames<Core.Incidents.IncidentStatus>())
        {
            Assert.Matches($@"[(, ]{state.ToLowerInvariant()}[,)]", line);
        }

        Assert.Contains("dryrun, dryrunfailed", line, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("status", "rollback-sentinel status [options]")]
    [InlineData("incidents", "rollback-sentinel incidents [command] [options]")]
    [InlineData("incidents show", "rollback-sentinel incidents show <incident> [options]")]
    [InlineData("rollback", "rollback-sentinel rollback <policy> [options]")]
    [InlineData("approve", "rollback-sentinel approve <incident> [options]")]
    [InlineData("deny", "rollback-sentinel deny <incident> [options]")]
    [InlineData("snooze", "rollback-sentinel snooze <incident> [options]")]
    [InlineData("ack", "rollback-sentinel ack <incident> [options]")]
    public async Task ClientVerbHelp_NamesTheProgramAndListsTheClientExitCodes(string verb, string usage)
    {
        var help = await CliRun.RunAsync([.. verb.Split(' '), "--help"]);

        Assert.Equal(0, help.ExitCode);
        Assert.Contains("Usage:\n  " + usage + "\n", help.Output, StringComparison.Ordinal);
        Assert.Contains("--config <config>", help.Output, StringComparison.Ordinal);
        Assert.Contains(
            "Exit codes:\n  0  done\n  2  bad command line, settings or token file\n  3  the daemon could not be reached (or answered with a server error)\n"
            + "  4  not authorized: the daemon refused the token (HTTP 401/403)\n"
            + "  5  the daemon refused the request (no such incident or policy, a late answer, a bad field): nothing changed\n",
            help.Output,
            StringComparison.Ordinal);
    }

    [Fact]
    public async Task IncidentsHelp_StateOption_ListsEveryIncidentState()
    {
        var help = await CliRun.RunAsync("incidents", "--help");

        var listed = System.Text.RegularExpressions.Regex.Match(help.Output, @"Only incidents in this state \((?<states>[a-z, ]+)\)").Groups["states"].Value.Split(", ");
        Assert.Equal(Enum.GetNames<Core.Incidents.IncidentStatus>().Select(n => n.ToLowerInvariant()).Order(StringComparer.Ordinal), listed.Order(StringComparer.Ordinal));
    }

    [Theory]
    [InlineData("validate", "  1  errors (also: a folder without rule files, a path that does not exist)\n")]
    [InlineData("backtest", "  0  ran (whatever the backtest found)\n")]
    [InlineData("plan", "  3  Prometheus or the target could not be used\n")]
    [InlineData("run", "  2  bad command line or settings, or it could not start: address in use, another daemon holds the store, the store is empty or damaged\n")]
    [InlineData("healthcheck", "  1  unhealthy: no answer, or not 2xx\n")]
    [InlineData("test", "  1  a test failed (also: its rule files have errors, or its run could not start)\n")]
    public async Task OtherVerbsHelp_ListTheirExitCodes(string verb, string line)
    {
        var help = await CliRun.RunAsync(verb, "--help");

        Assert.Equal(0, help.ExitCode);
        Assert.Contains($"  rollback-sentinel {verb}", help.Output, StringComparison.Ordinal);
        Assert.Contains("Exit codes:\n", help.Output, StringComparison.Ordinal);
        Assert.Contains(line, help.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ParseError_OfAnyVerb_SaysWhatIsExpectedInsteadOfATypeName()
    {
        var run = await CliRun.RunAsync("healthcheck", "--timeout", "soon");

        Assert.Equal(2, run.ExitCode);
        Assert.StartsWith("error: 'soon' is not valid for option '--timeout': expected a number\n", run.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("System.", run.Error, StringComparison.Ordinal);
        Assert.EndsWith("Run 'rollback-sentinel --help' for usage.\n", run.Error, StringComparison.Ordinal);
    }
}
