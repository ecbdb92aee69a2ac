using RollbackSentinel.Testing.Alertmanager;

namespace RollbackSentinel.Notifications.Tests.Alertmanager;

public sealed class AlertmanagerServerTests
{
    [Fact]
    public async Task Two_servers_run_side_by_side_and_each_is_stopped_and_removed_on_dispose()
    {
        var first = await AlertmanagerServer.StartAsync(CancellationToken.None);
        var second = await AlertmanagerServer.StartAsync(CancellationToken.None);
        string[] directories = [first.DataDirectory, second.DataDirectory];
        Uri[] addresses = [first.BaseAddress, second.BaseAddress];
        try
        {
            Assert.NotEqual(first.BaseAddress, second.BaseAddress);
            Assert.NotEqual(first.ReceiverName, second.ReceiverName);
            Assert.Empty(await first.GetAlertsAsync(CancellationToken.None));
            Assert.True(Directory.Exists(first.DataDirectory));
        }
        finally
        {
            await first.DisposeAsync();
            await second.DisposeAsync();
        }

        Assert.All(directories, d => Assert.False(Directory.Exists(d)));
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        foreach (var address in addresses)
        {
            await Assert.ThrowsAsync<HttpRequestException>(() => http.GetAsync(new Uri(address, "-/ready")));
        }
    }

    [Fact]
    public async Task A_server_that_cannot_start_fails_with_its_output()
    {
        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => AlertmanagerServer.StartAsync(
            new AlertmanagerServerOptions { ExtraArguments = ["--no-such-flag"], StartupTimeout = TimeSpan.FromSeconds(10) },
            CancellationToken.None));

        Assert.Contains("Exited", e.Message, StringComparison.Ordinal);
        Assert.Contains("no-such-flag", e.Message, StringComparison.Ordinal);
    }
}
