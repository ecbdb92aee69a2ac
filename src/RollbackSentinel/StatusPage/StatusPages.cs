using RollbackSentinel.Api;
using RollbackSentinel.Core.Changes;
using RollbackSentinel.Core.Evaluation;
using RollbackSentinel.Core.Incidents;
using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Core.Policies;
using RollbackSentinel.Core.State;
using RollbackSentinel.Daemon;
using RollbackSentinel.Web.History;
using RollbackSentinel.Web.Html;
using RollbackSentinel.Web.Plots;

namespace RollbackSentinel.StatusPage;

/// <summary>The status page's views, as HTML text from what the daemon knows (no I/O here).</summary>
internal static class StatusPages
{
    /// <summary>The windows the policy page offers; any duration from 1m to 7d may be typed in the URL.</summary>
    public static readonly IReadOnlyList<string> Windows = ["5m", "15m", "1h", "3h", "6h", "12h", "1d", "2d", "7d"];

    public const string DefaultWindow = "3h";

    public static readonly TimeSpan MinWindow = TimeSpan.FromMinutes(1);

    public static readonly TimeSpan MaxWindow = TimeSpan.FromDays(7);

    /// <summary>Who is looking: the name answers are recorded under, the token's scope, and the CSRF token for forms.</summary>
    public sealed record Viewer(string Name, string Scope, string Csrf, bool MayAnswer);

    /// <summary>One series of one trigger as the overview shows it.</summary>
    public sealed record SeriesRow(string Trigger, string Action, LabelSet Labels, string State, string? Arming, Verdict? Last, DateTimeOffset? Since);

    /// <summary>A policy as the overview shows it: its series, its gate and its open incidents.</summary>
    public sealed record PolicyRow(Policy Policy, string File, DateTimeOffset? LastEvaluatedAt, IReadOnlyList<SeriesRow> Series, GateAnswer Gate, IReadOnlyList<Incident> OpenIncidents)
    {
        /// <summary>The policy's worst series state: what it is badged by (its open incidents are shown beside it).</summary>
        public string State => Series.Select(s => s.State).OrderBy(Rank).FirstOrDefault() ?? "ok";

        public static PolicyRow From(PolicyEntry entry, GateReading gate, DateTimeOffset now)
        {
            var (policy, state, history) = (gate.Policy, gate.State, gate.History);
            var last = entry.Runner.Last;
            var rows = new List<SeriesRow>();
            foreach (var trigger in policy.Triggers)
            {
                var verdicts = last?.Triggers.FirstOrDefault(t => t.Trigger.Name == trigger.Name)?.Verdicts ?? [];
                var labels = verdicts.Select(v => v.Labels)
                    .Concat(state.Series.Where(s => s.Key.Trigger == trigger.Name && s.Value.Phase != TriggerPhase.Ok).Select(s => s.Key.Labels))
                    .Distinct()
                    .OrderBy(l => l.ToString(), StringComparer.Ordinal)
                    .ToList();
                if (labels.Count == 0)
                {
                    rows.Add(new SeriesRow(trigger.Name, Action(trigger.Action), LabelSet.Empty, "not evaluated", null, null, null));
                    continue;
                }

                foreach (var l in labels)
                {
                    var series = state.Get(new SeriesKey(trigger.Name, l));
                    var verdict = verdicts.FirstOrDefault(v => v.Labels.Equals(l));
                    var phase = series.Phase switch
                    {
                        TriggerPhase.Firing => "firing",
                        TriggerPhase.Pending => "pending",
                        _ => verdict?.Kind switch
                        {
                            VerdictKind.Inconclusive => "inconclusive",
                            VerdictKind.Error => "error",
                            null => "absent",
                            _ => "ok",
                        },
                    };
                    string? arming = trigger.Action == TriggerAction.Rollback
                        ? WatchWindow.Judge(policy, history, l, now, now).Armed ? "armed" : "disarmed"
                        : null;
                    rows.Add(new SeriesRow(trigger.Name, Action(trigger.Action), l, phase, arming, verdict, series.BreachingSince));
                }
            }

            return new PolicyRow(policy, entry.File, state.LastEvaluatedAt, rows, gate.Answer, gate.Open);
        }
    }

