using System.Net.Sockets;
using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Testing.Prometheus;

namespace RollbackSentinel.Prometheus.Tests.Fixtures;

public sealed class PrometheusServerTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 20, 0, 0, 0, TimeSpan.Zero);

    [Fact]
    public async Task DisposeAsync_RunningServer_StopsProcessAndDeletesItsDirectory()
    {
        var server = await PrometheusServer.StartAsync(
            new OpenMetricsWriter().Gauge("answer", [], [new(T0, 42)]).Render(), CancellationToken.None);
        var dataDirectory = server.DataDirectory;
        var baseAddress = server.BaseAddress;
        using (var test = new TestClient(baseAddress))
        {
            var samples = await test.Client.QueryAsync("answer", T0, CancellationToken.None);
            Assert.Equal([new Sample(LabelSet.Empty, 42)], samples);
        }

        await server.DisposeAsync();

        Assert.False(Directory.Exists(dataDirectory), $"{dataDirectory} still exists");
        using var tcp = new TcpClient();
        await Assert.ThrowsAsync<SocketException>(() => tcp.ConnectAsync(baseAddress.Host, baseAddress.Port));
    }

    [Fact]
    public async Task StartAsync_HistoryWithoutEof_ThrowsWithPromtoolsError()
    {
        var ex = await Assert.ThrowsAsync<InvalidOperationException>(
            () => PrometheusServer.StartAsync("# TYPE g gauge\ng 1 1795132800\n", CancellationToken.None));

        Assert.Contains("promtool tsdb create-blocks-from openmetrics failed", ex.Message, StringComparison.Ordinal);
        Assert.Contains("data does not end with # EOF", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StartAsync_InvalidFlag_ThrowsWithPrometheusOutput()
    {
        var ex = await Assert.ThrowsAsync<InvalidOperationException>(
            () => PrometheusServer.StartAsync(
                new PrometheusServerOptions { ExtraArguments = ["--no-such-flag"] }, CancellationToken.None));

        Assert.Contains("Prometheus did not become ready", ex.Message, StringComparison.Ordinal);
        Assert.Contains("unknown long flag '--no-such-flag'", ex.Message, StringComparison.Ordinal);
    }
}
