using System.Net.Http.Json;
using System.Text.Json;
using RollbackSentinel.Core.Evaluation;
using RollbackSentinel.Core.Policies;

namespace RollbackSentinel.Actions.Webhook;

/// <summary>
/// POSTs the incident as JSON to the target's URL, with an <c>Idempotency-Key</c> header so a receiver can
/// deduplicate. Succeeds on any 2xx. (Signing and retries on 5xx come with the adapters issue.)
/// </summary>
public sealed class WebhookRollbackAction(HttpClient http) : IRollbackAction
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(10);

    public string Kind => "webhook";

    public async Task<ActionResult> ExecuteAsync(ActionRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var target = (WebhookTarget)request.Policy.Target;
        if (!target.Url.TryRender(request.Incident.Labels, out var url, out var error))
        {
            return ActionResult.Failure(error);
        }

        var d = request.Decision;
        var body = new
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
        };

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(target.Timeout ?? DefaultTimeout);
        using var message = new HttpRequestMessage(HttpMethod.Post, url) { Content = JsonContent.Create(body, options: JsonOptions) };
        message.Headers.Add("Idempotency-Key", request.IdempotencyKey);
        try
        {
            using var response = await http.SendAsync(message, timeout.Token).ConfigureAwait(false);
            var host = new Uri(url).GetLeftPart(UriPartial.Authority);
            return response.IsSuccessStatusCode
                ? ActionResult.Success($"webhook {host} answered HTTP {(int)response.StatusCode}")
                : ActionResult.Failure($"webhook {host} answered HTTP {(int)response.StatusCode}");
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return ActionResult.Failure($"webhook did not answer within {PromDuration.Format(target.Timeout ?? DefaultTimeout)}");
        }
        catch (HttpRequestException e)
        {
            // The URL may carry a key: report the failure without it.
            return ActionResult.Failure($"webhook could not be reached: {e.HttpRequestError}");
        }
    }

    private static readonly JsonSerializerOptions JsonOptions = new(JsonSerializerDefaults.Web);

    private static double? Finite(double? v) => v is { } x && double.IsFinite(x) ? x : null;
}