    public static bool TryWindow(string? text, out TimeSpan window, out string error)
    {
        error = string.Empty;
        if (string.IsNullOrEmpty(text))
        {
            window = TimeSpan.FromHours(3);
            return true;
        }

        // Whole minutes only: every distinct window is its own replay, and 3601s would be one more for nothing.
        if (!PromDuration.TryParse(text, out window, out _) || window < MinWindow || window > MaxWindow || window.Ticks % TimeSpan.TicksPerMinute != 0)
        {
            error = $"'{InputLimits.Shorten(text)}' is not a window: give whole minutes from 1m to 7d, such as 90m or 3h";
            return false;
        }

        return true;
    }

    public static string Login(string back, string csrf, string? error)
    {
        var html = new Html();
        Layout.Begin(html, "Sign in");
        if (error is not null)
        {
            html.Element("p", error, ("class", "notice error"), ("role", "alert"));
        }

        html.Element("p", "Sign in with an API token of this sentinel: the admin token (http.apiTokenFile) may answer incidents; the read token (http.readTokenFile) and the deploy token may only look.", ("class", "muted"));
        html.Open("form", ("method", "post"), ("action", "/login"), ("class", "card"))
            .Open("input", ("type", "hidden"), ("name", StatusPageEndpoints.CsrfField), ("value", csrf))
            .Open("input", ("type", "hidden"), ("name", "return"), ("value", back))
            .Element("label", "API token", ("for", "token"))
            .Open("input", ("type", "password"), ("id", "token"), ("name", "token"), ("autocomplete", "current-password"), ("required", string.Empty), ("autofocus", string.Empty))
            .Element("label", "Your name (recorded with your answers)", ("for", "name"))
            .Open("input", ("type", "text"), ("id", "name"), ("name", "name"), ("autocomplete", "username"), ("maxlength", "200"))
            .Raw("<div class=\"actions\">").Element("button", "Sign in", ("type", "submit"), ("class", "primary")).Raw("</div>")
            .Close("form");
        Layout.End(html);
        return html.ToString();
    }

