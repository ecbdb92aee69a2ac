using FsCheck;
using FsCheck.Fluent;
using RollbackSentinel.Core.Policies;

namespace RollbackSentinel.Rules.Tests;

public sealed class PromDurationTests
{
    public static TheoryData<string, TimeSpan> ValidDurations => new()
    {
        { "15s", TimeSpan.FromSeconds(15) },
        { "2m", TimeSpan.FromMinutes(2) },
        { "1h30m", TimeSpan.FromMinutes(90) },
        { "1d", TimeSpan.FromDays(1) },
        { "500ms", TimeSpan.FromMilliseconds(500) },
        { "0", TimeSpan.Zero },
        { "0s", TimeSpan.Zero },
        { "1w", TimeSpan.FromDays(7) },
        { "1y", TimeSpan.FromDays(365) },
        { "1y2w3d4h5m6s7ms", new TimeSpan(365 + 14 + 3, 4, 5, 6, 7) },
        { "1m500ms", TimeSpan.FromMilliseconds(60_500) },
        { "90m", TimeSpan.FromMinutes(90) },
    };

    [Theory]
    [MemberData(nameof(ValidDurations))]
    public void TryParse_PrometheusDuration_GivesItsLength(string text, TimeSpan expected)
    {
        Assert.True(PromDuration.TryParse(text, out var value, out var error), error);

        Assert.Equal(expected, value);
        Assert.Null(error);
    }

    [Theory]
    [InlineData("15x", "'15x' is not a duration: unknown unit 'x' (use ms, s, m, h, d, w, y)")]
    [InlineData("2 minutes", "'2 minutes' is not a duration: the number 2 has no unit (ms, s, m, h, d, w, y)")]
    [InlineData("1m1h", "'1m1h' is not a duration: units must go from largest to smallest, each once (e.g. 1h30m)")]
    [InlineData("1m1m", "'1m1m' is not a duration: units must go from largest to smallest, each once (e.g. 1h30m)")]
    [InlineData("30", "'30' is not a duration: the number 30 has no unit (ms, s, m, h, d, w, y)")]
    [InlineData("s", "'s' is not a duration: expected a number at position 1 (use e.g. 30s, 2m, 1h30m)")]
    [InlineData("-5s", "'-5s' is not a duration: expected a number at position 1 (use e.g. 30s, 2m, 1h30m)")]
    [InlineData("1h 30m", "'1h 30m' is not a duration: expected a number at position 3 (use e.g. 30s, 2m, 1h30m)")]
    [InlineData("1.5h", "'1.5h' is not a duration: fractions are not allowed, combine units instead (1h30m, 1500ms)")]
    [InlineData("15S", "'15S' is not a duration: units are lower-case (s, not S)")]
    [InlineData("10mins", "'10mins' is not a duration: unknown unit 'mins' (use ms, s, m, h, d, w, y)")]
    [InlineData("99999999999999999999s", "'99999999999999999999s' is not a duration: the number is too large")]
    [InlineData("999999999y", "'999999999y' is not a duration: it is too long")]
    [InlineData("", "a duration is required (e.g. 30s, 2m, 1h30m)")]
    [InlineData("   ", "a duration is required (e.g. 30s, 2m, 1h30m)")]
    [InlineData(null, "a duration is required (e.g. 30s, 2m, 1h30m)")]
    public void TryParse_Malformed_FailsWithAReasonTheUserCanActOn(string? text, string expectedError)
    {
        Assert.False(PromDuration.TryParse(text, out var value, out var error));

        Assert.Equal(expectedError, error);
        Assert.Equal(TimeSpan.Zero, value);
    }

    [Fact]
    public void Parse_Malformed_ThrowsFormatExceptionWithTheSameReason()
    {
        var e = Assert.Throws<FormatException>(() => PromDuration.Parse("15x"));

        Assert.Equal("'15x' is not a duration: unknown unit 'x' (use ms, s, m, h, d, w, y)", e.Message);
    }

    [Theory]
    [InlineData(0, "0s")]
    [InlineData(15_000, "15s")]
    [InlineData(500, "500ms")]
    [InlineData(90 * 60_000, "1h30m")]
    [InlineData(86_400_000, "1d")]
    [InlineData(7 * 86_400_000L, "7d")]
    [InlineData(86_400_000 + 3_600_000 + 60_000 + 1_000 + 1, "1d1h1m1s1ms")]
    [InlineData(-120_000, "-2m")]
    public void Format_Milliseconds_UsesLargestUnitsFirstAndDaysAtMost(long milliseconds, string expected) =>
        Assert.Equal(expected, PromDuration.Format(TimeSpan.FromMilliseconds(milliseconds)));

    [Fact]
    public void Format_BelowOneMillisecond_IsZeroSeconds() =>
        Assert.Equal("0s", PromDuration.Format(TimeSpan.FromTicks(9_999)));

    [Theory]
    [InlineData("15s")]
    [InlineData("2m")]
    [InlineData("1h30m")]
    [InlineData("1d")]
    [InlineData("500ms")]
    [InlineData("1d2h3m4s5ms")]
    public void Format_OfParsedCanonicalText_GivesTheTextBack(string text) =>
        Assert.Equal(text, PromDuration.Format(PromDuration.Parse(text)));

    [Fact]
    public void Parse_OfFormat_RoundTripsEveryNonNegativeWholeMillisecondDuration() =>
        Check.One(
            Config.QuickThrowOnFailure.WithMaxTest(500),
            Prop.ForAll(
                ArbMap.Default.GeneratorFor<long>().Select(n => TimeSpan.FromMilliseconds(Math.Abs(n % (100L * 365 * 86_400_000)))).ToArbitrary(),
                d => PromDuration.Parse(PromDuration.Format(d)) == d));

    [Fact]
    public void Parse_OfFormat_RoundTripsDurationsBuiltFromEveryUnit() =>
        Check.One(
            Config.QuickThrowOnFailure.WithMaxTest(300),
            Prop.ForAll(
                Gen.Choose(0, 400).ArrayOf(6).ToArbitrary(),
                parts =>
                {
                    var d = new TimeSpan(parts[0], parts[1], parts[2], parts[3], parts[4]) + TimeSpan.FromDays(7 * parts[5]);
                    return PromDuration.Parse(PromDuration.Format(d)) == d;
                }));
}
