using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using RollbackSentinel.Output;

namespace RollbackSentinel.Cli;

/// <summary>
/// <c>status</c>, <c>incidents</c> and <c>incidents show ID</c>: what a running daemon sees and has done, as tables and
/// text, or with <c>--format json</c> as the API's own objects (stable: the fields of <c>/api/v1</c>).
/// </summary>
internal static class StatusCommands
{
    /// <summary><c>status --format json</c>: the daemon's answers as they came.</summary>
    internal sealed record StatusDocument(JsonElement Policies, JsonElement Rules, JsonElement? Cluster);

    /// <summary>A JSON value as the CLI prints it (indented).</summary>
    internal static string Indent(JsonElement value) => JsonSerializer.Serialize(value, CliJsonContext.Default.JsonElement);

    /// <summary><c>--format text|json</c> (<c>--output</c> is another name for it).</summary>
    public static Option<string> FormatOption(string json) => new Option<string>("--format", "--output")
    {
        Description = $"text (default) or json ({json}).",
        DefaultValueFactory = _ => "text",
    }.AcceptOnlyFromAmong("text", "json");

    public static Command Status()
    {
        var api = new ApiClientOptions();
        var format = FormatOption("{\"policies\": GET /api/v1/policies, \"rules\": GET /api/v1/rules, \"cluster\": GET /api/v1/cluster or null}");
        var command = new Command("status", "Show each policy of a running daemon: its triggers, their state and last verdict; and the nodes of its cluster.") { format };
        api.AddTo(command);
        command.SetAction(async (result, ct) =>
        {
            var output = result.InvocationConfiguration.Output;
            using var policyAnswer = await api.GetAsync(result, "/api/v1/policies", ct).ConfigureAwait(false);
            if (policyAnswer.Document is not { } policies)
            {
                return policyAnswer.ExitCode;
            }

            using var rulesAnswer = await api.GetAsync(result, "/api/v1/rules", ct).ConfigureAwait(false);
            if (rulesAnswer.Document is not { } rules)
            {
                return rulesAnswer.ExitCode;
            }

            // The nodes are shown whatever they answer: a store that does not answer (503) or an older daemon (404) is said, not fatal.
            using var clusterAnswer = await api.AskAsync(result, "/api/v1/cluster", [], ct).ConfigureAwait(false);
            var cluster = clusterAnswer.Document?.RootElement;
            if (result.GetValue(format) == "json")
            {
                await output.WriteLineAsync(JsonSerializer.Serialize(new StatusDocument(policies.RootElement, rules.RootElement, cluster), CliJsonContext.Default.StatusDocument)).ConfigureAwait(false);
                return ExitCodes.Ok;
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
                            hasVerdict ? OneLine(v.GetProperty("summary").GetString()) : "-");
                    }
                }
            }

            await output.WriteAsync(table.ToString()).ConfigureAwait(false);
            var broken = rules.RootElement.EnumerateArray().Where(f => !f.GetProperty("valid").GetBoolean()).ToArray();
            foreach (var f in broken)
            {
                var kept = f.GetProperty("policies").GetArrayLength() > 0 ? "its last good version keeps running" : "none of its policies run";
                await output.WriteLineAsync($"\nrule file with errors ({kept}): {OneLine(f.GetProperty("file").GetString())}").ConfigureAwait(false);
                foreach (var e in f.GetProperty("errors").EnumerateArray())
                {
                    await output.WriteLineAsync("  " + OneLine(e.GetString())).ConfigureAwait(false);
                }
            }

