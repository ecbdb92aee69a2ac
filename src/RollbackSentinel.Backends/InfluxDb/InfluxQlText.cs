using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace RollbackSentinel.Backends.InfluxDb;

/// <summary>
/// What the adapter reads of an InfluxQL statement before sending it: that it is one <c>SELECT</c> with no <c>INTO</c>
/// (the statement is POSTed, and InfluxDB runs writes that come by POST), and where its <c>$timeFilter</c> placeholders
/// are. String literals, quoted identifiers, regular expressions and comments are skipped, so a <c>;</c> or a
/// <c>$timeFilter</c> inside <c>'...'</c> counts for nothing.
/// </summary>
internal static partial class InfluxQlText
{
    /// <summary>The placeholder (Grafana's) the adapter replaces with the evaluated window.</summary>
    public const string TimeFilter = "$timeFilter";

    /// <summary>What makes <paramref name="query"/> unfit as a rule's InfluxDB query, or null when it is fit.</summary>
    public static string? Problem(string query)
    {
        ArgumentNullException.ThrowIfNull(query);
        var code = Mask(query);
        if (string.IsNullOrWhiteSpace(code))
        {
            return "the query is empty";
        }

        var first = FirstWord().Match(code);
        if (!first.Success || !first.Value.Equals("SELECT", StringComparison.OrdinalIgnoreCase))
        {
            var found = first.Success ? $"'{first.Value}'" : $"'{code.TrimStart()[0]}'";
            return $"a rule's InfluxDB query must be one SELECT statement; this one starts with {found}";
        }

        // What guards the database is read on the raw text, not on the masked code: a mask that took a quote inside a
        // regex (SELECT /'/ FROM ...) for the start of a string would hide a second statement. So a ';' anywhere but at
        // the end, or the word INTO anywhere, even inside a literal, is refused: a rule has no need of either.
        var trimmed = query.TrimEnd().TrimEnd(';');
        var semicolon = trimmed.IndexOf(';', StringComparison.Ordinal);
        if (semicolon >= 0)
        {
            return $"the query holds a ';' at character {semicolon + 1}: a rule's InfluxDB query must be one SELECT statement, and may not hold ';' even inside a string or regex";
        }

        if (Into().Match(query) is { Success: true } into)
        {
            return $"the query holds INTO (at character {into.Index + 1}): SELECT ... INTO writes points, and a rule's InfluxDB query only reads (INTO is refused even inside a string or regex)";
        }

        return TimeFilterPlaceholder().IsMatch(code)
            ? null
            : $"the query has no {TimeFilter}: put it in the WHERE clause (WHERE \"app\" = 'checkout' AND {TimeFilter}) so InfluxDB reads "
                + "only the window being evaluated instead of all of time";
    }

    /// <summary>
    /// <paramref name="query"/> with each <see cref="TimeFilter"/> replaced by <c>(time &gt; {from}ms AND time &lt;= {to}ms)</c>,
    /// the window (from, to] in epoch milliseconds.
    /// </summary>
    /// <summary>
    /// The width of the query's <c>GROUP BY time(...)</c> buckets, or null when it has none (raw points). InfluxDB labels a
    /// bucket with its start, so the bucket's value is only complete at start + width.
    /// </summary>
    public static TimeSpan? BucketWidth(string query)
    {
        ArgumentNullException.ThrowIfNull(query);
        var match = GroupByTime().Match(query);
        if (!match.Success || !long.TryParse(match.Groups[1].ValueSpan, out var n))
        {
            return null;
        }

        return match.Groups[2].Value.ToLowerInvariant() switch
        {
            "ns" => TimeSpan.FromTicks(n / 100),
            "u" or "µ" => TimeSpan.FromTicks(n * 10),
            "ms" => TimeSpan.FromMilliseconds(n),
            "s" => TimeSpan.FromSeconds(n),
            "m" => TimeSpan.FromMinutes(n),
            "h" => TimeSpan.FromHours(n),
            "d" => TimeSpan.FromDays(n),
            "w" => TimeSpan.FromDays(7 * n),
            _ => null,
        };
    }

    public static string WithTimeFilter(string query, long fromMs, long toMs)
    {
        ArgumentNullException.ThrowIfNull(query);
        var code = Mask(query);
        var filter = string.Create(CultureInfo.InvariantCulture, $"(time > {fromMs}ms AND time <= {toMs}ms)");
        var sb = new StringBuilder(query.Length + 32);
        var at = 0;
        foreach (Match m in TimeFilterPlaceholder().Matches(code))
        {
            sb.Append(query, at, m.Index - at).Append(filter);
            at = m.Index + m.Length;
        }

        sb.Append(query, at, query.Length - at);
        return sb.ToString();
    }

    /// <summary>
    /// The statement with every literal character (strings, quoted identifiers, regular expressions) replaced by '~' and
    /// every comment by spaces, at the same offsets: what is left is the statement's own keywords and punctuation.
    /// </summary>
    internal static string Mask(string query)
    {
        var masked = query.ToCharArray();
        var i = 0;
        while (i < query.Length)
        {
            var c = query[i];
            if (c is '\'' or '"' || (c == '/' && RegexMayStart(masked, i)))
            {
                // A literal runs to the same unescaped quote (or slash); an unclosed one runs to the end, which InfluxDB refuses.
                masked[i] = '~';
                var j = i + 1;
                while (j < query.Length && query[j] != c)
                {
                    if (query[j] == '\\' && j + 1 < query.Length)
                    {
                        masked[j++] = '~';
                    }

                    masked[j++] = '~';
                }

                if (j < query.Length)
                {
                    masked[j++] = '~';
                }

                i = j;
            }
            else if (c == '-' && i + 1 < query.Length && query[i + 1] == '-')
            {
                while (i < query.Length && query[i] != '\n')
                {
                    masked[i++] = ' ';
                }
            }
            else if (c == '/' && i + 1 < query.Length && query[i + 1] == '*')
            {
                var end = query.IndexOf("*/", i + 2, StringComparison.Ordinal);
                end = end < 0 ? query.Length : end + 2;
                while (i < end)
                {
                    masked[i++] = ' ';
                }
            }
            else
            {
                i++;
            }
        }

        return new string(masked);
    }

    /// <summary>A '/' starts a regular expression after =~ or !~ and as a measurement after FROM; elsewhere it divides.</summary>
    private static bool RegexMayStart(char[] masked, int at)
    {
        if (at + 1 < masked.Length && masked[at + 1] == '*')
        {
            return false;
        }

        var before = new string(masked, 0, at).TrimEnd();
        return before.EndsWith("=~", StringComparison.Ordinal)
            || before.EndsWith("!~", StringComparison.Ordinal)
            || PrecededByFrom().IsMatch(before);
    }

    [GeneratedRegex(@"GROUP\s+BY\b[^;]*?\btime\s*\(\s*(\d+)\s*(ns|ms|u|µ|s|m|h|d|w)\s*[,)]", RegexOptions.IgnoreCase)]
    private static partial Regex GroupByTime();

    [GeneratedRegex(@"^\s*[A-Za-z_]+")]
    private static partial Regex FirstWord();

    [GeneratedRegex(@"(?<![A-Za-z0-9_])INTO(?![A-Za-z0-9_])", RegexOptions.IgnoreCase)]
    private static partial Regex Into();

    [GeneratedRegex(@"\$timeFilter(?![A-Za-z0-9_])")]
    private static partial Regex TimeFilterPlaceholder();

    [GeneratedRegex(@"((?<![A-Za-z0-9_])FROM|,)$", RegexOptions.IgnoreCase)]
    private static partial Regex PrecededByFrom();
}
