using System.Text;
using RollbackSentinel.Backends.Datadog;
using RollbackSentinel.Core.Metrics;

namespace RollbackSentinel.Backends.Tests.Datadog;

public sealed class DatadogResponseReaderTests
{
    private static readonly DateTimeOffset T0 = DateTimeOffset.FromUnixTimeMilliseconds(1_763_640_000_000);

    [Fact]
    public void ReadSeries_FloatMillisecondsAndNulls_NullsAreLeftOut()
    {
        var series = Read("""
            {"status":"ok","res_type":"time_series","series":[
              {"metric":"m","scope":"service:checkout","tag_set":["service:checkout"],
               "pointlist":[[1763640000000.0, 1.5],[1763640060000.0, null],[1763640120000, 3]]}]}
            """);

        var only = Assert.Single(series);
        Assert.Equal(LabelSet.Of(("service", "checkout")), only.Labels);
        Assert.Equal([new Point(T0, 1.5), new Point(T0.AddMinutes(2), 3)], only.Points);
    }

    [Fact]
    public void ReadSeries_TagSetEntries_AreLabels_SplitAtTheFirstColon_BareTagsWithAnEmptyValue()
    {
        var series = Read("""
            {"series":[{"scope":"env:prod,url:http://x:8080/a,canary","tag_set":["url:http://x:8080/a","canary"],"pointlist":[]}]}
            """);

        Assert.Equal(LabelSet.Of(("url", "http://x:8080/a"), ("canary", "")), Assert.Single(series).Labels);
    }

    [Fact]
    public void ReadSeries_NoTagSet_ScopeIsTheLabels_StarIsNone()
    {
        var series = Read("""
            {"series":[{"scope":"env:prod,service:cart","pointlist":[]},{"scope":"*","pointlist":[]}]}
            """);

        Assert.Equal([LabelSet.Of(("env", "prod"), ("service", "cart")), LabelSet.Empty], series.Select(s => s.Labels));
    }

    [Fact]
    public void ReadSeries_PointsOutOfOrder_AreSorted()
    {
        var series = Read("""{"series":[{"tag_set":[],"pointlist":[[1763640060000,2],[1763640000000,1]]}]}""");

        Assert.Equal([new Point(T0, 1), new Point(T0.AddMinutes(1), 2)], Assert.Single(series).Points);
    }

    [Fact]
    public void ReadSeries_EmptySeries_IsNoSeries()
    {
        Assert.Empty(Read("""{"status":"ok","res_type":"time_series","series":[],"from_date":0,"to_date":60000}"""));
    }

    [Theory]
    [InlineData("""{"status":"ok"}""", "no \"series\" array")]
    [InlineData("""{"series":[{"tag_set":[],"pointlist":[[1763640000000,"1"]]}]}""", "expected a [milliseconds, value or null] pair")]
    [InlineData("""{"series":[{"tag_set":[]}]}""", "no \"pointlist\"")]
    [InlineData("""{"series":[{"pointlist":[]}]}""", "neither \"tag_set\" nor \"scope\"")]
    [InlineData("""{"series":[{"tag_set":["a:1","a:2"],"pointlist":[]}]}""", "tag \"a\" has two values")]
    [InlineData("""{"series":[{"tag_set":["a:1"],"pointlist":[]},{"tag_set":["a:1"],"pointlist":[]}]}""", "two series have the tags {a=\"1\"}")]
    [InlineData("""{"res_type":"scalar","series":[]}""", "res_type is \"scalar\"")]
    [InlineData("""[1,2]""", "not a JSON object")]
    [InlineData("""<html>""", "not JSON")]
    public void ReadSeries_Malformed_IsFormatExceptionSayingWhat(string json, string expected)
    {
        var ex = Assert.Throws<FormatException>(() => Read(json));

        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ReadSeries_MoreSeriesThanTheCap_IsLimitNamingTheKey()
    {
        var ex = Assert.Throws<DatadogLimitException>(() => DatadogResponseReader.ReadSeries(
            Bytes("""{"series":[{"scope":"*","pointlist":[]},{"scope":"a:b","pointlist":[]}]}"""), 1, 100, "backends.datadog.limits"));

        Assert.Contains("2 series, more than the maxSeries cap of 1", ex.Message, StringComparison.Ordinal);
        Assert.Contains("backends.datadog.limits.maxSeries", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ReadSeries_TagLongerThanTheCap_IsLimit()
    {
        var ex = Assert.Throws<DatadogLimitException>(() => DatadogResponseReader.ReadSeries(
            Bytes("""{"series":[{"tag_set":["k:0123456789"],"pointlist":[]}]}"""), 10, 5));

        Assert.Contains("maxLabelLength cap of 5", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"errors":["Forbidden"]}""", "Forbidden")]
    [InlineData("""{"errors":["first","second"]}""", "first; second")]
    [InlineData("""{"status":"error","error":"Error parsing query: x"}""", "Error parsing query: x")]
    [InlineData("""{"status":"error"}""", "(no error message)")]
    public void ErrorMessage_BothShapes(string json, string expected)
    {
        Assert.Equal(expected, DatadogResponseReader.ErrorMessage(Bytes(json)));
    }

    [Theory]
    [InlineData("""{"status":"ok","series":[]}""")]
    [InlineData("""{"errors":[]}""")]
    [InlineData("""not json""")]
    [InlineData("")]
    public void ErrorMessage_NoError_IsNull(string body)
    {
        Assert.Null(DatadogResponseReader.ErrorMessage(Bytes(body)));
    }

    private static IReadOnlyList<RangeSeries> Read(string json) => DatadogResponseReader.ReadSeries(Bytes(json), 100, 100);

    private static byte[] Bytes(string text) => Encoding.UTF8.GetBytes(text);
}
