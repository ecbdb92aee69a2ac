namespace RollbackSentinel.Web.Plots;

/// <summary>Draws a <see cref="TriggerPlot"/> as an inline, accessible SVG element.</summary>
public static class SvgPlot
{
    /// <summary>The <c>&lt;svg&gt;</c> element (no XML declaration), ready to put in an HTML page.</summary>
    public static string Render(TriggerPlot plot, PlotSize? size = null) => Render(plot, size, "plot");

    public static string Render(TriggerPlot plot, PlotSize? size, string idPrefix)
    {
        ArgumentNullException.ThrowIfNull(plot);
        throw new NotImplementedException("being written");
    }
}
