using System.Globalization;
using System.Text.Json;

namespace RollbackSentinel.Prometheus.Internal;

/// <summary>Prometheus' wire formats for times and sample values.</summary>
internal static class PrometheusFormat
{
    /// <summary>Unix seconds with millisecond precision, the resolution Prometheus stores: <c>1795132830.123</c>.</summary>
    public static string FormatSeconds(long unixMilliseconds) =>
        (unixMilliseconds / 1000m).ToString("0.###", CultureInfo.InvariantCulture);

    /// <summary>
    /// Parses a sample value. Prometheus writes <c>NaN</c>, <c>+Inf</c> and <c>-Inf</c>, which
    /// <see cref="double.Parse(string)"/> does not accept.
    /// </summary>
    public static double ParseValue(string text) => text switch
    {
        "NaN" => double.NaN,
        "+Inf" or "Inf" => double.PositiveInfinity,
        "-Inf" => double.NegativeInfinity,
        _ => double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value)
            ? value
            : throw new FormatException($"sample value \"{Shorten(text)}\" is not a number"),
    };

    /// <summary>Reads a float-seconds timestamp (<c>1795132830.123</c>) as Unix milliseconds.</summary>
    public static long ReadTimestampMilliseconds(JsonElement element)
    {
        if (element.ValueKind != JsonValueKind.Number || !element.TryGetDecimal(out var seconds))
        {
            throw new FormatException($"timestamp {Shorten(element.GetRawText())} is not a number of seconds");
        }

        return (long)decimal.Round(seconds * 1000m, MidpointRounding.AwayFromZero);
    }

    private static string Shorten(string text) => text.Length <= 40 ? text : string.Concat(text.AsSpan(0, 40), "...");
}
