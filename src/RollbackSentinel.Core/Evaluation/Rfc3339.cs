using System.Globalization;
using System.Text.RegularExpressions;

namespace RollbackSentinel.Core.Evaluation;

/// <summary>The one timestamp format of evidence and output: RFC 3339 in UTC, whole seconds unless needed.</summary>
public static partial class Rfc3339
{
    public static string Format(DateTimeOffset t) =>
        t.UtcDateTime.ToString(t.Millisecond == 0 ? "yyyy-MM-dd'T'HH:mm:ss'Z'" : "yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);

    public static string Range(DateTimeOffset from, DateTimeOffset to) => $"{Format(from)}..{Format(to)}";

    /// <summary>Strict RFC 3339: a date, a time and an explicit offset (<c>Z</c> or <c>+02:00</c>); no guessing of time zones.</summary>
    public static bool TryParse(string? text, out DateTimeOffset value)
    {
        value = default;
        return text is not null
            && Strict().IsMatch(text)
            && DateTimeOffset.TryParse(text.ToUpperInvariant(), CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal, out value);
    }

    [GeneratedRegex(@"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")]
    private static partial Regex Strict();
}
