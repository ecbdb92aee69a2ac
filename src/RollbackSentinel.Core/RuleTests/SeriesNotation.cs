using System.Globalization;

namespace RollbackSentinel.Core.RuleTests;

public enum SeriesPointKind
{
    Value,

    /// <summary><c>_</c>: no sample at this step (the last one stays visible for the lookback, as a missed scrape).</summary>
    Missing,

    /// <summary><c>stale</c>: a staleness marker: the series is absent from this step on, until its next sample.</summary>
    Stale,
}

/// <summary>One step of an input series.</summary>
public readonly record struct SeriesPoint(SeriesPointKind Kind, double Value)
{
    public static readonly SeriesPoint Missing = new(SeriesPointKind.Missing, 0);

    public static readonly SeriesPoint Stale = new(SeriesPointKind.Stale, 0);

    public static SeriesPoint Of(double value) => new(SeriesPointKind.Value, value);
}

/// <summary>What is wrong with a series' values, and where in the text (0-based offset and length of the term).</summary>
public sealed record NotationError(int Offset, int Length, string Message);

/// <summary>
/// promtool's expanding notation for <c>input_series</c> values (<c>promtool test rules</c>), term by term, separated
/// by spaces: <c>a+bxn</c> is the n+1 values a, a+b, ..., a+nb (added up step by step, as promtool does); <c>a-bxn</c>
/// counts down; <c>axn</c> repeats a n+1 times; <c>_</c> is a missing sample and <c>_xn</c> n of them; <c>stale</c> a
/// staleness marker (<c>stalexn</c>: n+1). A value is a number (<c>1.5</c>, <c>-2</c>, <c>1e3</c>), <c>Inf</c>,
/// <c>-Inf</c> or <c>NaN</c>. Pure.
/// </summary>
public static class SeriesNotation
{
    /// <summary>The most values one series may expand to: a typo such as <c>0+1x1000000000</c> must not exhaust memory.</summary>
    public const int MaxValues = 1_000_000;

    public const string Forms = "a number, a+bxn, a-bxn, axn, _, _xn or stale";

    /// <summary>Expands <paramref name="text"/>; on a bad term, <paramref name="error"/> says which and why (and points is empty).</summary>
    public static bool TryExpand(string text, out IReadOnlyList<SeriesPoint> points, out NotationError? error)
    {
        ArgumentNullException.ThrowIfNull(text);
        var result = new List<SeriesPoint>();
        points = [];
        error = null;
        for (var i = 0; i < text.Length;)
        {
            if (char.IsWhiteSpace(text[i]))
            {
                i++;
                continue;
            }

            var start = i;
            while (i < text.Length && !char.IsWhiteSpace(text[i]))
            {
                i++;
            }

            var term = text[start..i];
            var problem = Term(term, result);
            if (problem is null && result.Count > MaxValues)
            {
                problem = $"expands to more than {MaxValues.ToString(CultureInfo.InvariantCulture)} values";
            }

            if (problem is not null)
            {
                error = new NotationError(start, term.Length, $"'{term}' {problem}");
                return false;
            }
        }

        if (result.Count == 0)
        {
            error = new NotationError(0, text.Length, $"no values: give {Forms}");
            return false;
        }

        points = result;
        return true;
    }

    /// <summary>Appends one term's values; returns what is wrong with it, or null.</summary>
    private static string? Term(string term, List<SeriesPoint> into)
    {
        var (head, count, countProblem) = SplitCount(term);
        if (countProblem is not null)
        {
            return countProblem;
        }

        if (head == "_")
        {
            // promtool: _xn is n missing samples (not n+1 as for values).
            into.AddRange(Enumerable.Repeat(SeriesPoint.Missing, count ?? 1));
            return null;
        }

        var (first, increment) = SplitIncrement(head);
        if (!TryValue(first, out var start))
        {
            return $"is not a value: expected {Forms}";
        }

        double step = 0;
        if (increment is not null)
        {
            if (!TryNumber(increment, out step))
            {
                return $"is not a value: expected {Forms}";
            }

            if (start.Kind == SeriesPointKind.Stale)
            {
                return "cannot count from stale: stale is a marker, not a number";
            }

            if (count is null)
            {
                return $"has an increment but no count: write {first}{increment}xN";
            }
        }

        if (start.Kind == SeriesPointKind.Stale)
        {
            into.AddRange(Enumerable.Repeat(SeriesPoint.Stale, (count ?? 0) + 1));
            return null;
        }

        var value = start.Value;
        for (var n = 0; n <= (count ?? 0) && into.Count <= MaxValues; n++)
        {
            into.Add(SeriesPoint.Of(value));
            value += step;
        }

        return null;
    }

    /// <summary>"0+10x5" -> ("0+10", 5); "7" -> ("7", null). An x followed by digits ends a term (numbers here have no x).</summary>
    private static (string Head, int? Count, string? Problem) SplitCount(string term)
    {
        var x = term.LastIndexOf('x');
        if (x < 0)
        {
            return (term, null, null);
        }

        var digits = term[(x + 1)..];
        if (x == 0 || digits.Length == 0 || !digits.All(char.IsAsciiDigit))
        {
            return (term, null, $"is not a value: expected {Forms} (the count after x must be a whole number)");
        }

        return int.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n <= MaxValues
            ? (term[..x], n, null)
            : (term, null, $"expands to more than {MaxValues.ToString(CultureInfo.InvariantCulture)} values");
    }

    /// <summary>"0+10" -> ("0", "+10"); "-1-2" -> ("-1", "-2"); "1e-3+1" -> ("1e-3", "+1"); "5" -> ("5", null).</summary>
    private static (string First, string? Increment) SplitIncrement(string head)
    {
        for (var i = 1; i < head.Length; i++)
        {
            // A sign after the e of a number's exponent (1e-3) belongs to the number; after stale's it starts an increment.
            var exponent = head[i - 1] is 'e' or 'E' && i >= 2 && (char.IsAsciiDigit(head[i - 2]) || head[i - 2] == '.');
            if (head[i] is '+' or '-' && !exponent)
            {
                return (head[..i], head[i..]);
            }
        }

        return (head, null);
    }

    private static bool TryValue(string text, out SeriesPoint point)
    {
        if (text == "stale")
        {
            point = SeriesPoint.Stale;
            return true;
        }

        var ok = TryNumber(text, out var value);
        point = SeriesPoint.Of(value);
        return ok;
    }

    private static bool TryNumber(string text, out double value)
    {
        var unsigned = text.TrimStart('+', '-');
        var negative = text.StartsWith('-');
        if (text.Length - unsigned.Length > 1)
        {
            value = 0;
            return false;
        }

        if (unsigned.Equals("Inf", StringComparison.OrdinalIgnoreCase))
        {
            value = negative ? double.NegativeInfinity : double.PositiveInfinity;
            return true;
        }

        if (unsigned.Equals("NaN", StringComparison.OrdinalIgnoreCase))
        {
            value = double.NaN;
            return true;
        }

        return double.TryParse(text, NumberStyles.AllowLeadingSign | NumberStyles.AllowDecimalPoint | NumberStyles.AllowExponent, CultureInfo.InvariantCulture, out value)
            && double.IsFinite(value);
    }
}