    public static string Overview(Viewer viewer, IReadOnlyList<PolicyRow> policies, IReadOnlyList<Incident> open, IReadOnlyList<RuleFileStatus> brokenFiles, string rulesVersion, DateTimeOffset now)
    {
        var html = new Html();
        Layout.Begin(html, "Status", Nav(viewer));
        html.Open("p", ("class", "muted")).Text($"{policies.Count} {(policies.Count == 1 ? "policy" : "policies")}, rules {rulesVersion}, as of ").Element("time", Rfc3339.Format(now), ("datetime", Rfc3339.Format(now))).Close("p");

        html.Element("h2", $"Open incidents ({open.Count})", ("id", "open-incidents"));
        if (open.Count == 0)
        {
            html.Element("p", "None.", ("class", "muted"));
        }
        else
        {
            IncidentTable(html, open, now, "Open incidents, newest first");
        }

        if (brokenFiles.Count > 0)
        {
            html.Element("h2", $"Rule files with errors ({brokenFiles.Count})", ("id", "rule-errors"));
            html.Raw("<ul>");
            foreach (var f in brokenFiles)
            {
                html.Open("li").Element("code", f.File).Text(": ").Text(string.Join("; ", f.Errors)).Close("li");
            }

            html.Raw("</ul>");
        }

        html.Element("h2", "Policies", ("id", "policies"));
        html.Raw("<div class=\"scroll\"><table class=\"overview\"><caption class=\"muted\">Every policy and series, most urgent first</caption><thead><tr>")
            .Raw("<th scope=\"col\">Policy</th><th scope=\"col\">Trigger</th><th scope=\"col\">Series</th><th scope=\"col\">State</th><th scope=\"col\">Rollback</th><th scope=\"col\">Gate</th><th scope=\"col\" class=\"num\">Value</th><th scope=\"col\" class=\"num\">Threshold</th><th scope=\"col\">Last verdict</th>")
            .Raw("</tr></thead><tbody>");
        foreach (var p in policies.OrderBy(p => p.OpenIncidents.Count > 0 ? 0 : 1).ThenBy(p => Rank(p.State)).ThenBy(p => p.Policy.Name, StringComparer.Ordinal))
        {
            var first = true;
            foreach (var s in p.Series)
            {
                html.Open("tr", ("data-policy", p.Policy.Name), ("data-trigger", s.Trigger), ("data-series", s.Labels.ToString()), ("data-state", s.State));
                if (first)
                {
                    html.Open("th", ("scope", "rowgroup"), ("rowspan", p.Series.Count.ToString(System.Globalization.CultureInfo.InvariantCulture)))
                        .Element("a", p.Policy.Name, ("href", PolicyHref(p.Policy.Name)));
                    if (p.Policy.DryRun)
                    {
                        html.Raw(" ");
                        Layout.Badge(html, "dry-run");
                    }

                    if (p.OpenIncidents.Count > 0)
                    {
                        html.Raw("<br>").Element("span", $"{p.OpenIncidents.Count} open incident(s)", ("class", "muted"));
                    }

                    html.Close("th");
                }

                html.Open("td").Text(s.Trigger).Element("span", $" ({s.Action})", ("class", "muted")).Close("td");
                html.Open("td").Element("code", s.Labels.IsEmpty ? "-" : s.Labels.ToString()).Close("td");
                html.Open("td");
                Layout.Badge(html, s.State);
                if (s.Since is { } since && s.State is "pending" or "firing")
                {
                    html.Element("span", $" since {Change.Ago(now - since)}", ("class", "muted"));
                }

                html.Close("td");
                html.Open("td");
                if (s.Arming is { } arming)
                {
                    Layout.Badge(html, arming);
                }
                else
                {
                    html.Element("span", "-", ("class", "muted"));
                }

                html.Close("td");
                if (first)
                {
                    html.Open("td", ("rowspan", p.Series.Count.ToString(System.Globalization.CultureInfo.InvariantCulture)), ("data-gate", p.Gate.Open ? "open" : "closed"));
                    Layout.Badge(html, p.Gate.Open ? "open gate" : "closed gate");
                    if (!p.Gate.Open && p.Gate.Reasons.Count > 0)
                    {
                        html.Raw("<br>").Element("small", p.Gate.Reasons[0] + (p.Gate.Reasons.Count > 1 ? $" (+{p.Gate.Reasons.Count - 1} more)" : string.Empty), ("class", "muted"));
                    }

                    html.Close("td");
                    first = false;
                }

                html.Element("td", Html.Number(s.Last?.Value), ("class", "num"));
                html.Element("td", Html.Number(s.Last?.Threshold), ("class", "num"));
                html.Element("td", s.Last?.Summary ?? "-");
                html.Close("tr");
            }
        }

        html.Raw("</tbody></table></div>");
        Layout.End(html, "Refresh the page for the latest state. Times are UTC.");
        return html.ToString();
    }

