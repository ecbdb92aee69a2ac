using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Polly;
using Polly.Retry;

namespace RollbackSentinel.Notifications.Slack;

/// <summary>How often a Web API call is attempted.</summary>
/// <param name="MaxAttempts">Attempts in all, the first included.</param>
/// <param name="BaseDelay">The wait before the first retry after a 5xx, a timeout or a failed connection; doubles (with jitter) after.</param>
/// <param name="MaxRetryAfter">The longest <c>Retry-After</c> a 429 is waited out; a longer one fails the call at once.</param>
internal sealed record SlackRetry(int MaxAttempts, TimeSpan BaseDelay, TimeSpan MaxRetryAfter)
{
    public static readonly SlackRetry Default = new(4, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(60));
}

/// <summary>A posted message: its channel id and its <c>ts</c>, which together name it for <c>chat.update</c>.</summary>
internal sealed record SlackMessageRef(string Channel, string Ts)
{
    /// <summary>The reference a channel keeps: <c>"&lt;channel&gt;:&lt;ts&gt;"</c>.</summary>
    public override string ToString() => Channel + ":" + Ts;

    /// <summary>Reads <c>"&lt;channel&gt;:&lt;ts&gt;"</c>; channel ids never hold a colon.</summary>
    public static bool TryParse(string? reference, [NotNullWhen(true)] out SlackMessageRef? message)
    {
        message = null;
        var colon = reference?.IndexOf(':', StringComparison.Ordinal) ?? -1;
        if (reference is null || colon <= 0 || colon == reference.Length - 1)
        {
            return false;
        }

        message = new SlackMessageRef(reference[..colon], reference[(colon + 1)..]);
        return true;
    }
}

/// <summary>
/// A typed client over the Slack Web API (<c>chat.postMessage</c>, <c>chat.update</c>, <c>usergroups.users.list</c>)
/// with the bot token as <c>Authorization: Bearer</c>. Slack answers most errors with HTTP 200 and
/// <c>{"ok":false,"error":"…"}</c>: those become a <see cref="NotificationException"/> naming the method and Slack's
/// error code, never the token. A 429 is waited out for its <c>Retry-After</c> (through the <see cref="TimeProvider"/>)
/// and retried; a 5xx, a timeout or a failed connection is retried with backoff; anything else is not.
/// A retried <c>chat.postMessage</c> whose first attempt did reach Slack (a timeout after Slack posted) can post twice:
/// Slack offers no idempotency key for it.
/// </summary>
internal sealed class SlackClient
{
    private readonly HttpClient _http;
    private readonly SlackOptions _options;
    private readonly TimeProvider _time;
    private readonly SlackRetry _retry;
    private readonly Uri _base;

    public SlackClient(HttpClient http, SlackOptions options, TimeProvider time, SlackRetry? retry = null)
    {
        ArgumentNullException.ThrowIfNull(http);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(time);
        if (string.IsNullOrWhiteSpace(options.BotToken) || options.BotToken.Any(c => char.IsWhiteSpace(c) || char.IsControl(c)))
        {
            // The token itself is never part of the message.
            throw new ArgumentException("The Slack bot token is empty or holds whitespace.", nameof(options));
        }

        _http = http;
        _options = options;
        _time = time;
        _retry = retry ?? SlackRetry.Default;
        _base = options.NormalizedBaseUrl;
    }

    /// <summary>The <see cref="Exception.Data"/> key under which a failure carries Slack's error code.</summary>
    public const string ErrorCodeKey = "SlackError";

    /// <summary>Slack's error code (<c>channel_not_found</c>) of a failed call, or null when Slack gave none (HTTP errors, timeouts).</summary>
    public static string? ErrorCode(Exception failure)
    {
        ArgumentNullException.ThrowIfNull(failure);
        return failure.Data[ErrorCodeKey] as string;
    }

    /// <summary>A handler for this client's HttpClient: no redirects (a 3xx must not carry the token elsewhere).</summary>
    public static HttpMessageHandler CreateHandler() => new SocketsHttpHandler { AllowAutoRedirect = false, PooledConnectionLifetime = TimeSpan.FromMinutes(5) };

