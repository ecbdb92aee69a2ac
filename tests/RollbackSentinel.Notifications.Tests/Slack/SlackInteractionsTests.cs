using System.Net;
using RollbackSentinel.Notifications.Slack;

using RollbackSentinel.Testing.Slack;

namespace RollbackSentinel.Notifications.Tests.Slack;

public sealed class SlackInteractionsTests
{
    // Shaped as Slack sends a button press on a message (block_actions reference), trimmed of nothing we rely on.
    private const string BlockActions = """
        {
          "type": "block_actions",
          "user": { "id": "U0ALICE01", "username": "alice", "name": "alice", "team_id": "T0TEAM001" },
          "api_app_id": "A0APP0001",
          "token": "legacy-verification-token",
          "container": { "type": "message", "message_ts": "1763640000.000100", "channel_id": "C0INCIDENTS", "is_ephemeral": false },
          "trigger_id": "1111111111.2222222222.abcdef",
          "team": { "id": "T0TEAM001", "domain": "shop" },
          "enterprise": null,
          "is_enterprise_install": false,
          "channel": { "id": "C0INCIDENTS", "name": "incidents" },
          "message": {
            "type": "message", "subtype": "bot_message", "text": "Awaiting confirmation", "ts": "1763640000.000100", "bot_id": "B0BOT0001",
            "blocks": [ { "type": "actions", "block_id": "sentinel-incident-42-awaitingconfirmation", "elements": [] } ]
          },
          "state": { "values": {} },
          "response_url": "https://hooks.slack.com/actions/T0TEAM001/123456/abcdef",
          "actions": [
            {
              "action_id": "approve",
              "block_id": "sentinel-incident-42-awaitingconfirmation",
              "text": { "type": "plain_text", "text": "Approve rollback", "emoji": true },
              "value": "42",
              "style": "primary",
              "type": "button",
              "action_ts": "1763640060.123456"
            }
          ]
        }
        """;

    private static string Form(params (string Key, string Value)[] fields) =>
        string.Join("&", fields.Select(f => WebUtility.UrlEncode(f.Key) + "=" + WebUtility.UrlEncode(f.Value)));

    [Fact]
    public void BlockActions_IsReadIntoAnAnswer()
    {
        var result = SlackInteractions.ParseInteraction(Form(("payload", BlockActions)));

        Assert.True(result.Ok, result.Error);
        Assert.Equal(new SlackAnswer(42, "approve", "U0ALICE01", "alice"), result.Value with { ResponseUrl = null, ChannelId = null, MessageTs = null, TeamId = null });
        Assert.Equal("C0INCIDENTS", result.Value.ChannelId);
        Assert.Equal("1763640000.000100", result.Value.MessageTs);
        Assert.Equal("T0TEAM001", result.Value.TeamId);
        Assert.Equal(new Uri("https://hooks.slack.com/actions/T0TEAM001/123456/abcdef"), result.Value.ResponseUrl);
    }

    [Theory]
    [InlineData("deny")]
    [InlineData("snooze")]
    public void BlockActions_OtherAnswers(string answer)
    {
        var payload = BlockActions.Replace("\"action_id\": \"approve\"", $"\"action_id\": \"{answer}\"", StringComparison.Ordinal);

        Assert.Equal(answer, SlackInteractions.ParseInteraction(Form(("payload", payload))).Value?.Answer);
    }

    [Fact]
    public void BlockActions_WithoutChannelOrMessage_FallsBackToTheContainer()
    {
        var node = System.Text.Json.Nodes.JsonNode.Parse(BlockActions)!.AsObject();
        node.Remove("channel");
        node.Remove("message");
        node["user"]!.AsObject().Remove("username");

        var result = SlackInteractions.ParseInteraction(Form(("payload", node.ToJsonString())));

        Assert.True(result.Ok, result.Error);
        Assert.Equal("C0INCIDENTS", result.Value.ChannelId);
        Assert.Equal("1763640000.000100", result.Value.MessageTs);
        Assert.Equal("alice", result.Value.UserName);
    }

