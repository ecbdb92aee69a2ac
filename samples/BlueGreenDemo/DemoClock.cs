using System.Diagnostics;

namespace BlueGreenDemo;

/// <summary>
/// The demo's clock: wall-clock time (so it compares with the sentinel's timestamps, taken on the same machine)
/// read once at the start, then advanced by a monotonic <see cref="Stopwatch"/>, so every instant the demo
/// records is cheap and never jumps. Times in the timeline are shown relative to <see cref="Start"/>.
/// </summary>
public sealed class DemoClock
{
    private readonly long _startTimestamp;

    public DemoClock(TimeProvider? time = null)
    {
        Start = (time ?? TimeProvider.System).GetUtcNow();
        _startTimestamp = Stopwatch.GetTimestamp();
    }

    public DateTimeOffset Start { get; }

    public DateTimeOffset Now => Start + Stopwatch.GetElapsedTime(_startTimestamp);

    public TimeSpan Elapsed => Stopwatch.GetElapsedTime(_startTimestamp);

    /// <summary><c>+12.345s</c>: an instant relative to the start.</summary>
    public string Relative(DateTimeOffset at) => Format(at - Start);

    public static string Format(TimeSpan offset) => (offset < TimeSpan.Zero ? "-" : "+") + Math.Abs(offset.TotalSeconds).ToString("0.000", System.Globalization.CultureInfo.InvariantCulture) + "s";
}
