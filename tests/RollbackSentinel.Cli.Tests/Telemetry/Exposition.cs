using Microsoft.Extensions.DependencyInjection;
using RollbackSentinel.Telemetry;

namespace RollbackSentinel.Cli.Tests.Telemetry;

/// <summary>What <c>/metrics</c> would serve now, from a container wired by <c>AddSentinelTelemetry</c>.</summary>
internal static class Exposition
{
    public static string Collect(IServiceProvider services) => services.GetRequiredService<PrometheusExporter>().Collect();
}
