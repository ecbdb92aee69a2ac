using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using RollbackSentinel.Api;

namespace RollbackSentinel.Cli;

/// <summary>
/// <c>mark POLICY [--label k=v]... [--revision R] [--previous-revision R] [--by B] [--description D] [--at T]</c>: a deploy
/// marker from a pipeline. Records a change with a running daemon (<c>POST /api/v1/changes</c>), which arms the policy's
/// rollback triggers for its watch window and is blamed by incidents that follow. Prints the stored change. Exit
/// codes: see <see cref="ExitCodes.Client"/>.
/// </summary>
internal static class MarkCommand
{
    public static Command Create()
    {
        var api = new ApiClientOptions();
        var policy = new Argument<string>("policy")
        {
            Description = "The policy the change concerns (see 'rollback-sentinel status').",
            Validators = { r => AddError(r, InputLimits.CheckName("policy", r.GetValueOrDefault<string>(), InputLimits.MaxPolicyName)) },
        };
        var labels = CliLabels.Option("Which series the change concerns (default: all of the policy's)");
        var revision = OneLine("--revision", "The revision or version the change brings (v42, a commit, a chart version)");
        var previous = OneLine("--previous-revision", "The revision it replaces, when known");
        var by = AnswerCommands.ByOption("Who made the change");
        var description = new Option<string?>("--description")
        {
            Description = $"What changed, in words. At most {InputLimits.MaxDescription} characters.",
            Validators = { r => AddError(r, InputLimits.CheckReason("--description", r.GetValueOrDefault<string?>(), InputLimits.MaxDescription)) },
        };
        var at = new Option<string?>("--at")
        {
            Description = $"When the change happened: {CliTime.Forms} (default: now; at most {PromDuration(ChangeEndpoints.MaxFuture)} ahead of the daemon's clock).",
            Validators = { r => AddError(r, r.GetValueOrDefault<string?>() is { } t && !CliTime.TryParse(t, TimeProvider.System.GetUtcNow(), out _) ? $"--at must be {CliTime.Forms}, got '{InputLimits.Shorten(t)}'" : null) },
        };
        var format = StatusCommands.FormatOption("the stored change, as POST /api/v1/changes answers");
        var command = new Command("mark", "Record a change (a deploy, a migration step, a flag flip) with a running daemon: it arms the policy's rollback triggers for its watch window.")
        {
            policy, labels, revision, previous, by, description, at, format,
        };
        api.AddTo(command);
        command.SetAction(async (result, ct) =>
        {
            var when = result.GetValue(at) is { } text && CliTime.TryParse(text, TimeProvider.System.GetUtcNow(), out var t) ? Core.Evaluation.Rfc3339.Format(t) : null;
            var body = new Api.ChangeBody(
                result.GetRequiredValue(policy),
                CliLabels.Of(result, labels),
                result.GetValue(revision),
                result.GetValue(previous),
                result.GetValue(by) ?? Environment.UserName,
                result.GetValue(description),
                when);
            using var stored = await api.PostAsync(result, "/api/v1/changes", body, Api.ApiJsonContext.Default.ChangeBody, ct).ConfigureAwait(false);
            if (stored.Document is not { } change)
            {
                return stored.ExitCode;
            }

            var output = result.InvocationConfiguration.Output;
            await output.WriteLineAsync(result.GetValue(format) == "json"
                ? StatusCommands.Indent(change.RootElement)
                : Describe(change.RootElement)).ConfigureAwait(false);
            return ExitCodes.Ok;
        });
        return command;
    }

    /// <summary>A change (the API's JSON) on one line: "change 7 of checkout-api{deployment="cart"}: v41 -> v42 at 2026-12-05T10:00:00Z by ci (api)".</summary>
    internal static string Describe(JsonElement change)
    {
        var labels = StatusCommands.Labels(change.GetProperty("labels"));
        var revision = Text(change, "revision");
        var previous = Text(change, "previousRevision");
        var what = (previous, revision) switch
        {
            ({ } from, { } to) => $"{from} -> {to}",
            (null, { } to) => to,
            _ => Text(change, "description") ?? "an unnamed change",
        };
        var by = Text(change, "by") is { } b ? " by " + b : string.Empty;
        return StatusCommands.OneLine(string.Create(
            CultureInfo.InvariantCulture,
            $"change {change.GetProperty("id").GetInt64()} of {change.GetProperty("policy").GetString()}{(labels == "-" ? string.Empty : labels)}: {what} at {change.GetProperty("at").GetString()}{by} ({change.GetProperty("source").GetString()})"));
    }

    private static string? Text(JsonElement e, string field) =>
        e.TryGetProperty(field, out var v) && v.ValueKind == JsonValueKind.String && v.GetString() is { Length: > 0 } s ? s : null;

    private static Option<string?> OneLine(string name, string description) => new(name)
    {
        Description = $"{description}; one line, at most {InputLimits.MaxRevision} characters.",
        Validators = { r => AddError(r, InputLimits.CheckName(name, r.GetValueOrDefault<string?>(), InputLimits.MaxRevision)) },
    };

    private static string PromDuration(TimeSpan d) => Core.Policies.PromDuration.Format(d);

    private static void AddError(System.CommandLine.Parsing.SymbolResult result, string? problem)
    {
        if (problem is not null)
        {
            result.AddError(problem);
        }
    }
}
