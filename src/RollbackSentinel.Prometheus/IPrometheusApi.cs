using Refit;

namespace RollbackSentinel.Prometheus;

/// <summary>
/// Prometheus' HTTP query API, as Prometheus, VictoriaMetrics, Mimir, Cortex and Thanos serve it. Queries are posted as
/// forms (a long PromQL expression does not fit every proxy's URL limit, and stays out of access logs). Answers are
/// returned unread: <see cref="PrometheusClient"/> reads them under a size cap with its own parser, which keeps NaN,
/// +Inf and -Inf, error envelopes and non-API bodies apart.
/// </summary>
internal interface IPrometheusApi
{
    [Post("/api/v1/query")]
    Task<HttpResponseMessage> QueryAsync(
        [Body(BodySerializationMethod.UrlEncoded)] Dictionary<string, string> form,
        [HeaderCollection] IDictionary<string, string> headers,
        CancellationToken cancellationToken);

    [Post("/api/v1/query_range")]
    Task<HttpResponseMessage> QueryRangeAsync(
        [Body(BodySerializationMethod.UrlEncoded)] Dictionary<string, string> form,
        [HeaderCollection] IDictionary<string, string> headers,
        CancellationToken cancellationToken);
}
