using System.Diagnostics;
using DemoShop;

namespace RollbackSentinel.Demo.Tests;

/// <summary>DemoShop's hand-written Prometheus text exposition.</summary>
public sealed class ShopMetricsTests
{
    [Fact]
    public void Render_BeforeAnyRequest_HasBothCodesAtZeroAndAnEmptyHistogram()
    {
        var text = new ShopMetrics("blue").Render();

        Assert.Equal(
            """
            # HELP demo_http_requests_total Requests to GET / answered, by color and HTTP status code.
            # TYPE demo_http_requests_total counter
            demo_http_requests_total{color="blue",code="200"} 0
            demo_http_requests_total{color="blue",code="500"} 0
            # HELP demo_http_request_duration_seconds Time to answer GET /, in seconds.
            # TYPE demo_http_request_duration_seconds histogram
            demo_http_request_duration_seconds_bucket{color="blue",le="0.005"} 0
            demo_http_request_duration_seconds_bucket{color="blue",le="0.01"} 0
            demo_http_request_duration_seconds_bucket{color="blue",le="0.025"} 0
            demo_http_request_duration_seconds_bucket{color="blue",le="0.05"} 0
            demo_http_request_duration_seconds_bucket{color="blue",le="0.1"} 0
            demo_http_request_duration_seconds_bucket{color="blue",le="0.25"} 0
            demo_http_request_duration_seconds_bucket{color="blue",le="0.5"} 0
            demo_http_request_duration_seconds_bucket{color="blue",le="1"} 0
            demo_http_request_duration_seconds_bucket{color="blue",le="2.5"} 0
            demo_http_request_duration_seconds_bucket{color="blue",le="5"} 0
            demo_http_request_duration_seconds_bucket{color="blue",le="10"} 0
            demo_http_request_duration_seconds_bucket{color="blue",le="+Inf"} 0
            demo_http_request_duration_seconds_sum{color="blue"} 0
            demo_http_request_duration_seconds_count{color="blue"} 0

            """,
            text);
    }

    [Fact]
    public void Record_CountsByCodeAndMakesTheBucketsCumulativeWithInclusiveUpperBounds()
    {
        var metrics = new ShopMetrics("green");
        metrics.Record(200, TimeSpan.FromMilliseconds(5));    // exactly on le="0.005": counted there (le is <=)
        metrics.Record(200, TimeSpan.FromMilliseconds(20));   // le="0.025"
        metrics.Record(500, TimeSpan.FromMilliseconds(300));  // le="0.5"
        metrics.Record(503, TimeSpan.FromSeconds(30));        // above every bound: only +Inf

        var lines = metrics.Render().Split('\n');

        Assert.Contains("demo_http_requests_total{color=\"green\",code=\"200\"} 2", lines);
        Assert.Contains("demo_http_requests_total{color=\"green\",code=\"500\"} 1", lines);
        Assert.Contains("demo_http_requests_total{color=\"green\",code=\"503\"} 1", lines);
        Assert.Contains("demo_http_request_duration_seconds_bucket{color=\"green\",le=\"0.005\"} 1", lines);
        Assert.Contains("demo_http_request_duration_seconds_bucket{color=\"green\",le=\"0.01\"} 1", lines);
        Assert.Contains("demo_http_request_duration_seconds_bucket{color=\"green\",le=\"0.025\"} 2", lines);
        Assert.Contains("demo_http_request_duration_seconds_bucket{color=\"green\",le=\"0.5\"} 3", lines);
        Assert.Contains("demo_http_request_duration_seconds_bucket{color=\"green\",le=\"10\"} 3", lines);
        Assert.Contains("demo_http_request_duration_seconds_bucket{color=\"green\",le=\"+Inf\"} 4", lines);
        Assert.Contains("demo_http_request_duration_seconds_count{color=\"green\"} 4", lines);
        Assert.Contains("demo_http_request_duration_seconds_sum{color=\"green\"} 30.325", lines);
    }

    [Theory]
    [InlineData("blue", "blue")]
    [InlineData("a\"b", "a\\\"b")]
    [InlineData("a\\b", "a\\\\b")]
    [InlineData("a\nb", "a\\nb")]
    public void EscapeLabelValue_EscapesBackslashQuoteAndLineFeed(string value, string escaped) =>
        Assert.Equal(escaped, ShopMetrics.EscapeLabelValue(value));

    [Fact]
    public async Task Render_PassesPromtoolCheckMetrics()
    {
        var metrics = new ShopMetrics("we\"ird\\color\n");
        metrics.Record(200, TimeSpan.FromMilliseconds(12));
        metrics.Record(500, TimeSpan.FromSeconds(1.5));

        var info = new ProcessStartInfo("promtool", ["check", "metrics"])
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        using var promtool = Process.Start(info) ?? throw new InvalidOperationException("could not start promtool (scripts/install-deps installs it)");
        await promtool.StandardInput.WriteAsync(metrics.Render());
        promtool.StandardInput.Close();
        var stdout = promtool.StandardOutput.ReadToEndAsync();
        var stderr = promtool.StandardError.ReadToEndAsync();
        await promtool.WaitForExitAsync();

        Assert.True(promtool.ExitCode == 0, $"promtool check metrics exited {promtool.ExitCode}: {await stdout}{await stderr}{Environment.NewLine}{metrics.Render()}");
        Assert.Equal(string.Empty, (await stdout + await stderr).Trim());
    }
}
