using System.Globalization;
using System.Text;
using RollbackSentinel.Prometheus.Internal;

namespace RollbackSentinel.Prometheus.Local;

/// <summary>
/// OpenMetrics sample lines for <c>promtool tsdb create-blocks-from openmetrics</c>, as the rule tests' history
/// (<see cref="TestHistory"/>) and the test fixtures' writer write them: <c>name{a="b"} 1.5 1763640000.123</c>. Pure.
/// </summary>
public static class OpenMetricsText
{
    /// <summary>A value as Prometheus writes it: <c>NaN</c>, <c>+Inf</c>, <c>-Inf</c>, or round-trip decimal.</summary>
    public static string Value(double value) => value switch
    {
        double.PositiveInfinity => "+Inf",
        double.NegativeInfinity => "-Inf",
        _ when double.IsNaN(value) => "NaN",
        _ => value.ToString("R", CultureInfo.InvariantCulture),
    };

    /// <summary>Unix seconds with millisecond precision: promtool reads seconds, not milliseconds.</summary>
    public static string Timestamp(DateTimeOffset at) => PrometheusFormat.FormatSeconds(at.ToUnixTimeMilliseconds());

    /// <summary><c>{a="b",c="d"}</c> in the order given, values escaped (<c>\\</c>, <c>\"</c>, <c>\n</c>); empty for no labels.</summary>
    public static string Labels(IEnumerable<(string Name, string Value)> labels)
    {
        ArgumentNullException.ThrowIfNull(labels);
        var sb = new StringBuilder();
        foreach (var (name, value) in labels)
        {
            sb.Append(sb.Length == 0 ? '{' : ',').Append(name).Append("=\"")
                .Append(value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal))
                .Append('"');
        }

        return sb.Length == 0 ? string.Empty : sb.Append('}').ToString();
    }

    /// <summary>Appends one sample line: <paramref name="series"/> (name and rendered labels), the value, the timestamp.</summary>
    public static StringBuilder AppendSample(StringBuilder sb, string series, double value, DateTimeOffset at)
    {
        ArgumentNullException.ThrowIfNull(sb);
        return sb.Append(series).Append(' ').Append(Value(value)).Append(' ').Append(Timestamp(at)).Append('\n');
    }
}
