using RollbackSentinel.Web.Plots;

namespace RollbackSentinel.Web.Tests.Plots;

public sealed class TimeScaleTests
{
    private static readonly DateTimeOffset T0 = new(2025, 3, 1, 10, 0, 0, TimeSpan.Zero);

    [Fact]
    public void Map_WindowEnds_AreThePixelEnds()
    {
        var x = new TimeScale(T0, T0.AddHours(1), 60, 780);

        Assert.Equal(60, x.Map(T0));
        Assert.Equal(780, x.Map(T0.AddHours(1)));
        Assert.Equal(420, x.Map(T0.AddMinutes(30)));
    }

    [Fact]
    public void Map_OffsetTimes_AreTheSameInstantsInUtc()
    {
        var x = new TimeScale(T0, T0.AddHours(1), 0, 600);

        Assert.Equal(300, x.Map(new DateTimeOffset(2025, 3, 1, 12, 30, 0, TimeSpan.FromHours(2))));
    }

    [Fact]
    public void Ticks_ThreeHours_EveryHalfHourAsHoursAndMinutes()
    {
        var x = new TimeScale(T0, T0.AddHours(3), 0, 720);

        var step = x.NiceStep(8);
        var ticks = x.Ticks(step);

        Assert.Equal(TimeSpan.FromMinutes(30), step);
        Assert.Equal(7, ticks.Count);
        Assert.Equal(["10:00", "10:30", "11:00", "11:30", "12:00", "12:30", "13:00"], ticks.Select(t => x.Label(t, step)));
    }

    [Fact]
    public void Ticks_Day_EveryThreeHoursOnWholeHours()
    {
        var from = new DateTimeOffset(2025, 3, 1, 10, 7, 0, TimeSpan.Zero);
        var x = new TimeScale(from, from.AddHours(24), 0, 720);

        var step = x.NiceStep(8);
        var ticks = x.Ticks(step);

        Assert.Equal(TimeSpan.FromHours(3), step);
        Assert.Equal("12:00", x.Label(ticks[0], step));
        Assert.Equal(8, ticks.Count);
        Assert.All(ticks, t => Assert.Equal(0, t.UtcDateTime.Hour % 3));
    }

    [Fact]
    public void Ticks_Week_DailyAtMidnightAsDates()
    {
        var from = new DateTimeOffset(2025, 3, 1, 10, 0, 0, TimeSpan.Zero);
        var x = new TimeScale(from, from.AddDays(7), 0, 720);

        var step = x.NiceStep(8);
        var ticks = x.Ticks(step);

        Assert.Equal(TimeSpan.FromDays(1), step);
        Assert.Equal(["03-02", "03-03", "03-04", "03-05", "03-06", "03-07", "03-08"], ticks.Select(t => x.Label(t, step)));
    }

    [Fact]
    public void Label_TwoDaysInHourSteps_HasTheDate()
    {
        var x = new TimeScale(T0, T0.AddDays(2), 0, 720);

        Assert.Equal("03-01 12:00", x.Label(T0.AddHours(2), TimeSpan.FromHours(6)));
    }

    [Fact]
    public void Label_LocalOffset_PrintedInUtc()
    {
        var x = new TimeScale(T0, T0.AddHours(3), 0, 720);

        Assert.Equal("10:30", x.Label(new DateTimeOffset(2025, 3, 1, 12, 30, 0, TimeSpan.FromHours(2)), TimeSpan.FromMinutes(30)));
    }

    [Fact]
    public void Constructor_EmptyWindow_StillMaps()
    {
        var x = new TimeScale(T0, T0, 0, 100);

        Assert.True(x.To > x.From);
        Assert.True(double.IsFinite(x.Map(T0)));
    }
}
