using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Polly;
using Polly.Retry;
using RollbackSentinel.Core.Evaluation;
using RollbackSentinel.Core.Policies;
using RollbackSentinel.Core.Secrets;

namespace RollbackSentinel.Actions.Webhook;

/// <summary>How often a webhook delivery is attempted. Every attempt carries the same idempotency key.</summary>
/// <param name="MaxAttempts">Attempts in all, the first included.</param>
/// <param name="BaseDelay">The wait before the first retry; it doubles (with jitter) for each further one.</param>
public sealed record WebhookRetry(int MaxAttempts, TimeSpan BaseDelay)
{
    public static readonly WebhookRetry Default = new(3, TimeSpan.FromSeconds(2));
}

/// <summary>
/// POSTs the incident as JSON to the target's URL, with an <c>Idempotency-Key</c> header so a receiver can
/// deduplicate, and, when the target names a <c>secretFile</c>, an HMAC-SHA256 signature over the timestamp
/// and body (<c>X-Sentinel-Timestamp</c>, <c>X-Sentinel-Signature: sha256=&lt;hex of HMAC(secret, "timestamp.body")&gt;</c>).
/// Succeeds on 2xx only: a redirect (an SSO page, a moved endpoint) is a failure, never followed. Retried,
/// with backoff and the same key, only on a 5xx, a timeout or a connection that failed: a 4xx means the
/// receiver refused this request and a retry would get the same answer.
/// </summary>
/// <param name="http">Its client (no redirects: <see cref="CreateHandler"/>).</param>
/// <param name="time">For timestamps and retry delays.</param>
/// <param name="retry">How often to try.</param>
/// <param name="secrets">Reads <c>secretFile</c>, checking it is one a policy may name; by default any file, registered for redaction.</param>
internal sealed class WebhookRollbackAction(HttpClient http, TimeProvider time, WebhookRetry? retry = null, ISecretFileReader? secrets = null) : IRollbackAction
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(10);

    /// <summary>Its HttpClient's name (as the typed client it was, so its log category stays <c>System.Net.Http.HttpClient.WebhookRollbackAction</c>).</summary>
    public const string HttpClientName = nameof(WebhookRollbackAction);

    public const string SignatureHeader = "X-Sentinel-Signature";
    public const string TimestampHeader = "X-Sentinel-Timestamp";
    public const string AttemptHeader = "X-Sentinel-Attempt";


    private readonly WebhookRetry _retry = retry ?? WebhookRetry.Default;

    public string Kind => "webhook";

    /// <summary>A handler for this adapter's HttpClient: no redirects (a 3xx must not turn into a GET or a POST elsewhere).</summary>
    public static HttpMessageHandler CreateHandler() => new SocketsHttpHandler { AllowAutoRedirect = false, PooledConnectionLifetime = TimeSpan.FromMinutes(5) };

    public Task<ActionPlan> PlanAsync(RollbackRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var where = TargetIdentity.Redact(RenderUrl(request));
        var target = (WebhookTarget)request.Target.Definition;
        var signed = target.SecretFile is null ? "" : ", signed with HMAC-SHA256";
        return Task.FromResult(new ActionPlan($"POST incident {request.IncidentId} to {where}")
        {
            Steps = [$"POST {where} (Idempotency-Key: {Key(request)}{signed}; up to {_retry.MaxAttempts} attempts on 5xx or timeout)"],
        });
    }

    public async Task<ActionResult> ExecuteAsync(RollbackRequest request, ActionPlan plan, bool dryRun, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(plan);
        string url;
        string key;
        try
        {
            url = RenderUrl(request);
            key = Key(request);
        }
        catch (ActionFailedException e)
        {
            return ActionResult.Failure(e.Message);
        }

        if (dryRun)
        {
            return ActionResult.DryRun(plan);
        }

        var target = (WebhookTarget)request.Target.Definition;
        var where = TargetIdentity.Redact(url);
        var body = Body(request, key);
        string? secret = null;
        if (target.SecretFile is { } secretFile)
        {
            try
            {
                secret = secrets is null
                    ? (await File.ReadAllTextAsync(secretFile, cancellationToken).ConfigureAwait(false)).Trim()
                    : await secrets.ReadAsync(secretFile, cancellationToken).ConfigureAwait(false);
                SecretRegistry.Shared.Register(secret);
            }
            catch (SecretFileRefusedException e)
            {
                return ActionResult.Failure($"refused to read the webhook secret file: {e.Message}");
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                return ActionResult.Failure($"cannot read the webhook secret file {secretFile}: {e.GetType().Name}");
            }

            if (secret.Length == 0)
            {
                return ActionResult.Failure($"the webhook secret file {secretFile} is empty");
            }
        }

        var timeout = target.Timeout ?? DefaultTimeout;
        var attempts = 0;
        var pipeline = new ResiliencePipelineBuilder<Attempt>
        {
            TimeProvider = time,
        }.AddRetry(new RetryStrategyOptions<Attempt>
        {
            MaxRetryAttempts = Math.Max(0, _retry.MaxAttempts - 1),
            Delay = _retry.BaseDelay,
            BackoffType = DelayBackoffType.Exponential,
            UseJitter = _retry.BaseDelay > TimeSpan.Zero,
            ShouldHandle = args => ValueTask.FromResult(args.Outcome.Result is { Retryable: true }),
        }).Build();

        var last = await pipeline.ExecuteAsync(
            async ct =>
            {
                attempts++;
                return await SendOnceAsync(key, url, where, body, secret, attempts, timeout, ct).ConfigureAwait(false);
            },
            cancellationToken).ConfigureAwait(false);

        var tries = attempts == 1 ? "" : $" (attempt {attempts} of {_retry.MaxAttempts})";
        return last.Result.Succeeded
            ? ActionResult.Changed(last.Result.Outcome + tries, before: null, after: $"delivered to {where}")
            : ActionResult.Failure(last.Result.Outcome + (attempts == 1 ? "" : $" (after {attempts} attempts)"));
    }

    private async Task<Attempt> SendOnceAsync(string key, string url, string where, byte[] body, string? secret, int attempt, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var message = new HttpRequestMessage(HttpMethod.Post, url) { Content = new ByteArrayContent(body) };
        message.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json") { CharSet = "utf-8" };
        message.Headers.Add("Idempotency-Key", key);
        message.Headers.Add(AttemptHeader, attempt.ToString(System.Globalization.CultureInfo.InvariantCulture));
        if (secret is not null)
        {
            // Signed per attempt: a retry carries a fresh timestamp, so receivers that refuse old ones accept it.
            var timestamp = time.GetUtcNow().ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture);
            message.Headers.Add(TimestampHeader, timestamp);
            message.Headers.Add(SignatureHeader, "sha256=" + Sign(secret, timestamp, body));
        }

        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        try
        {
            // Headers are enough: the body is never read, however large.
            using var response = await http.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, deadline.Token).ConfigureAwait(false);
            var status = (int)response.StatusCode;
            return status switch
            {
                >= 200 and < 300 => new Attempt(ActionResult.Changed($"webhook {where} answered HTTP {status}", null, null), Retryable: false),
                >= 300 and < 400 => new Attempt(ActionResult.Failure($"webhook {where} answered HTTP {status} (a redirect, not followed: point the target at the final URL)"), Retryable: false),
                >= 500 => new Attempt(ActionResult.Failure($"webhook {where} answered HTTP {status}"), Retryable: true),
                _ => new Attempt(ActionResult.Failure($"webhook {where} answered HTTP {status}"), Retryable: false),
            };
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return new Attempt(ActionResult.Failure($"webhook {where} did not answer within {PromDuration.Format(timeout)}"), Retryable: true);
        }
        catch (HttpRequestException e)
        {
            // The message may carry the URL (with a key in it): report only the kind of failure.
            return new Attempt(ActionResult.Failure($"webhook {where} could not be reached: {e.HttpRequestError}"), Retryable: true);
        }
    }

    /// <summary>The URL with label values escaped: a label cannot add path segments, a query or another host.</summary>
    private static string RenderUrl(RollbackRequest request)
    {
        var url = request.Target.Url ?? throw new ActionFailedException($"the webhook adapter was given a {request.Target.Kind} target");
        return url.TryGet(out var text, out var error) ? text : throw new ActionFailedException(error);
    }

    /// <summary>The policy's own key (<c>policy:rendered</c>, the same in every sentinel) when it sets one, else the incident's.</summary>
    private static string Key(RollbackRequest request)
    {
        if (request.Target.IdempotencyKey is not { } rendered)
        {
            return request.IdempotencyKey;
        }

        return rendered.TryGet(out var key, out var error)
            ? $"{request.Policy}:{key}"
            : throw new ActionFailedException("idempotencyKey: " + error);
    }

    private static byte[] Body(RollbackRequest request, string key)
    {
        var e = request.Evidence;
        var change = request.BlamedChange;
        return JsonSerializer.SerializeToUtf8Bytes(
            new WebhookBody(
                request.IncidentId,
                request.Policy,
                e.Trigger,
                "rollback", // adapters run rollbacks only
                request.Labels.ToDictionary(),
                Rfc3339.Format(request.DecidedAt),
                e.Since is { } s ? Rfc3339.Format(s) : null,
                e.Summary,
                Finite(e.Value),
                Finite(e.Threshold),
                Finite(e.Baseline),
                key,
                change is null ? null : ChangeJson(change),
                change?.Describe(request.DecidedAt) ?? "no change known",
                e.Disarmed,
                e.DisarmedReason),
            WebhookJsonContext.Default.WebhookBody);
    }

    /// <summary>A change as the API writes it (<c>GET /api/v1/changes</c>): the same names, so a receiver parses both alike.</summary>
    private static Dictionary<string, object?> ChangeJson(Core.Changes.Change c) => new()
    {
        ["id"] = c.Id,
        ["policy"] = c.Policy,
        ["labels"] = c.Labels.ToDictionary(),
        ["at"] = Rfc3339.Format(c.At),
        ["source"] = c.Source.ToString().ToLowerInvariant(),
        ["revision"] = c.Revision,
        ["previousRevision"] = c.PreviousRevision,
        ["by"] = c.By,
        ["description"] = c.Description,
        ["recordedAt"] = c.RecordedAt is { } r ? Rfc3339.Format(r) : null,
    };

    /// <summary>The signature receivers check: hex of HMAC-SHA256(secret, "timestamp.body").</summary>
    public static string Sign(string secret, string timestamp, byte[] body)
    {
        ArgumentNullException.ThrowIfNull(body);
        var signed = Encoding.UTF8.GetBytes(timestamp + ".").Concat(body).ToArray();
        return Convert.ToHexString(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), signed)).ToLowerInvariant();
    }

    private static double? Finite(double? v) => v is { } x && double.IsFinite(x) ? x : null;

    private sealed record Attempt(ActionResult Result, bool Retryable);
}

/// <summary>What the webhook receives (docs: the webhook adapter), in the order and with the names it always had.</summary>
internal sealed record WebhookBody(
    long Incident,
    string Policy,
    string Trigger,
    string Action,
    Dictionary<string, string> Labels,
    string At,
    string? Since,
    string Summary,
    double? Value,
    double? Threshold,
    double? Baseline,
    string IdempotencyKey,
    Dictionary<string, object?>? Change,
    string ChangeSummary,
    bool Disarmed,
    string? DisarmedReason);

/// <summary>The body's metadata, made at compile time (docs/aot.md): web names; the change's values are strings, numbers and labels.</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(WebhookBody))]
[JsonSerializable(typeof(string))]
[JsonSerializable(typeof(long))]
[JsonSerializable(typeof(Dictionary<string, string>))]
internal sealed partial class WebhookJsonContext : JsonSerializerContext;
