using System.Text;
using RollbackSentinel.Core.Metrics;

namespace RollbackSentinel.Core.RuleTests;

/// <summary>
/// One series of a rule test's input, as promtool writes it: <c>metric{label="value", ...}</c> (or
/// <c>{__name__="metric", ...}</c>). Values are quoted with <c>"</c>, <c>'</c> or <c>`</c>, with the escapes <c>\\</c>,
/// <c>\"</c>, <c>\'</c>, <c>\n</c> and <c>\t</c>. Pure.
/// </summary>
public sealed record SeriesName(string Metric, LabelSet Labels)
{
    /// <summary>The metric name and the labels, sorted, as evidence prints label sets: <c>http_requests_total{app="checkout", code="500"}</c>.</summary>
    public override string ToString() => Metric + (Labels.IsEmpty ? string.Empty : Labels.ToString());

    /// <summary>The series as Prometheus stores it: a label with an empty value is no label (<c>up{a=""}</c> is <c>up</c>).</summary>
    public SeriesName Stored => Labels.Any(l => l.Value.Length == 0) ? this with { Labels = LabelSet.From(Labels.Where(l => l.Value.Length > 0)) } : this;

    /// <summary>Reads <paramref name="text"/>; on an error, <paramref name="error"/> says what and where (0-based offset).</summary>
    public static bool TryParse(string text, out SeriesName? name, out NotationError? error)
    {
        ArgumentNullException.ThrowIfNull(text);
        name = null;
        error = null;
        var r = new Reader(text);
        r.SkipSpaces();
        var metric = r.Identifier(metricName: true);
        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        r.SkipSpaces();
        if (r.TryTake('{'))
        {
            while (true)
            {
                r.SkipSpaces();
                if (r.TryTake('}'))
                {
                    break;
                }

                var at = r.Position;
                var label = r.Identifier(metricName: false);
                if (label is null)
                {
                    return Fail(r, out error, "expected a label name or '}'");
                }

                r.SkipSpaces();
                if (!r.TryTake('='))
                {
                    return Fail(r, out error, $"expected '=' after the label name '{label}' (a series names exact values: no !=, =~ or !~)");
                }

                r.SkipSpaces();
                if (r.QuotedString() is not { } value)
                {
                    return Fail(r, out error, $"expected the quoted value of '{label}'");
                }

                if (label == "__name__")
                {
                    if (metric is not null)
                    {
                        return Fail(at, label.Length, out error, "the metric name is given twice");
                    }

                    metric = value;
                }
                else if (label.StartsWith("__", StringComparison.Ordinal))
                {
                    return Fail(at, label.Length, out error, $"'{label}': label names starting with __ are reserved to Prometheus");
                }
                else if (!labels.TryAdd(label, value))
                {
                    return Fail(at, label.Length, out error, $"the label '{label}' is given twice");
                }

                r.SkipSpaces();
                if (r.TryTake(','))
                {
                    continue;
                }

                if (r.TryTake('}'))
                {
                    break;
                }

                return Fail(r, out error, "expected ',' or '}'");
            }
        }

        r.SkipSpaces();
        if (!r.AtEnd)
        {
            return Fail(r, out error, "unexpected text after the series");
        }

        if (metric is null || !IsMetricName(metric))
        {
            return Fail(0, text.Length, out error, metric is null ? "a series needs a metric name: metric{label=\"value\"}" : $"'{metric}' is not a valid metric name");
        }

        name = new SeriesName(metric, LabelSet.From(labels));
        return true;
    }

    private static bool IsMetricName(string s) =>
        s.Length > 0 && (char.IsAsciiLetter(s[0]) || s[0] is '_' or ':') && s.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or ':');

    private static bool Fail(Reader r, out NotationError error, string message) => Fail(r.Position, 1, out error, message);

    private static bool Fail(int offset, int length, out NotationError error, string message)
    {
        error = new NotationError(offset, length, message);
        return false;
    }

    private sealed class Reader(string text)
    {
        public int Position { get; private set; }

        public bool AtEnd => Position >= text.Length;

        public void SkipSpaces()
        {
            while (!AtEnd && char.IsWhiteSpace(text[Position]))
            {
                Position++;
            }
        }

        public bool TryTake(char c)
        {
            if (AtEnd || text[Position] != c)
            {
                return false;
            }

            Position++;
            return true;
        }

        public string? Identifier(bool metricName)
        {
            var start = Position;
            while (!AtEnd && (char.IsAsciiLetter(text[Position]) || text[Position] == '_' || (metricName && text[Position] == ':') || (Position > start && char.IsAsciiDigit(text[Position]))))
            {
                Position++;
            }

            return Position > start ? text[start..Position] : null;
        }

        public string? QuotedString()
        {
            if (AtEnd || text[Position] is not ('"' or '\'' or '`'))
            {
                return null;
            }

            var quote = text[Position++];
            var sb = new StringBuilder();
            while (!AtEnd)
            {
                var c = text[Position++];
                if (c == quote)
                {
                    return sb.ToString();
                }

                if (c == '\\' && quote != '`' && !AtEnd)
                {
                    var e = text[Position++];
                    sb.Append(e switch { 'n' => '\n', 't' => '\t', _ => e });
                    continue;
                }

                sb.Append(c);
            }

            return null;
        }
    }
}
