using System.Text.RegularExpressions;

namespace RollbackSentinel.Rules;

/// <summary>
/// Which labels the series of a PromQL expression can carry, when the expression's shape says so for certain:
/// an aggregation without <c>by</c> has none, <c>sum by (a, b)</c> has at most a and b, <c>histogram_quantile</c>
/// drops <c>le</c>. Anything it does not fully understand is "unknown" (null), so it never reports a label that a
/// query could in fact produce.
/// </summary>
public static partial class PromQlLabels
{
    private static readonly HashSet<string> Aggregations = ["sum", "avg", "min", "max", "count", "stddev", "stdvar", "group", "quantile"];

    // Functions whose result keeps the labels of their first argument (the metric name aside).
    private static readonly HashSet<string> KeepFirstArgument =
        ["abs", "ceil", "floor", "round", "exp", "ln", "log2", "log10", "sqrt", "sgn", "clamp", "clamp_min", "clamp_max"];

    private static readonly HashSet<string> Modifiers = ["on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool", "offset", "@"];

    // Longer queries are not analysed: the analysis re-reads the text per bracket and per operator, and a real
    // guard's query is a few hundred characters; a 1 MiB rule file of '(' must not freeze the loader.
    private const int MaxQueryLength = 8 * 1024;

    /// <summary>The labels the result can have at most, or null when that cannot be told for certain.</summary>
    public static IReadOnlySet<string>? AtMost(string query)
    {
        ArgumentNullException.ThrowIfNull(query);
        if (query.Length > MaxQueryLength)
        {
            return null;
        }

        try
        {
            return Analyze(query, 0) is { IsScalar: false } r ? r.Labels : null;
        }
        catch (FormatException)
        {
            return null;
        }
    }

    private sealed record Bound(IReadOnlySet<string>? Labels, bool IsScalar);

    private static readonly Bound Unknown = new(null, false);

    private static Bound Analyze(string expr, int depth)
    {
        expr = expr.Trim();
        if (depth > 32 || expr.Length == 0 || expr.Contains('#', StringComparison.Ordinal))
        {
            return Unknown;
        }

        while (expr.StartsWith('(') && Matching(expr, 0) == expr.Length - 1)
        {
            expr = expr[1..^1].Trim();
            if (++depth > 32)
            {
                return Unknown;
            }
        }

        if (double.TryParse(expr, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out _))
        {
            return new Bound(new HashSet<string>(), IsScalar: true);
        }

        var operands = SplitTopLevel(expr);
        if (operands.Count > 1)
        {
            // One-to-one matching without modifiers pairs series with equal label sets: the result has at most
            // the labels every vector operand has.
            HashSet<string>? common = null;
            foreach (var operand in operands)
            {
                var words = Words().Matches(operand).Select(m => m.Value);
                if (words.Any(Modifiers.Contains))
                {
                    return Unknown;
                }

                var b = Analyze(operand, depth + 1);
                if (b.IsScalar)
                {
                    continue;
                }

                if (b.Labels is null)
                {
                    return Unknown;
                }

                common = common is null ? [.. b.Labels] : [.. common.Intersect(b.Labels)];
            }

            return common is null ? new Bound(new HashSet<string>(), IsScalar: true) : new Bound(common, false);
        }

        var call = Call().Match(expr);
        if (!call.Success)
        {
            return Unknown;
        }

        var name = call.Groups["name"].Value;
        var open = call.Groups["open"].Index;
        var close = Matching(expr, open);
        var rest = expr[(close + 1)..].Trim();
        var args = SplitArguments(expr[(open + 1)..close]);
        var leading = call.Groups["mod"].Success ? (call.Groups["mod"].Value, call.Groups["labels"].Value) : ((string, string)?)null;
        var trailing = TrailingModifier().Match(rest);
        if (rest.Length > 0 && !trailing.Success)
        {
            return Unknown;
        }

        if (Aggregations.Contains(name))
        {
            var modifier = leading ?? (trailing.Success ? (trailing.Groups["mod"].Value, trailing.Groups["labels"].Value) : null);
            return modifier switch
            {
                null => new Bound(new HashSet<string>(), false),
                // Prometheus 3 allows quoted (UTF-8) label names: not compared here.
                ("by", var labels) when labels.IndexOfAny(['"', '\'', '`']) < 0 => new Bound(labels.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToHashSet(StringComparer.Ordinal), false),
                _ => Unknown,
            };
        }

        if (leading is not null || rest.Length > 0)
        {
            return Unknown;
        }

        return name switch
        {
            "scalar" or "time" => new Bound(new HashSet<string>(), IsScalar: true),
            "vector" => new Bound(new HashSet<string>(), false),
            "histogram_quantile" when args.Count == 2 => Analyze(args[1], depth + 1) is { Labels: { } l, IsScalar: false } ? new Bound(l.Where(x => x != "le").ToHashSet(), false) : Unknown,
            _ when KeepFirstArgument.Contains(name) && args.Count >= 1 => Analyze(args[0], depth + 1),
            _ => Unknown,
        };
    }

