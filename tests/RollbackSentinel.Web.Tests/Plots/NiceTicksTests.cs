using RollbackSentinel.Web.Plots;

namespace RollbackSentinel.Web.Tests.Plots;

public sealed class NiceTicksTests
{
    [Fact]
    public void For_ZeroToSmallRatio_StepsOfTwoHundredths()
    {
        var axis = NiceTicks.For(0, 0.0734, 5);

        Assert.Equal(0.02, axis.Step, 12);
        Assert.Equal(0, axis.Min);
        Assert.Equal(0.08, axis.Max, 12);
        Assert.Equal(["0", "0.02", "0.04", "0.06", "0.08"], axis.Ticks.Select(axis.Label));
    }

    [Fact]
    public void For_ZeroToAMillion_LabelsInThousandsAndMillions()
    {
        var axis = NiceTicks.For(0, 1e6, 5);

        Assert.Equal(2e5, axis.Step);
        Assert.Equal(["0", "200k", "400k", "600k", "800k", "1M"], axis.Ticks.Select(axis.Label));
    }

    [Fact]
    public void For_NegativeAndPositive_CoversBothWithZeroTick()
    {
        var axis = NiceTicks.For(-3.2, 1.7, 5);

        Assert.True(axis.Min <= -3.2 && axis.Max >= 1.7);
        Assert.Equal(1, axis.Step);
        Assert.Equal(["-4", "-3", "-2", "-1", "0", "1", "2"], axis.Ticks.Select(axis.Label));
    }

    [Fact]
    public void For_AllNegative_StaysBelowZero()
    {
        var axis = NiceTicks.For(-250, -130, 5);

        Assert.Equal(-250, axis.Min);
        Assert.Equal(-100, axis.Max);
        Assert.Equal(50, axis.Step);
        Assert.All(axis.Ticks, t => Assert.True(t < 0));
    }

    [Theory]
    [InlineData(5.0)]
    [InlineData(0.05)]
    [InlineData(-3.0)]
    [InlineData(0.0)]
    public void For_EqualBounds_GetsRangeAroundTheValue(double value)
    {
        var axis = NiceTicks.For(value, value, 5);

        Assert.True(axis.Min < value && value < axis.Max, $"{value} in {axis.Min}..{axis.Max}");
        Assert.True(axis.Ticks.Count >= 2);
    }

    [Fact]
    public void For_NothingFinite_IsZeroToOne()
    {
        var axis = NiceTicks.For(double.PositiveInfinity, double.NegativeInfinity, 5);

        Assert.Equal(0, axis.Min);
        Assert.Equal(1, axis.Max);
    }

    [Fact]
    public void For_HugeRange_DoesNotOverflow()
    {
        var axis = NiceTicks.For(-double.MaxValue, double.MaxValue, 5);

        Assert.All(axis.Ticks, t => Assert.True(double.IsFinite(t)));
        Assert.All(axis.Ticks, t => Assert.DoesNotContain("NaN", axis.Label(t), StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(0.0001, 0.0001, "1e-4")]
    [InlineData(0.000025, 0.000005, "2.5e-5")]
    [InlineData(1500, 500, "1.5k")]
    [InlineData(2e6, 1e6, "2M")]
    [InlineData(0.05, 0.01, "0.05")]
    [InlineData(0.1, 0.02, "0.1")]
    [InlineData(-0.5, 0.5, "-0.5")]
    [InlineData(3e9, 1e9, "3G")]
    [InlineData(2e16, 1e16, "2e16")]
    [InlineData(5.551115123125783e-17, 0.1, "0")]
    public void Label_Compact(double value, double step, string expected) => Assert.Equal(expected, NiceTicks.Label(value, step));

    [Fact]
    public void Label_NotFinite_NeverNaN()
    {
        Assert.Equal("", NiceTicks.Label(double.NaN, 1));
        Assert.Equal("∞", NiceTicks.Label(double.PositiveInfinity, 1));
        Assert.Equal("no value", NiceTicks.Readable(double.NaN));
    }

    [Fact]
    public void For_TinyRange_LabelsAreDistinct()
    {
        var axis = NiceTicks.For(0.00012, 0.00019, 5);

        var labels = axis.Ticks.Select(axis.Label).ToList();
        Assert.Equal(labels.Count, labels.Distinct().Count());
        Assert.Contains("1.2e-4", labels);
    }
}
