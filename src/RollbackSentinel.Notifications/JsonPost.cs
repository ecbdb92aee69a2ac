using System.Net.Http.Headers;
using System.Text;
using Polly;
using Polly.Retry;

namespace RollbackSentinel.Notifications;

/// <summary>One POST's answer, as the channel classifies it: success, or a failure saying whether a retry may help.</summary>
internal sealed record PostAttempt(string? Failure, bool Retryable, TimeSpan? RetryAfter = null)
{
    public static readonly PostAttempt Success = new(null, false);
}

/// <summary>
/// How the PagerDuty and Alertmanager channels POST JSON: a timeout per attempt, retries with exponential backoff
/// (or the answer's Retry-After, up to <c>maxRetryAfter</c>) only for answers the channel calls retryable, redirects
/// never followed (the handlers refuse them), and only the start of an error body read.
/// </summary>
internal sealed class JsonPost(HttpClient http, TimeProvider time, int maxAttempts, TimeSpan retryDelay, TimeSpan timeout, TimeSpan? maxRetryAfter = null)
{
    private const int MaxErrorBodyChars = 4096;

    /// <param name="url">Where to POST.</param>
    /// <param name="body">The JSON body.</param>
    /// <param name="classify">A non-2xx answer (status, response, the start of its body) as an attempt.</param>
    /// <param name="unanswered">The failure when no answer came: null for a timeout, else the kind of connection error.</param>
    /// <param name="cancellationToken">Stops the attempts.</param>
    /// <returns>The last attempt and how many there were.</returns>
    public async Task<(PostAttempt Last, int Attempts)> SendAsync(
        Uri url, byte[] body, Func<int, HttpResponseMessage, string, PostAttempt> classify, Func<HttpRequestError?, string> unanswered, CancellationToken cancellationToken)
    {
        var attempts = 0;
        var pipeline = new ResiliencePipelineBuilder<PostAttempt> { TimeProvider = time }
            .AddRetry(new RetryStrategyOptions<PostAttempt>
            {
                MaxRetryAttempts = Math.Max(0, maxAttempts - 1),
                Delay = retryDelay,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = retryDelay > TimeSpan.Zero,
                ShouldHandle = args => ValueTask.FromResult(args.Outcome.Result is { Retryable: true }),
                DelayGenerator = args => ValueTask.FromResult(
                    args.Outcome.Result?.RetryAfter is { } after && maxRetryAfter is { } max ? (TimeSpan?)(after > max ? max : after) : null),
            })
            .Build();
        var last = await pipeline.ExecuteAsync(
            async ct =>
            {
                attempts++;
                return await SendOnceAsync(url, body, classify, unanswered, ct).ConfigureAwait(false);
            },
            cancellationToken).ConfigureAwait(false);
        return (last, attempts);
    }

    /// <summary>The answer's Retry-After as a wait from now, if it gave one.</summary>
    public TimeSpan? RetryAfter(HttpResponseMessage response)
    {
        ArgumentNullException.ThrowIfNull(response);
        if (response.Headers.RetryAfter is not { } header)
        {
            return null;
        }

        var after = header.Delta ?? (header.Date is { } date ? date - time.GetUtcNow() : null);
        return after is { } a && a >= TimeSpan.Zero ? a : null;
    }

    private async Task<PostAttempt> SendOnceAsync(
        Uri url, byte[] body, Func<int, HttpResponseMessage, string, PostAttempt> classify, Func<HttpRequestError?, string> unanswered, CancellationToken cancellationToken)
    {
        using var message = new HttpRequestMessage(HttpMethod.Post, url) { Content = new ByteArrayContent(body) };
        message.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json") { CharSet = "utf-8" };
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        try
        {
            using var response = await http.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, deadline.Token).ConfigureAwait(false);
            var status = (int)response.StatusCode;
            return status is >= 200 and < 300
                ? PostAttempt.Success
                : classify(status, response, await ReadSomeAsync(response, deadline.Token).ConfigureAwait(false));
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return new PostAttempt(unanswered(null), Retryable: true);
        }
        catch (HttpRequestException e)
        {
            // The exception's message may name the host and more: report only the kind of failure.
            return new PostAttempt(unanswered(e.HttpRequestError), Retryable: true);
        }
    }

    private static async Task<string> ReadSomeAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        try
        {
            using var stream = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
            using var reader = new StreamReader(stream, Encoding.UTF8);
            var buffer = new char[MaxErrorBodyChars];
            var read = await reader.ReadBlockAsync(buffer, cancellationToken).ConfigureAwait(false);
            return new string(buffer, 0, read);
        }
        catch (Exception e) when (e is IOException or HttpRequestException)
        {
            return "";
        }
    }
}
