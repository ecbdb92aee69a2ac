using System.Globalization;
using System.Text;

namespace RollbackSentinel.Telemetry.Exposition;

/// <summary>The lexical rules of the text exposition format 0.0.4.</summary>
internal static class PrometheusText
{
    /// <summary>Go's spelling, which Prometheus parses: <c>NaN</c>, <c>+Inf</c>, <c>-Inf</c>, else the shortest round-trip form.</summary>
    public static StringBuilder AppendDouble(this StringBuilder sb, double value)
    {
        if (double.IsNaN(value))
        {
            return sb.Append("NaN");
        }

        if (double.IsPositiveInfinity(value))
        {
            return sb.Append("+Inf");
        }

        if (double.IsNegativeInfinity(value))
        {
            return sb.Append("-Inf");
        }

        return sb.Append(CultureInfo.InvariantCulture, $"{value}");
    }

    public static string FormatDouble(double value) => new StringBuilder().AppendDouble(value).ToString();

    public static StringBuilder AppendLong(this StringBuilder sb, long value) => sb.Append(CultureInfo.InvariantCulture, $"{value}");

    /// <summary>Label values escape backslash, double quote and line feed.</summary>
    public static StringBuilder AppendLabelValue(this StringBuilder sb, string value)
    {
        foreach (var c in value)
        {
            switch (c)
            {
                case '\\': sb.Append(@"\\"); break;
                case '"': sb.Append("\\\""); break;
                case '\n': sb.Append(@"\n"); break;
                default: sb.Append(c); break;
            }
        }

        return sb;
    }

    /// <summary>HELP text escapes backslash and line feed only.</summary>
    public static StringBuilder AppendHelp(this StringBuilder sb, string help)
    {
        foreach (var c in help)
        {
            switch (c)
            {
                case '\\': sb.Append(@"\\"); break;
                case '\n': sb.Append(@"\n"); break;
                default: sb.Append(c); break;
            }
        }

        return sb;
    }
}
