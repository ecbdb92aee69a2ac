using Microsoft.Extensions.DependencyInjection;
using Prometheus;
using RollbackSentinel.Telemetry;

namespace RollbackSentinel.Cli.Tests.Telemetry;

/// <summary>What <c>/metrics</c> would serve now: the text prometheus-net writes for a <see cref="SentinelMetrics"/>' registry.</summary>
internal static class Exposition
{
    /// <summary>The exposition of the <see cref="SentinelMetrics"/> of a container wired by <c>AddSentinelTelemetry</c>.</summary>
    public static string Collect(IServiceProvider services) => Collect(services.GetRequiredService<SentinelMetrics>());

    public static string Collect(SentinelMetrics metrics)
    {
        using var stream = new MemoryStream();

        // Into memory: nothing here waits, so the task is complete when it returns.
        metrics.Registry.CollectAndExportAsTextAsync(stream, ExpositionFormat.PrometheusText, CancellationToken.None).GetAwaiter().GetResult();
        return System.Text.Encoding.UTF8.GetString(stream.GetBuffer(), 0, (int)stream.Length);
    }

    /// <summary>Exposition lines joined with line feeds, each line ended by one, as the format wants.</summary>
    public static string Text(params string[] lines) => string.Concat(lines.Select(l => l + "\n"));
}
