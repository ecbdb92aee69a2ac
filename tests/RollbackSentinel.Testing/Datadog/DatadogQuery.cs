using System.Globalization;

namespace RollbackSentinel.Testing.Datadog;

/// <summary>
/// The subset of Datadog's metrics query language the emulator evaluates:
/// <code>
/// query    = term [ "/" term ]
/// term     = aggr ":" metric "{" scope "}" [ "by" "{" tagkey { "," tagkey } "}" ] { "." ( "as_count" | "as_rate" ) "()" }
/// aggr     = "sum" | "avg" | "min" | "max"
/// scope    = "*" | tag { "," tag }        (a tag is key:value or a bare tag; all must match)
/// </code>
/// Not supported (answered as a parse error): negated or wildcard tags, OR/AND/IN in scopes, functions
/// (<c>abs()</c>, <c>top()</c>), <c>.rollup()</c>, <c>.fill()</c>, arithmetic other than one division.
/// A group-by key a series lacks puts it in the group <c>key:N/A</c>, as Datadog does.
/// </summary>
internal sealed class DatadogQuery
{
    private static readonly string[] Aggregators = ["sum", "avg", "min", "max"];

    private readonly List<Term> _terms;

    private DatadogQuery(List<Term> terms) => _terms = terms;

    public string Aggregator => _terms[0].Aggregator;

    /// <summary>The metric Datadog names a series by: the metric, or the expression of a division.</summary>
    public string MetricName => _terms.Count == 1 ? _terms[0].Metric : string.Join(" / ", _terms.Select(t => t.Metric));

    public IReadOnlyList<string> ScopeTags => _terms[0].Scope;

    public IReadOnlyList<string> GroupBy => _terms[0].GroupBy;

    public static DatadogQuery Parse(string text)
    {
        var parser = new Parser(text);
        var terms = new List<Term> { parser.Term() };
        parser.SkipSpaces();
        if (parser.TryTake('/'))
        {
            parser.SkipSpaces();
            terms.Add(parser.Term());
            if (!terms[0].GroupBy.SequenceEqual(terms[1].GroupBy))
            {
                throw new FormatException("both sides of '/' must be grouped by the same tags");
            }
        }

        parser.SkipSpaces();
        parser.ExpectEnd();
        return new DatadogQuery(terms);
    }

    /// <summary>What a series of group <paramref name="tagSet"/> is named in <c>expression</c>.</summary>
    public string Expression(IReadOnlyList<string> tagSet) =>
        string.Join(" / ", _terms.Select(t => $"{t.Aggregator}:{t.Metric}{{{string.Join(",", t.Scope.Concat(tagSet).DefaultIfEmpty("*"))}}}"));

    /// <summary>Each group's tag set and points (Unix ms, value or null) in [fromMs, toMs].</summary>
    internal List<(string[] TagSet, List<(long Ms, double? Value)> Points)> Evaluate(IEnumerable<StoredSeries> stored, long fromMs, long toMs)
    {
        var all = stored.ToList();
        var left = _terms[0].Evaluate(all, fromMs, toMs);
        if (_terms.Count == 1)
        {
            return [.. left.Select(g => (g.Key.Split('\n', StringSplitOptions.RemoveEmptyEntries), g.Value.Select(p => (p.Key, p.Value)).ToList()))];
        }

        var right = _terms[1].Evaluate(all, fromMs, toMs);
        var result = new List<(string[], List<(long, double?)>)>();
        foreach (var (group, numerator) in left)
        {
            if (!right.TryGetValue(group, out var denominator))
            {
                continue;
            }

            var points = numerator.Keys.Intersect(denominator.Keys).Order()
                .Select(ms => (ms, numerator[ms] is { } n && denominator[ms] is { } d && d != 0 ? n / d : (double?)null))
                .ToList();
            result.Add((group.Split('\n', StringSplitOptions.RemoveEmptyEntries), points));
        }

        return result;
    }

