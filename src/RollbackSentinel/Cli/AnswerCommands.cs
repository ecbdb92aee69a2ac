using System.CommandLine;
using RollbackSentinel.Core.Incidents;

namespace RollbackSentinel.Cli;

/// <summary>
/// <c>approve|deny|snooze|ack &lt;incident&gt; [--reason] [--by]</c>: a person's answer to a running daemon, recorded
/// with who gave it (<c>--by</c>, default the login name) and through the CLI. Exit 0 when applied, 1 when the
/// incident could no longer take it (already approved, denied, resolved: the message says which), 3 when the
/// daemon could not be asked.
/// </summary>
internal static class AnswerCommands
{
    public static IEnumerable<Command> Create() =>
    [
        Create(Answers.Approve, "Approve the held rollback of an incident awaiting confirmation: it runs at once."),
        Create(Answers.Deny, "Deny the rollback: the incident is closed and its target held back for the policy's cooldown."),
        Create(Answers.Snooze, "Ask again later: the confirmation's deadline moves 30 minutes on."),
        Create(Answers.Ack, "Acknowledge an incident: recorded, nothing else changes."),
    ];

    private static Command Create(string answer, string description)
    {
        var api = new ApiClientOptions();
        var id = new Argument<long>("incident") { Description = "The incident id (see 'rollback-sentinel incidents')." };
        var reason = new Option<string?>("--reason") { Description = "Why, in your words; recorded with the answer." };
        var by = new Option<string?>("--by") { Description = "Who answers (default: your login name)." };
        var command = new Command(answer, description) { id, reason, by };
        api.AddTo(command);
        command.SetAction(async (result, ct) =>
        {
            var who = result.GetValue(by) ?? Environment.UserName;
            var body = new { by = who, reason = result.GetValue(reason), channel = "cli" };
            var error = new StringWriter();
            using var answered = await api.PostAsync(result, $"/api/v1/incidents/{result.GetValue(id)}/{answer}", body, error, ct).ConfigureAwait(false);
            if (answered is null)
            {
                var text = error.ToString();
                await result.InvocationConfiguration.Error.WriteAsync(text).ConfigureAwait(false);
                return text.Contains("HTTP 409", StringComparison.Ordinal) || text.Contains("HTTP 404", StringComparison.Ordinal) ? ExitCodes.InvalidRules : ExitCodes.BackendFailure;
            }

            await result.InvocationConfiguration.Output.WriteLineAsync(answered.RootElement.GetProperty("message").GetString()).ConfigureAwait(false);
            return ExitCodes.Ok;
        });
        return command;
    }
}
