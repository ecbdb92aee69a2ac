using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Core.RuleTests;
using RollbackSentinel.Prometheus.Local;

namespace RollbackSentinel.Prometheus.Tests.Local;

/// <summary>A rule test's series as Prometheus takes them in: OpenMetrics for promtool, staleness markers as remote write.</summary>
public sealed class TestHistoryTests
{
    private static readonly DateTimeOffset Start = DateTimeOffset.UnixEpoch;

    private static PlacedSeries Series(string metric, LabelSet labels, params SeriesPoint[] values) =>
        new(new SeriesName(metric, labels), Start, TimeSpan.FromSeconds(15), values);

    [Fact]
    public void OpenMetrics_ValuesOnly_GroupedByMetricInSecondsEndingWithEof()
    {
        var text = TestHistory.OpenMetrics(
        [
            Series("up", LabelSet.Empty, SeriesPoint.Of(1), SeriesPoint.Missing, SeriesPoint.Stale, SeriesPoint.Of(double.NaN)),
            Series("http_requests_total", LabelSet.Of(("code", "5\"0\\0")), SeriesPoint.Of(0), SeriesPoint.Of(1.5), SeriesPoint.Of(double.PositiveInfinity)),
        ]);

        Assert.Equal(
            "http_requests_total{code=\"5\\\"0\\\\0\"} 0 0\nhttp_requests_total{code=\"5\\\"0\\\\0\"} 1.5 15\nhttp_requests_total{code=\"5\\\"0\\\\0\"} +Inf 30\n"
            + "up 1 0\nup NaN 45\n# EOF\n",
            text);
    }

    [Fact]
    public void StaleMarkers_NoneInTheSeries_IsNull() =>
        Assert.Null(TestHistory.StaleMarkers([Series("up", LabelSet.Empty, SeriesPoint.Of(1), SeriesPoint.Missing)]));

    [Fact]
    public void StaleMarkers_OneSeries_IsASnappyBlockOfTheWriteRequest()
    {
        var body = TestHistory.StaleMarkers([Series("up", LabelSet.Of(("job", "a")), SeriesPoint.Of(1), SeriesPoint.Stale)])!;

        // WriteRequest{timeseries: [{labels: [__name__=up, job=a], samples: [{value: StaleNaN, timestamp: 15000}]}]}
        byte[] label1 = [0x0A, 0x08, .. "__name__"u8, 0x12, 0x02, .. "up"u8];
        byte[] label2 = [0x0A, 0x03, .. "job"u8, 0x12, 0x01, .. "a"u8];
        byte[] sample = [0x09, 0x02, 0, 0, 0, 0, 0, 0xF0, 0x7F, 0x10, 0x98, 0x75];
        byte[] series = [0x0A, (byte)label1.Length, .. label1, 0x0A, (byte)label2.Length, .. label2, 0x12, (byte)sample.Length, .. sample];
        byte[] request = [0x0A, (byte)series.Length, .. series];
        Assert.Equal([(byte)request.Length, (byte)((request.Length - 1) << 2), .. request], body);
    }

    [Theory]
    [InlineData(1, new byte[] { 1, 0 << 2 })]
    [InlineData(60, new byte[] { 60, 59 << 2 })]
    [InlineData(61, new byte[] { 61, 60 << 2, 60 })]
    [InlineData(256, new byte[] { 0x80, 0x02, 60 << 2, 255 })]
    [InlineData(257, new byte[] { 0x81, 0x02, 61 << 2, 0x00, 0x01 })]
    public void Snappy_Literals_HaveTheLengthTagsOfTheFormat(int length, byte[] header)
    {
        var data = Enumerable.Range(0, length).Select(i => (byte)i).ToArray();

        Assert.Equal([.. header, .. data], RemoteWrite.Snappy(data));
    }

    [Fact]
    public void Snappy_MoreThan64KiB_IsSeveralLiterals()
    {
        var block = RemoteWrite.Snappy(new byte[70_000]);

        // varint(70000) = F0 A2 04, then a 65536-byte literal (tag 61: 2-byte length 0xFFFF) and a 4464-byte one.
        Assert.Equal([0xF0, 0xA2, 0x04, 61 << 2, 0xFF, 0xFF], block[..6]);
        Assert.Equal([61 << 2, 0x6F, 0x11], block[(6 + 65536)..(6 + 65536 + 3)]);
        Assert.Equal(3 + 3 + 65536 + 3 + 4464, block.Length);
    }
}
