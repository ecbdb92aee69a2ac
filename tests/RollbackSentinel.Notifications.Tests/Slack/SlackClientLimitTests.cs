using RollbackSentinel.Notifications.Slack;
using RollbackSentinel.Testing.Net;

namespace RollbackSentinel.Notifications.Tests.Slack;

/// <summary>An API root that answers without end costs the daemon a bounded read, not its memory.</summary>
public sealed class SlackClientLimitTests
{
    [Fact]
    public async Task PostMessage_EndlessAnswer_FailsSayingSoAfterAFewMegabytes()
    {
        await using var server = EndlessHttpServer.Start(declaredLength: null);
        using var http = new HttpClient(SlackClient.CreateHandler());
        var client = new SlackClient(http, new SlackOptions { ApiBaseUrl = server.BaseAddress, BotToken = "xoxb-test", DefaultChannel = "C0DEPLOYS" }, TimeProvider.System);

        var ex = await Assert.ThrowsAsync<NotificationException>(() => client.PostMessageAsync("C0DEPLOYS", "hello", null, CancellationToken.None));

        Assert.StartsWith("Slack chat.postMessage answered more than 4194304 bytes; the rest was not read", ex.Message, StringComparison.Ordinal);
    }
}
