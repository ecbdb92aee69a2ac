using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Invocation;
using System.Text.RegularExpressions;

namespace RollbackSentinel.Cli;

/// <summary>The <c>rollback-sentinel</c> command line. Output goes to the given writers so tests can run it in-process.</summary>
public static partial class CliApp
{
    /// <summary>The program's name in usage lines, whatever the executable or dll is called (<c>dotnet RollbackSentinel.dll</c>).</summary>
    public const string ProgramName = "rollback-sentinel";

    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter error, CancellationToken cancellationToken = default)
    {
        var root = Create();
        var parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            // A wrong command line is a usage error (2), not "the rules have errors" (1).
            foreach (var e in parsed.Errors)
            {
                await error.WriteLineAsync($"error: {Readable(e.Message)}").ConfigureAwait(false);
            }

            await error.WriteLineAsync($"Run '{ProgramName} --help' for usage.").ConfigureAwait(false);
            return ExitCodes.Usage;
        }

        // The daemon's host handles SIGTERM itself (graceful stop within its shutdown timeout).
        var config = new InvocationConfiguration { Output = output, Error = error, ProcessTerminationTimeout = null };
        return await parsed.InvokeAsync(config, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// The root command, named <see cref="ProgramName"/> (a <see cref="RootCommand"/> takes the executable's name),
    /// with help that ends with the exit codes of the command asked about.
    /// </summary>
    internal static Command Create()
    {
        var help = new HelpOption();
        var root = new Command(ProgramName, "RollbackSentinel: guards deployments with rollback policies kept as code.")
        {
            help,
            new VersionOption(),
            ValidateCommand.Create(),
            BacktestCommand.Create(),
            TestCommand.Create(),
            PlanCommand.Create(),
            RunCommand.Create(),
            StatusCommands.Status(),
            StatusCommands.Incidents(),
            RollbackCommand.Create(),
            MarkCommand.Create(),
            GateCommand.Create(),
            HealthcheckCommand.Create(),
        };
        foreach (var answer in AnswerCommands.Create())
        {
            root.Subcommands.Add(answer);
        }

        help.Action = new HelpWithExitCodes((HelpAction)help.Action!, root);
        return root;
    }

    /// <summary>The exit codes a command gives, for its help.</summary>
    internal static IReadOnlyList<(int Code, string Meaning)> ExitCodesOf(Command command, Command root) =>
        command == root ? ExitCodes.All : CommandPath(command).First() switch
        {
            "status" or "incidents" or "rollback" or "mark" or "approve" or "deny" or "snooze" or "ack" => ExitCodes.Client,
            "gate" => GateCommand.ExitCodesList,
            "test" => TestCommand.ExitCodesList,
            "run" => [(ExitCodes.Ok, "stopped gracefully (SIGTERM)"), (ExitCodes.Usage, "bad command line or settings, or it could not start: address in use, another daemon holds the store, the store is empty or damaged")],
            "validate" =>
            [
                (ExitCodes.Ok, "no errors (warnings allowed)"),
                (ExitCodes.InvalidRules, "errors (also: a folder without rule files, a path that does not exist)"),
                (ExitCodes.Usage, "bad command line or settings"),
                (ExitCodes.BackendFailure, "the --prometheus server could not be used"),
            ],
            "healthcheck" => [(ExitCodes.Ok, "the daemon answered /healthz"), (ExitCodes.InvalidRules, "unhealthy: no answer, or not 2xx"), (ExitCodes.Usage, "bad command line")],
            _ =>
            [
                (ExitCodes.Ok, "ran" + (command.Name == "backtest" ? " (whatever the backtest found)" : string.Empty)),
                (ExitCodes.InvalidRules, "the rules have errors"),
                (ExitCodes.Usage, "bad command line" + (command.Name == "backtest" ? " (or a bad line in --changes FILE, or --output FILE cannot be written)" : string.Empty)),
                (ExitCodes.BackendFailure, command.Name == "plan" ? "Prometheus or the target could not be used" : "Prometheus could not be used"),
            ],
        };

    /// <summary>The verbs from the root down to <paramref name="command"/> (e.g. "incidents", "show").</summary>
    private static IEnumerable<string> CommandPath(Command command)
    {
        var names = new List<string>();
        for (var c = command; c is not null && c.Name != ProgramName; c = c.Parents.OfType<Command>().FirstOrDefault())
        {
            names.Insert(0, c.Name);
        }

        return names;
    }

    /// <summary>
    /// System.CommandLine names .NET types in parse errors ("Cannot parse argument 'abc' for command 'approve' as
    /// expected type 'System.Int64'"): say what is expected instead.
    /// </summary>
    internal static string Readable(string message) => CannotParse().Replace(message, m =>
    {
        var expected = m.Groups["type"].Value switch
        {
            "System.Int64" or "System.Int32" => "a whole number",
            "System.Double" => "a number",
            "System.Boolean" => "true or false",
            "System.TimeSpan" => "a duration",
            "System.DateTimeOffset" or "System.DateTime" => "a time",
            _ => "a value of another kind",
        };
        return $"'{m.Groups["value"].Value}' is not valid for {m.Groups["what"].Value} '{m.Groups["name"].Value}': expected {expected}";
    });

    [GeneratedRegex(@"Cannot parse argument '(?<value>.*)' for (?<what>command|option|argument) '(?<name>[^']*)' as expected type '(?<type>[^']*)'\.?")]
    private static partial Regex CannotParse();

    /// <summary>The standard help, then the command's exit codes.</summary>
    private sealed class HelpWithExitCodes(HelpAction help, Command root) : SynchronousCommandLineAction
    {
        public override bool ClearsParseErrors => true;

        public override int Invoke(ParseResult parseResult)
        {
            var code = help.Invoke(parseResult);
            var output = parseResult.InvocationConfiguration.Output;
            output.WriteLine("Exit codes:");
            foreach (var (c, meaning) in ExitCodesOf(parseResult.CommandResult.Command, root))
            {
                output.WriteLine($"  {c}  {meaning}");
            }

            output.WriteLine();
            return code;
        }
    }
}
