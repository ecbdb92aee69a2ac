using System.Text.Json;
using RollbackSentinel.Prometheus.Internal;

namespace RollbackSentinel.Prometheus.Tests.Internal;

public sealed class PrometheusFormatTests
{
    [Theory]
    [InlineData("NaN", double.NaN)]
    [InlineData("+Inf", double.PositiveInfinity)]
    [InlineData("Inf", double.PositiveInfinity)]
    [InlineData("-Inf", double.NegativeInfinity)]
    [InlineData("0.1", 0.1)]
    [InlineData("-2.5e+3", -2500)]
    [InlineData("1.6666666666666667", 1.6666666666666667)]
    public void ParseValue_PrometheusSpelling_ReturnsDouble(string text, double expected) =>
        Assert.Equal(expected, PrometheusFormat.ParseValue(text));

    [Theory]
    [InlineData("")]
    [InlineData("abc")]
    [InlineData("1,5")]
    public void ParseValue_NotANumber_ThrowsFormatExceptionQuotingIt(string text)
    {
        var ex = Assert.Throws<FormatException>(() => PrometheusFormat.ParseValue(text));

        Assert.Contains($"\"{text}\"", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(1795132800000, "1795132800")]
    [InlineData(1795132800123, "1795132800.123")]
    [InlineData(1795132800100, "1795132800.1")]
    [InlineData(0, "0")]
    [InlineData(-1500, "-1.5")]
    public void FormatSeconds_UnixMilliseconds_WritesSecondsWithMillisecondPrecision(long ms, string expected) =>
        Assert.Equal(expected, PrometheusFormat.FormatSeconds(ms));

    [Theory]
    [InlineData("1795132800", 1795132800000)]
    [InlineData("1795132800.123", 1795132800123)]
    [InlineData("1795132800.1239", 1795132800124)]
    public void ReadTimestampMilliseconds_FloatSeconds_ReturnsMilliseconds(string json, long expected)
    {
        using var document = JsonDocument.Parse(json);

        Assert.Equal(expected, PrometheusFormat.ReadTimestampMilliseconds(document.RootElement));
    }

    [Fact]
    public void ReadTimestampMilliseconds_String_ThrowsFormatException()
    {
        using var document = JsonDocument.Parse("\"1795132800\"");

        Assert.Throws<FormatException>(() => PrometheusFormat.ReadTimestampMilliseconds(document.RootElement));
    }
}
