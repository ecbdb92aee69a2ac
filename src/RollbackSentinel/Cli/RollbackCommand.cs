using System.CommandLine;
using RollbackSentinel.Api;

namespace RollbackSentinel.Cli;

/// <summary>
/// <c>rollback POLICY --reason R [--label k=v]... [--by NAME]</c>: asks a running daemon to roll back a policy's
/// target now (the API's <c>POST /api/v1/policies/{name}/rollback</c>), recorded as an incident with who and why.
/// Labels fill the target's templates (<c>{{ labels.deployment }}</c>). Exit codes: see <see cref="ExitCodes.Client"/>.
/// </summary>
internal static class RollbackCommand
{
    public static Command Create()
    {
        var api = new ApiClientOptions();
        var policy = new Argument<string>("policy")
        {
            Description = "The policy whose target is rolled back (see 'rollback-sentinel status').",
            Validators = { r => AddError(r, InputLimits.CheckName("policy", r.GetValueOrDefault<string>(), InputLimits.MaxPolicyName)) },
        };
        var reason = AnswerCommands.ReasonOption("Why (required); recorded with the rollback.");
        reason.Required = true;
        var labels = CliLabels.Option("A label the target's templates need");
        var by = AnswerCommands.ByOption("Who asks");
        var command = new Command("rollback", "Roll back a policy's target now, through its adapter, recorded with who asked and why.") { policy, reason, labels, by };
        api.AddTo(command);
        command.SetAction(async (result, ct) =>
        {
            var body = new Api.ManualRollbackBody(CliLabels.Of(result, labels), result.GetRequiredValue(reason), result.GetValue(by) ?? Environment.UserName, "cli");
            using var started = await api.PostAsync(result, $"/api/v1/policies/{Uri.EscapeDataString(result.GetRequiredValue(policy))}/rollback", body, Api.ApiJsonContext.Default.ManualRollbackBody, ct).ConfigureAwait(false);
            if (started.Document is null)
            {
                return started.ExitCode;
            }

            await result.InvocationConfiguration.Output.WriteLineAsync(started.Document.RootElement.GetProperty("message").GetString()).ConfigureAwait(false);
            return ExitCodes.Ok;
        });
        return command;
    }

    private static void AddError(System.CommandLine.Parsing.SymbolResult result, string? problem)
    {
        if (problem is not null)
        {
            result.AddError(problem);
        }
    }
}
