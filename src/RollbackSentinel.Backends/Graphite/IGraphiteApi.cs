using Refit;

namespace RollbackSentinel.Backends.Graphite;

/// <summary>
/// graphite-web's render API. The target goes in a form POST, not the query string: graphite-web reads both, and a
/// long target (a few nested functions over many paths) stays clear of URL length limits in proxies.
/// </summary>
/// <remarks>
/// The answer comes back unread (<see cref="HttpResponseMessage"/>) so <see cref="GraphiteSource"/> reads it under
/// its own byte cap and keeps null points, 1e9999 and error pages as they are instead of a serializer's view of them.
/// </remarks>
internal interface IGraphiteApi
{
    /// <summary><c>POST /render</c> with <c>target</c>, <c>from</c>, <c>until</c> (epoch seconds) and <c>format=json</c>.</summary>
    [Post("/render")]
    Task<HttpResponseMessage> RenderAsync(
        [Body(BodySerializationMethod.UrlEncoded)] Dictionary<string, string> form,
        [HeaderCollection] IDictionary<string, string> headers,
        CancellationToken cancellationToken);
}
