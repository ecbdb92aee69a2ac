namespace RollbackSentinel.Web.Plots;

/// <summary>Draws a <see cref="TriggerPlot"/> as an inline, accessible SVG element.</summary>
/// <remarks>
/// The markup is a contract the page code and browser tests rely on (classes, <c>data-*</c> attributes, ids); style it
/// with <see cref="PlotStyles.Css"/>. Output is deterministic: the same plot gives the same string.
/// </remarks>
public static class SvgPlot
{
    /// <summary>The id prefix when none is given: <c>plot-title</c>, <c>plot-desc</c>.</summary>
    public const string DefaultIdPrefix = "plot";

    /// <summary>The <c>&lt;svg&gt;</c> element (no XML declaration), ready to put in an HTML page.</summary>
    public static string Render(TriggerPlot plot, PlotSize? size = null) => Render(plot, size, DefaultIdPrefix);

    /// <summary>
    /// As <see cref="Render(TriggerPlot, PlotSize?)"/>, with the element ids (<c>{idPrefix}-title</c>,
    /// <c>{idPrefix}-desc</c>) made from <paramref name="idPrefix"/>, for more than one plot on a page. Characters other
    /// than ASCII letters, digits, '-' and '_' become '-'; a prefix not starting with a letter gets "p-" in front.
    /// </summary>
    public static string Render(TriggerPlot plot, PlotSize? size, string idPrefix)
    {
        ArgumentNullException.ThrowIfNull(plot);
        size ??= PlotSize.Default;
        ArgumentOutOfRangeException.ThrowIfLessThan(size.Width, PlotRenderer.MinWidth, nameof(size));
        ArgumentOutOfRangeException.ThrowIfLessThan(size.Height, PlotRenderer.MinHeight, nameof(size));
        return new PlotRenderer(plot, size, IdPrefix(idPrefix)).Render();
    }

    internal static string IdPrefix(string? prefix)
    {
        if (string.IsNullOrEmpty(prefix))
        {
            return DefaultIdPrefix;
        }

        var chars = new char[prefix.Length];
        for (var i = 0; i < prefix.Length; i++)
        {
            var c = prefix[i];
            chars[i] = char.IsAsciiLetterOrDigit(c) || c is '-' or '_' ? c : '-';
        }

        var id = new string(chars);
        return char.IsAsciiLetter(id[0]) ? id : "p-" + id;
    }
}
