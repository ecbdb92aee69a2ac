using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace RollbackSentinel.Telemetry;

public static class TelemetryServiceCollectionExtensions
{
    /// <summary>
    /// Registers <see cref="SentinelMetrics"/> and a <see cref="PrometheusExporter"/> for its meter, limited to
    /// meters of the container's <see cref="IMeterFactory"/>. Serve it with <c>app.MapPrometheusMetrics()</c>.
    /// </summary>
    public static IServiceCollection AddSentinelTelemetry(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddMetrics();
        services.TryAddSingleton(static sp => new PrometheusExporter(
            new PrometheusExporterOptions
            {
                MeterNames = [SentinelMetrics.MeterName],

                // Per-policy and per-trigger series: a central daemon with 1,000 policies of 4 triggers needs
                // ~16,000 verdict series, far above the exporter's default guard.
                MaxSeriesPerInstrument = 100_000,
                MeterScope = sp.GetRequiredService<IMeterFactory>(),
            },
            sp.GetService<ILogger<PrometheusExporter>>()));
        services.TryAddSingleton(static sp =>
        {
            // The exporter only sees what is recorded after it starts listening: create it first, so the
            // first evaluations are not lost when nothing has scraped yet.
            _ = sp.GetRequiredService<PrometheusExporter>();
            return new SentinelMetrics(sp.GetRequiredService<IMeterFactory>());
        });
        return services;
    }
}
