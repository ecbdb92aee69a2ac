using Microsoft.Net.Http.Headers;
using Prometheus;

namespace RollbackSentinel.Telemetry;

public static class TelemetryEndpointRouteBuilderExtensions
{
    /// <summary>The Content-Type of the text exposition format 0.0.4, the one format <c>/metrics</c> serves.</summary>
    public const string ContentType = PrometheusConstants.TextContentTypeWithVersionAndEncoding;

    /// <summary>
    /// Serves the registry of the <see cref="SentinelMetrics"/> registered in DI (<see cref="TelemetryServiceCollectionExtensions.AddSentinelTelemetry"/>)
    /// at <paramref name="pattern"/> for Prometheus to scrape.
    /// </summary>
    public static IEndpointConventionBuilder MapPrometheusMetrics(this IEndpointRouteBuilder endpoints, string pattern = "/metrics")
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        return endpoints.MapPrometheusMetrics(pattern, endpoints.ServiceProvider.GetRequiredService<SentinelMetrics>());
    }

    /// <summary>
    /// Serves <paramref name="metrics"/>' registry at <paramref name="pattern"/> (GET), written by prometheus-net in the text
    /// format 0.0.4 whatever the scraper's Accept header asks: the endpoint never offered OpenMetrics, and exemplars (the
    /// one thing it would add) are not recorded.
    /// </summary>
    public static IEndpointConventionBuilder MapPrometheusMetrics(this IEndpointRouteBuilder endpoints, string pattern, SentinelMetrics metrics)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        ArgumentException.ThrowIfNullOrWhiteSpace(pattern);
        ArgumentNullException.ThrowIfNull(metrics);
        var registry = metrics.Registry;
        return endpoints.MapGet(pattern, async context =>
        {
            context.Response.ContentType = ContentType;

            // Every scrape must see current values, never a cached page.
            context.Response.Headers[HeaderNames.CacheControl] = "no-store";
            await registry.CollectAndExportAsTextAsync(context.Response.Body, ExpositionFormat.PrometheusText, context.RequestAborted).ConfigureAwait(false);
        });
    }
}
