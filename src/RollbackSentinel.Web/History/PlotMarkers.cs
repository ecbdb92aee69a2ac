using RollbackSentinel.Core.Changes;
using RollbackSentinel.Core.Evaluation;
using RollbackSentinel.Core.State;
using RollbackSentinel.Web.Plots;

namespace RollbackSentinel.Web.History;

/// <summary>Markers for what happened on a plot, with the sentence people read on hover or focus.</summary>
public static class PlotMarkers
{
    /// <summary>"change v41 -> v42 by ci {version="v2"} at 10:03:00Z".</summary>
    public static PlotMarker Of(Change change)
    {
        ArgumentNullException.ThrowIfNull(change);
        var what = change.Revision is null && change.PreviousRevision is null ? change.Source.ToString().ToLowerInvariant() : change.What;
        var text = $"change {what}"
            + (change.By is { Length: > 0 } by ? $" by {by}" : string.Empty)
            + (change.Labels.IsEmpty ? string.Empty : $" {change.Labels}")
            + (change.Description is { Length: > 0 } d ? $": {d}" : string.Empty)
            + $" at {Rfc3339.Format(change.At)}";
        return new PlotMarker(change.At, MarkerKind.Change, text);
    }

    /// <summary>"rollback {version="v2"}: error ratio 0.08 > max 0.05 at ...".</summary>
    public static PlotMarker Of(Decision decision)
    {
        ArgumentNullException.ThrowIfNull(decision);
        var labels = decision.Labels.IsEmpty ? string.Empty : $" {decision.Labels}";
        return new PlotMarker(decision.At, MarkerKind.Decision, $"{Taken(decision)}{labels}: {decision.Verdict.Summary} at {Rfc3339.Format(decision.At)}");
    }

    /// <summary>What a decision took (<see cref="Decision.Taken"/>), "page (rollback disarmed)" for a disarmed rollback.</summary>
    public static string Taken(Decision decision)
    {
        ArgumentNullException.ThrowIfNull(decision);
        return decision.Taken + (decision.Kind == DecisionKind.Act && decision.Disarmed ? " (rollback disarmed)" : string.Empty);
    }
}
