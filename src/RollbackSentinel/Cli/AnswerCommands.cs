using System.CommandLine;
using System.Globalization;
using RollbackSentinel.Api;
using RollbackSentinel.Core.Incidents;

namespace RollbackSentinel.Cli;

/// <summary>
/// <c>approve|deny|snooze|ack &lt;incident&gt; [--reason] [--by]</c>: a person's answer to a running daemon, recorded
/// with who gave it (<c>--by</c>, default the login name) and through the CLI. Exit codes: see
/// <see cref="ExitCodes.Client"/> (5 when the incident could no longer take the answer: the message says why).
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

    /// <summary>The <c>&lt;incident&gt;</c> argument: a positive whole number, with a clear error otherwise.</summary>
    public static Argument<long> IncidentArgument() => new("incident")
    {
        Description = "The incident id (see 'rollback-sentinel incidents').",
        CustomParser = r =>
        {
            var text = r.Tokens.Count == 1 ? r.Tokens[0].Value : string.Empty;
            if (long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var id) && id > 0)
            {
                return id;
            }

            r.AddError($"'{InputLimits.Shorten(text)}' is not an incident id: give its number, e.g. 12 (see 'rollback-sentinel incidents')");
            return 0;
        },
    };

    /// <summary>The <c>--by</c> option: who asks or answers, checked against the daemon's limits before anything is sent.</summary>
    public static Option<string?> ByOption(string who) => new("--by")
    {
        Description = $"{who} (default: your login name); one line, at most {InputLimits.MaxBy} characters.",
        Validators = { r => Check(r, InputLimits.CheckName("--by", r.GetValueOrDefault<string?>())) },
    };

    /// <summary>The <c>--reason</c> option, checked against the daemon's limits before anything is sent.</summary>
    public static Option<string?> ReasonOption(string description) => new("--reason")
    {
        Description = $"{description} At most {InputLimits.MaxReason} characters.",
        Validators = { r => Check(r, InputLimits.CheckReason("--reason", r.GetValueOrDefault<string?>())) },
    };

    private static void Check(System.CommandLine.Parsing.OptionResult result, string? problem)
    {
        if (problem is not null)
        {
            result.AddError(problem);
        }
    }

    private static Command Create(string answer, string description)
    {
        var api = new ApiClientOptions();
        var id = IncidentArgument();
        var reason = ReasonOption("Why, in your words; recorded with the answer.");
        var by = ByOption("Who answers");
        var command = new Command(answer, description) { id, reason, by };
        api.AddTo(command);
        command.SetAction(async (result, ct) =>
        {
            var who = result.GetValue(by) ?? Environment.UserName;
            var body = new Api.AnswerBody(who, result.GetValue(reason), "cli");
            using var answered = await api.PostAsync(result, $"/api/v1/incidents/{result.GetValue(id)}/{answer}", body, Api.ApiJsonContext.Default.AnswerBody, ct).ConfigureAwait(false);
            if (answered.Document is null)
            {
                return answered.ExitCode;
            }

            await result.InvocationConfiguration.Output.WriteLineAsync(answered.Document.RootElement.GetProperty("message").GetString()).ConfigureAwait(false);
            return ExitCodes.Ok;
        });
        return command;
    }
}
