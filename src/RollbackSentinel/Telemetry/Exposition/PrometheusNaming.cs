using System.Text;

namespace RollbackSentinel.Telemetry.Exposition;

/// <summary>What a Prometheus family is declared as in <c># TYPE</c>.</summary>
internal enum PrometheusType
{
    Counter,
    Gauge,
    Histogram,
}

/// <summary>
/// Instrument names and units to Prometheus names, as the OpenTelemetry-to-Prometheus convention does:
/// dots and other invalid characters become underscores, the unit is appended as a word
/// (<c>s</c> -> <c>_seconds</c>, <c>By</c> -> <c>_bytes</c>) unless the name already ends with it,
/// and counters end in <c>_total</c>, after the unit.
/// </summary>
internal static class PrometheusNaming
{
    private const string TotalSuffix = "_total";

    private static readonly Dictionary<string, string> Units = new(StringComparer.Ordinal)
    {
        ["d"] = "days",
        ["h"] = "hours",
        ["min"] = "minutes",
        ["s"] = "seconds",
        ["ms"] = "milliseconds",
        ["us"] = "microseconds",
        ["ns"] = "nanoseconds",
        ["By"] = "bytes",
        ["KiBy"] = "kibibytes",
        ["MiBy"] = "mebibytes",
        ["GiBy"] = "gibibytes",
        ["TiBy"] = "tebibytes",
        ["KBy"] = "kilobytes",
        ["MBy"] = "megabytes",
        ["GBy"] = "gigabytes",
        ["TBy"] = "terabytes",
        ["m"] = "meters",
        ["V"] = "volts",
        ["A"] = "amperes",
        ["J"] = "joules",
        ["W"] = "watts",
        ["g"] = "grams",
        ["Cel"] = "celsius",
        ["Hz"] = "hertz",
        ["%"] = "percent",

        // Dimensionless: nothing to say in the name.
        ["1"] = string.Empty,
    };

    private static readonly Dictionary<string, string> PerUnits = new(StringComparer.Ordinal)
    {
        ["s"] = "second",
        ["m"] = "minute",
        ["min"] = "minute",
        ["h"] = "hour",
        ["d"] = "day",
        ["w"] = "week",
        ["mo"] = "month",
        ["y"] = "year",
    };

    /// <summary>The family name: what <c># TYPE</c> declares and, except for histograms, what samples are called.</summary>
    public static string MetricName(string instrumentName, string? unit, PrometheusType type)
    {
        var name = Sanitize(instrumentName, allowColon: true);
        var isCounter = type == PrometheusType.Counter;
        if (isCounter && name.Length > TotalSuffix.Length && name.EndsWith(TotalSuffix, StringComparison.Ordinal))
        {
            // Taken off and put back after the unit: cpu_time_total in "s" is cpu_time_seconds_total.
            name = name[..^TotalSuffix.Length];
        }

        var unitWord = UnitSuffix(unit);
        if (unitWord.Length > 0 && name != unitWord && !name.EndsWith("_" + unitWord, StringComparison.Ordinal))
        {
            name = name + "_" + unitWord;
        }

        // "_total" alone was not taken off above: it is already a counter's name.
        return isCounter && name != TotalSuffix ? name + TotalSuffix : name;
    }

    /// <summary>The word a UCUM-style unit adds to a name: <c>s</c> -> <c>seconds</c>, <c>{request}/s</c> -> <c>per_second</c>.</summary>
    public static string UnitSuffix(string? unit)
    {
        if (string.IsNullOrWhiteSpace(unit))
        {
            return string.Empty;
        }

        // Annotations in braces ({request}) name what is counted, not a unit.
        var cleaned = StripAnnotations(unit);
        var slash = cleaned.IndexOf('/', StringComparison.Ordinal);
        var main = UnitWord(slash < 0 ? cleaned : cleaned[..slash], Units);
        var per = slash < 0 ? string.Empty : UnitWord(cleaned[(slash + 1)..], PerUnits);
        if (per.Length == 0)
        {
            return main;
        }

        return main.Length == 0 ? "per_" + per : main + "_per_" + per;
    }

    /// <summary>A valid label name: <c>[a-zA-Z_][a-zA-Z0-9_]*</c>, never starting with the reserved <c>__</c>.</summary>
    public static string LabelName(string tagKey) => Sanitize(tagKey, allowColon: false);

    /// <summary>
    /// Replaces characters Prometheus does not allow with <c>_</c>, collapses runs of underscores (which also
    /// keeps names out of the reserved <c>__</c> prefix) and prefixes a leading digit with <c>_</c>.
    /// </summary>
    public static string Sanitize(string value, bool allowColon)
    {
        var sb = new StringBuilder(value.Length + 1);
        foreach (var c in value)
        {
            var valid = c is (>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or (>= '0' and <= '9') or '_' || (allowColon && c == ':');
            var next = valid ? c : '_';
            if (next == '_' && sb.Length > 0 && sb[^1] == '_')
            {
                continue;
            }

            sb.Append(next);
        }

        if (sb.Length == 0)
        {
            return "_";
        }

        if (char.IsAsciiDigit(sb[0]))
        {
            sb.Insert(0, '_');
        }

        return sb.ToString();
    }

    private static string UnitWord(string unit, Dictionary<string, string> table)
    {
        var trimmed = unit.Trim();
        if (trimmed.Length == 0)
        {
            return string.Empty;
        }

        if (table.TryGetValue(trimmed, out var word))
        {
            return word;
        }

        var sanitized = Sanitize(trimmed, allowColon: false).Trim('_');
        return sanitized;
    }

    private static string StripAnnotations(string unit)
    {
        var sb = new StringBuilder(unit.Length);
        var depth = 0;
        foreach (var c in unit)
        {
            if (c == '{')
            {
                depth++;
            }
            else if (c == '}' && depth > 0)
            {
                depth--;
            }
            else if (depth == 0)
            {
                sb.Append(c);
            }
        }

        return sb.ToString();
    }
}
