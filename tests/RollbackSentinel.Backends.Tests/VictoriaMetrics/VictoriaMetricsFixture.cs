using RollbackSentinel.Testing.Prometheus;
using RollbackSentinel.Testing.VictoriaMetrics;

namespace RollbackSentinel.Backends.Tests.VictoriaMetrics;

/// <summary>
/// One VictoriaMetrics for the test class, holding an hour of checkout traffic ending at <see cref="T"/> (two days ago,
/// on the minute): <c>http_requests_total{app="checkout"}</c> growing 10/s for code 200 and 1/s for code 500, a sample every 15 s.
/// </summary>
public sealed class VictoriaMetricsFixture : IAsyncLifetime
{
    private static readonly TimeSpan StartBudget = TimeSpan.FromSeconds(90);

    private VictoriaMetricsServer? _server;

    public DateTimeOffset T { get; } = new DateTimeOffset(TimeProvider.System.GetUtcNow().Ticks / TimeSpan.TicksPerMinute * TimeSpan.TicksPerMinute, TimeSpan.Zero).AddDays(-2);

    public VictoriaMetricsServer Server => _server ?? throw new InvalidOperationException("VictoriaMetrics has not been started.");

    public async Task InitializeAsync()
    {
        using var budget = new CancellationTokenSource(StartBudget);
        _server = await VictoriaMetricsServer.StartAsync(budget.Token);
        var text = VictoriaMetricsServer.PrometheusText("http_requests_total", [("app", "checkout"), ("code", "200")], Counter(10))
            + VictoriaMetricsServer.PrometheusText("http_requests_total", [("app", "checkout"), ("code", "500")], Counter(1));
        await _server.LoadPrometheusTextAsync(text, budget.Token);
    }

    public async Task DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
    }

    private IEnumerable<MetricPoint> Counter(double perSecond)
    {
        var start = T.AddHours(-1);
        for (var k = 0; k <= 240; k++)
        {
            yield return new MetricPoint(start.AddSeconds(15 * k), perSecond * 15 * k);
        }
    }
}
