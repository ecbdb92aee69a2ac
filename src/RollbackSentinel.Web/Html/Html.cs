using System.Net;
using System.Text;
using RollbackSentinel.Core.Evaluation;

namespace RollbackSentinel.Web.Html;

/// <summary>
/// Builds an HTML document as text. Everything given as text is encoded (<see cref="Text"/>, attribute values); only
/// <see cref="Raw"/> takes markup, and only our own (an SVG plot, the layout).
/// </summary>
public sealed class Html
{
    private readonly StringBuilder _sb = new(8192);

    /// <summary>Text content, encoded.</summary>
    public Html Text(string? text)
    {
        _sb.Append(Encode(text));
        return this;
    }

    /// <summary>Markup we made ourselves.</summary>
    public Html Raw(string markup)
    {
        _sb.Append(markup);
        return this;
    }

    /// <summary><c>&lt;tag attr="value"...&gt;</c>: attributes as name/value pairs, a null value leaves the attribute out, "" writes it bare.</summary>
    public Html Open(string tag, params (string Name, string? Value)[] attributes)
    {
        _sb.Append('<').Append(tag);
        foreach (var (name, value) in attributes)
        {
            if (value is null)
            {
                continue;
            }

            _sb.Append(' ').Append(name);
            if (value.Length > 0)
            {
                _sb.Append("=\"").Append(Encode(value)).Append('"');
            }
        }

        _sb.Append('>');
        return this;
    }

    public Html Close(string tag)
    {
        _sb.Append("</").Append(tag).Append('>');
        return this;
    }

    /// <summary><c>&lt;tag ...&gt;text&lt;/tag&gt;</c> with the text encoded.</summary>
    public Html Element(string tag, string? text, params (string Name, string? Value)[] attributes) =>
        Open(tag, attributes).Text(text).Close(tag);

    public override string ToString() => _sb.ToString();

    /// <summary>Text or an attribute value, encoded for HTML (&lt; &gt; &amp; " ').</summary>
    public static string Encode(string? text) => WebUtility.HtmlEncode(text ?? string.Empty);

    /// <summary>A number as the verdicts' sentences and the CLI's tables write it (<see cref="TriggerEvaluator.Num"/>), "-" when none.</summary>
    public static string Number(double? value) => value is { } v ? TriggerEvaluator.Num(v) : "-";
}
