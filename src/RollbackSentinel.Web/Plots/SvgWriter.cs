using System.Globalization;
using System.Text;

namespace RollbackSentinel.Web.Plots;

/// <summary>
/// Writes SVG markup: elements, attributes and text, every string XML-escaped, every number in the invariant culture.
/// A start tag stays open for attributes until content or <see cref="End"/> follows; an element with no content ends as
/// <c>&lt;x/&gt;</c>.
/// </summary>
internal sealed class SvgWriter
{
    private readonly StringBuilder _sb;
    private readonly Stack<string> _open = new();
    private bool _inStartTag;

    public SvgWriter(int capacity = 16 * 1024) => _sb = new StringBuilder(capacity);

    public SvgWriter Start(string name)
    {
        CloseStartTag();
        if (_sb.Length > 0)
        {
            _sb.Append('\n');
        }

        _sb.Append('<').Append(name);
        _open.Push(name);
        _inStartTag = true;
        return this;
    }

    public SvgWriter Attr(string name, string value)
    {
        _sb.Append(' ').Append(name).Append("=\"");
        Escape(_sb, value);
        _sb.Append('"');
        return this;
    }

    /// <summary>A coordinate or length: at most two decimals.</summary>
    public SvgWriter Attr(string name, double value)
    {
        _sb.Append(' ').Append(name).Append("=\"");
        AppendCoordinate(_sb, value);
        _sb.Append('"');
        return this;
    }

    public SvgWriter Text(string text)
    {
        CloseStartTag();
        Escape(_sb, text);
        return this;
    }

    public SvgWriter End()
    {
        var name = _open.Pop();
        if (_inStartTag)
        {
            _sb.Append("/>");
            _inStartTag = false;
        }
        else
        {
            _sb.Append("</").Append(name).Append('>');
        }

        return this;
    }

    /// <summary>An element holding only text: <c>&lt;title&gt;text&lt;/title&gt;</c>.</summary>
    public SvgWriter TextElement(string name, string text) => Start(name).Text(text).End();

    public override string ToString()
    {
        if (_open.Count != 0)
        {
            throw new InvalidOperationException($"<{_open.Peek()}> is not ended");
        }

        return _sb.ToString();
    }

    private void CloseStartTag()
    {
        if (_inStartTag)
        {
            _sb.Append('>');
            _inStartTag = false;
        }
    }

    /// <summary>Rounded to two decimals, no exponent, never "-0".</summary>
    internal static void AppendCoordinate(StringBuilder sb, double value)
    {
        // Hundredths as an integer: exact, and several times faster than a custom format string (a plot writes
        // thousands of these).
        var scaled = Math.Round(value * 100, MidpointRounding.AwayFromZero);
        if (!(Math.Abs(scaled) < 1e15))
        {
            // Not finite (or absurdly far off the plot) cannot happen for drawn points; 0 keeps the markup valid if it did.
            sb.Append('0');
            return;
        }

        var hundredths = (long)scaled;
        if (hundredths < 0)
        {
            sb.Append('-');
            hundredths = -hundredths;
        }

        sb.Append(hundredths / 100);
        var fraction = (int)(hundredths % 100);
        if (fraction != 0)
        {
            sb.Append('.').Append((char)('0' + (fraction / 10)));
            if (fraction % 10 != 0)
            {
                sb.Append((char)('0' + (fraction % 10)));
            }
        }
    }

    internal static string Coordinate(double value)
    {
        var sb = new StringBuilder(12);
        AppendCoordinate(sb, value);
        return sb.ToString();
    }

    /// <summary>
    /// Escapes markup characters and both quotes; characters XML cannot hold at all (controls other than tab, LF and
    /// CR, lone surrogates, U+FFFE/U+FFFF) become U+FFFD, so a hostile label can neither break out nor make the page's
    /// XML unparsable.
    /// </summary>
    internal static void Escape(StringBuilder sb, string text)
    {
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            switch (c)
            {
                case '&': sb.Append("&amp;"); break;
                case '<': sb.Append("&lt;"); break;
                case '>': sb.Append("&gt;"); break;
                case '"': sb.Append("&quot;"); break;
                case '\'': sb.Append("&#39;"); break;
                case '\t' or '\n' or '\r': sb.Append(c); break;
                case < ' ' or '\uFFFE' or '\uFFFF': sb.Append('\uFFFD'); break;
                default:
                    if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
                    {
                        sb.Append(c).Append(text[++i]);
                    }
                    else if (char.IsSurrogate(c))
                    {
                        sb.Append('\uFFFD');
                    }
                    else
                    {
                        sb.Append(c);
                    }

                    break;
            }
        }
    }
}

/// <summary>A path's <c>d</c> attribute, built command by command.</summary>
internal sealed class PathData
{
    private readonly StringBuilder _sb = new(256);

    public int Commands { get; private set; }

    public bool IsEmpty => _sb.Length == 0;

    public void MoveTo(double x, double y) => Point('M', x, y);

    public void LineTo(double x, double y) => Point('L', x, y);

    public void HorizontalTo(double x) => Single('H', x);

    public void VerticalTo(double y) => Single('V', y);

    public override string ToString() => _sb.ToString();

    private void Point(char command, double x, double y)
    {
        _sb.Append(command);
        SvgWriter.AppendCoordinate(_sb, x);
        _sb.Append(',');
        SvgWriter.AppendCoordinate(_sb, y);
        Commands++;
    }

    private void Single(char command, double value)
    {
        _sb.Append(command);
        SvgWriter.AppendCoordinate(_sb, value);
        Commands++;
    }
}
