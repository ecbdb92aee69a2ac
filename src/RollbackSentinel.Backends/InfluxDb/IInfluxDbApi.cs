using Refit;

namespace RollbackSentinel.Backends.InfluxDb;

/// <summary>
/// InfluxDB 1.x's query API. The statement goes in a form POST (<c>q</c>, with <c>db</c>, <c>rp</c> and <c>epoch</c>),
/// not the query string: InfluxDB reads both, and a long statement stays clear of URL length limits in proxies. Chunking
/// is never asked for, so the answer is one JSON document.
/// </summary>
/// <remarks>
/// The answer comes back unread (<see cref="HttpResponseMessage"/>) so <see cref="InfluxDbSource"/> reads it under its own
/// byte cap and keeps nulls, statement errors and InfluxDB's plain-text failures as they are instead of a serializer's view
/// of them.
/// </remarks>
internal interface IInfluxDbApi
{
    /// <summary><c>POST /query</c>.</summary>
    [Post("/query")]
    Task<HttpResponseMessage> QueryAsync(
        [Body(BodySerializationMethod.UrlEncoded)] Dictionary<string, string> form,
        [HeaderCollection] IDictionary<string, string> headers,
        CancellationToken cancellationToken);
}
