using RollbackSentinel.Hosting;

namespace RollbackSentinel.Cli.Tests.Api;

/// <summary>
/// A configured API token that no client could send (a header is one line of ASCII) is a settings error at start,
/// not a daemon whose API refuses everyone; an empty token file is one too.
/// </summary>
public sealed class ApiTokenSettingsTests
{
    [Theory]
    [InlineData("two\nlines")]
    [InlineData("t\u00f6ken")]
    [InlineData("bell\u0007")]
    public void Validate_TokenFileNoHeaderCanCarry_IsAnErrorNamingTheKey(string token)
    {
        var file = Path.Combine(Path.GetTempPath(), $"sentinel-token-{Guid.NewGuid():N}");
        File.WriteAllText(file, token + "\n");
        try
        {
            var problems = new SentinelOptions { Http = new SentinelOptions.HttpSettings { ApiTokenFile = file } }.Validate();

            Assert.Contains("http:apiTokenFile: the token has characters that cannot be sent in an HTTP header (a line break, a control or non-ASCII character)", problems);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void Validate_InlineTokenWithALineBreak_IsAnError_ABomAndTrailingNewlineAreNot()
    {
        var broken = new SentinelOptions { Http = new SentinelOptions.HttpSettings { ApiToken = "abc\ndef" } }.Validate();
        var fine = new SentinelOptions { Http = new SentinelOptions.HttpSettings { ApiToken = "\uFEFFabcdef\r\n" } }.Validate();

        Assert.Contains("http:apiToken: the token has characters that cannot be sent in an HTTP header (a line break, a control or non-ASCII character)", broken);
        Assert.DoesNotContain(fine, p => p.StartsWith("http:apiToken", StringComparison.Ordinal));
    }

    [Fact]
    public void Validate_EmptyTokenFile_IsAnError()
    {
        var file = Path.Combine(Path.GetTempPath(), $"sentinel-token-{Guid.NewGuid():N}");
        File.WriteAllText(file, "\uFEFF\n");
        try
        {
            var problems = new SentinelOptions { Http = new SentinelOptions.HttpSettings { ApiTokenFile = file } }.Validate();

            Assert.Contains($"http:apiTokenFile: {file} is empty; an empty token would let anyone in", problems);
        }
        finally
        {
            File.Delete(file);
        }
    }
}
