using System.Text;
using RollbackSentinel.Backends.Http;
using RollbackSentinel.Backends.InfluxDb;
using RollbackSentinel.Core.Metrics;

namespace RollbackSentinel.Backends.Tests.InfluxDb;

public sealed class InfluxDbResponseReaderTests
{
    private const string Query = "SELECT \"errors\" FROM \"http\" WHERE $timeFilter";
    private static readonly InfluxDbOptions Options = new() { BaseAddress = new Uri("http://influx.example:8086/"), Database = "app", Password = "hunter2", Username = "u" };
    private static readonly BackendErrors Errors = new(Options.BaseAddress, Options.Secrets(), "InfluxDB", Options.LimitsKey);

    [Fact]
    public void Read_Series_TagsAreLabelsAndNullsAreGaps()
    {
        var answer = Read("""
            {"results":[{"statement_id":0,"series":[
              {"name":"http","tags":{"pod":"a","zone":""},"columns":["time","errors"],"values":[[1000,1],[2000,null],[3000,2.5]]}]}]}
            """);

        var series = Assert.Single(answer.Series);
        Assert.Null(answer.StatementError);
        Assert.Equal(LabelSet.Of(("pod", "a")), series.Labels);
        Assert.Equal([(1000L, 1d), (3000L, 2.5)], series.Points.Select(p => (p.Timestamp.ToUnixTimeMilliseconds(), p.Value)));
    }

    [Fact]
    public void Read_DescendingTimes_AreSortedAscending()
    {
        var answer = Read("""{"results":[{"series":[{"name":"http","columns":["time","v"],"values":[[3000,3],[1000,1],[2000,2]]}]}]}""");

        Assert.Equal([1d, 2d, 3d], Assert.Single(answer.Series).Points.Select(p => p.Value));
    }

    [Fact]
    public void Read_NoSeries_IsEmpty()
    {
        Assert.Empty(Read("""{"results":[{"statement_id":0}]}""").Series);
    }

    [Fact]
    public void Read_StatementError_IsReturnedNotThrown()
    {
        Assert.Equal("database not found: app", Read("""{"results":[{"statement_id":0,"error":"database not found: app"}]}""").StatementError);
    }

    [Fact]
    public void Read_SameTagsFromTwoMeasurements_GetTheMeasurementLabel()
    {
        var answer = Read("""
            {"results":[{"series":[
              {"name":"http","tags":{"pod":"a"},"columns":["time","errors"],"values":[[1000,1]]},
              {"name":"grpc","tags":{"pod":"a"},"columns":["time","errors"],"values":[[1000,2]]},
              {"name":"grpc","tags":{"pod":"b"},"columns":["time","errors"],"values":[[1000,3]]}]}]}
            """);

        Assert.Equal(
            [LabelSet.Of(("pod", "a"), (InfluxDbResponseReader.MeasurementLabel, "http")), LabelSet.Of(("pod", "a"), ("_measurement", "grpc")), LabelSet.Of(("pod", "b"))],
            answer.Series.Select(s => s.Labels));
    }

