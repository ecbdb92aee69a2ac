using System.Xml.Linq;
using RollbackSentinel.Web.Plots;

namespace RollbackSentinel.Web.Tests.Plots;

public sealed class SvgWriterTests
{
    [Theory]
    [InlineData(1.0, "1")]
    [InlineData(1.006, "1.01")]
    [InlineData(123.456789, "123.46")]
    [InlineData(-0.001, "0")]
    [InlineData(-2.5, "-2.5")]
    [InlineData(0.1, "0.1")]
    [InlineData(1e7, "10000000")]
    [InlineData(double.NaN, "0")]
    public void Coordinate_AtMostTwoDecimalsInvariant(double value, string expected) => Assert.Equal(expected, SvgWriter.Coordinate(value));

    [Fact]
    public void Escape_HostileText_RoundTripsThroughXml()
    {
        const string Hostile = "a\"b'c<d>e&f\u0001g\uD800h😀";
        var w = new SvgWriter();
        w.Start("text").Attr("data-x", Hostile).Text(Hostile).End();

        var element = XElement.Parse(w.ToString());

        const string Expected = "a\"b'c<d>e&f\uFFFDg\uFFFDh😀";
        Assert.Equal(Expected, element.Value);
        Assert.Equal(Expected, (string?)element.Attribute("data-x"));
    }

    [Fact]
    public void End_EmptyElement_SelfCloses()
    {
        var w = new SvgWriter();
        w.Start("g").Start("line").Attr("x1", 1.5).End().End();

        Assert.Equal("<g>\n<line x1=\"1.5\"/></g>", w.ToString());
    }
}
