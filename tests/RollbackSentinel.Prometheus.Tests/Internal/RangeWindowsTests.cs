using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Prometheus.Internal;

namespace RollbackSentinel.Prometheus.Tests.Internal;

public sealed class RangeWindowsTests
{
    [Fact]
    public void Split_FewerPointsThanLimit_ReturnsOneWindowEndingOnTheLastStep() =>
        Assert.Equal([(1000L, 9400L)], RangeWindows.Split(1000, 9999, 600, maxPoints: 100));

    [Fact]
    public void Split_ExactlyTheLimit_ReturnsOneWindow() =>
        Assert.Equal([(0L, 99L)], RangeWindows.Split(0, 99, 1, maxPoints: 100));

    [Fact]
    public void Split_OneOverTheLimit_ReturnsSecondWindowWithTheLastPoint() =>
        Assert.Equal([(0L, 99L), (100L, 100L)], RangeWindows.Split(0, 100, 1, maxPoints: 100));

    [Fact]
    public void Split_LongRange_WindowsStayOnTheStepGridWithoutSharedPoints()
    {
        const long start = 1_795_132_800_123, step = 15_000;
        var end = start + (25_000 * step) + 7_000;

        var windows = RangeWindows.Split(start, end, step).ToList();

        Assert.Equal(3, windows.Count);
        Assert.All(windows, w => Assert.Equal(0, (w.StartMs - start) % step));
        Assert.All(windows, w => Assert.Equal(0, (w.EndMs - start) % step));
        Assert.All(windows, w => Assert.InRange(((w.EndMs - w.StartMs) / step) + 1, 1, RangeWindows.MaxPointsPerRequest));
        Assert.Equal(start, windows[0].StartMs);
        Assert.Equal(start + (25_000 * step), windows[^1].EndMs);
        for (var i = 1; i < windows.Count; i++)
        {
            Assert.Equal(windows[i - 1].EndMs + step, windows[i].StartMs);
        }
    }

    [Fact]
    public void Merge_OverlappingWindows_KeepsEachTimestampOnceInOrder()
    {
        var labels = LabelSet.Of(("app", "a"));
        var first = new List<ParsedSeries> { new("app\0a\0", labels, [Pt(1, 10), Pt(2, 20)]) };
        var second = new List<ParsedSeries> { new("app\0a\0", labels, [Pt(2, 99), Pt(3, 30)]) };

        var merged = RangeWindows.Merge([first, second]);

        Assert.Equal([Pt(1, 10), Pt(2, 20), Pt(3, 30)], Assert.Single(merged).Points);
    }

    [Fact]
    public void Merge_SameLabelsDifferentMetricNames_KeepsSeriesApart()
    {
        var labels = LabelSet.Of(("app", "a"));
        var window = new List<ParsedSeries>
        {
            new("__name__\0x\0app\0a\0", labels, [Pt(1, 1)]),
            new("__name__\0y\0app\0a\0", labels, [Pt(1, 2)]),
        };

        var merged = RangeWindows.Merge([window]);

        Assert.Equal([1.0, 2.0], merged.Select(s => Assert.Single(s.Points).Value));
    }

    private static Point Pt(int seconds, double value) => new(DateTimeOffset.FromUnixTimeSeconds(seconds), value);
}
