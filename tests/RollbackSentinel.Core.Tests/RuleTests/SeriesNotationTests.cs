using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Core.RuleTests;

namespace RollbackSentinel.Core.Tests.RuleTests;

/// <summary>promtool's expanding notation, value by value, and where a bad term is.</summary>
public sealed class SeriesNotationTests
{
    private static string Expand(string text)
    {
        Assert.True(SeriesNotation.TryExpand(text, out var points, out var error), error?.Message);
        return string.Join(" ", points.Select(p => p.Kind switch
        {
            SeriesPointKind.Missing => "_",
            SeriesPointKind.Stale => "stale",
            _ when double.IsInfinity(p.Value) => p.Value > 0 ? "+Inf" : "-Inf",
            _ => p.Value.ToString("R", System.Globalization.CultureInfo.InvariantCulture),
        }));
    }

    [Theory]
    [InlineData("0+10x3", "0 10 20 30")]
    [InlineData("1-1x5", "1 0 -1 -2 -3 -4")]
    [InlineData("7x2", "7 7 7")]
    [InlineData("7", "7")]
    [InlineData("1+1x0", "1")]
    [InlineData("-2+3x2", "-2 1 4")]
    [InlineData("1e3+1e2x1", "1000 1100")]
    [InlineData("_", "_")]
    [InlineData("_x3", "_ _ _")]
    [InlineData("_x0 5", "5")]
    [InlineData("stale", "stale")]
    [InlineData("stalex2", "stale stale stale")]
    [InlineData("Inf -Inf +inf NaN", "+Inf -Inf +Inf NaN")]
    [InlineData("0+0x2 0+300x2", "0 0 0 0 300 600")]
    [InlineData("  1   _  stale\t2 ", "1 _ stale 2")]
    public void TryExpand_Notation_GivesPromtoolsValues(string text, string expected) =>
        Assert.Equal(expected, Expand(text));

    [Fact]
    public void TryExpand_Increment_IsAddedStepByStepAsPromtoolDoes()
    {
        Assert.True(SeriesNotation.TryExpand("0+0.1x3", out var points, out _));

        Assert.Equal(0.1 + 0.1 + 0.1, points[3].Value);
    }

    [Theory]
    [InlineData("1 2 x3", 4, "'x3' is not a value: expected a number, a+bxn, a-bxn, axn, _, _xn or stale (the count after x must be a whole number)")]
    [InlineData("0+10y5", 0, "'0+10y5' is not a value: expected a number, a+bxn, a-bxn, axn, _, _xn or stale")]
    [InlineData("1 0+10", 2, "'0+10' has an increment but no count: write 0+10xN")]
    [InlineData("stale+1x2", 0, "'stale+1x2' cannot count from stale: stale is a marker, not a number")]
    [InlineData("1 _+1x2", 2, "'_+1x2' is not a value: expected a number, a+bxn, a-bxn, axn, _, _xn or stale")]
    [InlineData("1x-2", 0, "'1x-2' is not a value: expected a number, a+bxn, a-bxn, axn, _, _xn or stale (the count after x must be a whole number)")]
    [InlineData("0+1x1000001", 0, "'0+1x1000001' expands to more than 1000000 values")]
    [InlineData("0x600000 0x600000", 9, "'0x600000' expands to more than 1000000 values")]
    [InlineData("   ", 0, "no values: give a number, a+bxn, a-bxn, axn, _, _xn or stale")]
    public void TryExpand_BadTerm_SaysWhichAndWhere(string text, int offset, string message)
    {
        Assert.False(SeriesNotation.TryExpand(text, out var points, out var error));

        Assert.Empty(points);
        Assert.Equal((offset, message), (error!.Offset, error.Message));
    }

    [Theory]
    [InlineData("http_requests_total{code=\"500\",app=\"checkout\"}", "http_requests_total{app=\"checkout\", code=\"500\"}")]
    [InlineData("up", "up")]
    [InlineData("  up { job = 'a' , } ", "up{job=\"a\"}")]
    [InlineData("{__name__=\"x:y\", le=\"+Inf\"}", "x:y{le=\"+Inf\"}")]
    public void SeriesName_TryParse_ReadsTheNameAndLabels(string text, string expected)
    {
        Assert.True(SeriesName.TryParse(text, out var name, out var error), error?.Message);

        Assert.Equal(expected, name!.ToString());
    }

    [Fact]
    public void SeriesName_TryParse_KeepsEachLabelsValue()
    {
        Assert.True(SeriesName.TryParse("m{b=`x\\n`, a=\"1\"}", out var name, out _));

        Assert.Equal(("m", LabelSet.Of(("a", "1"), ("b", "x\\n"))), (name!.Metric, name.Labels));
    }

    [Theory]
    [InlineData("m{a=1}", 4, "expected the quoted value of 'a'")]
    [InlineData("m{a!=\"1\"}", 3, "expected '=' after the label name 'a' (a series names exact values: no !=, =~ or !~)")]
    [InlineData("m{a=\"1\",a=\"2\"}", 8, "the label 'a' is given twice")]
    [InlineData("m{__x=\"1\"}", 2, "'__x': label names starting with __ are reserved to Prometheus")]
    [InlineData("{a=\"1\"}", 0, "a series needs a metric name: metric{label=\"value\"}")]
    [InlineData("m{a=\"1\"} extra", 9, "unexpected text after the series")]
    [InlineData("m{a=\"1\"", 7, "expected ',' or '}'")]
    public void SeriesName_TryParse_BadSeries_SaysWhatAndWhere(string text, int offset, string message)
    {
        Assert.False(SeriesName.TryParse(text, out _, out var error));

        Assert.Equal((offset, message), (error!.Offset, error.Message));
    }
}
