using System.Globalization;

namespace RollbackSentinel.Storage.Sqlite;

/// <summary>
/// Times as stored: UTC, fixed width, every tick (<c>2026-11-20T14:32:45.1234567Z</c>). Fixed width makes
/// text order time order, so SQL compares and sorts them as text; offsets come back as UTC (the same instant).
/// </summary>
internal static class DbTime
{
    private const string Pattern = "yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'";

    public static string Format(DateTimeOffset time) => time.UtcDateTime.ToString(Pattern, CultureInfo.InvariantCulture);

    public static DateTimeOffset Parse(string text) =>
        DateTimeOffset.TryParseExact(text, Pattern, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var time)
            ? time
            : throw new InvalidDataException($"stored time '{text}' is not in the form {Pattern}");
}
