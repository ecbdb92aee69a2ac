using System.CommandLine;
using System.Text.Json;
using RollbackSentinel.Output;

namespace RollbackSentinel.Cli;

/// <summary><c>status</c> and <c>incidents</c>: tables of what a running daemon sees and has done.</summary>
internal static class StatusCommands
{
    public static Command Status()
    {
        var api = new ApiClientOptions();
        var command = new Command("status", "Show each policy of a running daemon: its triggers, their state and last verdict.");
        api.AddTo(command);
        command.SetAction(async (result, ct) =>
        {
            var output = result.InvocationConfiguration.Output;
            using var policies = await api.GetAsync(result, "/api/v1/policies", result.InvocationConfiguration.Error, ct).ConfigureAwait(false);
            using var rules = policies is null ? null : await api.GetAsync(result, "/api/v1/rules", result.InvocationConfiguration.Error, ct).ConfigureAwait(false);
            if (policies is null || rules is null)
            {
                return ExitCodes.BackendFailure;
            }

            var table = new TextTable("POLICY", "TRIGGER", "SERIES", "STATE", "SINCE", "LAST VERDICT", "VALUE", "THRESHOLD", "WHY");
            foreach (var p in policies.RootElement.EnumerateArray())
            {
                var name = p.GetProperty("name").GetString()! + (p.GetProperty("dryRun").GetBoolean() ? " (dry-run)" : string.Empty);
                foreach (var t in p.GetProperty("triggers").EnumerateArray())
                {
                    var series = t.GetProperty("series").EnumerateArray().ToArray();
                    if (series.Length == 0)
                    {
                        table.Add(name, t.GetProperty("name").GetString()!, "-", "not evaluated yet", "-", "-", "-", "-", "-");
                    }

                    foreach (var s in series)
                    {
                        var v = s.GetProperty("lastVerdict");
                        var hasVerdict = v.ValueKind == JsonValueKind.Object;
                        table.Add(
                            name,
                            t.GetProperty("name").GetString()!,
                            Labels(s.GetProperty("labels")),
                            s.GetProperty("phase").GetString()!,
                            Text(s.GetProperty("breachingSince")),
                            hasVerdict ? v.GetProperty("kind").GetString()! : "-",
                            hasVerdict ? Number(v.GetProperty("value")) : "-",
                            hasVerdict ? Number(v.GetProperty("threshold")) : "-",
                            hasVerdict ? v.GetProperty("summary").GetString()! : "-");
                    }
                }
            }

            await output.WriteAsync(table.ToString()).ConfigureAwait(false);
            var broken = rules.RootElement.EnumerateArray().Where(f => !f.GetProperty("valid").GetBoolean()).ToArray();
            foreach (var f in broken)
            {
                var kept = f.GetProperty("policies").GetArrayLength() > 0 ? "its last good version keeps running" : "none of its policies run";
                await output.WriteLineAsync($"\nrule file with errors ({kept}): {f.GetProperty("file").GetString()}").ConfigureAwait(false);
                foreach (var e in f.GetProperty("errors").EnumerateArray())
                {
                    await output.WriteLineAsync("  " + e.GetString()).ConfigureAwait(false);
                }
            }

            return ExitCodes.Ok;
        });
        return command;
    }

    public static Command Incidents()
    {
        var api = new ApiClientOptions();
        var state = new Option<string?>("--state") { Description = "Only incidents in this state (open, acting, acted, actionfailed, actioninterrupted, resolved)." };
        var limit = new Option<int>("--limit") { Description = "At most this many, newest first (default 50).", DefaultValueFactory = _ => 50 };
        var command = new Command("incidents", "List a running daemon's incidents, newest first.") { state, limit };
        api.AddTo(command);
        command.SetAction(async (result, ct) =>
        {
            var query = $"/api/v1/incidents?limit={result.GetValue(limit)}" + (result.GetValue(state) is { } s ? $"&state={Uri.EscapeDataString(s)}" : string.Empty);
            using var incidents = await api.GetAsync(result, query, result.InvocationConfiguration.Error, ct).ConfigureAwait(false);
            if (incidents is null)
            {
                return ExitCodes.BackendFailure;
            }

            var table = new TextTable("ID", "OPENED", "POLICY", "TRIGGER", "SERIES", "ACTION", "STATE", "WHY");
            foreach (var i in incidents.RootElement.EnumerateArray())
            {
                table.Add(
                    i.GetProperty("id").GetInt64().ToString(System.Globalization.CultureInfo.InvariantCulture),
                    i.GetProperty("openedAt").GetString()!,
                    i.GetProperty("policy").GetString()!,
                    i.GetProperty("trigger").GetString()!,
                    Labels(i.GetProperty("labels")),
                    i.GetProperty("action").GetString()! + (i.GetProperty("dryRun").GetBoolean() ? " (dry-run)" : string.Empty),
                    i.GetProperty("state").GetString()!,
                    i.GetProperty("summary").GetString()!);
            }

            await result.InvocationConfiguration.Output.WriteAsync(table.Count == 0 ? "no incidents\n" : table.ToString()).ConfigureAwait(false);
            return ExitCodes.Ok;
        });
        return command;
    }

    private static string Labels(JsonElement labels)
    {
        var pairs = labels.EnumerateObject().Select(p => $"{p.Name}=\"{p.Value.GetString()}\"").ToArray();
        return pairs.Length == 0 ? "-" : "{" + string.Join(", ", pairs) + "}";
    }

    private static string Text(JsonElement e) => e.ValueKind == JsonValueKind.String ? e.GetString()! : "-";

    private static string Number(JsonElement e) =>
        e.ValueKind == JsonValueKind.Number ? Core.Evaluation.TriggerEvaluator.Num(e.GetDouble()) : "-";
}
