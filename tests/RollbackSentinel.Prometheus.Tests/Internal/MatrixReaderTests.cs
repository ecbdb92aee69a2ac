using System.Globalization;
using System.Text;
using System.Text.Json;
using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Prometheus.Internal;

namespace RollbackSentinel.Prometheus.Tests.Internal;

public sealed class MatrixReaderTests
{
    private static readonly ResultLimits Limits = new(MaxSeries: 10_000, MaxLabelLength: 1024);

    [Fact]
    public void TryRead_MatrixAnswer_ReadsLabelsAndPointsInMilliseconds()
    {
        var series = Read("""
            {"status":"success","data":{"resultType":"matrix","result":[
              {"metric":{"code":"500","__name__":"http_requests_total","app":"checkout"},"values":[[1795132800,"1.5"],[1795132815.123,"2"]]}
            ]}}
            """);

        var s = Assert.Single(series!);
        Assert.Equal("__name__\0http_requests_total\0app\0checkout\0code\0500\0", s.Identity);
        Assert.Equal(LabelSet.Of(("app", "checkout"), ("code", "500")), s.Labels);
        Assert.Equal(
            [new Point(DateTimeOffset.FromUnixTimeMilliseconds(1_795_132_800_000), 1.5), new Point(DateTimeOffset.FromUnixTimeMilliseconds(1_795_132_815_123), 2)],
            s.Points);
    }

    [Fact]
    public void TryRead_NaNAndInfinities_ReadsThemAsPrometheusSpellsThem()
    {
        var series = Read("""{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"NaN"],[2,"+Inf"],[3,"-Inf"],[4,"Inf"],[5,"-2.5e+3"]]}]}}""");

        Assert.Equal([double.NaN, double.PositiveInfinity, double.NegativeInfinity, double.PositiveInfinity, -2500], Assert.Single(series!).Points.Select(p => p.Value));
    }

    [Fact]
    public void TryRead_EmptyResult_ReturnsNoSeries() =>
        Assert.Empty(Read("""{"status":"success","data":{"resultType":"matrix","result":[]}}""")!);

    [Fact]
    public void TryRead_ResultBeforeResultTypeAndOtherMembers_ReadsTheMatrix()
    {
        var series = Read("""{"warnings":["w"],"data":{"result":[{"values":[[1,"3"]],"metric":{"a":"b"}}],"stats":{"x":[1,{"y":2}]},"resultType":"matrix"},"status":"success"}""");

        Assert.Equal(3, Assert.Single(Assert.Single(series!).Points).Value);
    }

    [Theory]
    [InlineData("""{"status":"error","errorType":"bad_data","error":"parse error"}""")]
    [InlineData("""{"status":"success","data":{"resultType":"vector","result":[]}}""")]
    [InlineData("""{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"1"],[2,""")]
    [InlineData("""{"status":"success","data":{"resultType":"matrix","result":[]}} trailing""")]
    [InlineData("<html>502 Bad Gateway</html>")]
    [InlineData("")]
    [InlineData("""{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"abc"]]}]}}""")]
    [InlineData("""{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"\u0031"]]}]}}""")]
    [InlineData("""{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"a":1},"values":[]}]}}""")]
    [InlineData("""{"status":"success","data":{"resultType":"matrix","result":[{"metric":{}}]}}""")]
    [InlineData("""{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"histograms":[[1,{}]]}]}}""")]
    [InlineData("""{"status":"success","status":"success","data":{"resultType":"matrix","result":[]}}""")]
    [InlineData("""{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"a":"b","a":"c"},"values":[]}]}}""")]
    public void TryRead_AnythingButAWellFormedMatrix_ReturnsNullForTheDocumentReader(string body) =>
        Assert.Null(Read(body));

    [Fact]
    public void TryRead_MoreSeriesThanTheCap_ReturnsNull()
    {
        var body = Matrix(series: 3, points: 1);

        Assert.NotNull(MatrixReader.TryRead(Encoding.UTF8.GetBytes(body), Limits with { MaxSeries = 3 }));
        Assert.Null(MatrixReader.TryRead(Encoding.UTF8.GetBytes(body), Limits with { MaxSeries = 2 }));
    }

    [Fact]
    public void TryRead_LabelLongerThanTheCap_ReturnsNull() =>
        Assert.Null(MatrixReader.TryRead(Encoding.UTF8.GetBytes(Matrix(series: 1, points: 1)), Limits with { MaxLabelLength = 3 }));

    [Fact]
    public void TryRead_HugeMatrix_ReadsWhatTheDocumentReaderReads()
    {
        var body = Matrix(series: 40, points: 12_000);

        var fast = MatrixReader.TryRead(Encoding.UTF8.GetBytes(body), Limits)!;
        using var document = JsonDocument.Parse(body);
        var slow = ResultReader.ReadMatrix(document.RootElement.GetProperty("data"), Limits);

        Assert.Equal(40, fast.Count);
        Assert.Equal(slow.Select(s => s.Identity), fast.Select(s => s.Identity));
        Assert.Equal(slow.Select(s => s.Labels), fast.Select(s => s.Labels));
        for (var i = 0; i < slow.Count; i++)
        {
            Assert.Equal(12_000, fast[i].Points.Count);
            Assert.Equal(slow[i].Points, fast[i].Points);
        }
    }

    private static List<ParsedSeries>? Read(string body) => MatrixReader.TryRead(Encoding.UTF8.GetBytes(body), Limits);

    /// <summary>A matrix answer as Prometheus writes it: one series per pod, a point every 15 s, values with fractions, NaN now and then.</summary>
    private static string Matrix(int series, int points)
    {
        var sb = new StringBuilder("""{"status":"success","data":{"resultType":"matrix","result":[""");
        for (var s = 0; s < series; s++)
        {
            sb.Append(s == 0 ? "" : ",").Append(CultureInfo.InvariantCulture, $$"""{"metric":{"__name__":"up","pod":"pod-{{s}}","app":"checkout"},"values":[""");
            for (var p = 0; p < points; p++)
            {
                var value = p % 997 == 0 ? "NaN" : ((s * 0.37) + (p / 7.0)).ToString("R", CultureInfo.InvariantCulture);
                sb.Append(p == 0 ? "" : ",").Append(CultureInfo.InvariantCulture, $"[{1_795_132_800 + (p * 15)}.5,\"{value}\"]");
            }

            sb.Append("]}");
        }

        return sb.Append("]}}").ToString();
    }
}
