using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using RollbackSentinel.Testing.Net;

namespace RollbackSentinel.Testing.Slack;

/// <summary>One Web API call as the emulator saw it.</summary>
public sealed record SlackCall(string Method, string HttpMethod, string? Authorization, string? ContentType, string Query, string Body, DateTimeOffset At)
{
    public JsonObject Json => JsonNode.Parse(Body)!.AsObject();
}

/// <summary>A message as the emulator keeps it.</summary>
public sealed record SlackStoredMessage(string Channel, string Ts, string Text, JsonArray Blocks);

/// <summary>
/// The Slack Web API, as far as the sentinel uses it, on a loopback port: <c>chat.postMessage</c>, <c>chat.update</c>
/// and <c>usergroups.users.list</c>. It checks what Slack documents (bearer token, JSON with a charset for writes, the
/// required arguments, Block Kit limits) and answers as Slack does (HTTP 200 with <c>ok:false</c> and an error code).
/// It records every call and can be told to answer the next call with a 429 and Retry-After, an HTTP error, or an
/// <c>ok:false</c> error. Anything the real API would reject that it notices is answered with
/// <c>ok:false</c> and recorded in <see cref="Violations"/>.
/// </summary>
public sealed class SlackApiEmulator : IAsyncDisposable
{
    private static readonly HashSet<string> BlockTypes = ["header", "section", "context", "actions", "divider"];

    private readonly LoopbackHttpServer _server;
    private readonly Lock _gate = new();
    private readonly List<SlackCall> _calls = [];
    private readonly List<string> _violations = [];
    private readonly Dictionary<string, SlackStoredMessage> _messages = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string[]> _groups = new(StringComparer.Ordinal);
    private readonly Queue<Func<SlackCall, Response?>> _faults = new();
    private readonly TimeProvider _time;
    private long _nextTs = 1_763_640_000_000_100;

    // Served by the shared loopback server; this class is only the API.
    private SlackApiEmulator(string token, TimeProvider time)
    {
        Token = token;
        _time = time;
        _server = LoopbackHttpServer.Start((request, _) => Task.FromResult(Handle(request)));
    }

    public Uri Root => _server.BaseAddress;

    /// <summary>Where the Web API lives: give this to <c>SlackOptions.ApiBaseUrl</c>.</summary>
    public Uri ApiBaseUrl => new(Root, "api/");

    /// <summary>The one bot token the emulator accepts.</summary>
    public string Token { get; }

    public IReadOnlyList<SlackCall> Calls
    {
        get
        {
            lock (_gate)
            {
                return [.. _calls];
            }
        }
    }

    /// <summary>What the emulator refused as not matching Slack's documented shapes (should stay empty).</summary>
    public IReadOnlyList<string> Violations
    {
        get
        {
            lock (_gate)
            {
                return [.. _violations];
            }
        }
    }

    /// <param name="token">The bot token to accept.</param>
    /// <param name="time">The clock calls are stamped with (<see cref="SlackCall.At"/>); the system clock when null.</param>
    public static SlackApiEmulator Start(string token = "xoxb-emulated-token", TimeProvider? time = null) => new(token, time ?? TimeProvider.System);

    /// <summary>Defines a user group and its members.</summary>
    public void AddUserGroup(string groupId, params string[] members)
    {
        lock (_gate)
        {
            _groups[groupId] = members;
        }
    }

    /// <summary>The message now at (channel, ts), or null.</summary>
    public SlackStoredMessage? Message(string channel, string ts)
    {
        lock (_gate)
        {
            return _messages.GetValueOrDefault(channel + ":" + ts);
        }
    }

    /// <summary>Deletes a message, as a person in Slack could.</summary>
    public void DeleteMessage(string channel, string ts)
    {
        lock (_gate)
        {
            _messages.Remove(channel + ":" + ts);
        }
    }

    /// <summary>The next call (of <paramref name="method"/>, or any) is answered HTTP 429 with <c>Retry-After: seconds</c>.</summary>
    public void RateLimitNext(int retryAfterSeconds, string? method = null) =>
        Enqueue(call => method is null || call.Method == method
            ? new Response(429, """{"ok":false,"error":"ratelimited"}""", retryAfterSeconds.ToString(CultureInfo.InvariantCulture))
            : null);

    /// <summary>The next call (of <paramref name="method"/>, or any) is answered HTTP 200 <c>{"ok":false,"error":error}</c>.</summary>
    public void FailNext(string error, string? method = null) =>
        Enqueue(call => method is null || call.Method == method ? Error(error) : null);

    /// <summary>
    /// The next call (of <paramref name="method"/>, or any) is answered <c>{"ok":false,"error":"invalid_auth:TOKEN"}</c>,
    /// quoting the bot token it was sent back: what a client logs of the answer must not carry the token.
    /// </summary>
    public void FailNextEchoingToken(string? method = null) =>
        Enqueue(call => method is null || call.Method == method ? Error("invalid_auth:" + (call.Authorization ?? "").Replace("Bearer ", "", StringComparison.Ordinal)) : null);

