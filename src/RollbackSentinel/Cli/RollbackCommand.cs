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
        var labels = new Option<string[]>("--label")
        {
            Description = $"A label the target's templates need, as name=value (repeatable, at most {InputLimits.MaxLabels}).",
            AllowMultipleArgumentsPerToken = false,
        };
        labels.Validators.Add(r =>
        {
            var problem = Parse(r.GetValueOrDefault<string[]>() ?? [], out var parsed);
            AddError(r, problem ?? InputLimits.CheckLabels("--label", parsed));
        });
        var by = AnswerCommands.ByOption("Who asks");
        var command = new Command("rollback", "Roll back a policy's target now, through its adapter, recorded with who asked and why.") { policy, reason, labels, by };
        api.AddTo(command);
        command.SetAction(async (result, ct) =>
        {
            Parse(result.GetValue(labels) ?? [], out var parsed);
            var body = new { labels = parsed, reason = result.GetRequiredValue(reason), by = result.GetValue(by) ?? Environment.UserName, channel = "cli" };
            using var started = await api.PostAsync(result, $"/api/v1/policies/{Uri.EscapeDataString(result.GetRequiredValue(policy))}/rollback", body, ct).ConfigureAwait(false);
            if (started.Document is null)
            {
                return started.ExitCode;
            }

            await result.InvocationConfiguration.Output.WriteLineAsync(started.Document.RootElement.GetProperty("message").GetString()).ConfigureAwait(false);
            return ExitCodes.Ok;
        });
        return command;
    }

    /// <summary>Reads name=value pairs; the problem with the first malformed or repeated one, or null.</summary>
    private static string? Parse(string[] pairs, out Dictionary<string, string> labels)
    {
        labels = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var pair in pairs)
        {
            var eq = pair.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0)
            {
                return $"--label '{InputLimits.Shorten(pair)}' is not name=value";
            }

            if (!labels.TryAdd(pair[..eq], pair[(eq + 1)..]))
            {
                return $"--label {InputLimits.Shorten(pair[..eq])} is given twice";
            }
        }

        return null;
    }

    private static void AddError(System.CommandLine.Parsing.SymbolResult result, string? problem)
    {
        if (problem is not null)
        {
            result.AddError(problem);
        }
    }
}
