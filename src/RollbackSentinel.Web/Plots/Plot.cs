namespace RollbackSentinel.Web.Plots;

/// <summary>
/// One trigger over a window, as a plot: a line per label set (its value, and its threshold and baseline where it has
/// them), the spans where it breached shaded, and markers for what happened (changes, decisions, incidents).
/// </summary>
public sealed record TriggerPlot
{
    /// <summary>The trigger's name, the plot's title.</summary>
    public required string Title { get; init; }

    /// <summary>What the value is ("error ratio", "p99 latency (s)"), for the y axis and the text description.</summary>
    public string ValueLabel { get; init; } = "value";

    public required DateTimeOffset From { get; init; }

    public required DateTimeOffset To { get; init; }

    /// <summary>One line per label set, in the order given.</summary>
    public IReadOnlyList<PlotSeries> Series { get; init; } = [];

    /// <summary>Changes, decisions and incidents in the window, drawn as vertical markers.</summary>
    public IReadOnlyList<PlotMarker> Markers { get; init; } = [];
}

/// <summary>One label set's samples, oldest first.</summary>
/// <param name="Label">The label set as text (<c>{version="v2"}</c>), or "" for a trigger with one unlabelled series.</param>
public sealed record PlotSeries(string Label, IReadOnlyList<PlotSample> Samples);

/// <summary>
/// One evaluation of one label set. <paramref name="Value"/> null or not finite is a gap: no line is drawn across it.
/// <paramref name="Threshold"/> and <paramref name="Baseline"/> are what the value was compared with at that time (null
/// when the evaluation had none). <paramref name="Breach"/> marks a breaching verdict; consecutive breaching samples make
/// one shaded span, from the first breaching sample to the next sample that is not (or the last sample).
/// </summary>
public sealed record PlotSample(DateTimeOffset At, double? Value, double? Threshold = null, double? Baseline = null, bool Breach = false);

public enum MarkerKind
{
    /// <summary>A deploy, migration step or other change.</summary>
    Change,

    /// <summary>What the sentinel decided: fired, rolled back, asked, suppressed.</summary>
    Decision,

    /// <summary>An incident opened (links to its page).</summary>
    Incident,
}

/// <summary>A vertical marker with its text, shown on hover and on keyboard focus; <paramref name="Href"/> makes it a link.</summary>
public sealed record PlotMarker(DateTimeOffset At, MarkerKind Kind, string Text, string? Href = null);

/// <summary>How big to draw a plot, in SVG user units (the SVG scales to its container's width).</summary>
public sealed record PlotSize(int Width = 800, int Height = 240)
{
    public static PlotSize Default { get; } = new();
}