    /// <summary>The next call is answered with this HTTP status (e.g. 503).</summary>
    public void HttpErrorNext(int status) => Enqueue(_ => new Response(status, "upstream trouble", null, "text/plain"));

    public ValueTask DisposeAsync() => _server.DisposeAsync();

    private void Enqueue(Func<SlackCall, Response?> fault)
    {
        lock (_gate)
        {
            _faults.Enqueue(fault);
        }
    }

    private CannedResponse Handle(RecordedRequest request)
    {
        var parts = request.PathAndQuery.Split('?', 2);
        var path = parts[0];
        var method = path.StartsWith("/api/", StringComparison.Ordinal) ? path["/api/".Length..] : path;
        var call = new SlackCall(method, request.Method, request.Header("Authorization"), request.Header("Content-Type"), parts.Length > 1 ? parts[1] : "", request.Body, _time.GetUtcNow());
        Response response;
        lock (_gate)
        {
            _calls.Add(call);
            Response? fault = null;
            if (_faults.Count > 0 && _faults.Peek()(call) is { } next)
            {
                _faults.Dequeue();
                fault = next;
            }

            response = fault ?? Answer(call);
        }

        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        if (response.RetryAfter is { } retryAfter)
        {
            headers["Retry-After"] = retryAfter;
        }

        return new CannedResponse(response.Status, response.Body, response.ContentType) { Headers = headers };
    }

    /// <summary>Slack's answer to a well-formed call; called under the lock.</summary>
    private Response Answer(SlackCall call)
    {
        if (string.IsNullOrEmpty(call.Authorization))
        {
            return Error("not_authed");
        }

        if (call.Authorization != "Bearer " + Token)
        {
            return Error("invalid_auth");
        }

        return call.Method switch
        {
            "chat.postMessage" => PostMessage(call),
            "chat.update" => Update(call),
            "usergroups.users.list" => UserGroupUsers(call),
            _ => new Response(404, """{"ok":false,"error":"unknown_method"}"""),
        };
    }

    private Response PostMessage(SlackCall call)
    {
        if (ReadJson(call, out var json) is { } refused)
        {
            return refused;
        }

        var channel = Str(json, "channel");
        if (string.IsNullOrEmpty(channel))
        {
            return Error("channel_not_found");
        }

        if (CheckContent(json) is { } invalid)
        {
            return invalid;
        }

        var ts = NextTs();
        var message = new SlackStoredMessage(channel, ts, Str(json, "text") ?? "", (JsonArray?)json["blocks"]?.DeepClone() ?? []);
        _messages[channel + ":" + ts] = message;
        return Ok(new JsonObject
        {
            ["channel"] = channel,
            ["ts"] = ts,
            ["message"] = new JsonObject { ["type"] = "message", ["text"] = message.Text, ["ts"] = ts, ["blocks"] = message.Blocks.DeepClone() },
        });
    }

    private Response Update(SlackCall call)
    {
        if (ReadJson(call, out var json) is { } refused)
        {
            return refused;
        }

        var channel = Str(json, "channel");
        var ts = Str(json, "ts");
        if (string.IsNullOrEmpty(channel) || string.IsNullOrEmpty(ts))
        {
            return Violation(string.IsNullOrEmpty(channel) ? "chat.update without channel" : "chat.update without ts", "invalid_arguments");
        }

        if (CheckContent(json) is { } invalid)
        {
            return invalid;
        }

        if (!_messages.ContainsKey(channel + ":" + ts))
        {
            return Error("message_not_found");
        }

        _messages[channel + ":" + ts] = new SlackStoredMessage(channel, ts, Str(json, "text") ?? "", (JsonArray?)json["blocks"]?.DeepClone() ?? []);
        return Ok(new JsonObject { ["channel"] = channel, ["ts"] = ts, ["text"] = Str(json, "text") ?? "" });
    }

    private Response UserGroupUsers(SlackCall call)
    {
        // A read method: its arguments come as a query string (or a form body), not JSON.
        var args = System.Web.HttpUtility.ParseQueryString(call.HttpMethod == "GET" ? call.Query : call.Body);
        var group = args["usergroup"];
        if (string.IsNullOrEmpty(group))
        {
            return Violation("usergroups.users.list without usergroup", "invalid_arguments");
        }

        return _groups.TryGetValue(group, out var members)
            ? Ok(new JsonObject { ["users"] = new JsonArray([.. members.Select(m => JsonValue.Create(m))]) })
            : Error("no_such_subteam");
    }

    private Response? ReadJson(SlackCall call, out JsonObject json)
    {
        json = [];
        if (call.HttpMethod != "POST")
        {
            return Violation($"{call.Method} sent with {call.HttpMethod}", "invalid_request");
        }

        if (call.ContentType is null || !call.ContentType.StartsWith("application/json", StringComparison.OrdinalIgnoreCase))
        {
            return Violation($"{call.Method} sent as {call.ContentType ?? "(no content type)"}", "invalid_form_data");
        }

        if (!call.ContentType.Contains("charset=utf-8", StringComparison.OrdinalIgnoreCase))
        {
            return Violation($"{call.Method} sent JSON without charset=utf-8", "missing_charset");
        }

        try
        {
            json = JsonNode.Parse(call.Body)?.AsObject() ?? [];
            return null;
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            return Violation($"{call.Method} body is not a JSON object", "invalid_json");
        }
    }

