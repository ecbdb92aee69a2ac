using System.Globalization;
using RollbackSentinel.Notifications.Slack;
using RollbackSentinel.Testing.Time;

using RollbackSentinel.Testing.Slack;

namespace RollbackSentinel.Notifications.Tests.Slack;

public sealed class SlackRequestVerifierTests
{
    private const string Secret = "8f742231b10e8888abcd99yyyzzz85a5";

    // The worked example of Slack's "Verifying requests from Slack" guide.
    private const string ExampleBody = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    private const string ExampleTimestamp = "1531420618";
    private const string ExampleSignature = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

    private static readonly DateTimeOffset ExampleTime = DateTimeOffset.FromUnixTimeSeconds(1531420618);

    private static SlackRequestVerifier Verifier(DateTimeOffset now) => new(Secret, new ManualTimeProvider(now));

    [Fact]
    public void SlacksWorkedExample_IsAccepted()
    {
        var result = Verifier(ExampleTime.AddSeconds(30)).Verify(ExampleTimestamp, ExampleSignature, ExampleBody);

        Assert.True(result.Valid, result.Reason);
        Assert.Equal(ExampleSignature, SlackRequestVerifier.Sign(Secret, ExampleTimestamp, ExampleBody));
    }

    [Fact]
    public void UpperCaseHex_IsAccepted()
    {
        var upper = "v0=" + ExampleSignature[3..].ToUpperInvariant();

        Assert.True(Verifier(ExampleTime).Verify(ExampleTimestamp, upper, ExampleBody).Valid);
    }

    [Fact]
    public void BadSignature_IsRefused()
    {
        var bad = ExampleSignature[..^1] + "4";

        var result = Verifier(ExampleTime).Verify(ExampleTimestamp, bad, ExampleBody);

        Assert.False(result.Valid);
        Assert.Contains("does not match", result.Reason, StringComparison.Ordinal);
        Assert.DoesNotContain(Secret, result.Reason, StringComparison.Ordinal);
        Assert.DoesNotContain(ExampleSignature[3..], result.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void ChangedBody_IsRefused()
    {
        Assert.False(Verifier(ExampleTime).Verify(ExampleTimestamp, ExampleSignature, ExampleBody.Replace("text=", "text=rollback", StringComparison.Ordinal)).Valid);
    }

    [Fact]
    public void WrongSecret_IsRefused()
    {
        var verifier = new SlackRequestVerifier("another-secret", new ManualTimeProvider(ExampleTime));

        Assert.False(verifier.Verify(ExampleTimestamp, ExampleSignature, ExampleBody).Valid);
    }

    [Theory]
    [InlineData(-6 * 60)]
    [InlineData(6 * 60)]
    public void TimestampSixMinutesAway_IsRefusedAsAReplay(int offsetSeconds)
    {
        var now = ExampleTime.AddSeconds(-offsetSeconds);
        var result = Verifier(now).Verify(ExampleTimestamp, ExampleSignature, ExampleBody);

        Assert.False(result.Valid);
        Assert.Contains("5 minutes", result.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void TimestampFourMinutesOld_IsAccepted()
    {
        Assert.True(Verifier(ExampleTime.AddMinutes(4)).Verify(ExampleTimestamp, ExampleSignature, ExampleBody).Valid);
    }

    [Theory]
    [InlineData(null, ExampleSignature, "missing X-Slack-Request-Timestamp")]
    [InlineData(ExampleTimestamp, null, "missing X-Slack-Signature")]
    [InlineData("", ExampleSignature, "missing X-Slack-Request-Timestamp")]
    [InlineData("15314206l8", ExampleSignature, "not a number")]
    [InlineData("-1531420618", ExampleSignature, "not a number")]
    [InlineData(" 1531420618", ExampleSignature, "not a number")]
    [InlineData(ExampleTimestamp, "v1=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503", "not a v0")]
    [InlineData(ExampleTimestamp, "v0=zz114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503", "not a v0")]
    [InlineData(ExampleTimestamp, "v0=a2114d", "not a v0")]
    public void MissingOrMalformedHeaders_AreRefused(string? timestamp, string? signature, string reason)
    {
        var result = Verifier(ExampleTime).Verify(timestamp, signature, ExampleBody);

        Assert.False(result.Valid);
        Assert.Contains(reason, result.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void FreshlySignedRequest_RoundTrips()
    {
        var now = new DateTimeOffset(2026, 11, 20, 14, 5, 0, TimeSpan.Zero);
        var timestamp = now.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
        const string body = "payload=%7B%22type%22%3A%22block_actions%22%7D";

        var result = new SlackRequestVerifier("s3cret", new ManualTimeProvider(now)).Verify(timestamp, SlackRequestVerifier.Sign("s3cret", timestamp, body), body);

        Assert.True(result.Valid, result.Reason);
    }

    [Fact]
    public void EmptySecret_IsRefusedAtConstruction()
    {
        Assert.Throws<ArgumentException>(() => new SlackRequestVerifier("", TimeProvider.System));
    }
}
