using System.CommandLine;
using System.Net;
using System.Text;
using System.Text.Json;
using RollbackSentinel.Api;
using RollbackSentinel.Core.Policies;

namespace RollbackSentinel.Cli;

/// <summary>
/// <c>gate POLICY [--label k=v]... [--wait 10m] [--poll 5s]</c>: "is it safe to go on?" for a pipeline or a migration
/// runbook (<c>GET /api/v1/gates/{policy}</c>). Exits 0 when the gate is open, 1 when it is still closed when the wait
/// is over (printing the reasons), 2 when no answer could be had: a bad command line or settings, an unreachable
/// daemon, a refused token, an unknown policy. So <c>rollback-sentinel gate shop --wait 10m &amp;&amp; next-step</c> goes on
/// only when the sentinel says so, and a script tells "closed" (1) from "could not ask" (2).
/// </summary>
internal static class GateCommand
{
    /// <summary>The gate's exit codes, as its <c>--help</c> lists them.</summary>
    internal static readonly IReadOnlyList<(int Code, string Meaning)> ExitCodesList =
    [
        (ExitCodes.Ok, "the gate is open"),
        (ExitCodes.InvalidRules, "the gate is closed (still closed when --wait ran out): the reasons are printed"),
        (ExitCodes.Usage, "no answer: bad command line, settings or token file, the daemon unreachable, the token refused (HTTP 401/403), or no such policy"),
    ];

    public static Command Create()
    {
        var api = new ApiClientOptions();
        var policy = new Argument<string>("policy")
        {
            Description = "The policy whose gate is asked (see 'rollback-sentinel status').",
            Validators = { r => AddError(r, InputLimits.CheckName("policy", r.GetValueOrDefault<string>(), InputLimits.MaxPolicyName)) },
        };
        var labels = CliLabels.Option("Only the series with this label value (a label set the series do not have matches them all)");
        var wait = Duration("--wait", "How long to wait for the gate to open, asking every --poll (default 0: ask once).", TimeSpan.Zero, allowZero: true);
        var poll = Duration("--poll", "How often to ask while waiting (default 5s).", TimeSpan.FromSeconds(5), allowZero: false);
        var format = StatusCommands.FormatOption("the last answer of GET /api/v1/gates/{policy}");
        var command = new Command("gate", "Ask a running daemon whether a policy's gate is open: every trigger passed minPasses evaluations in a row since the latest change, and no incident is open.")
        {
            policy, labels, wait, poll, format,
        };
        api.AddTo(command);
        command.SetAction(async (result, ct) =>
        {
            var name = result.GetRequiredValue(policy);
            var filter = CliLabels.Of(result, labels);
            var path = $"/api/v1/gates/{Uri.EscapeDataString(name)}"
                + (filter.Count == 0 ? string.Empty : "?" + string.Join("&", filter.Select(l => $"{Uri.EscapeDataString(l.Key)}={Uri.EscapeDataString(l.Value)}")));
            var what = name + (filter.Count == 0 ? string.Empty : "{" + string.Join(", ", filter.Select(l => $"{l.Key}=\"{l.Value}\"")) + "}");
            return await WaitAsync(result, api, path, what, result.GetValue(wait), result.GetValue(poll), result.GetValue(format) == "json", ct).ConfigureAwait(false);
        });
        return command;
    }

