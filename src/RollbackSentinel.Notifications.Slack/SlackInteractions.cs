using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Net;
using System.Text.Json;

namespace RollbackSentinel.Notifications.Slack;

/// <summary>A person's press of a button on an incident message (a <c>block_actions</c> interaction).</summary>
/// <param name="IncidentId">The button's value: the incident it answers.</param>
/// <param name="Answer"><c>approve</c>, <c>deny</c> or <c>snooze</c>.</param>
/// <param name="UserId">Slack's user id (<c>U…</c>/<c>W…</c>): what approver checks use.</param>
/// <param name="UserName">The user's handle, for the record ("alice").</param>
public sealed record SlackAnswer(long IncidentId, string Answer, string UserId, string UserName)
{
    /// <summary>Where a reply to the person can be posted (valid 30 minutes, 5 uses), when Slack gave one.</summary>
    public Uri? ResponseUrl { get; init; }

    /// <summary>The channel of the message the button was on.</summary>
    public string? ChannelId { get; init; }

    /// <summary>The ts of the message the button was on.</summary>
    public string? MessageTs { get; init; }

    /// <summary>The Slack workspace (team) id.</summary>
    public string? TeamId { get; init; }
}

/// <summary>A slash command: <c>/sentinel status</c>, <c>/sentinel rollback &lt;policy&gt;</c>, <c>/sentinel ack &lt;incident&gt;</c>, <c>/sentinel help</c>.</summary>
/// <param name="Verb"><c>status</c>, <c>rollback</c>, <c>ack</c> or <c>help</c>.</param>
/// <param name="Argument">The policy (status, optional; rollback, required) or the incident id as digits (ack); null for help.</param>
public sealed record SlackCommand(string Verb, string? Argument, string UserId, string UserName)
{
    /// <summary>The command as typed ("/sentinel").</summary>
    public string Command { get; init; } = "";

    public string? ChannelId { get; init; }

    public Uri? ResponseUrl { get; init; }

    public string? TeamId { get; init; }
}

/// <summary>What a parse gave: a value, or the reason it was refused (safe to show to the person).</summary>
public sealed record SlackParseResult<T>(T? Value, string? Error)
    where T : class
{
    [MemberNotNullWhen(true, nameof(Value))]
    [MemberNotNullWhen(false, nameof(Error))]
    public bool Ok => Value is not null;

    public static SlackParseResult<T> Success(T value) => new(value, null);

    public static SlackParseResult<T> Failure(string error) => new(null, error);
}

/// <summary>
/// Reads what Slack POSTs to the daemon, after <see cref="SlackRequestVerifier"/> accepted it: interactivity
/// (<c>application/x-www-form-urlencoded</c> with a <c>payload</c> field holding JSON) and slash commands (form
/// fields). Never throws on bad input: a malformed body is a failure with a reason.
/// </summary>
public static class SlackInteractions
{
    public const string StatusVerb = "status";
    public const string RollbackVerb = "rollback";
    public const string AckVerb = "ack";
    public const string HelpVerb = "help";

    /// <summary>The largest body read; Slack's interaction payloads carry the whole message, well below this.</summary>
    public const int MaxBodyLength = 1024 * 1024;

    /// <summary>What <c>/sentinel help</c> (or a mistyped command) answers.</summary>
    public const string Usage =
        "Usage: `/sentinel status [policy]` shows open incidents · `/sentinel rollback <policy>` asks for a rollback · `/sentinel ack <incident>` acknowledges an incident · `/sentinel help`";

    private static readonly JsonDocumentOptions JsonOptions = new() { MaxDepth = 64 };

    /// <summary>Reads a <c>block_actions</c> interaction: the first action, its incident id, and who pressed it.</summary>
    public static SlackParseResult<SlackAnswer> ParseInteraction(string? formBody)
    {
        if (!TryReadForm(formBody, out var form, out var formError))
        {
            return SlackParseResult<SlackAnswer>.Failure(formError);
        }

        if (!form.TryGetValue("payload", out var payload) || payload.Length == 0)
        {
            return SlackParseResult<SlackAnswer>.Failure("no payload field");
        }

        try
        {
            using var document = JsonDocument.Parse(payload, JsonOptions);
            return ReadBlockActions(document.RootElement);
        }
        catch (JsonException)
        {
            return SlackParseResult<SlackAnswer>.Failure("the payload is not JSON");
        }
    }

    /// <summary>Reads a slash command's form fields: the verb and argument from <c>text</c>, and who typed it.</summary>
    public static SlackParseResult<SlackCommand> ParseCommand(string? formBody)
    {
        if (!TryReadForm(formBody, out var form, out var formError))
        {
            return SlackParseResult<SlackCommand>.Failure(formError);
        }

        var command = form.GetValueOrDefault("command", "");
        if (!command.StartsWith('/') || command.Length < 2)
        {
            return SlackParseResult<SlackCommand>.Failure("no command field");
        }

        var userId = form.GetValueOrDefault("user_id", "");
        if (!IsUserId(userId))
        {
            return SlackParseResult<SlackCommand>.Failure("no valid user_id field");
        }

        var userName = form.GetValueOrDefault("user_name") is { Length: > 0 } name ? name : userId;
        var words = form.GetValueOrDefault("text", "").Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var verb = words.Length == 0 ? HelpVerb : words[0].ToLowerInvariant();
        var arguments = words.Skip(1).ToArray();
        string? argument;
        switch (verb)
        {
            case HelpVerb:
                argument = null;
                break;
            case StatusVerb when arguments.Length <= 1:
                argument = arguments.FirstOrDefault();
                break;
            case RollbackVerb when arguments.Length == 1:
                argument = arguments[0];
                break;
            case AckVerb when arguments.Length == 1 && IncidentId(arguments[0].TrimStart('#')) is { } id:
                argument = id.ToString(CultureInfo.InvariantCulture);
                break;
            case StatusVerb:
                return SlackParseResult<SlackCommand>.Failure("`status` takes at most one policy name. " + Usage);
            case RollbackVerb:
                return SlackParseResult<SlackCommand>.Failure("`rollback` takes one policy name. " + Usage);
            case AckVerb:
                return SlackParseResult<SlackCommand>.Failure("`ack` takes one incident number. " + Usage);
            default:
                return SlackParseResult<SlackCommand>.Failure($"unknown subcommand `{SlackMessages.Escape(SlackMessages.Cut(verb.Replace('`', '\''), 40))}`. " + Usage);
        }

        return SlackParseResult<SlackCommand>.Success(new SlackCommand(verb, argument, userId, userName)
        {
            Command = command,
            ChannelId = form.GetValueOrDefault("channel_id") is { Length: > 0 } channel ? channel : null,
            ResponseUrl = HttpsUrl(form.GetValueOrDefault("response_url")),
            TeamId = form.GetValueOrDefault("team_id") is { Length: > 0 } team ? team : null,
        });
    }