    [Theory]
    [InlineData("""{"results":[{"partial":true,"series":[]}]}""", "cut the answer short")]
    [InlineData("""{"results":[{"series":[{"name":"h","partial":true,"columns":["time","v"],"values":[]}]}]}""", "max-row-limit")]
    public void Read_PartialAnswer_FailsInsteadOfUsingTruncatedData(string json, string expected)
    {
        var ex = Assert.Throws<MetricsQueryException>(() => Read(json));

        Assert.Equal(MetricsErrorKind.InvalidResponse, ex.Kind);
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Read_MoreSeriesThanTheCap_FailsNamingTheSetting()
    {
        var json = """{"results":[{"series":[""" + string.Join(',', Enumerable.Range(0, 3).Select(i => $$"""{"name":"h","tags":{"pod":"{{i}}"},"columns":["time","v"],"values":[]}""")) + "]}]}";

        var ex = Assert.Throws<MetricsQueryException>(() => Read(json, Options with { MaxSeries = 2 }));

        Assert.Contains("3 series, more than the maxSeries cap of 2", ex.Message, StringComparison.Ordinal);
        Assert.Contains("backends.influxdb.limits.maxSeries", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Read_TagLongerThanTheCap_Fails()
    {
        var ex = Assert.Throws<MetricsQueryException>(() => Read(
            """{"results":[{"series":[{"name":"h","tags":{"pod":"abcdef"},"columns":["time","v"],"values":[]}]}]}""",
            Options with { MaxLabelLength = 5 }));

        Assert.Contains("tag 'pod' of series 'h' is longer than the maxLabelLength cap of 5", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"results":[{"series":[{"name":"h","columns":["time","a","b"],"values":[]}]}]}""", MetricsErrorKind.BadQuery, "2 value columns (a, b); select one field")]
    [InlineData("""{"results":[{"series":[{"name":"h","columns":["time"],"values":[]}]}]}""", MetricsErrorKind.BadQuery, "no value column")]
    [InlineData("""{"results":[{"series":[{"name":"h","columns":["time","v"],"values":[[1000,true]]}]}]}""", MetricsErrorKind.BadQuery, "booleans in column 'v'")]
    [InlineData("""{"results":[{"series":[{"name":"h","columns":["v","time"],"values":[]}]}]}""", MetricsErrorKind.InvalidResponse, "does not start with a time column")]
    [InlineData("""{"results":[{"series":[{"name":"h","columns":["time","v"],"values":[["2023-11-14T22:13:20Z",1]]}]}]}""", MetricsErrorKind.InvalidResponse, "is not epoch milliseconds")]
    [InlineData("""{"results":[{},{}]}""", MetricsErrorKind.InvalidResponse, "2 statement results")]
    [InlineData("""[1,2]""", MetricsErrorKind.InvalidResponse, "not an object")]
    [InlineData("""<html>hello</html>""", MetricsErrorKind.InvalidResponse, "instead of a InfluxDB API response")]
    public void Read_UnusableAnswer_SaysWhy(string body, MetricsErrorKind kind, string expected)
    {
        var ex = Assert.Throws<MetricsQueryException>(() => Read(body));

        Assert.Equal(kind, ex.Kind);
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
        Assert.Contains("http://influx.example:8086/", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Read_GoEncoderFailureOnInfinity_SaysTheQueryYieldsAnInfiniteValue()
    {
        // What InfluxDB 1.6 answers (HTTP 200) for SELECT ln("x") when x is 0.
        var ex = Assert.Throws<MetricsQueryException>(() => Read(
            "json: error calling MarshalJSON for type httpd.Response: json: error calling MarshalJSON for type *query.Result: json: unsupported value: -Inf\n"));

        Assert.Equal(MetricsErrorKind.InvalidResponse, ex.Kind);
        Assert.Contains("the query yields an infinite value", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Read_SecretEchoedInAColumnName_IsMasked()
    {
        var ex = Assert.Throws<MetricsQueryException>(() => Read("""{"results":[{"series":[{"name":"h","columns":["time","hunter2","b"],"values":[]}]}]}"""));

        Assert.DoesNotContain("hunter2", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"error":"error parsing query: found SELEC"}""", "error parsing query: found SELEC")]
    [InlineData("""{"results":[]}""", null)]
    [InlineData("""not json""", null)]
    public void ErrorText_IsTheErrorOfAnErrorBody(string body, string? expected)
    {
        Assert.Equal(expected, InfluxDbResponseReader.ErrorText(Encoding.UTF8.GetBytes(body)));
    }

    private static InfluxDbAnswer Read(string json, InfluxDbOptions? options = null) =>
        InfluxDbResponseReader.Read(Encoding.UTF8.GetBytes(json), 200, Query, Errors, options ?? Options);
}
