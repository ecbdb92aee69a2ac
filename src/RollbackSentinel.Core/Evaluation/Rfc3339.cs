using System.Globalization;

namespace RollbackSentinel.Core.Evaluation;

/// <summary>The one timestamp format of evidence and output: RFC 3339 in UTC, whole seconds unless needed.</summary>
public static class Rfc3339
{
    public static string Format(DateTimeOffset t) =>
        t.UtcDateTime.ToString(t.Millisecond == 0 ? "yyyy-MM-dd'T'HH:mm:ss'Z'" : "yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);

    public static string Range(DateTimeOffset from, DateTimeOffset to) => $"{Format(from)}..{Format(to)}";

    public static bool TryParse(string? text, out DateTimeOffset value) =>
        DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out value)
        && text!.Contains('T', StringComparison.Ordinal);
}
