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
        };

        var config = new InvocationConfiguration { Output = output, Error = error };
        return await root.Parse(args).InvokeAsync(config, cancellationToken).ConfigureAwait(false);
    }
}