    /// <summary>Posts a message (<c>chat.postMessage</c>); returns the channel id and ts Slack gave it.</summary>
    public async Task<SlackMessageRef> PostMessageAsync(string channel, string text, JsonArray? blocks, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(channel);
        ArgumentNullException.ThrowIfNull(text);
        var body = new JsonObject { ["channel"] = channel, ["text"] = text, ["unfurl_links"] = false, ["unfurl_media"] = false };
        if (blocks is not null)
        {
            body["blocks"] = blocks.DeepClone();
        }

        var root = await CallAsync("chat.postMessage", body, query: null, cancellationToken).ConfigureAwait(false);
        var postedChannel = String(root, "channel") ?? channel;
        var ts = String(root, "ts") ?? throw new NotificationException("Slack chat.postMessage answered ok without a ts");
        return new SlackMessageRef(postedChannel, ts);
    }

    /// <summary>Replaces a posted message's text and blocks (<c>chat.update</c>); blocks left out are removed.</summary>
    public async Task UpdateAsync(string channel, string ts, string text, JsonArray? blocks, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(channel);
        ArgumentException.ThrowIfNullOrWhiteSpace(ts);
        ArgumentNullException.ThrowIfNull(text);
        var body = new JsonObject { ["channel"] = channel, ["ts"] = ts, ["text"] = text, ["blocks"] = blocks?.DeepClone() ?? new JsonArray() };
        await CallAsync("chat.update", body, query: null, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The user ids in a user group (<c>usergroups.users.list</c>, needs the <c>usergroups:read</c> scope).</summary>
    public async Task<IReadOnlyList<string>> UserGroupMembersAsync(string groupId, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(groupId);
        var root = await CallAsync("usergroups.users.list", body: null, "usergroup=" + Uri.EscapeDataString(groupId), cancellationToken).ConfigureAwait(false);
        if (!root.TryGetProperty("users", out var users) || users.ValueKind != JsonValueKind.Array)
        {
            throw new NotificationException("Slack usergroups.users.list answered ok without a users list");
        }

        return [.. users.EnumerateArray().Where(u => u.ValueKind == JsonValueKind.String).Select(u => u.GetString()!)];
    }

    /// <summary>Calls a method (POST with a JSON body, or GET with a query) and returns Slack's answer when <c>ok</c> is true.</summary>
    private async Task<JsonElement> CallAsync(string method, JsonObject? body, string? query, CancellationToken cancellationToken)
    {
        var url = new Uri(_base, query is null ? method : method + "?" + query);
        var payload = body is null ? null : Encoding.UTF8.GetBytes(body.ToJsonString());
        var attempts = 0;
        var pipeline = new ResiliencePipelineBuilder<Attempt> { TimeProvider = _time }
            .AddRetry(new RetryStrategyOptions<Attempt>
            {
                MaxRetryAttempts = Math.Max(0, _retry.MaxAttempts - 1),
                Delay = _retry.BaseDelay,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = _retry.BaseDelay > TimeSpan.Zero,
                ShouldHandle = args => ValueTask.FromResult(args.Outcome.Result is { Retryable: true }),

                // A 429's Retry-After wins over the backoff; null lets the backoff decide.
                DelayGenerator = args => ValueTask.FromResult(args.Outcome.Result?.RetryAfter),
            })
            .Build();

        var last = await pipeline.ExecuteAsync(
            async ct =>
            {
                attempts++;
                return await SendOnceAsync(method, url, payload, ct).ConfigureAwait(false);
            },
            cancellationToken).ConfigureAwait(false);

        if (last.Root is { } root)
        {
            return root;
        }

        var tries = attempts == 1 ? "" : $" (after {attempts} attempts)";
        // A rate limit still in force when the retries ran out: the caller leaves Slack alone until it ends.
        var failure = new NotificationException(last.Failure + tries) { RetryAfter = last.RetryAfter };
        if (last.SlackError is { } code)
        {
            failure.Data[ErrorCodeKey] = code;
        }

        throw failure;
    }

    private async Task<Attempt> SendOnceAsync(string method, Uri url, byte[]? payload, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(payload is null ? HttpMethod.Get : HttpMethod.Post, url);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", _options.BotToken);
        if (payload is not null)
        {
            request.Content = new ByteArrayContent(payload);
            request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json") { CharSet = "utf-8" };
        }

        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(_options.RequestTimeout);
        try
        {
            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, deadline.Token).ConfigureAwait(false);
            var status = (int)response.StatusCode;
            if (response.StatusCode == HttpStatusCode.TooManyRequests)
            {
                return RateLimited(method, response);
            }

            if (status >= 500)
            {
                return Attempt.Retry($"Slack {method} answered HTTP {status}");
            }

            if (status != 200)
            {
                var hint = status is 401 or 403 ? " (check the bot token and its scopes)" : status is >= 300 and < 400 ? " (a redirect, not followed)" : "";
                return Attempt.Fail($"Slack {method} answered HTTP {status}{hint}");
            }

            var text = await ReadAtMostAsync(response.Content, MaxAnswerBytes, deadline.Token).ConfigureAwait(false);
            return text is null ? Attempt.Fail($"Slack {method} answered more than {MaxAnswerBytes} bytes; the rest was not read") : Read(method, text);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return Attempt.Retry($"Slack {method} did not answer within {_options.RequestTimeout.TotalSeconds.ToString(CultureInfo.InvariantCulture)}s");
        }
        catch (HttpRequestException e)
        {
            // Only the kind of failure: the message could carry the URL.
            return Attempt.Retry($"Slack {method} could not be reached: {e.HttpRequestError}");
        }
    }

    private Attempt RateLimited(string method, HttpResponseMessage response)
    {
        TimeSpan? wait = response.Headers.RetryAfter switch
        {
            { Delta: { } delta } => delta,
            { Date: { } date } => date - _time.GetUtcNow(),
            _ => null,
        };
        if (wait is { } w && w < TimeSpan.Zero)
        {
            wait = TimeSpan.Zero;
        }

        if (wait > _retry.MaxRetryAfter)
        {
            return Attempt.Fail($"Slack rate-limited {method} (HTTP 429, Retry-After {Seconds(wait.Value)}s is longer than the {Seconds(_retry.MaxRetryAfter)}s this client waits)") with { RetryAfter = wait };
        }

        var after = wait is { } x ? $", Retry-After {Seconds(x)}s" : "";
        return new Attempt(null, $"Slack rate-limited {method} (HTTP 429{after})", Retryable: true, RetryAfter: wait);
    }

    private static Attempt Read(string method, string text)
    {
        JsonElement root;
        try
        {
            using var document = JsonDocument.Parse(text);
            root = document.RootElement.Clone();
        }
        catch (JsonException)
        {
            return Attempt.Fail($"Slack {method} answered HTTP 200 with a body that is not JSON");
        }

        if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("ok", out var ok) || ok.ValueKind is not (JsonValueKind.True or JsonValueKind.False))
        {
            return Attempt.Fail($"Slack {method} answered HTTP 200 without an ok field");
        }

        if (ok.ValueKind == JsonValueKind.True)
        {
            return new Attempt(root, null, Retryable: false, RetryAfter: null);
        }

        var error = Code(String(root, "error")) ?? "unknown_error";
        var needed = Code(String(root, "needed")) is { } scope ? $" (needs scope {scope})" : "";
        return new Attempt(null, $"Slack {method} failed: {error}{needed}", Retryable: false, RetryAfter: null) { SlackError = error };
    }

