using RollbackSentinel.Web.Plots;

namespace RollbackSentinel.Web.Tests.Plots;

public sealed class BreachSpansTests
{
    private static readonly DateTimeOffset T0 = new(2025, 3, 1, 10, 0, 0, TimeSpan.Zero);

    private static List<PlotSample> Minutely(params bool[] breaches) =>
        [.. breaches.Select((b, i) => new PlotSample(T0.AddMinutes(i), 1, Breach: b))];

    [Fact]
    public void Find_RunInTheMiddle_FromFirstBreachToTheNextSample()
    {
        var spans = BreachSpans.Find(Minutely(false, true, true, false, false, true, false), T0.AddHours(1));

        Assert.Equal([new BreachSpan(T0.AddMinutes(1), T0.AddMinutes(3)), new BreachSpan(T0.AddMinutes(5), T0.AddMinutes(6))], spans);
    }

    [Fact]
    public void Find_RunEndsTheSeries_EndsOneMedianSpacingAfterTheLastSample()
    {
        var samples = Minutely(false, false, true, true);
        samples.Insert(0, new PlotSample(T0.AddMinutes(-30), 1)); // one long gap does not move the median

        var spans = BreachSpans.Find(samples, T0.AddHours(1));

        Assert.Equal([new BreachSpan(T0.AddMinutes(2), T0.AddMinutes(4))], spans);
    }

    [Fact]
    public void Find_RunEndsTheSeries_ClippedToTheWindowEnd()
    {
        var spans = BreachSpans.Find(Minutely(false, true), T0.AddMinutes(1).AddSeconds(20));

        Assert.Equal([new BreachSpan(T0.AddMinutes(1), T0.AddMinutes(1).AddSeconds(20))], spans);
    }

    [Fact]
    public void Find_NoBreach_NoSpans() => Assert.Empty(BreachSpans.Find(Minutely(false, false), T0.AddHours(1)));

    [Fact]
    public void Find_OneSampleSeries_ZeroWidthSpan() =>
        Assert.Equal([new BreachSpan(T0, T0)], BreachSpans.Find(Minutely(true), T0.AddHours(1)));
}
