using Microsoft.Net.Http.Headers;

namespace RollbackSentinel.Telemetry;

public static class TelemetryEndpointRouteBuilderExtensions
{
    /// <summary>
    /// Serves the <see cref="PrometheusExporter"/> registered in DI (<see cref="TelemetryServiceCollectionExtensions.AddSentinelTelemetry"/>)
    /// at <paramref name="pattern"/> for Prometheus to scrape.
    /// </summary>
    public static IEndpointConventionBuilder MapPrometheusMetrics(this IEndpointRouteBuilder endpoints, string pattern = "/metrics")
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        return endpoints.MapPrometheusMetrics(pattern, endpoints.ServiceProvider.GetRequiredService<PrometheusExporter>());
    }

    /// <summary>Serves <paramref name="exporter"/> at <paramref name="pattern"/> (GET), in the text format 0.0.4.</summary>
    public static IEndpointConventionBuilder MapPrometheusMetrics(this IEndpointRouteBuilder endpoints, string pattern, PrometheusExporter exporter)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        ArgumentException.ThrowIfNullOrWhiteSpace(pattern);
        ArgumentNullException.ThrowIfNull(exporter);
        return endpoints.MapGet(pattern, async context =>
        {
            context.Response.ContentType = PrometheusExporter.ContentType;

            // Every scrape must see current values, never a cached page.
            context.Response.Headers[HeaderNames.CacheControl] = "no-store";
            await exporter.WriteAsync(context.Response.Body, context.RequestAborted).ConfigureAwait(false);
        });
    }
}