    private sealed record Term(string Aggregator, string Metric, List<string> Scope, List<string> GroupBy)
    {
        /// <summary>Groups keyed by their tag set joined with '\n', each with its aggregated points.</summary>
        public SortedDictionary<string, SortedDictionary<long, double?>> Evaluate(List<StoredSeries> stored, long fromMs, long toMs)
        {
            var members = new Dictionary<string, List<StoredSeries>>(StringComparer.Ordinal);
            foreach (var series in stored.Where(s => s.Metric == Metric && Scope.All(s.Tags.Contains)))
            {
                var group = string.Join('\n', GroupBy.Select(key =>
                    series.Tags.FirstOrDefault(t => t.StartsWith(key + ":", StringComparison.Ordinal)) ?? key + ":N/A"));
                if (!members.TryGetValue(group, out var list))
                {
                    members[group] = list = [];
                }

                list.Add(series);
            }

            var groups = new SortedDictionary<string, SortedDictionary<long, double?>>(StringComparer.Ordinal);
            foreach (var (group, list) in members)
            {
                var points = new SortedDictionary<long, double?>();
                foreach (var ms in list.SelectMany(s => s.Points.Keys).Where(ms => ms >= fromMs && ms <= toMs).Distinct())
                {
                    var values = list.Select(s => s.Points.TryGetValue(ms, out var v) ? v : null).OfType<double>().ToList();
                    points[ms] = values.Count == 0 ? null : Aggregator switch
                    {
                        "sum" => values.Sum(),
                        "avg" => values.Average(),
                        "min" => values.Min(),
                        _ => values.Max(),
                    };
                }

                if (points.Count > 0)
                {
                    groups[group] = points;
                }
            }

            return groups;
        }
    }

    /// <summary>A recursive-descent parser whose errors read like Datadog's: the rule, the rest of the text, the column.</summary>
    private sealed class Parser(string text)
    {
        private int _at;

        public Term Term()
        {
            var aggregator = Word("aggregator", char.IsAsciiLetterLower);
            if (!Aggregators.Contains(aggregator))
            {
                throw Fail("aggregator", _at - aggregator.Length);
            }

            Expect(':', "metric_query");
            var metric = Word("metric", c => char.IsAsciiLetterOrDigit(c) || c is '_' or '.');
            Expect('{', "scope_expr");
            var scope = new List<string>();
            SkipSpaces();
            if (!TryTake('*'))
            {
                do
                {
                    SkipSpaces();
                    scope.Add(Word("scope_expr", IsTagChar));
                    SkipSpaces();
                }
                while (TryTake(','));
            }

            Expect('}', "scope_expr");
            var groupBy = new List<string>();
            var save = _at;
            SkipSpaces();
            if (TryTakeWord("by"))
            {
                SkipSpaces();
                Expect('{', "group_by");
                do
                {
                    SkipSpaces();
                    groupBy.Add(Word("group_by", c => IsTagChar(c) && c != ':'));
                    SkipSpaces();
                }
                while (TryTake(','));
                Expect('}', "group_by");
            }
            else
            {
                _at = save;
            }

            while (_at < text.Length && text[_at] == '.')
            {
                var start = _at;
                _at++;
                var modifier = Word("modifier", c => char.IsAsciiLetterLower(c) || c == '_');
                if (modifier is not ("as_count" or "as_rate") || !TryTake('(') || !TryTake(')'))
                {
                    throw Fail("modifier", start);
                }
            }

            return new Term(aggregator, metric, scope, groupBy);
        }

        public void SkipSpaces()
        {
            while (_at < text.Length && text[_at] == ' ')
            {
                _at++;
            }
        }

        public bool TryTake(char c)
        {
            if (_at < text.Length && text[_at] == c)
            {
                _at++;
                return true;
            }

            return false;
        }

        public void ExpectEnd()
        {
            if (_at < text.Length)
            {
                throw Fail("query", _at);
            }
        }

        private static bool IsTagChar(char c) => char.IsAsciiLetterOrDigit(c) || c is '_' or '.' or ':' or '/' or '-';

        private bool TryTakeWord(string word)
        {
            if (string.CompareOrdinal(text, _at, word, 0, word.Length) == 0
                && (_at + word.Length == text.Length || !char.IsAsciiLetterOrDigit(text[_at + word.Length])))
            {
                _at += word.Length;
                return true;
            }

            return false;
        }

        private void Expect(char c, string rule)
        {
            if (!TryTake(c))
            {
                throw Fail(rule, _at);
            }
        }

        private string Word(string rule, Func<char, bool> allowed)
        {
            var start = _at;
            while (_at < text.Length && allowed(text[_at]))
            {
                _at++;
            }

            return _at > start ? text[start.._at] : throw Fail(rule, start);
        }

        private FormatException Fail(string rule, int at) =>
            new(string.Create(CultureInfo.InvariantCulture, $"Rule '{rule}' didn't match at '{text[at..]}' (line 1, column {at + 1})."));
    }
}