    /// <summary>A Slack error code or scope as safe text: letters, digits and <c>_ . : ,</c>, at most 100 characters.</summary>
    private static string? Code(string? text)
    {
        if (string.IsNullOrEmpty(text))
        {
            return null;
        }

        var kept = new string([.. text.Where(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '.' or ':' or ',' or '-').Take(100)]);
        return kept.Length == 0 ? null : kept;
    }

    /// <summary>Most of a Slack answer read: its answers are a few KB; an endless one must not fill the daemon's memory.</summary>
    private const int MaxAnswerBytes = 4 * 1024 * 1024;

    /// <summary>The body as text, or null past <paramref name="limit"/> bytes (counted while reading).</summary>
    private static async Task<string?> ReadAtMostAsync(HttpContent content, int limit, CancellationToken cancellationToken)
    {
        var stream = await content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        await using (stream.ConfigureAwait(false))
        {
            using var buffer = new MemoryStream();
            var chunk = new byte[16 * 1024];
            int read;
            while ((read = await stream.ReadAsync(chunk.AsMemory(0, (int)Math.Min(chunk.Length, limit + 1 - buffer.Length)), cancellationToken).ConfigureAwait(false)) > 0)
            {
                buffer.Write(chunk, 0, read);
                if (buffer.Length > limit)
                {
                    return null;
                }
            }

            return Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
        }
    }

    private static string? String(JsonElement root, string name) =>
        root.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    private static string Seconds(TimeSpan t) => Math.Ceiling(t.TotalSeconds).ToString(CultureInfo.InvariantCulture);

    private sealed record Attempt(JsonElement? Root, string? Failure, bool Retryable, TimeSpan? RetryAfter)
    {
        public string? SlackError { get; init; }

        public static Attempt Retry(string failure) => new(null, failure, Retryable: true, RetryAfter: null);

        public static Attempt Fail(string failure) => new(null, failure, Retryable: false, RetryAfter: null);
    }
}
