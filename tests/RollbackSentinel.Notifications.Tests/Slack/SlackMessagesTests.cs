using System.Text.Json.Nodes;
using RollbackSentinel.Notifications.Slack;
using static RollbackSentinel.Notifications.Tests.Slack.SlackNotices;

using RollbackSentinel.Testing.Slack;

namespace RollbackSentinel.Notifications.Tests.Slack;

public sealed class SlackMessagesTests
{
    private static JsonObject? Block(SlackMessage m, string type) => m.Blocks.OfType<JsonObject>().FirstOrDefault(b => (string?)b["type"] == type);

    [Fact]
    public void Awaiting_HasHeaderEvidenceButtonsAndDeadline()
    {
        var message = SlackMessages.Build(Notice(NoticeKind.AwaitingConfirmation));
        var json = Text(message.Blocks);

        Assert.Equal(":rotating_light: Awaiting confirmation: checkout/error-rate", (string?)Block(message, "header")!["text"]!["text"]);
        Assert.Contains("*Value:* 0.09", json, StringComparison.Ordinal);
        Assert.Contains("*Threshold:* 0.05", json, StringComparison.Ordinal);
        Assert.Contains("*Baseline:* 0.01", json, StringComparison.Ordinal);
        Assert.Contains("*Since:* 2026-11-20 14:00 UTC", json, StringComparison.Ordinal);
        Assert.Contains("`deployment=checkout`", json, StringComparison.Ordinal);
        Assert.Contains("`sum(rate(http_requests_total[5m]))`", json, StringComparison.Ordinal);
        Assert.Contains("If nobody answers by 14:32 UTC: rollback", json, StringComparison.Ordinal);

        var buttons = Block(message, "actions")!["elements"]!.AsArray().Select(b => b!.AsObject()).ToList();
        Assert.Equal(["approve", "deny", "snooze"], buttons.Select(b => (string?)b["action_id"]));
        Assert.Equal(["Approve rollback", "Deny", "Snooze 30m"], buttons.Select(b => (string?)b["text"]!["text"]));
        Assert.Equal(["primary", "danger", null], buttons.Select(b => (string?)b["style"]));
        Assert.All(buttons, b => Assert.Equal("42", (string?)b["value"]));
    }

    [Theory]
    [InlineData(NoticeKind.RollingBack, ":hourglass_flowing_sand: Rolling back")]
    [InlineData(NoticeKind.RolledBack, ":white_check_mark: Rolled back")]
    [InlineData(NoticeKind.RollbackFailed, ":x: Rollback failed")]
    [InlineData(NoticeKind.Recovered, ":large_green_circle: Recovered")]
    public void LaterStates_HaveNoButtons_AndTheOutcomeLine(NoticeKind kind, string state)
    {
        var message = SlackMessages.Build(Notice(kind, answeredBy: "alice via slack"));

        Assert.Null(Block(message, "actions"));
        Assert.StartsWith(state, (string?)Block(message, "header")!["text"]!["text"], StringComparison.Ordinal);
        Assert.Contains(state + " · answered by alice via slack", Text(message.Blocks), StringComparison.Ordinal);
    }

    [Fact]
    public void Build_IncidentBlamingAChange_SaysWhichInTheTextAndAContextBlock_AndWhyItWasNotRolledBack()
    {
        var notice = Notice(NoticeKind.Paged);
        notice = notice with
        {
            Incident = notice.Incident with
            {
                BlamedChange = new Core.Changes.Change { Id = 3, Policy = "checkout", At = T0.AddMinutes(-4), Source = Core.Changes.ChangeSource.Api, Revision = "v42", PreviousRevision = "v41", By = "ci" },
                DisarmedReason = "no change of checkout within 1h (last: v41 -> v42, 3d ago): a rollback would not undo the cause",
            },
        };

        var message = SlackMessages.Build(notice);

        Assert.Equal(":rotating_light: Paged: checkout/error-rate {deployment=checkout}: error ratio 0.09 &gt; max 0.05 (since v42, deployed 4m ago by ci)", message.Text);
        var context = message.Blocks.OfType<JsonObject>().Where(b => (string?)b["type"] == "context").Select(b => (string?)b["elements"]![0]!["text"]).ToList();
        Assert.Contains(
            "*Change:* since v42, deployed 4m ago by ci\n*Not rolled back:* no change of checkout within 1h (last: v41 -&gt; v42, 3d ago): a rollback would not undo the cause",
            context);
    }

    [Fact]
    public void Build_NoChangeKnown_SaysSo()
    {
        var message = SlackMessages.Build(Notice(NoticeKind.Paged));

        Assert.EndsWith("(no change known)", message.Text, StringComparison.Ordinal);
        Assert.Contains("*Change:* no change known", Text(message.Blocks), StringComparison.Ordinal);
        Assert.DoesNotContain("Not rolled back", Text(message.Blocks), StringComparison.Ordinal);
    }

    [Fact]
    public void Denied_SaysByWhom()
    {
        var message = SlackMessages.Build(Notice(NoticeKind.Denied, answeredBy: "@alice"));

        Assert.Equal(":no_entry_sign: Denied by @alice: checkout/error-rate", (string?)Block(message, "header")!["text"]!["text"]);
        Assert.Null(Block(message, "actions"));
    }

    [Fact]
    public void Snoozed_KeepsTheButtons()
    {
        Assert.NotNull(Block(SlackMessages.Build(Notice(NoticeKind.Snoozed, answeredBy: "bob via slack")), "actions"));
    }

    [Fact]
    public void RolledBack_ShowsBeforeAndAfter()
    {
        var json = Text(SlackMessages.Build(Notice(NoticeKind.RolledBack)).Blocks);

        Assert.Contains("*Before:* `revision 42 (image shop/checkout:1.8.0)`", json, StringComparison.Ordinal);
        Assert.Contains("*After:* `revision 41 (image shop/checkout:1.7.3)`", json, StringComparison.Ordinal);
    }

    [Fact]
    public void Sections_StayWithin3000Characters()
    {
        var evidence = Enumerable.Range(0, 100).Select(i => new EvidenceLine("r", "up{job=\"&&&&&&\"} " + new string('a', 900), "1")).ToList();
        var message = SlackMessages.Build(Notice(NoticeKind.AwaitingConfirmation, evidence: evidence));

        Assert.All(
            message.Blocks.OfType<JsonObject>().Where(b => (string?)b["type"] == "section"),
            b => Assert.InRange(((string?)b["text"]!["text"])!.Length, 1, SlackMessages.MaxSectionText));
    }

    [Fact]
    public void CutMrkdwn_NeverSplitsAnEntity()
    {
        var cut = SlackMessages.CutMrkdwn("abcd&amp;efgh", 7);

        Assert.Equal("abcd…", cut);
    }
}
