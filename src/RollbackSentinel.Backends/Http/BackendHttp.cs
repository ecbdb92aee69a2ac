using System.Buffers;
using System.Net.Http.Headers;
using RollbackSentinel.Core.Metrics;

namespace RollbackSentinel.Backends.Http;

/// <summary>An answer as read: the status, the headers and the whole body (never more than the cap).</summary>
internal readonly record struct BackendAnswer(int Status, ReadOnlyMemory<byte> Body, HttpResponseHeaders Headers);

/// <summary>
/// What every backend adapter does around its Refit call: the per-request timeout (linked to the caller's
/// cancellation), no redirect followed, the body read up to a cap while streaming, and every failure turned into
/// a <see cref="MetricsQueryException"/> that names the server and the query. The caller's own cancellation
/// propagates as <see cref="OperationCanceledException"/>.
/// </summary>
internal static class BackendHttp
{
    /// <summary>
    /// The handler every backend's <see cref="HttpClient"/> is built on: it follows no redirect, so a query (and its
    /// credentials) is never sent to a server nobody configured.
    /// </summary>
    public static HttpMessageHandler CreateHandler() =>
        new SocketsHttpHandler { AllowAutoRedirect = false, PooledConnectionLifetime = TimeSpan.FromMinutes(5) };

    /// <summary>
    /// Runs <paramref name="send"/> (a Refit method returning the unread <see cref="HttpResponseMessage"/>) and reads its
    /// answer.
    /// </summary>
    /// <param name="baseAddress">The configured server: an answer from anywhere else (a redirect a caller's handler followed) is refused.</param>
    public static async Task<BackendAnswer> SendAsync(
        Func<CancellationToken, Task<HttpResponseMessage>> send,
        Uri baseAddress,
        string query,
        BackendErrors errors,
        TimeSpan timeout,
        long maxResponseBytes,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(send);
        ArgumentNullException.ThrowIfNull(errors);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        try
        {
            using var response = await send(deadline.Token).ConfigureAwait(false);
            var status = (int)response.StatusCode;
            if (status is >= 300 and < 400 && response.Headers.Location is { } location)
            {
                throw errors.Redirected(query, status, location, followed: false);
            }

            if (response.RequestMessage?.RequestUri is { } answered && !IsUnder(answered, baseAddress))
            {
                throw errors.Redirected(query, status, answered, followed: true);
            }

            var body = response.Content.Headers.ContentLength > maxResponseBytes
                ? null
                : await ReadAtMostAsync(response.Content, maxResponseBytes, deadline.Token).ConfigureAwait(false);
            return body is { } read ? new BackendAnswer(status, read, response.Headers) : throw errors.ResponseTooLarge(query, status, maxResponseBytes);
        }
        catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested)
        {
            // Our timeout or HttpClient.Timeout fired; the caller's own cancellation propagates untouched.
            throw errors.Timeout(query, timeout, ex);
        }
        catch (HttpRequestException ex)
        {
            // A read cut short by cancellation can surface as a transport error; report the cause instead.
            cancellationToken.ThrowIfCancellationRequested();
            throw deadline.IsCancellationRequested ? errors.Timeout(query, timeout, ex) : errors.Transport(query, ex);
        }
        catch (IOException ex)
        {
            // A connection cut while the body is read (HttpIOException): the same as a transport failure.
            cancellationToken.ThrowIfCancellationRequested();
            throw deadline.IsCancellationRequested
                ? errors.Timeout(query, timeout, ex)
                : errors.Transport(query, new HttpRequestException(HttpRequestError.ResponseEnded, ex.Message, ex));
        }
    }

    /// <summary>
    /// Whether <paramref name="answered"/> is the configured server: the same scheme, host and port, and a path under the
    /// base path (a prefix of a path segment, such as /tenant-a of /tenant-ab, or of a host, does not count).
    /// </summary>
    internal static bool IsUnder(Uri answered, Uri baseAddress)
    {
        if (!string.Equals(answered.Scheme, baseAddress.Scheme, StringComparison.OrdinalIgnoreCase)
            || !string.Equals(answered.IdnHost, baseAddress.IdnHost, StringComparison.OrdinalIgnoreCase)
            || answered.Port != baseAddress.Port)
        {
            return false;
        }

        var root = baseAddress.AbsolutePath.EndsWith('/') ? baseAddress.AbsolutePath : baseAddress.AbsolutePath + "/";
        return answered.AbsolutePath.StartsWith(root, StringComparison.Ordinal) || answered.AbsolutePath + "/" == root;
    }

    /// <summary>The read buffer borrowed from the shared pool for each answer (instant query answers are a few hundred bytes).</summary>
    private const int ChunkBytes = 16 * 1024;

    /// <summary>The most a body buffer is sized in advance from <c>Content-Length</c>; a longer answer grows it as it arrives.</summary>
    private const int PresizeBytes = 1024 * 1024;

    /// <summary>
    /// The body, or null when it is longer than <paramref name="limit"/> bytes. Counted while streaming: at most
    /// <paramref name="limit"/> + 1 bytes are ever read, however long (or endless) the body is.
    /// </summary>
    /// <remarks>
    /// The only array allocated is the body's own (sized from <c>Content-Length</c> when the server sends one); the read
    /// buffer is borrowed from <see cref="ArrayPool{T}.Shared"/>. An 80 KB buffer allocated per answer was three quarters
    /// of everything a daemon evaluating 1,000 policies allocated (bench/README.md, "Daemon").
    /// </remarks>
    public static async Task<ReadOnlyMemory<byte>?> ReadAtMostAsync(HttpContent content, long limit, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(content);
        var announced = content.Headers.ContentLength;
        var stream = await content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        await using (stream.ConfigureAwait(false))
        {
            // The announced length is a capacity hint only, and only up to PresizeBytes: the count below is what is
            // enforced, and a server that announces much and sends little gets no large buffer for it.
            using var buffer = announced is > 0 and var length && length <= limit
                ? new MemoryStream((int)Math.Min(length, PresizeBytes))
                : new MemoryStream();
            var chunk = ArrayPool<byte>.Shared.Rent(ChunkBytes);
            try
            {
                while (true)
                {
                    var wanted = (int)Math.Min(chunk.Length, limit + 1 - buffer.Length);
                    var read = await stream.ReadAsync(chunk.AsMemory(0, wanted), cancellationToken).ConfigureAwait(false);
                    if (read == 0)
                    {
                        // The stream's own array, not a copy: a large answer is held once.
                        return buffer.GetBuffer().AsMemory(0, (int)buffer.Length);
                    }

                    if (buffer.Length + read > limit)
                    {
                        return null;
                    }

                    buffer.Write(chunk, 0, read);
                }
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(chunk);
            }
        }
    }
}
