using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;

namespace RollbackSentinel.Notifications.Slack;

/// <summary>A message as Slack takes it: the notification text (the fallback) and the Block Kit blocks.</summary>
public sealed record SlackMessage(string Text, JsonArray Blocks);

/// <summary>
/// Builds the one Slack message of an incident at each state, in Block Kit: a header with the state and the
/// policy/trigger, the evidence (value against threshold and baseline, since when, labels, the queries), what the
/// rollback does or did (before → after), who answered and, only while a person's answer is awaited
/// (<see cref="NoticeKind.AwaitingConfirmation"/>, <see cref="NoticeKind.Snoozed"/>), the buttons
/// <c>approve</c>, <c>deny</c> and <c>snooze</c> whose value is the incident id. Any later state replaces the buttons
/// with the outcome line. Text from labels and queries is escaped (<c>&amp; &lt; &gt;</c>), so a label value cannot
/// mention <c>@channel</c> or make a link, and every block is kept within Slack's limits.
/// </summary>
public static class SlackMessages
{
    public const string ApproveAction = "approve";
    public const string DenyAction = "deny";
    public const string SnoozeAction = "snooze";

    /// <summary>Slack's limit on a section's text.</summary>
    public const int MaxSectionText = 3000;

    /// <summary>Slack's limit on a header's text.</summary>
    public const int MaxHeaderText = 150;

    /// <summary>Slack's limit on a context element's text.</summary>
    public const int MaxContextText = 2000;

    /// <summary>How much of one query is shown; the rest is cut with an ellipsis.</summary>
    public const int MaxQueryLength = 500;

    /// <summary>The block_id prefix of the buttons block; the incident id and the state follow ("sentinel-incident-42-awaitingconfirmation").</summary>
    public const string ActionsBlockPrefix = "sentinel-incident-";

    /// <summary>Whether a notice of this kind carries the answer buttons.</summary>
    public static bool AsksForAnswer(NoticeKind kind) => kind is NoticeKind.AwaitingConfirmation or NoticeKind.Snoozed or NoticeKind.TimedOut;

    /// <summary>The state as a person reads it, with its emoji: ":rotating_light: Awaiting confirmation".</summary>
    public static string State(IncidentNotice notice)
    {
        ArgumentNullException.ThrowIfNull(notice);
        var by = Who(notice.AnsweredBy);
        return notice.Kind switch
        {
            NoticeKind.AwaitingConfirmation => ":rotating_light: Awaiting confirmation",
            NoticeKind.Paged => ":rotating_light: Paged",
            NoticeKind.Notified => ":information_source: Notified",
            NoticeKind.RollingBack => ":hourglass_flowing_sand: Rolling back",
            NoticeKind.RolledBack => ":white_check_mark: Rolled back",
            NoticeKind.RollbackFailed => ":x: Rollback failed",
            NoticeKind.Denied => ":no_entry_sign: Denied" + (by is null ? "" : " by " + by),
            NoticeKind.Snoozed => ":zzz: Snoozed" + (by is null ? "" : " by " + by),
            NoticeKind.TimedOut => ":alarm_clock: No answer in time" + (notice.OnTimeout is { } t ? ": " + t : ""),
            NoticeKind.DryRun => ":test_tube: Dry run",
            NoticeKind.Recovered => ":large_green_circle: Recovered",
            _ => notice.Kind.ToString(),
        };
    }

    public static SlackMessage Build(IncidentNotice notice)
    {
        ArgumentNullException.ThrowIfNull(notice);
        var incident = notice.Incident;
        var state = State(notice);
        // JsonNode, not JsonObject: Add<T> would serialize by reflection (not in the Native AOT build).
        var blocks = new JsonArray
        {
            (JsonNode)new JsonObject
            {
                ["type"] = "header",
                ["text"] = PlainText(Cut($"{state}: {incident.Policy}/{incident.Trigger}", MaxHeaderText)),
            },
            (JsonNode)Section(Evidence(notice)),
        };

        if (notice.Evidence.Count > 0)
        {
            blocks.Add((JsonNode)Section(Queries(notice.Evidence)));
        }

        if (Rollback(notice) is { } rollback)
        {
            blocks.Add((JsonNode)Section(rollback));
        }

        if (AsksForAnswer(notice.Kind))
        {
            blocks.Add((JsonNode)Buttons(incident.Id, incident.Policy, notice.Kind));
            if (Deadline(notice) is { } deadline)
            {
                blocks.Add((JsonNode)Context(deadline));
            }
        }
        else
        {
            blocks.Add((JsonNode)Context(Outcome(notice, state)));
        }

        blocks.Add((JsonNode)Context(Change(notice)));
        blocks.Add((JsonNode)Context(Footer(notice)));
        var text = CutMrkdwn($"{Escape(state)}: {Escape(notice.Headline)} ({Escape(notice.ChangeSummary)})", MaxSectionText);
        return new SlackMessage(text, blocks);
    }

