using RollbackSentinel.Web.Plots;

namespace RollbackSentinel.Web.Tests.Plots;

public sealed class LinearScaleTests
{
    [Fact]
    public void Map_ValueAxis_GrowsUpwards()
    {
        var y = new LinearScale(0, 0.08, 214, 26);

        Assert.Equal(214, y.Map(0));
        Assert.Equal(26, y.Map(0.08), 9);
        Assert.Equal(120, y.Map(0.04), 9);
    }

    [Fact]
    public void Map_DomainWiderThanDoubles_StaysFinite()
    {
        var y = new LinearScale(-double.MaxValue, double.MaxValue, 100, 0);

        Assert.Equal(50, y.Map(0), 9);
        Assert.Equal(0, y.Map(double.MaxValue), 9);
    }

    [Fact]
    public void Constructor_EmptyDomain_Throws() => Assert.Throws<ArgumentException>(() => new LinearScale(1, 1, 0, 100));
}