    private static async Task<int> WaitAsync(ParseResult result, ApiClientOptions api, string path, string what, TimeSpan wait, TimeSpan poll, bool json, CancellationToken ct)
    {
        var output = result.InvocationConfiguration.Output;
        var error = result.InvocationConfiguration.Error;
        var clock = TimeProvider.System;
        var started = clock.GetTimestamp();
        var answered = false;
        string? lastSaid = null;
        while (true)
        {
            using var answer = await api.AskAsync(result, path, [HttpStatusCode.Conflict], ct).ConfigureAwait(false);
            var left = wait - clock.GetElapsedTime(started);
            if (answer.Document is not { } gate)
            {
                // A daemon restarting while a pipeline waits is not an answer: ask again until the wait is over. Anything
                // else (no such policy, a refused token, bad settings) will not mend by asking again.
                var transient = answered && answer.ExitCode == ExitCodes.DaemonUnreachable && left > TimeSpan.Zero;
                await error.WriteLineAsync($"{(transient ? "warning" : "error")}: {answer.Error}{(transient ? $" (asking again in {PromDuration.Format(Min(poll, left))})" : string.Empty)}").ConfigureAwait(false);
                if (!transient)
                {
                    return ExitCodes.Usage;
                }

                await Task.Delay(Min(poll, left), clock, ct).ConfigureAwait(false);
                continue;
            }

            answered = true;
            var root = gate.RootElement;
            var open = root.GetProperty("open").GetBoolean();
            if (open || left <= TimeSpan.Zero)
            {
                await output.WriteAsync(json ? StatusCommands.Indent(root) + "\n" : Describe(what, root)).ConfigureAwait(false);
                return open ? ExitCodes.Ok : ExitCodes.InvalidRules;
            }

            // While waiting, say why it is closed whenever that changes (a pipeline's log shows the progress).
            var reasons = string.Join("; ", Reasons(root));
            if (reasons != lastSaid)
            {
                await error.WriteLineAsync($"gate {what} is closed (waiting up to {PromDuration.Format(Whole(left))} more): {reasons}").ConfigureAwait(false);
                lastSaid = reasons;
            }

            await Task.Delay(Min(poll, left), clock, ct).ConfigureAwait(false);
        }
    }

    /// <summary>A gate's answer for people: open or closed, the reasons, and each series with its passes.</summary>
    internal static string Describe(string what, JsonElement gate)
    {
        var text = new StringBuilder();
        var open = gate.GetProperty("open").GetBoolean();
        var min = gate.GetProperty("minPasses").GetInt32();
        text.Append(open
            ? $"gate {what} is open: every trigger passed {min} evaluations in a row since the latest change, and no incident is open\n"
            : $"gate {what} is closed:\n");
        foreach (var reason in Reasons(gate))
        {
            text.Append("  - ").Append(reason).Append('\n');
        }

        foreach (var s in gate.GetProperty("series").EnumerateArray())
        {
            var labels = StatusCommands.Labels(s.GetProperty("labels"));
            var change = s.GetProperty("change") is { ValueKind: JsonValueKind.Object } c ? ", since " + MarkCommand.Describe(c) : ", no change known";
            text.Append(System.Globalization.CultureInfo.InvariantCulture, $"  {s.GetProperty("trigger").GetString()}{(labels == "-" ? string.Empty : labels)}: {s.GetProperty("state").GetString()}, {s.GetProperty("passes").GetInt32()} passing in a row{change}\n");
        }

        return text.ToString();
    }

    private static IEnumerable<string> Reasons(JsonElement gate) => gate.GetProperty("reasons").EnumerateArray().Select(r => StatusCommands.OneLine(r.GetString()));

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;

    private static TimeSpan Whole(TimeSpan d) => TimeSpan.FromSeconds(Math.Ceiling(d.TotalSeconds));

    private static Option<TimeSpan> Duration(string name, string description, TimeSpan defaultValue, bool allowZero) => new(name)
    {
        Description = description,
        DefaultValueFactory = _ => defaultValue,
        CustomParser = r =>
        {
            var text = r.Tokens.Count == 1 ? r.Tokens[0].Value : string.Empty;
            if (PromDuration.TryParse(text, out var d, out _) && (allowZero || d > TimeSpan.Zero))
            {
                return d;
            }

            r.AddError($"{name} must be a duration such as {(allowZero ? "10m" : "5s")} (s, m, h){(allowZero ? string.Empty : ", more than 0")}, got '{InputLimits.Shorten(text)}'");
            return defaultValue;
        },
    };

    private static void AddError(System.CommandLine.Parsing.SymbolResult result, string? problem)
    {
        if (problem is not null)
        {
            result.AddError(problem);
        }
    }
}
