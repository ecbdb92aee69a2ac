using RollbackSentinel.Cli;
using RollbackSentinel.Testing.Net;

namespace RollbackSentinel.Cli.Tests;

/// <summary><c>healthcheck</c>, the container health check: exit 0 on a 2xx from /healthz, 1 otherwise, saying why.</summary>
public sealed class HealthcheckCommandTests
{
    [Theory]
    [InlineData(null, "http://127.0.0.1:8080/healthz")]
    [InlineData("http://0.0.0.0:8080", "http://127.0.0.1:8080/healthz")]
    [InlineData("http://+:9000", "http://127.0.0.1:9000/healthz")]
    [InlineData("http://*:9000", "http://127.0.0.1:9000/healthz")]
    [InlineData("http://127.0.0.1:8081/", "http://127.0.0.1:8081/healthz")]
    public void DefaultUrl_IsHealthzOnTheListenAddressAskedOnLoopback(string? listen, string expected) =>
        Assert.Equal(expected, HealthcheckCommand.DefaultUrl(listen));

    [Fact]
    public async Task Healthcheck_Healthy_Exits0()
    {
        await using var daemon = LoopbackHttpServer.Start(new CannedResponse(200, "ok", "text/plain"));

        var run = await CliRun.RunAsync("healthcheck", "--url", new Uri(daemon.BaseAddress, "healthz").ToString());

        Assert.Equal((0, $"{daemon.BaseAddress}healthz: 200\n"), (run.ExitCode, run.Output));
        Assert.Equal("/healthz", Assert.Single(daemon.Requests).PathAndQuery);
    }

    [Fact]
    public async Task Healthcheck_RedirectToAnotherServer_IsNotFollowedAndExits1()
    {
        await using var elsewhere = LoopbackHttpServer.Start(new CannedResponse(200, "ok", "text/plain"));
        await using var daemon = LoopbackHttpServer.Start(
            new CannedResponse(307, "", "text/plain") { Headers = new Dictionary<string, string> { ["Location"] = new Uri(elsewhere.BaseAddress, "healthz").AbsoluteUri } });

        var run = await CliRun.RunAsync("healthcheck", "--url", new Uri(daemon.BaseAddress, "healthz").ToString());

        Assert.Equal((1, $"unhealthy: {daemon.BaseAddress}healthz answered 307\n"), (run.ExitCode, run.Error));
        Assert.Empty(elsewhere.Requests);
    }

    [Theory]
    [InlineData("nonsense")]
    [InlineData("127.0.0.1:8080/healthz")]
    [InlineData("ftp://127.0.0.1/healthz")]
    public async Task Healthcheck_UrlThatIsNotHttp_IsAUsageErrorExit2(string url)
    {
        var run = await CliRun.RunAsync("healthcheck", "--url", url);

        Assert.Equal((2, $"error: '{url}' is not an http:// URL such as http://127.0.0.1:8080/healthz (--url, or SENTINEL__HTTP__LISTEN)\n"), (run.ExitCode, run.Error));
    }

    [Fact]
    public async Task Healthcheck_UnhealthyOrUnreachable_Exits1SayingWhy()
    {
        await using var daemon = LoopbackHttpServer.Start(new CannedResponse(503, "", "text/plain"));
        var closed = $"http://127.0.0.1:{FreePort.Next()}/healthz";

        var unhealthy = await CliRun.RunAsync("healthcheck", "--url", new Uri(daemon.BaseAddress, "healthz").ToString());
        var unreachable = await CliRun.RunAsync("healthcheck", "--url", closed);

        Assert.Equal((1, $"unhealthy: {daemon.BaseAddress}healthz answered 503\n"), (unhealthy.ExitCode, unhealthy.Error));
        Assert.Equal(1, unreachable.ExitCode);
        Assert.StartsWith($"unhealthy: {closed}: ", unreachable.Error, StringComparison.Ordinal);
    }
}
