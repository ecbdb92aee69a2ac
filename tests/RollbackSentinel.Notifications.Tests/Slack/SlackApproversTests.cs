using RollbackSentinel.Notifications.Slack;
using RollbackSentinel.Testing.Time;
using static RollbackSentinel.Notifications.Tests.Slack.SlackNotices;

using RollbackSentinel.Testing.Slack;

namespace RollbackSentinel.Notifications.Tests.Slack;

public sealed class SlackApproversTests
{
    [Fact]
    public async Task ListedUser_IsAllowed_WithoutAskingSlack()
    {
        await using var slack = SlackApiEmulator.Start();
        var approvers = new SlackApprovers(Client(slack), new ManualTimeProvider(T0));

        Assert.True(await approvers.IsAllowedAsync("U0ALICE01", ["U0BOB0001", "U0ALICE01"], CancellationToken.None));
        Assert.Empty(slack.Calls);
    }

    [Fact]
    public async Task GroupMember_IsAllowed_UnknownUserIsNot()
    {
        await using var slack = SlackApiEmulator.Start();
        slack.AddUserGroup("S0ONCALL1", "U0CAROL01", "U0DAVE001");
        var approvers = new SlackApprovers(Client(slack), new ManualTimeProvider(T0));

        var carol = await approvers.CheckAsync("U0CAROL01", ["U0ALICE01", "S0ONCALL1"], CancellationToken.None);
        var mallory = await approvers.CheckAsync("U0MALLORY", ["U0ALICE01", "S0ONCALL1"], CancellationToken.None);

        Assert.True(carol.Allowed);
        Assert.Contains("S0ONCALL1", carol.Reason, StringComparison.Ordinal);
        Assert.False(mallory.Allowed);
        var call = slack.Calls[0];
        Assert.Equal("usergroups.users.list", call.Method);
        Assert.Equal("GET", call.HttpMethod);
        Assert.Equal("usergroup=S0ONCALL1", call.Query);
        Assert.Empty(slack.Violations);
    }

    [Fact]
    public async Task GroupMembers_AreCachedForAMinute()
    {
        var time = new ManualTimeProvider(T0);
        await using var slack = SlackApiEmulator.Start();
        slack.AddUserGroup("S0ONCALL1", "U0CAROL01");
        var approvers = new SlackApprovers(Client(slack), time);

        Assert.True(await approvers.IsAllowedAsync("U0CAROL01", ["S0ONCALL1"], CancellationToken.None));
        slack.AddUserGroup("S0ONCALL1", "U0DAVE001");
        Assert.True(await approvers.IsAllowedAsync("U0CAROL01", ["S0ONCALL1"], CancellationToken.None));
        Assert.Single(slack.Calls);

        time.Advance(TimeSpan.FromSeconds(61));
        Assert.False(await approvers.IsAllowedAsync("U0CAROL01", ["S0ONCALL1"], CancellationToken.None));
        Assert.True(await approvers.IsAllowedAsync("U0DAVE001", ["S0ONCALL1"], CancellationToken.None));
        Assert.Equal(2, slack.Calls.Count);
    }

    [Fact]
    public async Task EmptyApproverList_AllowsNobody()
    {
        await using var slack = SlackApiEmulator.Start();
        var approvers = new SlackApprovers(Client(slack), new ManualTimeProvider(T0));

        var result = await approvers.CheckAsync("U0ALICE01", [], CancellationToken.None);

        Assert.False(result.Allowed);
        Assert.Contains("no approvers", result.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task UnreadableGroup_FailsClosed_WithTheReason()
    {
        await using var slack = SlackApiEmulator.Start();
        var approvers = new SlackApprovers(Client(slack), new ManualTimeProvider(T0));

        var result = await approvers.CheckAsync("U0CAROL01", ["S0MISSING"], CancellationToken.None);

        Assert.False(result.Allowed);
        Assert.Contains("no_such_subteam", result.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task NamesAndHandles_NeverMatch()
    {
        await using var slack = SlackApiEmulator.Start();
        var approvers = new SlackApprovers(Client(slack), new ManualTimeProvider(T0));

        Assert.False(await approvers.IsAllowedAsync("U0ALICE01", ["alice", "@alice", "u0alice01"], CancellationToken.None));
        Assert.False(await approvers.IsAllowedAsync("alice", ["alice"], CancellationToken.None));
        Assert.Empty(slack.Calls);
    }
}