    public static string Policy(Viewer viewer, PolicyEntry entry, PolicyRow row, PolicyWindow replay, ChangeHistory history, IReadOnlyList<Incident> incidents, TimeSpan window, DateTimeOffset now)
    {
        var policy = entry.Policy;
        var html = new Html();
        Layout.Begin(html, policy.Name, Nav(viewer));
        html.Raw("<dl class=\"facts\">")
            .Element("dt", "State").Open("dd");
        Layout.Badge(html, row.State);
        html.Close("dd")
            .Element("dt", "Gate").Open("dd");
        Layout.Badge(html, row.Gate.Open ? "open gate" : "closed gate");
        if (!row.Gate.Open)
        {
            html.Text(" " + string.Join("; ", row.Gate.Reasons));
        }

        html.Close("dd")
            .Element("dt", "File").Open("dd").Element("code", entry.File).Close("dd")
            .Element("dt", "Schedule").Element("dd", policy.Schedule.ToString())
            .Element("dt", "Target").Element("dd", policy.Target is null ? "none" : policy.Target.GetType().Name.Replace("Target", string.Empty, StringComparison.Ordinal).ToLowerInvariant())
            .Element("dt", "Watch window").Element("dd", $"rollback armed for {PromDuration.Format(policy.Watch.For)} after a change; outside: {policy.Watch.Outside.ToString().ToLowerInvariant()}")
            .Element("dt", "Last evaluated").Element("dd", row.LastEvaluatedAt is { } at ? $"{Rfc3339.Format(at)} ({Change.Ago(now - at)})" : "not yet");
        if (policy.DryRun)
        {
            html.Element("dt", "Dry-run").Element("dd", "yes: actions are recorded, never run");
        }

        html.Raw("</dl>");

        // A GET form: works without script, and the window is in the URL to share.
        html.Open("form", ("method", "get"), ("action", PolicyHref(policy.Name)), ("class", "actions"))
            .Element("label", "Window", ("for", "window"))
            .Open("select", ("id", "window"), ("name", "window"));
        var current = PromDuration.Format(window);
        foreach (var w in Windows.Contains(current) ? Windows : Windows.Append(current))
        {
            html.Open("option", ("value", w), ("selected", w == current ? string.Empty : null)).Text(w).Close("option");
        }

        html.Close("select").Element("button", "Show", ("type", "submit")).Close("form");

        html.Element("h2", "Triggers", ("id", "plots"));
        html.Open("p", ("class", "muted")).Text($"{Rfc3339.Range(replay.From, replay.To)}, replayed every {PromDuration.Format(replay.Step)} from the backend with the daemon's evaluator; shaded: breaching. Markers: changes and incidents.").Close("p");
        if (replay.Error is { } error)
        {
            html.Element("p", $"The backend could not be read: {error}", ("class", "notice error"), ("role", "alert"));
        }

        var markers = history.All.Where(c => c.At >= replay.From && c.At <= replay.To).Select(PlotMarkers.Of)
            .Concat(incidents.Where(i => i.OpenedAt >= replay.From && i.OpenedAt <= replay.To)
                .Select(i => new PlotMarker(i.OpenedAt, MarkerKind.Incident, $"incident {i.Id} ({Status(i.Status)}) {i.Trigger}{(i.Labels.IsEmpty ? string.Empty : i.Labels.ToString())}: {i.Summary}", IncidentHref(i.Id))))
            .ToArray();
        var plots = replay.Recorder.Plots(policy, replay.From, replay.To, [], [], markers);
        var n = 0;
        foreach (var plot in plots)
        {
            var trigger = policy.Triggers.First(t => t.Name == plot.Title);
            html.Open("figure", ("class", "plotbox"), ("data-policy", policy.Name), ("data-trigger", plot.Title), ("id", $"trigger-{n}"))
                .Open("figcaption").Text(plot.Title).Element("span", $" {trigger.Condition.Kind}, {trigger.Action.ToString().ToLowerInvariant()}{(trigger.For > TimeSpan.Zero ? ", for " + PromDuration.Format(trigger.For) : string.Empty)}", ("class", "muted")).Close("figcaption")
                .Raw(SvgPlot.Render(plot, PlotSize.Default, $"p{n}"))
                .Close("figure");
            n++;
        }

        html.Element("h2", "Series now", ("id", "series"));
        html.Raw("<div class=\"scroll\"><table><thead><tr><th scope=\"col\">Trigger</th><th scope=\"col\">Series</th><th scope=\"col\">State</th><th scope=\"col\">Rollback</th><th scope=\"col\" class=\"num\">Value</th><th scope=\"col\" class=\"num\">Threshold</th><th scope=\"col\" class=\"num\">Baseline</th><th scope=\"col\">Last verdict</th></tr></thead><tbody>");
        foreach (var s in row.Series)
        {
            html.Open("tr").Element("td", s.Trigger).Open("td").Element("code", s.Labels.IsEmpty ? "-" : s.Labels.ToString()).Close("td").Open("td");
            Layout.Badge(html, s.State);
            html.Close("td").Open("td");
            if (s.Arming is { } arming)
            {
                Layout.Badge(html, arming);
            }
            else
            {
                html.Text("-");
            }

            html.Close("td")
                .Element("td", Html.Number(s.Last?.Value), ("class", "num"))
                .Element("td", Html.Number(s.Last?.Threshold), ("class", "num"))
                .Element("td", Html.Number(s.Last?.Baseline), ("class", "num"))
                .Element("td", s.Last?.Summary ?? "-")
                .Close("tr");
        }

        html.Raw("</tbody></table></div>");

        html.Element("h2", "Changes", ("id", "changes"));
        var recentChanges = history.All.Where(c => c.At >= replay.From).Reverse().Take(50).ToArray();
        if (recentChanges.Length == 0)
        {
            html.Element("p", $"None in the window. {(history.All.LastOrDefault() is { } latest ? "Latest: " + latest.Describe(now) : "No change is known for this policy.")}", ("class", "muted"));
        }
        else
        {
            html.Raw("<div class=\"scroll\"><table><thead><tr><th scope=\"col\">At</th><th scope=\"col\">Series</th><th scope=\"col\">Change</th><th scope=\"col\">Source</th><th scope=\"col\">By</th></tr></thead><tbody>");
            foreach (var c in recentChanges)
            {
                html.Open("tr").Element("td", Rfc3339.Format(c.At)).Open("td").Element("code", c.Labels.IsEmpty ? "all" : c.Labels.ToString()).Close("td")
                    .Element("td", c.What + (c.Description is { Length: > 0 } d ? $": {d}" : string.Empty))
                    .Element("td", c.Source.ToString().ToLowerInvariant()).Element("td", c.By ?? "-").Close("tr");
            }

            html.Raw("</tbody></table></div>");
        }

        html.Element("h2", "Incidents", ("id", "incidents"));
        if (incidents.Count == 0)
        {
            html.Element("p", "None recorded.", ("class", "muted"));
        }
        else
        {
            IncidentTable(html, incidents.Take(50).ToArray(), now, "This policy's incidents, newest first");
        }

        Layout.End(html, "Times are UTC.");
        return html.ToString();
    }