    private static string Evidence(IncidentNotice notice)
    {
        var lines = new List<string> { "*" + Escape(OneLine(notice.Headline)) + "*" };
        var numbers = new List<string>();
        if (notice.Value is { } value)
        {
            numbers.Add("*Value:* " + Number(value));
        }

        if (notice.Threshold is { } threshold)
        {
            numbers.Add("*Threshold:* " + Number(threshold));
        }

        if (notice.Baseline is { } baseline)
        {
            numbers.Add("*Baseline:* " + Number(baseline));
        }

        if (numbers.Count > 0)
        {
            lines.Add(string.Join("  ·  ", numbers));
        }

        lines.Add("*Since:* " + Time(notice.Since, notice.Since, withDate: true));
        if (!notice.Incident.Labels.IsEmpty)
        {
            lines.Add("*Labels:* " + string.Join(", ", notice.Incident.Labels.Select(l => Code($"{l.Key}={l.Value}", 200))));
        }

        return Fit(lines, MaxSectionText);
    }

    private static string Queries(IReadOnlyList<EvidenceLine> evidence)
    {
        var lines = new List<string> { "*Queries*" };
        lines.AddRange(evidence.Select(e => $"• {Escape(Cut(OneLine(e.Role), 100))}: {Code(e.Query, MaxQueryLength)} = {Code(e.Value, 100)}"));
        return Fit(lines, MaxSectionText);
    }

    private static string? Rollback(IncidentNotice notice)
    {
        var lines = new List<string>();
        if (notice.Action is { Length: > 0 } action)
        {
            lines.Add("*Rollback:* " + Escape(Cut(action, 1000)));
        }

        if (notice.Before is not null || notice.After is not null)
        {
            lines.Add($"*Before:* {Code(notice.Before ?? "?", 600)}  →  *After:* {Code(notice.After ?? "?", 600)}");
        }

        if (notice.AnsweredBy is { Length: > 0 } by)
        {
            lines.Add("*Answered by:* " + Escape(Cut(OneLine(by), 200)));
        }

        return lines.Count == 0 ? null : Fit(lines, MaxSectionText);
    }

    private static string? Deadline(IncidentNotice notice)
    {
        if (notice.AnswerDeadline is not { } deadline)
        {
            return null;
        }

        var when = Time(deadline, notice.Since, withDate: false);
        return notice.Kind == NoticeKind.Snoozed
            ? $"Asked again at {when}"
            : $"If nobody answers by {when}: {Escape(Cut(OneLine(notice.OnTimeout ?? "the policy's timeout action"), 200))}";
    }

    private static string Outcome(IncidentNotice notice, string state)
    {
        var by = notice.AnsweredBy is { Length: > 0 } a && notice.Kind is not (NoticeKind.Denied or NoticeKind.Snoozed)
            ? " · answered by " + Escape(Cut(OneLine(a), 200))
            : "";
        return Escape(state) + by;
    }

    /// <summary>The change the incident blames ("since v42, deployed 4m ago by ci", or that none is known), and why it was not rolled back.</summary>
    private static string Change(IncidentNotice notice)
    {
        var lines = new List<string> { "*Change:* " + Escape(Cut(OneLine(notice.ChangeSummary), 500)) };
        if (notice.DisarmedReason is { Length: > 0 } reason)
        {
            lines.Add("*Not rolled back:* " + Escape(Cut(OneLine(reason), 1000)));
        }

        return Fit(lines, MaxContextText);
    }

    private static string Footer(IncidentNotice notice)
    {
        var incident = notice.Incident;
        var parts = new List<string>
        {
            $"Incident #{incident.Id.ToString(CultureInfo.InvariantCulture)}",
            "opened " + Time(incident.OpenedAt, incident.OpenedAt, withDate: true),
        };
        if (incident.DryRun)
        {
            parts.Add("dry-run");
        }

        if (notice.Link is { } link && (link.Scheme == Uri.UriSchemeHttps || link.Scheme == Uri.UriSchemeHttp))
        {
            // Inside <…|…> only | and > would break the link: an escaped URL has neither.
            parts.Add($"<{link.AbsoluteUri.Replace("|", "%7C", StringComparison.Ordinal).Replace(">", "%3E", StringComparison.Ordinal)}|details>");
        }

        return string.Join(" · ", parts);
    }

    private static JsonObject Buttons(long incidentId, string policy, NoticeKind kind)
    {
        var id = incidentId.ToString(CultureInfo.InvariantCulture);
        return new JsonObject
        {
            ["type"] = "actions",

            // Slack asks for a new block_id when a message is updated: the state tells the iterations apart.
            ["block_id"] = $"{ActionsBlockPrefix}{id}-{kind.ToString().ToLowerInvariant()}",
            ["elements"] = new JsonArray
            {
                (JsonNode)Button("Approve rollback", ApproveAction, id, "primary", new JsonObject
                {
                    ["title"] = PlainText("Roll back now?"),
                    ["text"] = PlainText(Cut($"Roll back {policy} (incident #{id}) now?", 300)),
                    ["confirm"] = PlainText("Roll back"),
                    ["deny"] = PlainText("Cancel"),
                }),
                (JsonNode)Button("Deny", DenyAction, id, "danger", confirm: null),
                (JsonNode)Button("Snooze 30m", SnoozeAction, id, style: null, confirm: null),
            },
        };
    }

