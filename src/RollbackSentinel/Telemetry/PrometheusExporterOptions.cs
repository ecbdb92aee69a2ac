using System.ComponentModel.DataAnnotations;

namespace RollbackSentinel.Telemetry;

/// <summary>Which meters a <see cref="PrometheusExporter"/> exposes, and how much it may keep.</summary>
public sealed record PrometheusExporterOptions
{
    /// <summary>Tag sets kept per synchronous instrument before new ones go to the overflow series.</summary>
    public const int DefaultMaxSeriesPerInstrument = 2000;

    /// <summary>Names of the meters to export (<see cref="System.Diagnostics.Metrics.Meter.Name"/>), compared exactly.</summary>
    [Required]
    public IReadOnlyCollection<string> MeterNames { get; init; } = [];

    /// <summary>
    /// When set, only meters with this <see cref="System.Diagnostics.Metrics.Meter.Scope"/> are exported, e.g.
    /// the host's <see cref="System.Diagnostics.Metrics.IMeterFactory"/>: another component (or a test running
    /// in parallel) that creates a meter of the same name elsewhere then does not leak into this exposition.
    /// </summary>
    public object? MeterScope { get; init; }

    /// <summary>
    /// Bounds memory when a tag takes unbounded values. Once an instrument has this many tag sets, measurements
    /// with new tag sets are added to one series labelled <c>otel_metric_overflow="true"</c> (and a warning is
    /// logged once). Observable instruments are not limited: they keep nothing between scrapes.
    /// </summary>
    [Range(1, int.MaxValue)]
    public int MaxSeriesPerInstrument { get; init; } = DefaultMaxSeriesPerInstrument;

    /// <summary>Every problem with these options, empty when they are usable.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (MeterNames is null || MeterNames.Count == 0)
        {
            errors.Add("MeterNames must name at least one meter.");
        }
        else if (MeterNames.Any(string.IsNullOrWhiteSpace))
        {
            errors.Add("MeterNames must not contain empty names.");
        }

        if (MaxSeriesPerInstrument < 1)
        {
            errors.Add($"MaxSeriesPerInstrument must be at least 1; got {MaxSeriesPerInstrument}.");
        }

        return errors;
    }
}
