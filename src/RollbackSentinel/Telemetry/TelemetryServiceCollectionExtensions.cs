using Microsoft.Extensions.DependencyInjection.Extensions;

namespace RollbackSentinel.Telemetry;

public static class TelemetryServiceCollectionExtensions
{
    /// <summary>
    /// Registers <see cref="SentinelMetrics"/>, whose prometheus-net registry is this container's own (not the library's
    /// static default). Serve it with <c>app.MapPrometheusMetrics()</c>.
    /// </summary>
    public static IServiceCollection AddSentinelTelemetry(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.TryAddSingleton(static sp => new SentinelMetrics(sp.GetService<ILogger<SentinelMetrics>>()));
        return services;
    }
}