            await output.WriteAsync(cluster is { } c ? Nodes(c, TimeProvider.System.GetUtcNow()) : $"\nnodes: unknown ({OneLine(clusterAnswer.Error)})\n").ConfigureAwait(false);
            return ExitCodes.Ok;
        });
        return command;
    }

    public static Command Incidents()
    {
        var api = new ApiClientOptions();
        var state = new Option<string?>("--state")
        {
            // From the states themselves, so a new one (dryrun, dryrunfailed) is never missing here.
            Description = $"Only incidents in this state ({string.Join(", ", Enum.GetNames<Core.Incidents.IncidentStatus>().Select(n => n.ToLowerInvariant()))}).",
        };
        var limit = new Option<int>("--limit")
        {
            Description = "At most this many, newest first (1 to 1000, default 50).",
            DefaultValueFactory = _ => 50,
            CustomParser = r =>
            {
                var text = r.Tokens.Count == 1 ? r.Tokens[0].Value : string.Empty;
                if (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n is >= 1 and <= 1000)
                {
                    return n;
                }

                r.AddError($"--limit must be a whole number from 1 to 1000, got '{Api.InputLimits.Shorten(text)}'");
                return 0;
            },
        };
        var format = FormatOption("the array of GET /api/v1/incidents");
        var command = new Command("incidents", "List a running daemon's incidents, newest first; 'incidents show ID' shows one in full.") { state, limit, format, Show() };
        api.AddTo(command);
        command.SetAction(async (result, ct) =>
        {
            var query = $"/api/v1/incidents?limit={result.GetValue(limit)}" + (result.GetValue(state) is { } s ? $"&state={Uri.EscapeDataString(s)}" : string.Empty);
            using var answer = await api.GetAsync(result, query, ct).ConfigureAwait(false);
            if (answer.Document is not { } incidents)
            {
                return answer.ExitCode;
            }

            if (result.GetValue(format) == "json")
            {
                await result.InvocationConfiguration.Output.WriteLineAsync(Indent(incidents.RootElement)).ConfigureAwait(false);
                return ExitCodes.Ok;
            }

            var table = new TextTable("ID", "OPENED", "POLICY", "TRIGGER", "SERIES", "ACTION", "STATE", "CHANGE", "WHY");
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
                    ChangeColumn(i),
                    OneLine(i.GetProperty("summary").GetString()));
            }

            await result.InvocationConfiguration.Output.WriteAsync(table.Count == 0 ? "no incidents\n" : table.ToString()).ConfigureAwait(false);
            return ExitCodes.Ok;
        });
        return command;
    }

    /// <summary><c>incidents show ID</c>: one incident in full: evidence, timeline, the action's plan and before/after, the answers.</summary>
    private static Command Show()
    {
        var api = new ApiClientOptions();
        var id = AnswerCommands.IncidentArgument();
        var format = FormatOption("the object of GET /api/v1/incidents/{id}");
        var command = new Command("show", "Show one incident in full: evidence, events, each action's plan and before/after, and who answered.") { id, format };
        api.AddTo(command);
        command.SetAction(async (result, ct) =>
        {
            using var answer = await api.GetAsync(result, $"/api/v1/incidents/{result.GetValue(id)}", ct).ConfigureAwait(false);
            if (answer.Document is not { } timeline)
            {
                return answer.ExitCode;
            }

            var output = result.InvocationConfiguration.Output;
            await output.WriteAsync(result.GetValue(format) == "json"
                ? Indent(timeline.RootElement) + "\n"
                : Describe(timeline.RootElement)).ConfigureAwait(false);
            return ExitCodes.Ok;
        });
        return command;
    }

    /// <summary>
    /// The nodes section of <c>status</c> (GET /api/v1/cluster as text): each node, alive or dead, how long ago it checked in,
    /// its rules version, evaluations in the last minute, version and clock skew; and a line when alive nodes run different rules.
    /// </summary>
    internal static string Nodes(JsonElement cluster, DateTimeOffset now)
    {
        var text = new StringBuilder();
        var clustered = cluster.GetProperty("clustered").GetBoolean();
        text.Append(CultureInfo.InvariantCulture, $"\nnodes ({(clustered ? "clustered" : "one node, not clustered")}; check-in every {cluster.GetProperty("checkinInterval").GetString()}, dead after {cluster.GetProperty("failoverWithin").GetString()} of silence):\n");
        var table = new TextTable("NODE", "STATE", "LAST CHECK-IN", "RULES", "EVALUATIONS/MIN", "VERSION", "CLOCK SKEW");
        foreach (var n in cluster.GetProperty("nodes").EnumerateArray())
        {
            table.Add(
                OneLine(n.GetProperty("id").GetString()) + (n.GetProperty("self").GetBoolean() ? " (this node)" : string.Empty),
                n.GetProperty("alive").GetBoolean() ? "alive" : "dead",
                Ago(n.GetProperty("lastCheckIn").GetString(), now),
                OneLine(n.GetProperty("rulesVersion").GetString()),
                n.GetProperty("evaluationsLastMinute").GetInt32().ToString(CultureInfo.InvariantCulture),
                OneLine(n.GetProperty("version").GetString()),
                Skew(n));
        }

        text.Append(table.Count == 0 ? "no node has checked in yet\n" : table.ToString());
        if (cluster.GetProperty("mixedRules").GetBoolean())
        {
            var versions = cluster.GetProperty("nodes").EnumerateArray().Where(n => n.GetProperty("alive").GetBoolean())
                .GroupBy(n => n.GetProperty("rulesVersion").GetString(), StringComparer.Ordinal)
                .Select(g => $"{OneLine(g.Key)} on {string.Join(", ", g.Select(n => OneLine(n.GetProperty("id").GetString())))}");
            text.Append(CultureInfo.InvariantCulture, $"rules versions differ among alive nodes ({cluster.GetProperty("rulesVersions").GetInt32()} versions): {string.Join("; ", versions)}\n");
        }

        return text.ToString();
    }

    /// <summary>A node's clock minus the store's ("+0.004s", "-1.250s"); "-" when not measured (or from a daemon that does not report it).</summary>
    private static string Skew(JsonElement node) =>
        node.TryGetProperty("clockSkewSeconds", out var skew) && skew.ValueKind == JsonValueKind.Number
            ? skew.GetDouble().ToString("+0.000;-0.000;0.000", CultureInfo.InvariantCulture) + "s"
            : "-";

    /// <summary>How long ago an RFC 3339 time was, in whole seconds ("4s ago", "2m5s ago").</summary>
    private static string Ago(string? time, DateTimeOffset now)
    {
        if (time is null || !Core.Evaluation.Rfc3339.TryParse(time, out var at))
        {
            return OneLine(time);
        }

        var age = TimeSpan.FromSeconds(Math.Max(0, Math.Floor((now - at).TotalSeconds)));
        return Core.Policies.PromDuration.Format(age) + " ago";
    }

    /// <summary>An incident's timeline (GET /api/v1/incidents/{id}) as text for people.</summary>
    internal static string Describe(JsonElement timeline)
    {
        var text = new StringBuilder();
        var i = timeline.GetProperty("incident");
        text.Append(CultureInfo.InvariantCulture, $"incident {i.GetProperty("id").GetInt64()}: {i.GetProperty("policy").GetString()}/{i.GetProperty("trigger").GetString()} {Labels(i.GetProperty("labels"))}\n");
        text.Append(CultureInfo.InvariantCulture, $"  state:    {i.GetProperty("state").GetString()}\n");
        text.Append(CultureInfo.InvariantCulture, $"  action:   {i.GetProperty("action").GetString()}{(i.GetProperty("dryRun").GetBoolean() ? " (dry-run)" : string.Empty)}\n");
        text.Append(CultureInfo.InvariantCulture, $"  summary:  {OneLine(i.GetProperty("summary").GetString())}\n");
        text.Append(CultureInfo.InvariantCulture, $"  change:   {OneLine(Field(i, "changeSummary") ?? "no change known")}\n");
        if (i.TryGetProperty("change", out var change) && change.ValueKind == JsonValueKind.Object)
        {
            text.Append(CultureInfo.InvariantCulture, $"            {MarkCommand.Describe(change)}\n");
        }

        if (i.TryGetProperty("disarmed", out var disarmed) && disarmed.ValueKind == JsonValueKind.True)
        {
            text.Append(CultureInfo.InvariantCulture, $"  disarmed: {OneLine(Field(i, "disarmedReason") ?? "outside every watch window")}\n");
        }

        text.Append(CultureInfo.InvariantCulture, $"  opened:   {i.GetProperty("openedAt").GetString()}\n");
        text.Append(CultureInfo.InvariantCulture, $"  updated:  {i.GetProperty("updatedAt").GetString()}\n");
        foreach (var (field, label) in new[] { ("resolvedAt", "resolved"), ("answerDeadline", "answer by"), ("timedOutAt", "timed out") })
        {
            if (i.TryGetProperty(field, out var at) && at.ValueKind == JsonValueKind.String)
            {
                text.Append(CultureInfo.InvariantCulture, $"  {(label + ":").PadRight(9)} {at.GetString()}\n");
            }
        }

        text.Append("\nevidence:\n").Append(Block(timeline.GetProperty("evidence"), "  "));
        text.Append("\nevents:\n");
        foreach (var e in timeline.GetProperty("events").EnumerateArray())
        {
            text.Append(CultureInfo.InvariantCulture, $"  {e.GetProperty("at").GetString()}  {e.GetProperty("kind").GetString()}: {OneLine(e.GetProperty("message").GetString())}\n");
        }

        text.Append("\nactions:\n");
        var actions = timeline.GetProperty("actions").EnumerateArray().ToArray();
        if (actions.Length == 0)
        {
            text.Append("  none\n");
        }

        foreach (var a in actions)
        {
            text.Append(CultureInfo.InvariantCulture, $"  #{a.GetProperty("id").GetInt64()} {a.GetProperty("kind").GetString()} {OneLine(a.GetProperty("target").GetString())}: {a.GetProperty("status").GetString()}\n");
            foreach (var (field, label) in new[] { ("createdAt", "created"), ("startedAt", "started"), ("completedAt", "completed"), ("outcome", "outcome"), ("before", "before"), ("after", "after") })
            {
                if (a.TryGetProperty(field, out var v) && v.ValueKind == JsonValueKind.String)
                {
                    text.Append(CultureInfo.InvariantCulture, $"    {(label + ":").PadRight(10)} {OneLine(v.GetString())}\n");
                }
            }

            if (a.TryGetProperty("plan", out var plan) && plan.ValueKind != JsonValueKind.Null)
            {
                text.Append("    plan:\n").Append(Block(plan, "      "));
            }
        }

        text.Append("\nanswers:\n");
        var answers = timeline.GetProperty("acknowledgments").EnumerateArray().ToArray();
        if (answers.Length == 0)
        {
            text.Append("  none\n");
        }

        foreach (var k in answers)
        {
            var reason = k.GetProperty("reason") is { ValueKind: JsonValueKind.String } r ? $" ({OneLine(r.GetString())})" : string.Empty;
            text.Append(CultureInfo.InvariantCulture, $"  {k.GetProperty("at").GetString()}  {k.GetProperty("answer").GetString()} by {OneLine(k.GetProperty("by").GetString())} via {k.GetProperty("channel").GetString()}{reason}\n");
        }

        return text.ToString();
    }

    /// <summary>
    /// The incidents table's CHANGE column: the blamed change as the API sums it up ("since v42, deployed 4m ago by ci",
    /// "no change known"), and "(disarmed)" when a rollback trigger fired outside every watch window and took the listed
    /// action instead.
    /// </summary>
    private static string ChangeColumn(JsonElement incident)
    {
        var disarmed = incident.TryGetProperty("disarmed", out var d) && d.ValueKind == JsonValueKind.True ? " (disarmed)" : string.Empty;
        return OneLine((Field(incident, "changeSummary") ?? "no change known") + disarmed);
    }

    private static string? Field(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    /// <summary>A JSON value as indented lines.</summary>
    private static string Block(JsonElement value, string indent) =>
        string.Concat(Indent(value).Split('\n').Select(l => indent + l.TrimEnd('\r') + "\n"));

    /// <summary>Text from the daemon kept on one line: control characters (a reason's line breaks, escapes) are shown escaped.</summary>
    internal static string OneLine(string? value) => value is null ? "-" : Hosting.SafeLogSink.EscapeControlCharacters(value);

    internal static string Labels(JsonElement labels)
    {
        var pairs = labels.EnumerateObject().Select(p => $"{p.Name}=\"{p.Value.GetString()}\"").ToArray();
        return pairs.Length == 0 ? "-" : "{" + string.Join(", ", pairs) + "}";
    }

    private static string Text(JsonElement e) => e.ValueKind == JsonValueKind.String ? e.GetString()! : "-";

    private static string Number(JsonElement e) =>
        e.ValueKind == JsonValueKind.Number ? Core.Evaluation.TriggerEvaluator.Num(e.GetDouble()) : "-";
}