    /// <summary>Where the bracket at <paramref name="open"/> closes (strings skipped); throws if it never does.</summary>
    private static int Matching(string s, int open)
    {
        var depth = 0;
        for (var i = open; i < s.Length; i++)
        {
            switch (s[i])
            {
                case '"' or '\'' or '`':
                    i = SkipString(s, i);
                    break;
                case '(' or '[' or '{':
                    depth++;
                    break;
                case ')' or ']' or '}':
                    if (--depth == 0)
                    {
                        return i;
                    }

                    break;
            }
        }

        throw new FormatException("unbalanced");
    }

    private static int SkipString(string s, int start)
    {
        for (var i = start + 1; i < s.Length; i++)
        {
            if (s[i] == '\\' && s[start] != '`')
            {
                i++;
            }
            else if (s[i] == s[start])
            {
                return i;
            }
        }

        throw new FormatException("unclosed string");
    }

    /// <summary>Splits at binary operators outside brackets and strings; a single element when there is none.</summary>
    private static List<string> SplitTopLevel(string s)
    {
        var parts = new List<string>();
        var start = 0;
        for (var i = 0; i < s.Length; i++)
        {
            var c = s[i];
            if (c is '"' or '\'' or '`')
            {
                i = SkipString(s, i);
            }
            else if (c is '(' or '[' or '{')
            {
                i = Matching(s, i);
            }
            else if (c is '+' or '-' or '*' or '/' or '%' or '^' or '=' or '!' or '<' or '>')
            {
                // A sign or an exponent's sign is not an operator: it follows nothing, another operator, or 'e' in a number.
                var before = s[start..i].TrimEnd();
                if (c is '+' or '-' && (before.Length == 0 || "+-*/%^=!<>(,".Contains(before[^1], StringComparison.Ordinal) || ExponentEnd().IsMatch(before)))
                {
                    continue;
                }

                parts.Add(s[start..i]);
                while (i + 1 < s.Length && s[i + 1] is '=' or '~')
                {
                    i++;
                }

                start = i + 1;
            }
        }

        parts.Add(s[start..]);
        return parts;
    }

    private static List<string> SplitArguments(string s)
    {
        var args = new List<string>();
        var start = 0;
        for (var i = 0; i < s.Length; i++)
        {
            if (s[i] is '"' or '\'' or '`')
            {
                i = SkipString(s, i);
            }
            else if (s[i] is '(' or '[' or '{')
            {
                i = Matching(s, i);
            }
            else if (s[i] == ',')
            {
                args.Add(s[start..i]);
                start = i + 1;
            }
        }

        args.Add(s[start..]);
        return args;
    }

    [GeneratedRegex(@"^(?<name>[a-zA-Z_][a-zA-Z0-9_]*)\s*(?:(?<mod>by|without)\s*\((?<labels>[^()]*)\)\s*)?(?<open>\()")]
    private static partial Regex Call();

    [GeneratedRegex(@"^(?<mod>by|without)\s*\((?<labels>[^()]*)\)$")]
    private static partial Regex TrailingModifier();

    [GeneratedRegex(@"[0-9.][eE]$")]
    private static partial Regex ExponentEnd();

    [GeneratedRegex(@"[a-zA-Z_@][a-zA-Z0-9_]*")]
    private static partial Regex Words();
}
