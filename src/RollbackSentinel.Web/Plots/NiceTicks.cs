using System.Globalization;

namespace RollbackSentinel.Web.Plots;

/// <summary>A value axis: its extent, and ticks at a "nice" step (1, 2 or 5 times a power of ten) covering it.</summary>
internal sealed record ValueAxis(double Min, double Max, double Step, IReadOnlyList<double> Ticks)
{
    public string Label(double tick) => NiceTicks.Label(tick, Step);
}

/// <summary>Nice steps and compact labels for value axes.</summary>
internal static class NiceTicks
{
    /// <summary>The smallest of 1, 2, 5 or 10 times a power of ten that is at least <paramref name="rough"/>.</summary>
    public static double Step(double rough)
    {
        if (!(rough > 0) || !double.IsFinite(rough))
        {
            return 1;
        }

        var power = Math.Pow(10, Math.Floor(Math.Log10(rough)));
        var fraction = rough / power;
        var nice = fraction <= 1.000001 ? 1 : fraction <= 2.000001 ? 2 : fraction <= 5.000001 ? 5 : 10;
        return nice * power;
    }

    /// <summary>
    /// An axis covering <paramref name="min"/>..<paramref name="max"/> with about <paramref name="targetTicks"/> ticks.
    /// Equal bounds get a range around them (a flat line must not sit on a zero-height axis); bounds that are not finite
    /// (nothing to plot) get 0..1.
    /// </summary>
    public static ValueAxis For(double min, double max, int targetTicks)
    {
        if (!double.IsFinite(min) || !double.IsFinite(max))
        {
            (min, max) = (0, 1);
        }

        if (min > max)
        {
            (min, max) = (max, min);
        }

        if (min == max)
        {
            // Half the value either side: 5 shows on 2.5..7.5, 0.05 on 0.025..0.075; zero has no scale, so -1..1.
            var pad = min == 0 ? 1 : Math.Abs(min) / 2;
            (min, max) = (min - pad, max + pad);
        }

        targetTicks = Math.Max(2, targetTicks);
        var span = max - min;
        if (!double.IsFinite(span))
        {
            // Near double.MaxValue either side: no nice steps to be had, the bounds themselves are the ticks.
            return new ValueAxis(min, max, Math.Abs(max / 2), [min, max]);
        }

        var step = Step(span / targetTicks);
        var first = Math.Floor(min / step);
        var last = Math.Ceiling(max / step);
        var count = (int)Math.Min(last - first, 1000) + 1;
        var ticks = new double[count];
        for (var i = 0; i < count; i++)
        {
            // (k * step), not a running sum: no drift, and 0 is exactly 0.
            ticks[i] = (first + i) * step;
        }

        return new ValueAxis(first * step, last * step, step, ticks);
    }

    /// <summary>
    /// A short label for a tick at <paramref name="step"/> spacing: "0.05", "1.5k", "2M", "1e-4"; as many decimals as the
    /// step needs and no more. Not finite (never a tick) prints as "∞"/"-∞"/"", never "NaN".
    /// </summary>
    public static string Label(double value, double step)
    {
        if (double.IsNaN(value))
        {
            return "";
        }

        if (double.IsInfinity(value))
        {
            return value > 0 ? "∞" : "-∞";
        }

        var abs = Math.Abs(value);
        if (abs == 0 || (step > 0 && abs < step * 1e-6))
        {
            return "0";
        }

        if (abs >= 1e15 || abs < 1e-3)
        {
            return Scientific(value, step);
        }

        var (unit, suffix) = abs switch
        {
            >= 1e12 => (1e12, "T"),
            >= 1e9 => (1e9, "G"),
            >= 1e6 => (1e6, "M"),
            >= 1e3 => (1e3, "k"),
            _ => (1.0, ""),
        };
        var decimals = Decimals(step > 0 ? step / unit : abs / unit / 1000);
        return (value / unit).ToString(DecimalFormat(decimals), CultureInfo.InvariantCulture) + suffix;
    }

    /// <summary>A value for people to read (the text description): six significant digits, invariant, never "NaN".</summary>
    public static string Readable(double value) =>
        double.IsFinite(value) ? value.ToString("G6", CultureInfo.InvariantCulture)
        : double.IsNaN(value) ? "no value"
        : value > 0 ? "+Inf" : "-Inf";

    /// <summary>Exact and round-trippable ("R"), for data attributes read by code.</summary>
    public static string RoundTrip(double value) => value.ToString("R", CultureInfo.InvariantCulture);

    private static string Scientific(double value, double step)
    {
        var abs = Math.Abs(value);
        var exponent = (int)Math.Floor(Math.Log10(abs) + 1e-12);
        var stepExponent = step > 0 ? (int)Math.Floor(Math.Log10(step) + 1e-12) : exponent - 2;
        var decimals = Math.Clamp(exponent - stepExponent, 0, 6);
        var mantissa = Math.Round(value / Math.Pow(10, exponent), decimals);
        if (Math.Abs(mantissa) >= 10)
        {
            mantissa /= 10;
            exponent++;
        }

        return mantissa.ToString(DecimalFormat(decimals), CultureInfo.InvariantCulture) + "e" + exponent.ToString(CultureInfo.InvariantCulture);
    }

    private static int Decimals(double step) => Math.Clamp(-(int)Math.Floor(Math.Log10(step) + 1e-9), 0, 12);

    private static string DecimalFormat(int decimals) => decimals == 0 ? "0" : "0." + new string('#', decimals);
}
