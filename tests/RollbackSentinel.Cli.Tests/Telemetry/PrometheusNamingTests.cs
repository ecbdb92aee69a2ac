using RollbackSentinel.Telemetry.Exposition;

namespace RollbackSentinel.Cli.Tests.Telemetry;

public sealed class PrometheusNamingTests
{
    [Theory]
    [InlineData("request.duration", "s", "Histogram", "request_duration_seconds")]
    [InlineData("request_duration_seconds", "s", "Histogram", "request_duration_seconds")]
    [InlineData("seconds", "s", "Gauge", "seconds")]
    [InlineData("memory.usage", "By", "Gauge", "memory_usage_bytes")]
    [InlineData("memory_usage_bytes", "By", "Gauge", "memory_usage_bytes")]
    [InlineData("http.requests", "{request}", "Counter", "http_requests_total")]
    [InlineData("http.requests_total", null, "Counter", "http_requests_total")]
    [InlineData("cpu.time_total", "s", "Counter", "cpu_time_seconds_total")]
    [InlineData("cpu_time_seconds_total", "s", "Counter", "cpu_time_seconds_total")]
    [InlineData("throughput", "By/s", "Gauge", "throughput_bytes_per_second")]
    [InlineData("arrivals", "{request}/s", "Gauge", "arrivals_per_second")]
    [InlineData("gc.pause", "ms", "Histogram", "gc_pause_milliseconds")]
    [InlineData("utilization", "1", "Gauge", "utilization")]
    [InlineData("total", null, "Counter", "total_total")]
    [InlineData("_total", null, "Counter", "_total")]
    [InlineData("a..b--c", null, "Gauge", "a_b_c")]
    [InlineData("9lives", null, "Gauge", "_9lives")]
    [InlineData("ns:metric", null, "Gauge", "ns:metric")]
    public void MetricName_FollowsPrometheusConventions(string instrument, string? unit, string type, string expected) =>
        Assert.Equal(expected, PrometheusNaming.MetricName(instrument, unit, Enum.Parse<PrometheusType>(type)));

    [Theory]
    [InlineData("http.method", "http_method")]
    [InlineData("__name__", "_name_")]
    [InlineData("0day", "_0day")]
    [InlineData("a:b", "a_b")]
    [InlineData("", "_")]
    public void LabelName_IsValidAndNeverReserved(string tag, string expected) =>
        Assert.Equal(expected, PrometheusNaming.LabelName(tag));
}