    private static JsonObject Button(string text, string actionId, string value, string? style, JsonObject? confirm)
    {
        var button = new JsonObject
        {
            ["type"] = "button",
            ["text"] = PlainText(text),
            ["action_id"] = actionId,
            ["value"] = value,
        };
        if (style is not null)
        {
            button["style"] = style;
        }

        if (confirm is not null)
        {
            button["confirm"] = confirm;
        }

        return button;
    }

    private static JsonObject Section(string mrkdwn) => new()
    {
        ["type"] = "section",
        ["text"] = new JsonObject { ["type"] = "mrkdwn", ["text"] = CutMrkdwn(mrkdwn, MaxSectionText) },
    };

    private static JsonObject Context(string mrkdwn) => new()
    {
        ["type"] = "context",
        ["elements"] = new JsonArray { (JsonNode)new JsonObject { ["type"] = "mrkdwn", ["text"] = CutMrkdwn(mrkdwn, MaxContextText) } },
    };

    private static JsonObject PlainText(string text) => new() { ["type"] = "plain_text", ["text"] = text, ["emoji"] = true };

    /// <summary>Joins lines while they fit; the ones left out are counted on a last line.</summary>
    private static string Fit(List<string> lines, int max)
    {
        var text = new StringBuilder();
        for (var i = 0; i < lines.Count; i++)
        {
            var line = (text.Length == 0 ? "" : "\n") + lines[i];
            var rest = lines.Count - i - 1;
            var reserve = rest == 0 ? 0 : 40;
            if (text.Length + line.Length + reserve > max)
            {
                if (text.Length == 0)
                {
                    return CutMrkdwn(lines[i], max);
                }

                text.Append(CultureInfo.InvariantCulture, $"\n_…and {lines.Count - i} more_");
                return text.ToString();
            }

            text.Append(line);
        }

        return text.ToString();
    }

    /// <summary>Text in code formatting, cut to <paramref name="max"/> characters before escaping; backticks cannot end it early.</summary>
    private static string Code(string text, int max) => "`" + Escape(Cut(OneLine(text), max).Replace('`', '\'')) + "`";

    /// <summary>Slack's mrkdwn escaping: only &amp;, &lt; and &gt; need it.</summary>
    internal static string Escape(string text) =>
        text.Replace("&", "&amp;", StringComparison.Ordinal).Replace("<", "&lt;", StringComparison.Ordinal).Replace(">", "&gt;", StringComparison.Ordinal);

    private static string OneLine(string text) => text.ReplaceLineEndings(" ");

    /// <summary>Cuts plain text to <paramref name="max"/> characters, ending in an ellipsis, never inside a surrogate pair.</summary>
    internal static string Cut(string text, int max)
    {
        if (text.Length <= max)
        {
            return text;
        }

        var cut = max - 1;
        if (char.IsHighSurrogate(text[cut - 1]))
        {
            cut--;
        }

        return text[..cut] + "…";
    }

    /// <summary>Cuts escaped mrkdwn, never inside an entity (<c>&amp;amp;</c>) or a surrogate pair.</summary>
    internal static string CutMrkdwn(string text, int max)
    {
        if (text.Length <= max)
        {
            return text;
        }

        var cut = max - 1;
        var amp = text.LastIndexOf('&', cut - 1, Math.Min(cut, 5));
        if (amp >= 0)
        {
            var semicolon = text.IndexOf(';', amp);
            if (semicolon < 0 || semicolon >= cut)
            {
                cut = amp;
            }
        }

        if (cut > 0 && char.IsHighSurrogate(text[cut - 1]))
        {
            cut--;
        }

        return text[..cut] + "…";
    }

    private static string Number(double value) =>
        double.IsFinite(value) ? value.ToString("G6", CultureInfo.InvariantCulture) : value.ToString(CultureInfo.InvariantCulture);

    /// <summary>"14:32 UTC", with the date when asked or when it is not the reference's day.</summary>
    private static string Time(DateTimeOffset t, DateTimeOffset reference, bool withDate)
    {
        var utc = t.ToUniversalTime();
        var date = withDate || utc.Date != reference.ToUniversalTime().Date;
        return utc.ToString(date ? "yyyy-MM-dd HH:mm 'UTC'" : "HH:mm 'UTC'", CultureInfo.InvariantCulture);
    }

    /// <summary>"alice via slack" shown as given, cut short; null when nobody answered.</summary>
    private static string? Who(string? answeredBy) => answeredBy is { Length: > 0 } a ? Cut(OneLine(a), 100) : null;
}
