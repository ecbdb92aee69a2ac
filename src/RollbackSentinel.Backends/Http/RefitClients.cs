using Refit;

namespace RollbackSentinel.Backends.Http;

/// <summary>
/// Refit clients over an <see cref="HttpClient"/> a caller owns and may share: the Refit client sends through it, on a
/// client of its own that carries the backend's root (Refit needs a base address; the given client keeps none).
/// </summary>
internal static class RefitClients
{
    /// <summary>
    /// Transport failures pass through unwrapped, so <see cref="BackendHttp"/> names the server in the error; an answer is
    /// returned whatever its status (the adapters read error bodies themselves).
    /// </summary>
    public static readonly RefitSettings Settings = new()
    {
        TransportExceptionFactory = (_, exception, _) => exception,
    };

    /// <summary>A <typeparamref name="T"/> whose requests go to <paramref name="root"/> through <paramref name="given"/>.</summary>
    public static T For<T>(HttpClient given, Uri root)
    {
        ArgumentNullException.ThrowIfNull(given);
        ArgumentNullException.ThrowIfNull(root);
        var own = new HttpClient(new Forwarder(given)) { BaseAddress = root, Timeout = Timeout.InfiniteTimeSpan };
        // The source-generated client only: no reflection-built fallback (the Native AOT build has none, docs/aot.md).
        return RestService.ForGenerated<T>(own, Settings);
    }

    /// <summary>
    /// Sends each request through the given client, streaming the answer (the adapters cap what they read). The request
    /// is sent as a copy: an <see cref="HttpClient"/> sends a message once, and Refit's own client has already taken it.
    /// </summary>
    private sealed class Forwarder(HttpClient given) : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var copy = new HttpRequestMessage(request.Method, request.RequestUri)
            {
                Content = request.Content,
                Version = request.Version,
                VersionPolicy = request.VersionPolicy,
            };
            foreach (var (name, values) in request.Headers)
            {
                copy.Headers.TryAddWithoutValidation(name, values);
            }

            return given.SendAsync(copy, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        }
    }
}