    /// <summary>Text or blocks must be there; blocks must keep Slack's documented limits.</summary>
    private Response? CheckContent(JsonObject json)
    {
        var text = Str(json, "text");
        var blocks = json["blocks"] as JsonArray;
        if (string.IsNullOrEmpty(text) && (blocks is null || blocks.Count == 0))
        {
            return Error("no_text");
        }

        if (json["blocks"] is { } b && b is not JsonArray)
        {
            return Violation("blocks is not an array", "invalid_blocks_format");
        }

        if (blocks is null)
        {
            return null;
        }

        if (blocks.Count > 50)
        {
            return Violation("more than 50 blocks", "invalid_blocks");
        }

        foreach (var block in blocks.OfType<JsonObject>())
        {
            if (BlockProblem(block) is { } problem)
            {
                return Violation(problem, "invalid_blocks");
            }
        }

        return null;
    }

    private static string? BlockProblem(JsonObject block)
    {
        var type = Str(block, "type");
        if (type is null || !BlockTypes.Contains(type))
        {
            return $"unknown block type {type}";
        }

        if (Str(block, "block_id") is { Length: > 255 })
        {
            return "block_id longer than 255";
        }

        switch (type)
        {
            case "header":
                return TextProblem(block["text"] as JsonObject, 150, plainOnly: true, "header text");
            case "section":
                if (block["text"] is null && block["fields"] is null)
                {
                    return "section without text or fields";
                }

                if (block["text"] is JsonObject text && TextProblem(text, 3000, plainOnly: false, "section text") is { } p)
                {
                    return p;
                }

                if (block["fields"] is JsonArray fields)
                {
                    if (fields.Count > 10)
                    {
                        return "more than 10 section fields";
                    }

                    return fields.Select(f => TextProblem(f as JsonObject, 2000, plainOnly: false, "section field")).FirstOrDefault(x => x is not null);
                }

                return null;
            case "context":
                if (block["elements"] is not JsonArray { Count: > 0 and <= 10 } elements)
                {
                    return "context needs 1 to 10 elements";
                }

                return elements.Select(e => TextProblem(e as JsonObject, 2000, plainOnly: false, "context element")).FirstOrDefault(x => x is not null);
            case "actions":
                if (block["elements"] is not JsonArray { Count: > 0 and <= 25 } buttons)
                {
                    return "actions needs 1 to 25 elements";
                }

                foreach (var button in buttons.OfType<JsonObject>())
                {
                    if (Str(button, "type") != "button")
                    {
                        return "actions element is not a button";
                    }

                    if (TextProblem(button["text"] as JsonObject, 75, plainOnly: true, "button text") is { } bp)
                    {
                        return bp;
                    }

                    if (Str(button, "action_id") is not { Length: > 0 and <= 255 })
                    {
                        return "button action_id missing or longer than 255";
                    }

                    if (Str(button, "value") is { Length: > 2000 })
                    {
                        return "button value longer than 2000";
                    }

                    if (Str(button, "style") is { } style && style is not ("primary" or "danger"))
                    {
                        return $"button style {style}";
                    }

                    if (button["confirm"] is JsonObject confirm &&
                        (TextProblem(confirm["title"] as JsonObject, 100, true, "confirm title")
                            ?? TextProblem(confirm["text"] as JsonObject, 300, false, "confirm text")
                            ?? TextProblem(confirm["confirm"] as JsonObject, 30, true, "confirm button")
                            ?? TextProblem(confirm["deny"] as JsonObject, 30, true, "deny button")) is { } cp)
                    {
                        return cp;
                    }
                }

                return null;
            default:
                return null;
        }
    }

    private static string? TextProblem(JsonObject? text, int max, bool plainOnly, string what)
    {
        if (text is null)
        {
            return what + " missing";
        }

        var type = Str(text, "type");
        if (type is not ("plain_text" or "mrkdwn") || (plainOnly && type != "plain_text"))
        {
            return $"{what} has type {type}";
        }

        var value = Str(text, "text");
        return value switch
        {
            null or "" => what + " is empty",
            { Length: var n } when n > max => $"{what} is {n} characters, more than {max}",
            _ => null,
        };
    }

    private string NextTs()
    {
        var n = _nextTs++;
        return (n / 1_000_000).ToString(CultureInfo.InvariantCulture) + "." + (n % 1_000_000).ToString("D6", CultureInfo.InvariantCulture);
    }

    private Response Violation(string what, string error)
    {
        _violations.Add(what);
        return Error(error);
    }

    private static Response Ok(JsonObject answer)
    {
        answer["ok"] = true;
        return new Response(200, answer.ToJsonString());
    }

    private static Response Error(string error) => new(200, new JsonObject { ["ok"] = false, ["error"] = error }.ToJsonString());

    private static string? Str(JsonObject json, string name) =>
        json[name] is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;

    private sealed record Response(int Status, string Body, string? RetryAfter = null, string ContentType = "application/json; charset=utf-8");
}
