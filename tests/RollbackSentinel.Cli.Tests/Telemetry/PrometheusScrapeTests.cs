using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Prometheus;
using RollbackSentinel.Telemetry;
using RollbackSentinel.Testing.Prometheus;

namespace RollbackSentinel.Cli.Tests.Telemetry;

/// <summary>
/// A real Prometheus scrapes <c>/metrics</c> from Kestrel, wired as the daemon wires it
/// (<c>AddSentinelTelemetry</c>, <c>MapPrometheusMetrics</c>), and answers queries with what was recorded.
/// </summary>
public sealed class PrometheusScrapeTests
{
    private const string Job = "sentinel";
    private static readonly TimeSpan ScrapeWait = TimeSpan.FromSeconds(20);
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(250);

    [Fact]
    public async Task Scrape_ByARealPrometheus_IsHealthyAndEveryValueQueryable()
    {
        using var budget = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        var ct = budget.Token;
        await using var app = await StartAppAsync(ct);
        var target = new Uri(app.Urls.Single());
        ExpositionSamples.Record(app.Services.GetRequiredService<SentinelMetrics>());

        await using var prometheus = await PrometheusServer.StartAsync(
            new PrometheusServerOptions
            {
                ScrapeConfigsYaml = $"""
                    - job_name: {Job}
                      scrape_interval: 1s
                      scrape_timeout: 1s
                      static_configs:
                        - targets: ['{target.Authority}']
                    """,
            },
            ct);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        var client = new PrometheusClient(http, new PrometheusOptions { BaseAddress = prometheus.BaseAddress, Timeout = TimeSpan.FromSeconds(5) });

        var up = await WaitForAsync(client, $"up{{job=\"{Job}\"}} == 1", prometheus, ct);
        var breaches = await WaitForAsync(client, "rollback_sentinel_evaluations_total{verdict=\"breach\"}", prometheus, ct);

        Assert.Equal(1, Assert.Single(up).Value);
        var breach = Assert.Single(breaches);
        Assert.Equal(3, breach.Value);
        Assert.Equal("checkout", breach.Labels["policy"]);
        Assert.Equal("errors", breach.Labels["trigger"]);
        Assert.Equal(Job, breach.Labels["job"]);

        Assert.Equal(2, await ScalarAsync(client, "rollback_sentinel_evaluation_duration_seconds_bucket{le=\"0.25\"}", ct));
        Assert.Equal(3, await ScalarAsync(client, "rollback_sentinel_evaluation_duration_seconds_bucket{le=\"+Inf\"}", ct));
        Assert.Equal(3, await ScalarAsync(client, "rollback_sentinel_evaluation_duration_seconds_count", ct));
        Assert.Equal(4.375, await ScalarAsync(client, "rollback_sentinel_evaluation_duration_seconds_sum", ct));
        Assert.Equal(1, await ScalarAsync(client, "rollback_sentinel_backend_request_errors_total{kind=\"timeout\"}", ct));

        // Label values with quotes, backslashes and line feeds arrive as they were recorded.
        var invalid = Assert.Single(await client.QueryAsync("rollback_sentinel_rules_valid == 0", Now(), ct));
        Assert.Equal(ExpositionSamples.AwkwardFile, invalid.Labels["file"]);
        var firing = Assert.Single(await client.QueryAsync("rollback_sentinel_trigger_state == 2", Now(), ct));
        Assert.Equal("{app=\"checkout\"}", firing.Labels["series"]);
        Assert.Equal("errors", firing.Labels["trigger"]);
        Assert.True(double.IsNaN(await ScalarAsync(client, "rollback_sentinel_trigger_value{trigger=\"latency\"}", ct)));
        Assert.True(double.IsPositiveInfinity(await ScalarAsync(client, "rollback_sentinel_trigger_threshold{trigger=\"latency\"}", ct)));

        var health = await TargetHealthAsync(http, prometheus.BaseAddress, ct);
        Assert.Equal(("up", string.Empty), health);
    }

    [Fact]
    public async Task MetricsEndpoint_EvenWhenOpenMetricsIsPreferred_AnswersInTheTextFormat004()
    {
        using var budget = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await using var app = await StartAppAsync(budget.Token);
        app.Services.GetRequiredService<SentinelMetrics>().RecordEvaluation("checkout", "errors", RollbackSentinel.Core.Evaluation.VerdictKind.Pass);
        using var http = new HttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(new Uri(app.Urls.Single()), "/metrics"));

        // What Prometheus sends: OpenMetrics first. /metrics never offered it and still does not.
        request.Headers.TryAddWithoutValidation("Accept", "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.4,*/*;q=0.1");

        using var response = await http.SendAsync(request, budget.Token);
        var body = await response.Content.ReadAsStringAsync(budget.Token);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/plain; version=0.0.4; charset=utf-8", response.Content.Headers.ContentType?.ToString());
        Assert.Equal("no-store", response.Headers.CacheControl?.ToString());
        Assert.Contains("rollback_sentinel_evaluations_total{policy=\"checkout\",trigger=\"errors\",verdict=\"pass\"} 1\n", body);
        Assert.DoesNotContain("# EOF", body);
    }

    private static async Task<WebApplication> StartAppAsync(CancellationToken ct)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();

        // Port 0: the OS picks a free port at bind time, so there is no race for it.
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Services.AddSentinelTelemetry();
        var app = builder.Build();
        app.MapPrometheusMetrics("/metrics");
        await app.StartAsync(ct);

        // Once started, Urls lists the addresses actually bound.
        return app;
    }

    /// <summary>Polls until <paramref name="query"/> returns samples; fails with Prometheus' log after <see cref="ScrapeWait"/>.</summary>
    private static async Task<IReadOnlyList<Sample>> WaitForAsync(PrometheusClient client, string query, PrometheusServer prometheus, CancellationToken ct)
    {
        var waited = Stopwatch.StartNew();
        while (true)
        {
            var samples = await client.QueryAsync(query, Now(), ct);
            if (samples.Count > 0)
            {
                return samples;
            }

            if (waited.Elapsed > ScrapeWait)
            {
                Assert.Fail($"No result for {query} after {ScrapeWait.TotalSeconds} s. Prometheus log:\n{prometheus.RecentLog}");
            }

            await Task.Delay(PollInterval, ct);
        }
    }

    private static async Task<double> ScalarAsync(PrometheusClient client, string query, CancellationToken ct) =>
        Assert.Single(await client.QueryAsync(query, Now(), ct)).Value;

    /// <summary>The health and last scrape error of the job's one target, from <c>/api/v1/targets</c>.</summary>
    private static async Task<(string Health, string LastError)> TargetHealthAsync(HttpClient http, Uri prometheus, CancellationToken ct)
    {
        var json = await http.GetStringAsync(new Uri(prometheus, "api/v1/targets?state=active"), ct);
        using var document = JsonDocument.Parse(json);
        var target = Assert.Single(document.RootElement.GetProperty("data").GetProperty("activeTargets").EnumerateArray());
        Assert.Equal(Job, target.GetProperty("labels").GetProperty("job").GetString());
        return (target.GetProperty("health").GetString() ?? string.Empty, target.GetProperty("lastError").GetString() ?? string.Empty);
    }

    private static DateTimeOffset Now() => TimeProvider.System.GetUtcNow();
}
