using RollbackSentinel.Core.Incidents;

namespace RollbackSentinel.Core.Tests.Incidents;

/// <summary>What a channel has seen: one serialisation, the one stored by earlier versions, read back or treated as different.</summary>
public sealed class NotificationStateTests
{
    private static readonly DateTimeOffset Deadline = new(2026, 11, 20, 15, 0, 0, TimeSpan.Zero);

    [Fact]
    public void Format_IsTheStoredForm_KindAnsweredByAndTheDeadlinesUtcTicks()
    {
        Assert.Equal("Paged||", new NotificationState("Paged", null, null).Format());
        Assert.Equal(
            $"Snoozed|snoozed by alice via slack|{Deadline.UtcTicks}",
            new NotificationState("Snoozed", "snoozed by alice via slack", Deadline.ToOffset(TimeSpan.FromHours(2))).Format());
        Assert.Equal("Snoozed|snoozed by alice via slack|639307836000000000", new NotificationState("Snoozed", "snoozed by alice via slack", Deadline).ToString());
    }

    [Theory]
    [InlineData("Paged", null, false)]
    [InlineData("AwaitingConfirmation", null, true)]
    [InlineData("Denied", "denied by carol via api: known noisy | flaky dependency", false)]
    [InlineData("TimedOut", "approved by bob via slack", true)]
    public void Parse_OfFormat_RoundTrips(string kind, string? answeredBy, bool withDeadline)
    {
        var state = new NotificationState(kind, answeredBy, withDeadline ? Deadline : null);

        Assert.Equal(state, NotificationState.Parse(state.Format()));
    }

    [Fact]
    public void Parse_AStringAnEarlierVersionStored_EqualsTheStateItShowed()
    {
        // As the dispatcher built it before: $"{notice.Kind}|{notice.AnsweredBy}|{notice.AnswerDeadline?.UtcTicks}".
        var stored = $"AwaitingConfirmation|snoozed by alice via slack: after the deploy|{Deadline.UtcTicks}";

        var state = NotificationState.Parse(stored);

        Assert.Equal(new NotificationState("AwaitingConfirmation", "snoozed by alice via slack: after the deploy", Deadline), state);
        Assert.Equal(stored, state!.Format());
        Assert.Equal(new NotificationState("RolledBack", null, null), NotificationState.Parse("RolledBack||"));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("Paged")]
    [InlineData("Paged|")]
    [InlineData("|by alice|")]
    [InlineData("Paged||soon")]
    [InlineData("Paged||-5")]
    [InlineData("Paged||99999999999999999999")]
    [InlineData("Paged||3155378976000000000")] // one tick past DateTimeOffset.MaxValue
    public void Parse_Unreadable_IsNull_AndDiffersFromEveryState(string? stored)
    {
        var state = NotificationState.Parse(stored);

        Assert.Null(state);
        Assert.NotEqual(new NotificationState("Paged", null, null), state);
    }

    [Fact]
    public void Equality_AnEmptyAnswererIsNone_AndTheDeadlineIsAnInstant()
    {
        Assert.Equal(new NotificationState("Paged", null, null), new NotificationState("Paged", string.Empty, null));
        Assert.Equal(new NotificationState("Snoozed", "x", Deadline), new NotificationState("Snoozed", "x", Deadline.ToOffset(TimeSpan.FromHours(-5))));
        Assert.NotEqual(new NotificationState("Snoozed", "x", Deadline), new NotificationState("Snoozed", "x", Deadline.AddTicks(1)));
        Assert.NotEqual(new NotificationState("Snoozed", "x", Deadline), new NotificationState("TimedOut", "x", Deadline));
    }

    [Theory]
    [InlineData("")]
    [InlineData("Paged|Denied")]
    public void New_AKindThatCouldNotBeReadBack_Throws(string kind) =>
        Assert.ThrowsAny<ArgumentException>(() => new NotificationState(kind, null, null));
}
