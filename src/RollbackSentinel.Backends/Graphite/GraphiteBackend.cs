using RollbackSentinel.Backends.Http;
using RollbackSentinel.Core.Metrics;

namespace RollbackSentinel.Backends.Graphite;

/// <summary>The Graphite backend (type name <c>graphite</c>): graphite-web's render API as an <see cref="IMetricsSource"/>.</summary>
public static class GraphiteBackend
{
    /// <summary>The name a policy's <c>spec.backend</c> and the settings use for this backend.</summary>
    public const string TypeName = "graphite";

    /// <summary>
    /// The handler to build the <see cref="HttpClient"/> on: it follows no redirect, so a query (and its credentials) is
    /// never sent to a server nobody configured.
    /// </summary>
    public static HttpMessageHandler CreateHandler() => BackendHttp.CreateHandler();

    /// <summary>
    /// A source that queries graphite-web at <see cref="BackendOptions.BaseAddress"/>; it also implements
    /// <see cref="IQueryChecker"/>. Every failure surfaces as a <see cref="MetricsQueryException"/>, except the caller's
    /// own cancellation, which propagates as <see cref="OperationCanceledException"/>.
    /// </summary>
    /// <param name="http">
    /// The client to send through (it may be shared; its base address is not used). Its own <see cref="HttpClient.Timeout"/> still applies; keep it at least <see cref="BackendOptions.Timeout"/>
    /// (or infinite). Build it on <see cref="CreateHandler"/>.
    /// </param>
    public static IMetricsSource Create(HttpClient http, GraphiteOptions options)
    {
        ArgumentNullException.ThrowIfNull(http);
        ArgumentNullException.ThrowIfNull(options);
        var problems = options.Validate();
        if (problems.Count > 0)
        {
            throw new ArgumentException("Invalid Graphite options: " + string.Join(" ", problems), nameof(options));
        }

        // Refit resolves its routes under the root, path prefix included (http://host/prefix/...), and sends through the
        // given client, which may be shared.
        var root = options.BaseAddress.AbsoluteUri.EndsWith('/') ? options.BaseAddress : new Uri(options.BaseAddress.AbsoluteUri + "/");
        return new GraphiteSource(RefitClients.For<IGraphiteApi>(http, root), options);
    }
}
