using System.Text.Json.Nodes;
using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Notifications.Slack;
using RollbackSentinel.Testing.Time;
using static RollbackSentinel.Notifications.Tests.Slack.SlackNotices;

using RollbackSentinel.Testing.Slack;

namespace RollbackSentinel.Notifications.Tests.Slack;

public sealed class SlackChannelTests
{
    private static bool HasButtons(JsonArray blocks) => blocks.Any(b => (string?)b!["type"] == "actions");

    [Fact]
    public async Task Publish_PostsOnceThenUpdatesTheSameMessage_ButtonsOnlyWhileAwaiting()
    {
        await using var slack = SlackApiEmulator.Start();
        var channel = new SlackChannel(Client(slack), Options(slack));

        var reference = await channel.PublishAsync(Notice(NoticeKind.AwaitingConfirmation), null, CancellationToken.None);
        var posted = slack.Calls.Single();
        Assert.Equal("chat.postMessage", posted.Method);
        Assert.Equal("C0INCIDENTS", (string?)posted.Json["channel"]);
        Assert.True(HasButtons(posted.Json["blocks"]!.AsArray()));
        var ts = (string)slack.Message("C0INCIDENTS", reference!.Split(':')[1])!.Ts;
        Assert.Equal("C0INCIDENTS:" + ts, reference);

        var second = await channel.PublishAsync(Notice(NoticeKind.RollingBack, answeredBy: "alice via slack"), reference, CancellationToken.None);
        var third = await channel.PublishAsync(Notice(NoticeKind.RolledBack, answeredBy: "alice via slack"), second, CancellationToken.None);

        Assert.Equal(reference, second);
        Assert.Equal(reference, third);
        Assert.Equal(["chat.postMessage", "chat.update", "chat.update"], slack.Calls.Select(c => c.Method));
        Assert.All(slack.Calls.Skip(1), c =>
        {
            Assert.Equal("C0INCIDENTS", (string?)c.Json["channel"]);
            Assert.Equal(ts, (string?)c.Json["ts"]);
            Assert.False(HasButtons(c.Json["blocks"]!.AsArray()));
        });
        Assert.All(slack.Calls, c =>
        {
            Assert.Equal("Bearer " + slack.Token, c.Authorization);
            Assert.Equal("application/json; charset=utf-8", c.ContentType);
        });

        var final = slack.Message("C0INCIDENTS", ts)!;
        Assert.Contains("Rolled back", final.Text, StringComparison.Ordinal);
        Assert.Contains(":white_check_mark: Rolled back", Text(final.Blocks), StringComparison.Ordinal);
        Assert.Contains("revision 41", Text(final.Blocks), StringComparison.Ordinal);
        Assert.Empty(slack.Violations);
    }

    [Fact]
    public async Task Publish_ChannelChooser_PicksTheChannelOfTheFirstPost()
    {
        await using var slack = SlackApiEmulator.Start();
        var channel = new SlackChannel(Client(slack), Options(slack), n => n.Incident.Policy == "checkout" ? "C0CHECKOUT" : null);

        var reference = await channel.PublishAsync(Notice(NoticeKind.Paged), null, CancellationToken.None);

        Assert.StartsWith("C0CHECKOUT:", reference, StringComparison.Ordinal);
        Assert.Equal("slack", channel.Name);
        Assert.Null(channel.RepublishEvery);
    }

    [Fact]
    public async Task Publish_MessageDeletedInSlack_PostsItAgain()
    {
        await using var slack = SlackApiEmulator.Start();
        var channel = new SlackChannel(Client(slack), Options(slack));
        var reference = await channel.PublishAsync(Notice(NoticeKind.AwaitingConfirmation), null, CancellationToken.None);
        SlackMessageRef.TryParse(reference, out var posted);
        slack.DeleteMessage(posted!.Channel, posted.Ts);

        var again = await channel.PublishAsync(Notice(NoticeKind.RollingBack), reference, CancellationToken.None);

        Assert.NotEqual(reference, again);
        Assert.Equal(["chat.postMessage", "chat.update", "chat.postMessage"], slack.Calls.Select(c => c.Method));
    }

    [Fact]
    public async Task Publish_SlackSaysNotOk_ThrowsNamingTheErrorAndDoesNotRetry()
    {
        await using var slack = SlackApiEmulator.Start();
        slack.FailNext("channel_not_found");
        var channel = new SlackChannel(Client(slack), Options(slack));

        var e = await Assert.ThrowsAsync<NotificationException>(() => channel.PublishAsync(Notice(NoticeKind.Paged), null, CancellationToken.None));

        Assert.Contains("chat.postMessage", e.Message, StringComparison.Ordinal);
        Assert.Contains("channel_not_found", e.Message, StringComparison.Ordinal);
        Assert.Equal("channel_not_found", SlackClient.ErrorCode(e));
        Assert.Single(slack.Calls);
    }

