using RollbackSentinel.Testing.Net;

namespace RollbackSentinel.Cli.Tests;

/// <summary>The CLI's API client (answers, status) never re-sends a request, with its token and body, where a redirect points.</summary>
public sealed class ApiClientRedirectTests
{
    [Fact]
    public async Task Approve_DaemonAddressRedirectsElsewhere_IsNotFollowed()
    {
        await using var elsewhere = LoopbackHttpServer.Start(new CannedResponse(200, """{"message":"approved"}"""));
        await using var daemon = LoopbackHttpServer.Start(
            new CannedResponse(307, "", "text/plain") { Headers = new Dictionary<string, string> { ["Location"] = new Uri(elsewhere.BaseAddress, "api/v1/incidents/7/approve").AbsoluteUri } });
        var tokenFile = Path.GetTempFileName();
        await File.WriteAllTextAsync(tokenFile, "test-token");
        try
        {
            var run = await CliRun.RunAsync("approve", "7", "--by", "alice", "--url", daemon.BaseAddress.ToString(), "--token-file", tokenFile);

            Assert.NotEqual(0, run.ExitCode);
            Assert.Contains("answered HTTP 307", run.Error, StringComparison.Ordinal);
            Assert.Empty(elsewhere.Requests);
            Assert.Equal("/api/v1/incidents/7/approve", Assert.Single(daemon.Requests).PathAndQuery);
        }
        finally
        {
            File.Delete(tokenFile);
        }
    }
}
