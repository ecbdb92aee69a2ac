namespace RollbackSentinel.Web.Plots;

/// <summary>The CSS for <see cref="SvgPlot"/>'s classes (placeholder until the plotting code lands).</summary>
public static class PlotStyles
{
    public static string Css => string.Empty;
}
