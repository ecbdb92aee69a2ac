using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using RollbackSentinel.Testing.Net;

namespace RollbackSentinel.Testing.PagerDuty;

/// <summary>An event the emulator accepted, with the alert state it left behind.</summary>
public sealed record AcceptedEvent(string EventAction, string DedupKey, string RoutingKey, JsonObject Body);

/// <summary>A request as the emulator received it, and what it answered.</summary>
public sealed record ReceivedRequest(string Method, string Path, string? ContentType, string Body, int Status);

/// <summary>
/// The PagerDuty Events API v2 (<c>POST /v2/enqueue</c>) on a free loopback port, as documented: it checks the
/// request's shape (JSON; a 32-character routing_key; event_action trigger, acknowledge or resolve; a dedup_key of at
/// most 255 characters, required for acknowledge and resolve; for a trigger, a payload with a summary of 1 to 1024
/// characters, a source, a severity of critical, error, warning or info, an ISO 8601 timestamp if any, links with an
/// href) and answers 202 <c>{"status":"success","message":"Event processed","dedup_key":...}</c> (generating a key
/// for a trigger without one), or 400 <c>{"status":"invalid event","message":"Event object is invalid","errors":[...]}</c>.
/// Faults queued with <see cref="EnqueueFault"/> are answered first, one per request (429 with or without
/// Retry-After, a 5xx, a slow answer). It keeps each dedup key's alert state as PagerDuty would: triggered,
/// acknowledged, resolved.
/// </summary>
public sealed class PagerDutyEventsApiEmulator : IAsyncDisposable
{
    public const string EnqueuePath = "/v2/enqueue";

    private static readonly string[] Actions = ["trigger", "acknowledge", "resolve"];
    private static readonly string[] Severities = ["critical", "error", "warning", "info"];

    private readonly LoopbackHttpServer _server;
    private readonly Lock _gate = new();
    private readonly List<ReceivedRequest> _requests = [];
    private readonly List<AcceptedEvent> _accepted = [];
    private readonly Dictionary<string, string> _alerts = new(StringComparer.Ordinal);
    private readonly Queue<Fault> _faults = new();

    // Served by the shared loopback server; this class is only the API.
    private PagerDutyEventsApiEmulator() => _server = LoopbackHttpServer.Start(HandleAsync);

    public Uri BaseAddress => _server.BaseAddress;

    /// <summary>The events URL to configure: <c>http://127.0.0.1:PORT/v2/enqueue</c>.</summary>
    public Uri EventsUrl => new(BaseAddress, EnqueuePath.TrimStart('/'));

    public IReadOnlyList<ReceivedRequest> Requests
    {
        get
        {
            lock (_gate)
            {
                return [.. _requests];
            }
        }
    }

    public IReadOnlyList<AcceptedEvent> Accepted
    {
        get
        {
            lock (_gate)
            {
                return [.. _accepted];
            }
        }
    }

    public static PagerDutyEventsApiEmulator Start() => new();

    /// <summary>The alert state of a dedup key (triggered, acknowledged, resolved), or null if never triggered.</summary>
    public string? AlertState(string dedupKey)
    {
        lock (_gate)
        {
            return _alerts.TryGetValue(dedupKey, out var state) ? state : null;
        }
    }

    /// <summary>Answers the next request with <paramref name="status"/> (and a Retry-After, or a delay first) instead of handling it.</summary>
    public void EnqueueFault(int status, TimeSpan? retryAfter = null, TimeSpan? delay = null)
    {
        lock (_gate)
        {
            _faults.Enqueue(new Fault(status, retryAfter, delay ?? TimeSpan.Zero));
        }
    }

    /// <summary>
    /// Answers the next request 400 <c>invalid event</c> with an error that quotes the request's routing key back, as
    /// services that echo what they were sent do: what a client logs of the answer must not carry the key.
    /// </summary>
    public void RejectNextEchoingRoutingKey()
    {
        lock (_gate)
        {
            _faults.Enqueue(new Fault(400, null, TimeSpan.Zero) { EchoRoutingKey = true });
        }
    }

    public ValueTask DisposeAsync() => _server.DisposeAsync();