    [Fact]
    public async Task Publish_WrongToken_ThrowsInvalidAuthWithoutTheToken()
    {
        await using var slack = SlackApiEmulator.Start();
        const string wrong = "xoxb-wrong-secret-token";
        var channel = new SlackChannel(Client(slack, token: wrong), Options(slack, wrong));

        var e = await Assert.ThrowsAsync<NotificationException>(() => channel.PublishAsync(Notice(NoticeKind.Paged), null, CancellationToken.None));

        Assert.Contains("invalid_auth", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(wrong, e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(wrong, e.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain(wrong, Options(slack, wrong).ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Client_RateLimited_WaitsRetryAfterOnTheClockThenRetries()
    {
        var time = new ManualTimeProvider(T0);
        await using var slack = SlackApiEmulator.Start(time: time);
        slack.RateLimitNext(retryAfterSeconds: 3);
        var client = Client(slack, time, retry: new SlackRetry(3, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(30)));

        var posting = client.PostMessageAsync("C0INCIDENTS", "hello", null, CancellationToken.None);
        while (!posting.IsCompleted)
        {
            // The retry waits on the manual clock: move it until the retry has gone out.
            await Task.Delay(5);
            time.Advance(TimeSpan.FromSeconds(1));
        }

        var posted = await posting;
        Assert.Equal("C0INCIDENTS", posted.Channel);
        var calls = slack.Calls;
        Assert.Equal(2, calls.Count);
        Assert.True(calls[1].At - calls[0].At >= TimeSpan.FromSeconds(3), $"retried after {calls[1].At - calls[0].At}");
    }

    [Fact]
    public async Task Client_RetryAfterLongerThanTheLimit_FailsAtOnce()
    {
        await using var slack = SlackApiEmulator.Start();
        slack.RateLimitNext(retryAfterSeconds: 600);
        var client = Client(slack);

        var e = await Assert.ThrowsAsync<NotificationException>(() => client.PostMessageAsync("C0INCIDENTS", "hello", null, CancellationToken.None));

        Assert.Contains("429", e.Message, StringComparison.Ordinal);
        Assert.Equal(TimeSpan.FromSeconds(600), e.RetryAfter); // the dispatcher leaves Slack alone until then
        Assert.Single(slack.Calls);
    }

    [Fact]
    public async Task Client_ServerError_IsRetried_ClientErrorIsNot()
    {
        await using var slack = SlackApiEmulator.Start();
        slack.HttpErrorNext(503);
        var client = Client(slack);

        await client.PostMessageAsync("C0INCIDENTS", "hello", null, CancellationToken.None);
        Assert.Equal(2, slack.Calls.Count);

        slack.HttpErrorNext(400);
        var e = await Assert.ThrowsAsync<NotificationException>(() => client.PostMessageAsync("C0INCIDENTS", "hello", null, CancellationToken.None));
        Assert.Contains("HTTP 400", e.Message, StringComparison.Ordinal);
        Assert.Equal(3, slack.Calls.Count);
    }

    [Fact]
    public async Task Client_ServerErrorEveryTime_GivesUpAfterMaxAttempts()
    {
        await using var slack = SlackApiEmulator.Start();
        slack.HttpErrorNext(502);
        slack.HttpErrorNext(502);
        slack.HttpErrorNext(502);
        var client = Client(slack);

        var e = await Assert.ThrowsAsync<NotificationException>(() => client.UpdateAsync("C0INCIDENTS", "1.2", "x", null, CancellationToken.None));

        Assert.Contains("HTTP 502", e.Message, StringComparison.Ordinal);
        Assert.Contains("after 3 attempts", e.Message, StringComparison.Ordinal);
        Assert.Equal(3, slack.Calls.Count);
    }

    [Fact]
    public async Task Publish_LongQueriesAndHostileLabels_StayWithinSlackLimitsAndEscaped()
    {
        await using var slack = SlackApiEmulator.Start();
        var channel = new SlackChannel(Client(slack), Options(slack));
        var longQuery = "sum(rate(http_requests_total{code=~\"5..\"}[5m])) > " + new string('x', 5000);
        var evidence = Enumerable.Range(0, 40).Select(i => new EvidenceLine($"q{i}", longQuery, "1")).ToList();
        var labels = LabelSet.Of(("deployment", "<!channel> <https://evil.example|click>"));

        await channel.PublishAsync(Notice(NoticeKind.AwaitingConfirmation, evidence: evidence, labels: labels), null, CancellationToken.None);

        Assert.Empty(slack.Violations);
        var blocks = Text(slack.Calls.Single().Json["blocks"]);
        Assert.DoesNotContain("<!channel>", blocks, StringComparison.Ordinal);
        Assert.Contains("&lt;!channel&gt;", blocks, StringComparison.Ordinal);
        Assert.Contains("more_", blocks, StringComparison.Ordinal);
    }
}
