using Refit;

namespace RollbackSentinel.Backends.Datadog;

/// <summary>
/// Datadog's v1 metrics query API (<c>GET /api/v1/query</c>). The answer is returned unread: <see cref="DatadogSource"/>
/// reads it under a size cap and interprets the error shapes itself.
/// </summary>
internal interface IDatadogApi
{
    /// <param name="from">Start of the window, Unix seconds.</param>
    /// <param name="to">End of the window, Unix seconds.</param>
    /// <param name="query">The metrics query, e.g. <c>sum:trace.http.request.errors{service:checkout}.as_count()</c>.</param>
    [Get("/api/v1/query")]
    Task<HttpResponseMessage> QueryAsync(
        [AliasAs("from")] long from,
        [AliasAs("to")] long to,
        [AliasAs("query")] string query,
        [Header("DD-API-KEY")] string apiKey,
        [Header("DD-APPLICATION-KEY")] string applicationKey,
        CancellationToken cancellationToken);
}
