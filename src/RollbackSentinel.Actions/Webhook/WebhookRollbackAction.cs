using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using RollbackSentinel.Core.Evaluation;
using RollbackSentinel.Core.Policies;

namespace RollbackSentinel.Actions.Webhook;

/// <summary>
/// POSTs the incident as JSON to the target's URL, with an <c>Idempotency-Key</c> header so a receiver can
/// deduplicate, and, when the target names a <c>secretFile</c>, an HMAC-SHA256 signature over the timestamp
/// and body (<c>X-Sentinel-Timestamp</c>, <c>X-Sentinel-Signature: sha256=&lt;hex of HMAC(secret, "timestamp.body")&gt;</c>).
/// Succeeds on 2xx only: a redirect (an SSO page, a moved endpoint) is a failure, never followed.
/// </summary>
public sealed class WebhookRollbackAction(HttpClient http, TimeProvider time) : IRollbackAction
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(10);

    public const string SignatureHeader = "X-Sentinel-Signature";
    public const string TimestampHeader = "X-Sentinel-Timestamp";

    private static readonly JsonSerializerOptions JsonOptions = new(JsonSerializerDefaults.Web);

    public string Kind => "webhook";

    /// <summary>A handler for this adapter's HttpClient: no redirects (a 3xx must not turn into a GET or a POST elsewhere).</summary>
    public static HttpMessageHandler CreateHandler() => new SocketsHttpHandler { AllowAutoRedirect = false, PooledConnectionLifetime = TimeSpan.FromMinutes(5) };

    public async Task<ActionResult> ExecuteAsync(ActionRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var target = (WebhookTarget)request.Policy.Target;
        if (!target.Url.TryRender(request.Incident.Labels, out var url, out var error))
        {
            return ActionResult.Failure(error);
        }

        var where = TargetIdentity.Redact(url);
        var d = request.Decision;
        var body = JsonSerializer.SerializeToUtf8Bytes(
            new
            {
                incident = request.Incident.Id,
                policy = d.Policy,
                trigger = d.Trigger,
                action = d.Action.ToString().ToLowerInvariant(),
                labels = d.Labels.ToDictionary(),
                at = Rfc3339.Format(d.At),
                since = d.Since is { } s ? Rfc3339.Format(s) : null,
                summary = d.Verdict.Summary,
                value = Finite(d.Verdict.Value),
                threshold = Finite(d.Verdict.Threshold),
                baseline = Finite(d.Verdict.Baseline),
                idempotencyKey = request.IdempotencyKey,
            },
            JsonOptions);

        using var message = new HttpRequestMessage(HttpMethod.Post, url) { Content = new ByteArrayContent(body) };
        message.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json") { CharSet = "utf-8" };
        message.Headers.Add("Idempotency-Key", request.IdempotencyKey);
        if (target.SecretFile is { } secretFile)
        {
            string secret;
            try
            {
                secret = (await File.ReadAllTextAsync(secretFile, cancellationToken).ConfigureAwait(false)).Trim();
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                return ActionResult.Failure($"cannot read the webhook secret file {secretFile}: {e.GetType().Name}");
            }

            if (secret.Length == 0)
            {
                return ActionResult.Failure($"the webhook secret file {secretFile} is empty");
            }

            var timestamp = time.GetUtcNow().ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture);
            message.Headers.Add(TimestampHeader, timestamp);
            message.Headers.Add(SignatureHeader, "sha256=" + Sign(secret, timestamp, body));
        }

        var timeout = target.Timeout ?? DefaultTimeout;
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        try
        {
            // Headers are enough: the body is never read, however large.
            using var response = await http.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, deadline.Token).ConfigureAwait(false);
            var status = (int)response.StatusCode;
            return status is >= 200 and < 300
                ? ActionResult.Success($"webhook {where} answered HTTP {status}")
                : ActionResult.Failure(status is >= 300 and < 400
                    ? $"webhook {where} answered HTTP {status} (a redirect, not followed: point the target at the final URL)"
                    : $"webhook {where} answered HTTP {status}");
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return ActionResult.Failure($"webhook {where} did not answer within {PromDuration.Format(timeout)}");
        }
        catch (HttpRequestException e)
        {
            // The message may carry the URL (with a key in it): report only the kind of failure.
            return ActionResult.Failure($"webhook {where} could not be reached: {e.HttpRequestError}");
        }
    }

    /// <summary>The signature receivers check: hex of HMAC-SHA256(secret, "timestamp.body").</summary>
    public static string Sign(string secret, string timestamp, byte[] body)
    {
        ArgumentNullException.ThrowIfNull(body);
        var signed = Encoding.UTF8.GetBytes(timestamp + ".").Concat(body).ToArray();
        return Convert.ToHexString(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), signed)).ToLowerInvariant();
    }

    private static double? Finite(double? v) => v is { } x && double.IsFinite(x) ? x : null;
}
