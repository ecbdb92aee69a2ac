using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Core.State;

namespace RollbackSentinel.Telemetry;

/// <summary>
/// Where one trigger stands for one series, as the per-trigger gauges expose it. The series' labels are
/// written as one <c>series</c> label (<c>series="{app=\"checkout\"}"</c>): a trigger's own labels vary by
/// policy, and a fixed label set keeps every gauge one family.
/// </summary>
public sealed record TriggerSnapshot(string Policy, string Trigger, LabelSet Series, TriggerPhase Phase)
{
    /// <summary>The value last compared; no sample when null.</summary>
    public double? Value { get; init; }

    /// <summary>The effective threshold last compared against; no sample when null.</summary>
    public double? Threshold { get; init; }

    /// <summary>The baseline last used; no sample when null (most triggers have none).</summary>
    public double? Baseline { get; init; }
}