    public static string Incident(Viewer viewer, IncidentTimeline timeline, DateTimeOffset now, string? notice)
    {
        var i = timeline.Incident;
        var html = new Html();
        Layout.Begin(html, $"Incident {i.Id}", Nav(viewer));
        if (notice is not null)
        {
            html.Element("p", notice, ("class", "notice"), ("role", "status"));
        }

        html.Raw("<dl class=\"facts\">").Element("dt", "State").Open("dd", ("data-state", Status(i.Status)));
        Layout.Badge(html, Status(i.Status));
        html.Close("dd")
            .Element("dt", "Policy").Open("dd").Element("a", i.Policy, ("href", PolicyHref(i.Policy))).Close("dd")
            .Element("dt", "Trigger").Element("dd", i.Trigger)
            .Element("dt", "Series").Open("dd").Element("code", i.Labels.IsEmpty ? "-" : i.Labels.ToString()).Close("dd")
            .Element("dt", "Action").Element("dd", i.Action.ToString().ToLowerInvariant() + (i.DryRun ? " (dry-run)" : string.Empty))
            .Element("dt", "Summary").Element("dd", i.Summary)
            .Element("dt", "Change blamed").Element("dd", i.BlamedChange?.Describe(now) ?? IncidentView.NoChangeKnown);
        if (i.DisarmedReason is { } disarmed)
        {
            html.Element("dt", "Rollback disarmed").Element("dd", disarmed);
        }

        if (i.AnswerDeadline is { } deadline)
        {
            html.Element("dt", "Answer by").Element("dd", $"{Rfc3339.Format(deadline)}{(deadline > now ? $" (in {PromDuration.Format(TimeSpan.FromSeconds(Math.Ceiling((deadline - now).TotalSeconds)))})" : string.Empty)}");
        }

        html.Raw("</dl>");

        if (i.Status == IncidentStatus.AwaitingConfirmation)
        {
            html.Element("h2", "Answer", ("id", "answer"));
            if (viewer.MayAnswer)
            {
                html.Open("form", ("method", "post"), ("class", "card"), ("action", $"{IncidentHref(i.Id)}/{Answers.Snooze}"))
                    .Open("input", ("type", "hidden"), ("name", StatusPageEndpoints.CsrfField), ("value", viewer.Csrf))
                    .Element("label", "Reason (optional, recorded)", ("for", "reason"))
                    .Open("input", ("type", "text"), ("id", "reason"), ("name", "reason"), ("maxlength", "500"))

                    // Enter in the reason field submits with the form's first button: a disabled one, so that Enter
                    // answers nothing (it would otherwise approve a rollback someone meant to deny).
                    .Raw("<button type=\"submit\" disabled hidden aria-hidden=\"true\" tabindex=\"-1\"></button>")
                    .Raw("<div class=\"actions\">")
                    .Element("button", "Approve rollback", ("type", "submit"), ("class", "danger"), ("formaction", $"{IncidentHref(i.Id)}/{Answers.Approve}"))
                    .Element("button", "Deny", ("type", "submit"), ("formaction", $"{IncidentHref(i.Id)}/{Answers.Deny}"))
                    .Element("button", "Snooze", ("type", "submit"), ("formaction", $"{IncidentHref(i.Id)}/{Answers.Snooze}"))
                    .Raw("</div>")
                    .Element("p", $"Recorded as {viewer.Name}, through the status page.", ("class", "muted"))
                    .Close("form");
            }
            else
            {
                html.Element("p", $"Signed in with the {viewer.Scope} token: it may only look. Answering needs the admin token.", ("class", "notice"));
            }
        }

        html.Element("h2", "Timeline", ("id", "timeline"));
        var items = new List<(DateTimeOffset At, string Kind, string Text)>();
        if (i.BlamedChange is { } change)
        {
            items.Add((change.At, "change", $"change blamed: {change.What}{(change.By is { Length: > 0 } by ? " by " + by : string.Empty)}"));
        }

        var evidence = ReadEvidence(i);
        if (evidence?.Since is { } began)
        {
            items.Add((began, "breach", $"breach began: {evidence.Summary}"));
        }

        items.AddRange(timeline.Events.Select(e => (e.At, e.Kind, e.Message)));
        items.AddRange(timeline.Acknowledgments.Select(a => (a.At, "answered", $"{a.Answer} by {a.By} through {a.Channel}{(a.Reason is { Length: > 0 } r ? ": " + r : string.Empty)}")));
        html.Raw("<ol class=\"timeline\">");
        foreach (var (at, kind, text) in items.OrderBy(x => x.At))
        {
            html.Open("li", ("data-kind", kind)).Element("time", Rfc3339.Format(at), ("datetime", Rfc3339.Format(at))).Element("strong", kind).Text(" " + text).Close("li");
        }

        html.Raw("</ol>");

        if (timeline.Acknowledgments.Count > 0)
        {
            html.Element("h2", "Answers", ("id", "answers"));
            html.Raw("<div class=\"scroll\"><table class=\"answers\"><thead><tr><th scope=\"col\">At</th><th scope=\"col\">Answer</th><th scope=\"col\">By</th><th scope=\"col\">Through</th><th scope=\"col\">Reason</th></tr></thead><tbody>");
            foreach (var a in timeline.Acknowledgments)
            {
                html.Open("tr").Element("td", Rfc3339.Format(a.At)).Element("td", a.Answer).Element("td", a.By).Element("td", a.Channel).Element("td", a.Reason ?? "-").Close("tr");
            }

            html.Raw("</tbody></table></div>");
        }

        html.Element("h2", "Evidence", ("id", "evidence"));
        if (evidence is null)
        {
            html.Element("p", "Not readable.", ("class", "muted"));
        }
        else
        {
            html.Raw("<dl class=\"facts\">")
                .Element("dt", "Verdict").Element("dd", $"{evidence.Verdict}{(evidence.Reason is { } reason ? $" ({reason})" : string.Empty)}")
                .Element("dt", "Summary").Element("dd", evidence.Summary)
                .Element("dt", "Value").Element("dd", Html.Number(evidence.Value))
                .Element("dt", "Threshold").Element("dd", Html.Number(evidence.Threshold))
                .Element("dt", "Baseline").Element("dd", Html.Number(evidence.Baseline))
                .Element("dt", "Decided at").Element("dd", evidence.DecidedAt is { } d ? Rfc3339.Format(d) : "-")
                .Element("dt", "Rules version").Element("dd", evidence.RulesVersion ?? "-")
                .Raw("</dl>");
            if (evidence.Queries.Count > 0)
            {
                html.Raw("<div class=\"scroll\"><table><thead><tr><th scope=\"col\">Role</th><th scope=\"col\">Query</th><th scope=\"col\">At</th><th scope=\"col\" class=\"num\">Value</th></tr></thead><tbody>");
                foreach (var q in evidence.Queries)
                {
                    html.Open("tr").Element("td", q.Role).Open("td").Element("code", q.Query).Close("td").Element("td", q.EvaluatedAt).Element("td", Html.Number(q.Value), ("class", "num")).Close("tr");
                }

                html.Raw("</tbody></table></div>");
            }
        }

        html.Element("h2", "Actions", ("id", "actions"));
        if (timeline.Actions.Count == 0)
        {
            html.Element("p", "None.", ("class", "muted"));
        }

        foreach (var a in timeline.Actions)
        {
            html.Open("section", ("class", "card"), ("data-action", a.Kind))
                .Element("h3", $"{a.Kind} {a.Target}")
                .Raw("<dl class=\"facts\">")
                .Element("dt", "Status").Element("dd", a.Status.ToString().ToLowerInvariant())
                .Element("dt", "Outcome").Element("dd", a.Outcome ?? "-")
                .Element("dt", "Recorded").Element("dd", Rfc3339.Format(a.CreatedAt))
                .Element("dt", "Started").Element("dd", a.StartedAt is { } s ? Rfc3339.Format(s) : "-")
                .Element("dt", "Completed").Element("dd", a.CompletedAt is { } c ? Rfc3339.Format(c) : "-")
                .Element("dt", "Before").Open("dd").Element("code", a.Before ?? "-").Close("dd")
                .Element("dt", "After").Open("dd").Element("code", a.After ?? "-").Close("dd")
                .Raw("</dl>");
            if (a.Plan is { } plan)
            {
                html.Raw("<details><summary>Plan</summary>").Open("pre").Element("code", plan).Close("pre").Raw("</details>");
            }

            html.Close("section");
        }

        Layout.End(html, "Times are UTC.");
        return html.ToString();
    }

