using System.Text;
using RollbackSentinel.Backends.Graphite;
using RollbackSentinel.Backends.Http;
using RollbackSentinel.Core.Metrics;

namespace RollbackSentinel.Backends.Tests.Graphite;

public sealed class GraphiteRenderReaderTests
{
    private const string Query = "app.requests";
    private static readonly BackendErrors Errors = new(new Uri("http://graphite.example:8080/"), ["s3cret"], "Graphite", "backends.graphite.limits");

    private static IReadOnlyList<RangeSeries> Read(string json, int maxSeries = 100, int maxLabelLength = 100) =>
        GraphiteRenderReader.Read(Encoding.UTF8.GetBytes(json), 200, Query, Errors, maxSeries, maxLabelLength, "backends.graphite.limits");

    private static MetricsQueryException ReadFails(string json, int maxSeries = 100, int maxLabelLength = 100) =>
        Assert.Throws<MetricsQueryException>(() => Read(json, maxSeries, maxLabelLength));

    private static DateTimeOffset At(long seconds) => DateTimeOffset.FromUnixTimeSeconds(seconds);

    [Fact]
    public void Read_NullPoints_AreGapsNotZeros()
    {
        var series = Read("""[{"target": "a", "tags": {"name": "a"}, "datapoints": [[1.5, 10], [null, 20], [0, 30], [null, 40]]}]""");

        Assert.Equal([new Point(At(10), 1.5), new Point(At(30), 0)], Assert.Single(series).Points);
    }

    [Fact]
    public void Read_NaNString_IsAGapAsGraphiteWebTreatsIt()
    {
        var series = Read("""[{"target": "a", "datapoints": [["NaN", 10], [2, 20]]}]""");

        Assert.Equal([new Point(At(20), 2)], Assert.Single(series).Points);
    }

    [Fact]
    public void Read_GraphiteWebsInfinity_IsInfinite()
    {
        // graphite-web replaces Infinity with 1e9999 (valid JSON, too large for a double).
        var series = Read("""[{"target": "a", "datapoints": [[1e9999, 10], [-1e9999, 20], ["Infinity", 30], ["-Infinity", 40], [1.7976931348623157e308, 50]]}]""");

        Assert.Equal(
            [double.PositiveInfinity, double.NegativeInfinity, double.PositiveInfinity, double.NegativeInfinity, double.MaxValue],
            Assert.Single(series).Points.Select(p => p.Value));
    }

    [Theory]
    [InlineData("""[{"target": "a", "datapoints": [["abc", 10]]}]""", "value is not a number or null")]
    [InlineData("""[{"target": "a", "datapoints": [[true, 10]]}]""", "value is not a number or null")]
    [InlineData("""[{"target": "a", "datapoints": [[1, 10.5]]}]""", "timestamp is not whole epoch seconds")]
    [InlineData("""[{"target": "a", "datapoints": [[1, null]]}]""", "timestamp is not whole epoch seconds")]
    [InlineData("""[{"target": "a", "datapoints": [[1]]}]""", "not a [value, timestamp] pair")]
    [InlineData("""[{"target": "a"}]""", "has no \"datapoints\" array")]
    [InlineData("""[{"datapoints": []}]""", "has no \"target\" string")]
    [InlineData("""[{"target": "a", "tags": {"env": ["x"]}, "datapoints": []}]""", "tag \"env\" of series \"a\" is not a string")]
    [InlineData("""{"error": "nope"}""", "expected a JSON array of series")]
    public void Read_MalformedAnswer_IsInvalidResponseSayingWhat(string json, string expected)
    {
        var ex = ReadFails(json);

        Assert.Equal(MetricsErrorKind.InvalidResponse, ex.Kind);
        Assert.Contains("Graphite at http://graphite.example:8080/", ex.Message, StringComparison.Ordinal);
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Read_NotJson_IsNotTheApiQuotingTheBody()
    {
        var ex = ReadFails("<html><body>Please log in s3cret</body></html>");

        Assert.Equal(MetricsErrorKind.InvalidResponse, ex.Kind);
        Assert.Contains("\"<html><body>Please log in ***</body></html>\" instead of a Graphite API response", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Read_MoreSeriesThanMaxSeries_FailsNamingTheCapAndTheSetting()
    {
        var ex = ReadFails("""[{"target": "a", "datapoints": []}, {"target": "b", "datapoints": []}, {"target": "c", "datapoints": []}]""", maxSeries: 2);

        Assert.Equal(MetricsErrorKind.InvalidResponse, ex.Kind);
        Assert.Contains("it has 3 series, more than the maxSeries cap of 2", ex.Message, StringComparison.Ordinal);
        Assert.Contains("backends.graphite.limits.maxSeries", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Read_TagValueLongerThanMaxLabelLength_Fails()
    {
        var ex = ReadFails($$"""[{"target": "a", "tags": {"pod": "{{new string('p', 11)}}"}, "datapoints": []}]""", maxLabelLength: 10);

        Assert.Contains("label \"pod\" has a value of 11 characters, longer than the maxLabelLength cap of 10", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Read_LongTargetNeededAsName_FailsSuggestingAlias()
    {
        var longTarget = "app." + new string('x', 20);
        var ex = ReadFails($$"""[{"target": "{{longTarget}}", "datapoints": []}, {"target": "b", "datapoints": []}]""", maxLabelLength: 10);

        Assert.Contains("label \"name\" has a value of 24 characters", ex.Message, StringComparison.Ordinal);
        Assert.Contains("alias()", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Read_Tags_AreLabelsWithoutNameAndFunctionMarkers()
    {
        var series = Read("""
            [{"target": "sumSeries(seriesByTag('name=http.5xx'))",
              "tags": {"env": "prod", "name": "http.5xx", "aggregatedBy": "sum", "scale": "100.0"},
              "datapoints": [[1, 10]]}]
            """);

        Assert.Equal(LabelSet.Of(("env", "prod")), Assert.Single(series).Labels);
    }

    [Fact]
    public void Read_NoTags_IsNoLabels()
    {
        Assert.Equal(LabelSet.Empty, Assert.Single(Read("""[{"target": "a.b", "datapoints": [[1, 10]]}]""")).Labels);
    }

    [Fact]
    public void Read_SeriesWithTheSameLabels_EachGetTheirTargetAsName()
    {
        var series = Read("""
            [{"target": "app.a", "tags": {"name": "app.a"}, "datapoints": []},
             {"target": "app.b", "tags": {"name": "app.b"}, "datapoints": []},
             {"target": "app.c", "tags": {"name": "app.c", "env": "prod"}, "datapoints": []}]
            """);

        Assert.Equal(
            [LabelSet.Of(("name", "app.a")), LabelSet.Of(("name", "app.b")), LabelSet.Of(("env", "prod"))],
            series.Select(s => s.Labels));
    }

    [Fact]
    public void Read_TheSameSeriesTwice_FailsInsteadOfMergingThem()
    {
        var ex = ReadFails("""[{"target": "app.a", "datapoints": []}, {"target": "app.a", "datapoints": []}]""");

        Assert.Contains("two series are both {name=\"app.a\"}", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Read_PointsOutOfOrder_AreSortedByTime()
    {
        var series = Read("""[{"target": "a", "datapoints": [[3, 30], [1, 10], [2, 20]]}]""");

        Assert.Equal([1.0, 2, 3], Assert.Single(series).Points.Select(p => p.Value));
    }

    [Fact]
    public void Read_EmptyAnswer_IsNoSeries()
    {
        Assert.Empty(Read("[]"));
    }
}
