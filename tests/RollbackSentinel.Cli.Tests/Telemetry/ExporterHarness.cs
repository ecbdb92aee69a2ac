using System.Diagnostics.Metrics;
using RollbackSentinel.Telemetry;

namespace RollbackSentinel.Cli.Tests.Telemetry;

/// <summary>
/// A meter with a name no other test uses, and an exporter for it: tests run in parallel and a
/// <see cref="MeterListener"/> sees every meter in the process.
/// </summary>
internal sealed class ExporterHarness : IDisposable
{
    public ExporterHarness(int maxSeriesPerInstrument = PrometheusExporterOptions.DefaultMaxSeriesPerInstrument)
    {
        Meter = new Meter("test." + Guid.NewGuid().ToString("N"));
        Exporter = new PrometheusExporter(new PrometheusExporterOptions
        {
            MeterNames = [Meter.Name],
            MaxSeriesPerInstrument = maxSeriesPerInstrument,
        });
    }

    public Meter Meter { get; }

    public PrometheusExporter Exporter { get; }

    public string Collect() => Exporter.Collect();

    public void Dispose()
    {
        Exporter.Dispose();
        Meter.Dispose();
    }

    /// <summary>Exposition lines joined with line feeds, each line ended by one, as the format wants.</summary>
    public static string Text(params string[] lines) => string.Concat(lines.Select(l => l + "\n"));
}