    public static string PolicyHref(string name) => "/policies/" + Uri.EscapeDataString(name);

    public static string IncidentHref(long id) => "/incidents/" + id.ToString(System.Globalization.CultureInfo.InvariantCulture);

    private static void IncidentTable(Html html, IReadOnlyList<Incident> incidents, DateTimeOffset now, string caption)
    {
        html.Raw("<div class=\"scroll\"><table class=\"incidents\">").Element("caption", caption, ("class", "muted"))
            .Raw("<thead><tr><th scope=\"col\">Incident</th><th scope=\"col\">State</th><th scope=\"col\">Policy</th><th scope=\"col\">Trigger</th><th scope=\"col\">Series</th><th scope=\"col\">Opened</th><th scope=\"col\">Change</th><th scope=\"col\">Summary</th></tr></thead><tbody>");
        foreach (var i in incidents)
        {
            html.Open("tr", ("data-incident", i.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)))
                .Open("td").Element("a", $"#{i.Id}", ("href", IncidentHref(i.Id))).Close("td").Open("td");
            Layout.Badge(html, Status(i.Status));
            html.Close("td")
                .Open("td").Element("a", i.Policy, ("href", PolicyHref(i.Policy))).Close("td")
                .Element("td", i.Trigger)
                .Open("td").Element("code", i.Labels.IsEmpty ? "-" : i.Labels.ToString()).Close("td")
                .Element("td", $"{Rfc3339.Format(i.OpenedAt)} ({Change.Ago(now - i.OpenedAt)})")
                .Element("td", i.BlamedChange?.Describe(now) ?? IncidentView.NoChangeKnown)
                .Element("td", i.Summary)
                .Close("tr");
        }

