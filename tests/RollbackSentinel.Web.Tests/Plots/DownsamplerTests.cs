using RollbackSentinel.Web.Plots;

namespace RollbackSentinel.Web.Tests.Plots;

public sealed class DownsamplerTests
{
    private static readonly DateTimeOffset T0 = new(2025, 3, 1, 10, 0, 0, TimeSpan.Zero);

    private static List<PlotSample> Samples(int count, Func<int, double?> value) =>
        [.. Enumerable.Range(0, count).Select(i => new PlotSample(T0.AddSeconds(i), value(i)))];

    [Fact]
    public void Reduce_NoMoreThanTwoPerColumn_KeepsEverySample()
    {
        var samples = Samples(200, i => i);
        var x = new TimeScale(T0, T0.AddSeconds(199), 0, 100);

        Assert.Equal(Enumerable.Range(0, 200), Downsampler.Reduce(samples, s => s.Value, x));
    }

    [Fact]
    public void Reduce_ManySamples_AtMostFourPerColumnAndSpikesKept()
    {
        var samples = Samples(10_000, i => i == 4321 ? 100 : i == 7777 ? -100 : 1);
        var x = new TimeScale(T0, T0.AddSeconds(9_999), 0, 100);

        var kept = Downsampler.Reduce(samples, s => s.Value, x);

        Assert.True(kept.Count <= 4 * 101, $"{kept.Count} kept");
        Assert.Contains(4321, kept);
        Assert.Contains(7777, kept);
        Assert.Equal(0, kept[0]);
        Assert.Equal(9_999, kept[^1]);
        Assert.Equal(kept.Order(), kept);
    }

    [Fact]
    public void Reduce_GapInsideAColumn_StaysAGap()
    {
        // 100 samples a column; samples 5030..5039 missing, in the middle of one.
        var samples = Samples(10_000, i => i is >= 5030 and < 5040 ? null : 1);
        var x = new TimeScale(T0, T0.AddSeconds(9_999), 0, 100);

        var kept = Downsampler.Reduce(samples, s => s.Value, x);

        var gaps = kept.Where(i => samples[i].Value is null).ToList();
        Assert.Equal([5030], gaps);
        Assert.Contains(5029, kept);
        Assert.Contains(5040, kept);
    }

    [Fact]
    public void Reduce_NaNAndInfinity_AreGapsToo()
    {
        var samples = Samples(10_000, i => i == 2000 ? double.NaN : i == 6000 ? double.PositiveInfinity : 1);
        var x = new TimeScale(T0, T0.AddSeconds(9_999), 0, 100);

        var kept = Downsampler.Reduce(samples, s => s.Value, x);

        Assert.Contains(2000, kept);
        Assert.Contains(6000, kept);
    }
}
