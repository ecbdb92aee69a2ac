using System.CommandLine;
using System.Runtime.InteropServices;
using RollbackSentinel.RuleTests;

namespace RollbackSentinel.Cli;

/// <summary>
/// <c>test FILE...</c>: unit tests for policies, shaped after <c>promtool test rules</c> (docs/rule-tests.md): input series
/// in promtool's notation, evaluated by a private Prometheus, decisions and gates compared with what the file expects.
/// </summary>
internal static class TestCommand
{
    internal static readonly IReadOnlyList<(int Code, string Meaning)> ExitCodesList =
    [
        (ExitCodes.Ok, "every test passed"),
        (ExitCodes.InvalidRules, "a test failed (also: its rule files have errors, or its run could not start)"),
        (ExitCodes.Usage, "bad command line, a malformed test file (each error as file:line:column), or prometheus/promtool not on PATH or not runnable"),
        (RuleTestRunner.Interrupted, "interrupted (Ctrl-C, SIGTERM): Prometheus stopped and its files removed"),
    ];

    public static Command Create()
    {
        var files = new Argument<string[]>("FILE")
        {
            Description = "Rule test files, or folders of them (their *.yaml and *.yml files).",
            Arity = ArgumentArity.OneOrMore,
        };
        var command = new Command("test", "Run rule tests: input series on a private Prometheus, and the actions and gates each policy must give.") { files };
        command.SetAction(async (result, ct) =>
        {
            // The root command leaves signals to each verb (the daemon's host has its own): stop cleanly on Ctrl-C and SIGTERM.
            using var interrupted = CancellationTokenSource.CreateLinkedTokenSource(ct);
            using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
            using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
            var error = result.InvocationConfiguration.Error;
            try
            {
                return await RuleTestRunner.RunAsync(result.GetRequiredValue(files), result.InvocationConfiguration.Output, error, interrupted.Token).ConfigureAwait(false);
            }
            catch (LocalPrometheusException e)
            {
                // Only a tool that cannot be run at all stops the whole run; a run that fails is its test's failure.
                await error.WriteLineAsync($"error: {e.Message}").ConfigureAwait(false);
                return e.InstallProblem ? ExitCodes.Usage : ExitCodes.InvalidRules;
            }
            catch (OperationCanceledException) when (interrupted.IsCancellationRequested)
            {
                await error.WriteLineAsync("test: interrupted").ConfigureAwait(false);
                return RuleTestRunner.Interrupted;
            }

            void Stop(PosixSignalContext signal)
            {
                signal.Cancel = true;
                interrupted.Cancel();
            }
        });
        return command;
    }
}