    private static SlackParseResult<SlackAnswer> ReadBlockActions(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            return SlackParseResult<SlackAnswer>.Failure("the payload is not a JSON object");
        }

        var type = String(root, "type");
        if (type != "block_actions")
        {
            return SlackParseResult<SlackAnswer>.Failure(type is null ? "the payload has no type" : $"unsupported interaction type '{SlackMessages.Cut(type, 40)}'");
        }

        if (!root.TryGetProperty("user", out var user) || user.ValueKind != JsonValueKind.Object || String(user, "id") is not { } userId || !IsUserId(userId))
        {
            return SlackParseResult<SlackAnswer>.Failure("the payload has no valid user.id");
        }

        var userName = String(user, "username") ?? String(user, "name") ?? userId;
        if (!root.TryGetProperty("actions", out var actions) || actions.ValueKind != JsonValueKind.Array || actions.GetArrayLength() == 0)
        {
            return SlackParseResult<SlackAnswer>.Failure("the payload has no actions");
        }

        var action = actions[0];
        if (action.ValueKind != JsonValueKind.Object)
        {
            return SlackParseResult<SlackAnswer>.Failure("the payload's action is not an object");
        }

        var answer = String(action, "action_id");
        if (answer is not (SlackMessages.ApproveAction or SlackMessages.DenyAction or SlackMessages.SnoozeAction))
        {
            return SlackParseResult<SlackAnswer>.Failure(answer is null ? "the action has no action_id" : $"unknown action '{SlackMessages.Cut(answer, 40)}'");
        }

        if (IncidentId(String(action, "value")) is not { } incidentId)
        {
            return SlackParseResult<SlackAnswer>.Failure("the action's value is not an incident id");
        }

        var container = root.TryGetProperty("container", out var c) && c.ValueKind == JsonValueKind.Object ? c : default;
        var channelId = (root.TryGetProperty("channel", out var ch) && ch.ValueKind == JsonValueKind.Object ? String(ch, "id") : null)
            ?? (container.ValueKind == JsonValueKind.Object ? String(container, "channel_id") : null);
        var messageTs = (root.TryGetProperty("message", out var m) && m.ValueKind == JsonValueKind.Object ? String(m, "ts") : null)
            ?? (container.ValueKind == JsonValueKind.Object ? String(container, "message_ts") : null);
        var teamId = (root.TryGetProperty("team", out var t) && t.ValueKind == JsonValueKind.Object ? String(t, "id") : null) ?? String(user, "team_id");

        return SlackParseResult<SlackAnswer>.Success(new SlackAnswer(incidentId, answer, userId, userName)
        {
            ResponseUrl = HttpsUrl(String(root, "response_url")),
            ChannelId = channelId,
            MessageTs = messageTs,
            TeamId = teamId,
        });
    }

    /// <summary>Reads <c>application/x-www-form-urlencoded</c>; a field given twice is refused (which one would count?).</summary>
    private static bool TryReadForm(string? body, out Dictionary<string, string> form, [NotNullWhen(false)] out string? error)
    {
        form = new Dictionary<string, string>(StringComparer.Ordinal);
        error = null;
        if (string.IsNullOrEmpty(body))
        {
            error = "the body is empty";
            return false;
        }

        if (body.Length > MaxBodyLength)
        {
            error = "the body is too large";
            return false;
        }

        foreach (var pair in body.Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var equals = pair.IndexOf('=', StringComparison.Ordinal);
            var key = WebUtility.UrlDecode(equals < 0 ? pair : pair[..equals]);
            var value = equals < 0 ? "" : WebUtility.UrlDecode(pair[(equals + 1)..]);
            if (!form.TryAdd(key, value))
            {
                error = $"the field '{SlackMessages.Cut(key, 40)}' appears twice";
                return false;
            }
        }

        return true;
    }

    /// <summary>Slack user ids: U… or W… (Enterprise Grid), upper-case letters and digits.</summary>
    internal static bool IsUserId(string? id) =>
        id is { Length: >= 2 and <= 32 } && id[0] is 'U' or 'W' && id.All(ch => char.IsAsciiLetterUpper(ch) || char.IsAsciiDigit(ch));

    private static long? IncidentId(string? text) =>
        text is { Length: > 0 and <= 19 } && long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var id) && id > 0 ? id : null;

    private static Uri? HttpsUrl(string? text) =>
        Uri.TryCreate(text, UriKind.Absolute, out var url) && url.Scheme == Uri.UriSchemeHttps ? url : null;

    private static string? String(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;
}
