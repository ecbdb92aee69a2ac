using System.Globalization;

namespace RollbackSentinel.Web.Plots;

/// <summary>
/// Maps UTC instants from <see cref="From"/> to <see cref="To"/> onto <see cref="Left"/>..<see cref="Right"/>, and
/// places ticks at a nice step (1m, 5m, 15m, 30m, 1h, 3h, 6h, 12h, 1d, ...) aligned to whole UTC steps.
/// </summary>
internal sealed class TimeScale
{
    private static readonly TimeSpan[] Steps =
    [
        TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(10),
        TimeSpan.FromSeconds(15), TimeSpan.FromSeconds(30),
        TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(2), TimeSpan.FromMinutes(5), TimeSpan.FromMinutes(10),
        TimeSpan.FromMinutes(15), TimeSpan.FromMinutes(30),
        TimeSpan.FromHours(1), TimeSpan.FromHours(2), TimeSpan.FromHours(3), TimeSpan.FromHours(6), TimeSpan.FromHours(12),
        TimeSpan.FromDays(1), TimeSpan.FromDays(2), TimeSpan.FromDays(7), TimeSpan.FromDays(14), TimeSpan.FromDays(28),
        TimeSpan.FromDays(91), TimeSpan.FromDays(182), TimeSpan.FromDays(364),
    ];

    private readonly double _pixelsPerTick;

    /// <summary>A window that is empty or backwards is drawn as one second from <paramref name="from"/>.</summary>
    public TimeScale(DateTimeOffset from, DateTimeOffset to, double left, double right)
    {
        From = from.ToUniversalTime();
        To = to > from ? to.ToUniversalTime() : From.AddSeconds(1);
        Left = left;
        Right = right;
        _pixelsPerTick = (right - left) / (To - From).Ticks;
    }

    public DateTimeOffset From { get; }

    public DateTimeOffset To { get; }

    public double Left { get; }

    public double Right { get; }

    public TimeSpan Span => To - From;

    public double Map(DateTimeOffset t) => Left + ((t.UtcTicks - From.UtcTicks) * _pixelsPerTick);

    public bool Contains(DateTimeOffset t) => t >= From && t <= To;

    /// <summary>The smallest nice step that gives at most <paramref name="targetTicks"/> steps over the window.</summary>
    public TimeSpan NiceStep(int targetTicks)
    {
        var rough = Span.Ticks / (double)Math.Max(1, targetTicks);
        foreach (var step in Steps)
        {
            if (step.Ticks >= rough)
            {
                return step;
            }
        }

        // Beyond a year: whole multiples of 364 days.
        var years = Math.Ceiling(rough / Steps[^1].Ticks);
        return TimeSpan.FromTicks((long)years * Steps[^1].Ticks);
    }

    /// <summary>Ticks at whole multiples of the step (counted from 0001-01-01T00:00Z, a Monday: days fall on midnight, weeks on Mondays).</summary>
    public IReadOnlyList<DateTimeOffset> Ticks(TimeSpan step)
    {
        var first = (From.UtcTicks + step.Ticks - 1) / step.Ticks * step.Ticks;
        var ticks = new List<DateTimeOffset>();
        for (var t = first; t <= To.UtcTicks; t += step.Ticks)
        {
            ticks.Add(new DateTimeOffset(t, TimeSpan.Zero));
        }

        return ticks;
    }

    /// <summary>
    /// "HH:mm" within a day ("HH:mm:ss" for steps under a minute); over more than a day "MM-dd HH:mm", or "MM-dd" when
    /// the step is whole days; "yyyy-MM-dd" over more than 60 days. Always UTC.
    /// </summary>
    public string Label(DateTimeOffset tick, TimeSpan step)
    {
        var format = Span > TimeSpan.FromDays(60) ? "yyyy-MM-dd"
            : Span > TimeSpan.FromDays(1) ? step >= TimeSpan.FromDays(1) ? "MM-dd" : "MM-dd HH:mm"
            : step < TimeSpan.FromMinutes(1) ? "HH:mm:ss"
            : "HH:mm";
        return tick.UtcDateTime.ToString(format, CultureInfo.InvariantCulture);
    }
}
