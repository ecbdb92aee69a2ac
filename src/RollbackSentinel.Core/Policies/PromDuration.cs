using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text;

namespace RollbackSentinel.Core.Policies;

/// <summary>
/// Durations in Prometheus syntax: <c>15s</c>, <c>2m</c>, <c>1h30m</c>, <c>1d</c>, <c>500ms</c>. Units are
/// y (365d), w, d, h, m, s, ms, each at most once and from the largest down, as Prometheus requires.
/// </summary>
public static class PromDuration
{
    private static readonly (string Unit, TimeSpan Size)[] Units =
    [
        ("y", TimeSpan.FromDays(365)),
        ("w", TimeSpan.FromDays(7)),
        ("d", TimeSpan.FromDays(1)),
        ("h", TimeSpan.FromHours(1)),
        ("m", TimeSpan.FromMinutes(1)),
        ("s", TimeSpan.FromSeconds(1)),
        ("ms", TimeSpan.FromMilliseconds(1)),
    ];

    /// <summary>Parses <paramref name="text"/>; on failure <paramref name="error"/> says why in words a user can act on.</summary>
    public static bool TryParse(string? text, out TimeSpan value, [NotNullWhen(false)] out string? error)
    {
        value = TimeSpan.Zero;
        if (string.IsNullOrWhiteSpace(text))
        {
            error = "a duration is required (e.g. 30s, 2m, 1h30m)";
            return false;
        }

        if (text == "0")
        {
            error = null;
            return true;
        }

        var pos = 0;
        var lastUnitIndex = -1;
        while (pos < text.Length)
        {
            var digitsStart = pos;
            while (pos < text.Length && char.IsAsciiDigit(text[pos]))
            {
                pos++;
            }

            if (pos == digitsStart)
            {
                value = TimeSpan.Zero;
                error = $"'{text}' is not a duration: expected a number at position {pos + 1} (use e.g. 30s, 2m, 1h30m)";
                return false;
            }

            if (pos < text.Length && text[pos] == '.')
            {
                value = TimeSpan.Zero;
                error = $"'{text}' is not a duration: fractions are not allowed, combine units instead (1h30m, 1500ms)";
                return false;
            }

            var unitStart = pos;
            while (pos < text.Length && char.IsAsciiLetter(text[pos]))
            {
                pos++;
            }

            var unit = text[unitStart..pos];
            var unitIndex = Array.FindIndex(Units, u => u.Unit == unit);
            if (unitIndex < 0 && Array.FindIndex(Units, u => u.Unit == unit.ToLowerInvariant()) >= 0)
            {
                value = TimeSpan.Zero;
                error = $"'{text}' is not a duration: units are lower-case ({unit.ToLowerInvariant()}, not {unit})";
                return false;
            }

            if (unitIndex < 0)
            {
                value = TimeSpan.Zero;
                error = unit.Length == 0
                    ? $"'{text}' is not a duration: the number {text[digitsStart..pos]} has no unit (ms, s, m, h, d, w, y)"
                    : $"'{text}' is not a duration: unknown unit '{unit}' (use ms, s, m, h, d, w, y)";
                return false;
            }

            if (unitIndex <= lastUnitIndex)
            {
                value = TimeSpan.Zero;
                error = $"'{text}' is not a duration: units must go from largest to smallest, each once (e.g. 1h30m)";
                return false;
            }

            lastUnitIndex = unitIndex;
            if (!long.TryParse(text.AsSpan(digitsStart, unitStart - digitsStart), NumberStyles.None, CultureInfo.InvariantCulture, out var n))
            {
                value = TimeSpan.Zero;
                error = $"'{text}' is not a duration: the number is too large";
                return false;
            }

            try
            {
                value = checked(value + TimeSpan.FromTicks(checked(n * Units[unitIndex].Size.Ticks)));
            }
            catch (OverflowException)
            {
                value = TimeSpan.Zero;
                error = $"'{text}' is not a duration: it is too long";
                return false;
            }
        }

        error = null;
        return true;
    }

    public static TimeSpan Parse(string text) =>
        TryParse(text, out var value, out var error) ? value : throw new FormatException(error);

    /// <summary>Formats in the same syntax, largest units first: 90 minutes is <c>1h30m</c>.</summary>
    public static string Format(TimeSpan value)
    {
        if (value == TimeSpan.Zero)
        {
            return "0s";
        }

        var sb = new StringBuilder();
        if (value < TimeSpan.Zero)
        {
            sb.Append('-');
            value = value.Duration();
        }

        // Weeks and years read poorly in evidence; days are the largest unit we print.
        foreach (var (unit, size) in Units.Skip(2))
        {
            var n = value.Ticks / size.Ticks;
            if (n > 0)
            {
                sb.Append(n.ToString(CultureInfo.InvariantCulture)).Append(unit);
                value -= TimeSpan.FromTicks(n * size.Ticks);
            }
        }

        return sb.Length == 0 ? "0s" : sb.ToString();
    }
}