    public static TheoryData<string?, string> MalformedInteractions => new()
    {
        { null, "empty" },
        { "", "empty" },
        { "foo=bar", "no payload" },
        { Form(("payload", "{not json")), "not JSON" },
        { Form(("payload", "[1,2]")), "not a JSON object" },
        { Form(("payload", "{}")), "no type" },
        { Form(("payload", """{"type":"view_submission"}""")), "unsupported interaction type" },
        { Form(("payload", BlockActions.Replace("\"U0ALICE01\"", "42", StringComparison.Ordinal))), "user.id" },
        { Form(("payload", BlockActions.Replace("\"U0ALICE01\"", "\"alice\"", StringComparison.Ordinal))), "user.id" },
        { Form(("payload", BlockActions.Replace("\"action_id\": \"approve\"", "\"action_id\": \"delete_everything\"", StringComparison.Ordinal))), "unknown action" },
        { Form(("payload", BlockActions.Replace("\"value\": \"42\"", "\"value\": \"42; DROP\"", StringComparison.Ordinal))), "not an incident id" },
        { Form(("payload", BlockActions.Replace("\"value\": \"42\"", "\"value\": \"-1\"", StringComparison.Ordinal))), "not an incident id" },
        { Form(("payload", BlockActions.Replace("\"value\": \"42\"", "\"value\": 42", StringComparison.Ordinal))), "not an incident id" },
        { Form(("payload", """{"type":"block_actions","user":{"id":"U0ALICE01"},"actions":[]}""")), "no actions" },
        { Form(("payload", """{"type":"block_actions","user":{"id":"U0ALICE01"},"actions":"approve"}""")), "no actions" },
        { Form(("payload", BlockActions), ("payload", BlockActions)), "appears twice" },
        { Form(("payload", new string('[', 100_000))), "not JSON" },
    };

    [Theory]
    [MemberData(nameof(MalformedInteractions))]
    public void MalformedInteractions_FailWithAReason(string? body, string reason)
    {
        var result = SlackInteractions.ParseInteraction(body);

        Assert.False(result.Ok);
        Assert.Contains(reason, result.Error, StringComparison.Ordinal);
    }

    private static string Command(string text, string userId = "U0ALICE01") => Form(
        ("token", "legacy"), ("team_id", "T0TEAM001"), ("team_domain", "shop"), ("channel_id", "C0INCIDENTS"), ("channel_name", "incidents"),
        ("user_id", userId), ("user_name", "alice"), ("command", "/sentinel"), ("text", text),
        ("api_app_id", "A0APP0001"), ("response_url", "https://hooks.slack.com/commands/T0TEAM001/1/abc"), ("trigger_id", "1.2.3"));

    [Theory]
    [InlineData("status", "status", null)]
    [InlineData("  STATUS   checkout ", "status", "checkout")]
    [InlineData("rollback checkout", "rollback", "checkout")]
    [InlineData("ack 42", "ack", "42")]
    [InlineData("ack #42", "ack", "42")]
    [InlineData("help", "help", null)]
    [InlineData("", "help", null)]
    public void SlashCommands_AreRead(string text, string verb, string? argument)
    {
        var result = SlackInteractions.ParseCommand(Command(text));

        Assert.True(result.Ok, result.Error);
        Assert.Equal(new SlackCommand(verb, argument, "U0ALICE01", "alice"), result.Value with { Command = "", ChannelId = null, ResponseUrl = null, TeamId = null });
        Assert.Equal("/sentinel", result.Value.Command);
        Assert.Equal("C0INCIDENTS", result.Value.ChannelId);
        Assert.Equal(new Uri("https://hooks.slack.com/commands/T0TEAM001/1/abc"), result.Value.ResponseUrl);
    }

    [Theory]
    [InlineData("rollback", "`rollback` takes one policy name")]
    [InlineData("rollback a b", "`rollback` takes one policy name")]
    [InlineData("ack", "`ack` takes one incident number")]
    [InlineData("ack checkout", "`ack` takes one incident number")]
    [InlineData("ack 0", "`ack` takes one incident number")]
    [InlineData("status a b", "`status` takes at most one policy name")]
    [InlineData("deploy <!channel>", "unknown subcommand `deploy`")]
    public void BadSlashCommands_FailWithUsage(string text, string reason)
    {
        var result = SlackInteractions.ParseCommand(Command(text));

        Assert.False(result.Ok);
        Assert.Contains(reason, result.Error, StringComparison.Ordinal);
        Assert.Contains("Usage:", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void SlashCommand_WithoutAValidUser_Fails()
    {
        Assert.False(SlackInteractions.ParseCommand(Command("status", userId: "alice")).Ok);
        Assert.False(SlackInteractions.ParseCommand("text=status&user_id=U0ALICE01").Ok);
        Assert.False(SlackInteractions.ParseCommand(null).Ok);
    }
}