    private async Task<CannedResponse> HandleAsync(RecordedRequest request, CancellationToken cancellationToken)
    {
        Fault? fault;
        lock (_gate)
        {
            _faults.TryDequeue(out fault);
        }

        var path = request.PathAndQuery.Split('?')[0];
        var (status, answer) = fault is null ? Handle(request.Method, path, request.Header("Content-Type"), request.Body)
            : fault.EchoRoutingKey ? Invalid([$"Routing key {EchoedKey(request.Body)} does not match an integration"])
            : (fault.Status, FaultBody(fault.Status));
        if (fault is { Delay: var delay } && delay > TimeSpan.Zero)
        {
            await Task.Delay(delay, cancellationToken);
        }

        lock (_gate)
        {
            _requests.Add(new ReceivedRequest(request.Method, path, request.Header("Content-Type"), request.Body, status));
        }

        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        if (fault?.RetryAfter is { } after)
        {
            headers["Retry-After"] = ((int)Math.Ceiling(after.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
        }

        return new CannedResponse(status, answer.ToJsonString()) { Headers = headers };
    }

    private static JsonObject FaultBody(int status) => status switch
    {
        429 => new JsonObject { ["status"] = "throttle event", ["message"] = "Requests for this service are arriving too quickly.  Please retry later." },
        _ => new JsonObject { ["status"] = "error", ["message"] = "Internal server error" },
    };

    private (int Status, JsonObject Body) Handle(string method, string path, string? contentType, string body)
    {
        if (method != "POST" || path != EnqueuePath)
        {
            return (404, new JsonObject { ["status"] = "not found", ["message"] = "Not found" });
        }

        var errors = new List<string>();
        JsonObject? e = null;
        if (contentType is null || !contentType.StartsWith("application/json", StringComparison.OrdinalIgnoreCase))
        {
            errors.Add("Content-Type must be application/json");
        }

        try
        {
            e = JsonNode.Parse(body) as JsonObject;
        }
        catch (JsonException)
        {
        }

        if (e is null)
        {
            return Invalid(["Event object is not valid JSON"]);
        }

        var routingKey = Text(e, "routing_key");
        if (routingKey is null)
        {
            errors.Add("'routing_key' is missing or blank");
        }
        else if (routingKey.Length != 32)
        {
            errors.Add("Length of 'routing_key' is incorrect (should be 32 characters)");
        }

        var action = Text(e, "event_action");
        if (action is null || !Actions.Contains(action))
        {
            errors.Add("'event_action' is invalid (must be one of: trigger, acknowledge, resolve)");
        }

        var dedupKey = Text(e, "dedup_key");
        if (dedupKey is { Length: > 255 })
        {
            errors.Add("'dedup_key' is longer than 255 characters");
        }

        if (action is "acknowledge" or "resolve" && dedupKey is null)
        {
            errors.Add("'dedup_key' is missing or blank (required for acknowledge and resolve)");
        }

        if (action == "trigger")
        {
            ValidatePayload(e["payload"] as JsonObject, errors);
        }

        if (e["links"] is { } links)
        {
            if (links is not JsonArray array || array.Any(l => l is not JsonObject o || Text(o, "href") is null))
            {
                errors.Add("'links' must be an array of objects with an 'href'");
            }
        }

        if (errors.Count > 0)
        {
            return Invalid(errors);
        }

        dedupKey ??= Guid.NewGuid().ToString("N");
        lock (_gate)
        {
            _accepted.Add(new AcceptedEvent(action!, dedupKey, routingKey!, e));
            var current = _alerts.GetValueOrDefault(dedupKey);
            var next = action switch
            {
                // A trigger opens an alert, or is added to the open one (an acknowledged alert stays acknowledged).
                "trigger" => current is null or "resolved" ? "triggered" : current,

                // Acknowledge and resolve change an open alert only; PagerDuty accepts them for others and does nothing.
                "acknowledge" => current == "triggered" ? "acknowledged" : current,
                _ => current is "triggered" or "acknowledged" ? "resolved" : current,
            };
            if (next is not null)
            {
                _alerts[dedupKey] = next;
            }
        }

        return (202, new JsonObject { ["status"] = "success", ["message"] = "Event processed", ["dedup_key"] = dedupKey });
    }

    private static void ValidatePayload(JsonObject? payload, List<string> errors)
    {
        if (payload is null)
        {
            errors.Add("'payload' is missing (required for trigger)");
            return;
        }

        var summary = Text(payload, "summary");
        if (summary is null)
        {
            errors.Add("'payload.summary' is missing or blank");
        }
        else if (summary.Length > 1024)
        {
            errors.Add("'payload.summary' is longer than 1024 characters");
        }

        if (Text(payload, "source") is null)
        {
            errors.Add("'payload.source' is missing or blank");
        }

        if (Text(payload, "severity") is not { } severity || !Severities.Contains(severity))
        {
            errors.Add("'payload.severity' is invalid (must be one of: critical, error, warning, info)");
        }

        if (payload["timestamp"] is { } timestamp
            && (timestamp.GetValueKind() != JsonValueKind.String
                || !DateTimeOffset.TryParse(timestamp.GetValue<string>(), CultureInfo.InvariantCulture, DateTimeStyles.None, out _)))
        {
            errors.Add("'payload.timestamp' is not an ISO 8601 timestamp");
        }

        foreach (var name in new[] { "component", "group", "class" })
        {
            if (payload[name] is { } value && value.GetValueKind() != JsonValueKind.String)
            {
                errors.Add($"'payload.{name}' must be a string");
            }
        }
    }

    private static (int, JsonObject) Invalid(IEnumerable<string> errors) =>
        (400, new JsonObject
        {
            ["status"] = "invalid event",
            ["message"] = "Event object is invalid",
            ["errors"] = new JsonArray([.. errors.Select(x => (JsonNode?)JsonValue.Create(x))]),
        });

    private static string? Text(JsonObject o, string name) =>
        o[name] is JsonValue v && v.GetValueKind() == JsonValueKind.String && v.GetValue<string>() is { Length: > 0 } s && !string.IsNullOrWhiteSpace(s) ? s : null;

    private static string EchoedKey(string body)
    {
        try
        {
            return JsonNode.Parse(body) is JsonObject e && Text(e, "routing_key") is { } key ? key : "(none)";
        }
        catch (JsonException)
        {
            return "(none)";
        }
    }

    private sealed record Fault(int Status, TimeSpan? RetryAfter, TimeSpan Delay)
    {
        public bool EchoRoutingKey { get; init; }
    }
}
