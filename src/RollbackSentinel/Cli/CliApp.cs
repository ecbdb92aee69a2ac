using System.CommandLine;

namespace RollbackSentinel.Cli;

/// <summary>The <c>rollback-sentinel</c> command line. Output goes to the given writers so tests can run it in-process.</summary>
public static class CliApp
{
    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter error, CancellationToken cancellationToken = default)
    {
        var root = new RootCommand("RollbackSentinel: guards deployments with rollback policies kept as code.")
        {
            ValidateCommand.Create(),
            BacktestCommand.Create(),
            PlanCommand.Create(),
            RunCommand.Create(),
            StatusCommands.Status(),
            StatusCommands.Incidents(),
            HealthcheckCommand.Create(),
        };
        foreach (var answer in AnswerCommands.Create())
        {
            root.Subcommands.Add(answer);
        }


        var parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            // A wrong command line is a usage error (2), not "the rules have errors" (1).
            foreach (var e in parsed.Errors)
            {
                await error.WriteLineAsync($"error: {e.Message}").ConfigureAwait(false);
            }

            await error.WriteLineAsync("Run 'rollback-sentinel --help' for usage.").ConfigureAwait(false);
            return ExitCodes.Usage;
        }

        // The daemon's host handles SIGTERM itself (graceful stop within its shutdown timeout).
        var config = new InvocationConfiguration { Output = output, Error = error, ProcessTerminationTimeout = null };
        return await parsed.InvokeAsync(config, cancellationToken).ConfigureAwait(false);
    }
}
