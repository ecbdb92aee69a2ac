using System.Diagnostics.CodeAnalysis;
using System.Text;
using System.Text.RegularExpressions;
using RollbackSentinel.Core.Metrics;

namespace RollbackSentinel.Core.Policies;

/// <summary>
/// A string that may refer to the labels of the series that fired: <c>"{{ labels.deployment }}"</c>.
/// Only <c>labels.NAME</c> is supported: a template language that small cannot surprise anyone at 3 a.m.
/// </summary>
public sealed partial record Template
{
    private Template(string text, IReadOnlyList<string> labelNames)
    {
        Text = text;
        LabelNames = labelNames;
    }

    public string Text { get; }

    /// <summary>The label names the template refers to.</summary>
    public IReadOnlyList<string> LabelNames { get; }

    public bool IsConstant => LabelNames.Count == 0;

    public static bool TryParse(string text, [NotNullWhen(true)] out Template? template, [NotNullWhen(false)] out string? error)
    {
        ArgumentNullException.ThrowIfNull(text);
        var names = new List<string>();
        var pos = 0;
        while (true)
        {
            var open = text.IndexOf("{{", pos, StringComparison.Ordinal);
            var strayClose = text.IndexOf("}}", pos, StringComparison.Ordinal);
            if (strayClose >= 0 && (open < 0 || strayClose < open))
            {
                template = null;
                error = $"'}}}}' at position {strayClose + 1} has no matching '{{{{'";
                return false;
            }

            if (open < 0)
            {
                break;
            }

            var close = text.IndexOf("}}", open + 2, StringComparison.Ordinal);
            if (close < 0)
            {
                template = null;
                error = $"'{{{{' at position {open + 1} is not closed with '}}}}'";
                return false;
            }

            var expr = text[(open + 2)..close].Trim();
            var match = LabelReference().Match(expr);
            if (!match.Success)
            {
                template = null;
                error = $"'{{{{ {expr} }}}}' is not a label reference: write '{{{{ labels.NAME }}}}'";
                return false;
            }

            names.Add(match.Groups[1].Value);
            pos = close + 2;
        }

        template = new Template(text, names.Distinct(StringComparer.Ordinal).ToArray());
        error = null;
        return true;
    }

    public static Template Parse(string text) =>
        TryParse(text, out var t, out var error) ? t : throw new FormatException(error);

    /// <summary>Fills in the labels; a label the series lacks is an error, never an empty string that targets the wrong thing.</summary>
    public bool TryRender(LabelSet labels, [NotNullWhen(true)] out string? rendered, [NotNullWhen(false)] out string? error) =>
        TryRender(labels, null, out rendered, out error);

    /// <summary>
    /// Renders with each label value passed through <paramref name="encode"/> first (for example URL escaping, so a
    /// label value cannot add path segments, a query or another host to a URL).
    /// </summary>
    public bool TryRender(LabelSet labels, Func<string, string>? encode, [NotNullWhen(true)] out string? rendered, [NotNullWhen(false)] out string? error)
    {
        ArgumentNullException.ThrowIfNull(labels);
        if (IsConstant)
        {
            rendered = Text;
            error = null;
            return true;
        }

        var missing = LabelNames.Where(n => !labels.ContainsKey(n)).ToArray();
        if (missing.Length > 0)
        {
            rendered = null;
            error = $"template '{Text}' needs label(s) {string.Join(", ", missing)} but the series {labels} has none";
            return false;
        }

        var sb = new StringBuilder();
        var pos = 0;
        while (true)
        {
            var open = Text.IndexOf("{{", pos, StringComparison.Ordinal);
            if (open < 0)
            {
                sb.Append(Text, pos, Text.Length - pos);
                break;
            }

            var close = Text.IndexOf("}}", open + 2, StringComparison.Ordinal);
            sb.Append(Text, pos, open - pos);
            var name = LabelReference().Match(Text[(open + 2)..close].Trim()).Groups[1].Value;
            sb.Append(encode is null ? labels[name] : encode(labels[name]));
            pos = close + 2;
        }

        rendered = sb.ToString();
        error = null;
        return true;
    }

    public override string ToString() => Text;

    // LabelNames is derived from Text, so Text alone decides equality (the array would compare by reference).
    public bool Equals(Template? other) => other is not null && string.Equals(Text, other.Text, StringComparison.Ordinal);

    public override int GetHashCode() => StringComparer.Ordinal.GetHashCode(Text);

    [GeneratedRegex(@"^labels\.([a-zA-Z_][a-zA-Z0-9_]*)$")]
    private static partial Regex LabelReference();
}