        html.Raw("</tbody></table></div>");
    }

    private static IncidentEvidence? ReadEvidence(Incident incident)
    {
        try
        {
            return incident.ReadEvidence();
        }
        catch (Exception e) when (e is InvalidDataException or FormatException)
        {
            return null;
        }
    }

    private static string Status(IncidentStatus status) => status switch
    {
        IncidentStatus.AwaitingConfirmation => "awaiting",
        IncidentStatus.ActionFailed => "failed",
        IncidentStatus.ActionInterrupted => "interrupted",
        IncidentStatus.DryRun => "dry-run",
        IncidentStatus.DryRunFailed => "dry-run failed",
        _ => status.ToString().ToLowerInvariant(),
    };

    private static string Action(TriggerAction action) => action.ToString().ToLowerInvariant();

    /// <summary>How urgent a series state is, most urgent first: what policies are sorted and badged by.</summary>
    private static int Rank(string state) => state switch
    {
        "firing" => 0,
        "error" => 1,
        "pending" => 2,
        "inconclusive" => 3,
        "absent" => 4,
        "not evaluated" => 5,
        _ => 6,
    };

    private static string Nav(Viewer viewer)
    {
        var html = new Html();
        html.Element("a", "Overview", ("href", "/"))
            .Element("span", $"{viewer.Name} ({viewer.Scope} token)", ("class", "muted"))
            .Open("form", ("method", "post"), ("action", "/logout"))
            .Open("input", ("type", "hidden"), ("name", StatusPageEndpoints.CsrfField), ("value", viewer.Csrf))
            .Element("button", "Sign out", ("type", "submit"))
            .Close("form");
        return html.ToString();
    }
}
