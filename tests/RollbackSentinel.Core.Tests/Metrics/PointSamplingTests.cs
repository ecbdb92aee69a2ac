using RollbackSentinel.Core.Metrics;

namespace RollbackSentinel.Core.Tests.Metrics;

public sealed class PointSamplingTests
{
    private static readonly DateTimeOffset T0 = DateTimeOffset.FromUnixTimeSeconds(1_800_000_000);
    private static readonly TimeSpan Lookback = TimeSpan.FromMinutes(5);

    private static DateTimeOffset At(double seconds) => T0 + TimeSpan.FromSeconds(seconds);

    private static readonly Point[] Points = [new(At(0), 1), new(At(10), 2), new(At(20), 3)];

    [Fact]
    public void TryValueAt_OnAPointsTimestamp_IsThatPoint()
    {
        Assert.True(PointSampling.TryValueAt(Points, At(10), Lookback, out var value));
        Assert.Equal(2, value);
    }

    [Fact]
    public void TryValueAt_BetweenPoints_IsTheNewestBefore()
    {
        Assert.True(PointSampling.TryValueAt(Points, At(19.999), Lookback, out var value));
        Assert.Equal(2, value);
    }

    [Fact]
    public void TryValueAt_BeforeTheFirstPoint_HasNoValue()
    {
        Assert.False(PointSampling.TryValueAt(Points, At(-1), Lookback, out var value));
        Assert.True(double.IsNaN(value));
    }

    [Fact]
    public void TryValueAt_LookbackExcludesItsStart()
    {
        // The window is (at - lookback, at]: a point exactly one lookback old is too old.
        Assert.True(PointSampling.TryValueAt(Points, At(20) + Lookback - TimeSpan.FromMilliseconds(1), Lookback, out var value));
        Assert.Equal(3, value);
        Assert.False(PointSampling.TryValueAt(Points, At(20) + Lookback, Lookback, out _));
    }

    [Fact]
    public void TryValueAt_NoPoints_HasNoValue()
    {
        Assert.False(PointSampling.TryValueAt([], T0, Lookback, out _));
    }

    [Fact]
    public void Resample_IsAlignedToStartPlusKStepUpToEndInclusive()
    {
        var sampled = PointSampling.Resample(Points, At(5), At(35), TimeSpan.FromSeconds(15), Lookback);

        Assert.Equal([new Point(At(5), 1), new Point(At(20), 3), new Point(At(35), 3)], sampled);
    }

    [Fact]
    public void Resample_AcrossAGap_LeavesOutInstantsPastTheLookbackAndNeverFillsZeros()
    {
        Point[] gappy = [new(At(0), 4), new(At(600), 9)];

        var sampled = PointSampling.Resample(gappy, At(0), At(600), TimeSpan.FromMinutes(1), Lookback);

        Assert.Equal([0, 60, 120, 180, 240, 600], sampled.Select(p => (int)(p.Timestamp - T0).TotalSeconds));
        Assert.Equal([4.0, 4, 4, 4, 4, 9], sampled.Select(p => p.Value));
    }

    [Fact]
    public void Resample_StartBeforeAnyPoint_BeginsAtTheFirstInstantWithAValue()
    {
        var sampled = PointSampling.Resample(Points, At(-10), At(10), TimeSpan.FromSeconds(10), Lookback);

        Assert.Equal([new Point(At(0), 1), new Point(At(10), 2)], sampled);
    }

    [Fact]
    public void Resample_KeepsNaNAndInfinityAsValues()
    {
        Point[] odd = [new(At(0), double.NaN), new(At(10), double.PositiveInfinity)];

        var sampled = PointSampling.Resample(odd, At(0), At(10), TimeSpan.FromSeconds(10), Lookback);

        Assert.True(double.IsNaN(sampled[0].Value));
        Assert.Equal(double.PositiveInfinity, sampled[1].Value);
    }

    [Fact]
    public void Resample_NonPositiveStep_Throws()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => PointSampling.Resample(Points, T0, T0, TimeSpan.Zero, Lookback));
    }
}
