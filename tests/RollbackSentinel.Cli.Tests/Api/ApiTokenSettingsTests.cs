using RollbackSentinel.Api;
using RollbackSentinel.Core.Secrets;
using RollbackSentinel.Hosting;

namespace RollbackSentinel.Cli.Tests.Api;

/// <summary>
/// A configured API token that no client could send (a header is one line of ASCII) is a settings error at start,
/// not a daemon whose API refuses everyone; an empty token file is one too. The scoped tokens (read, deploy) are read
/// like the admin token's file, and one token in two scopes is an error.
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

    [Theory]
    [InlineData("readTokenFile")]
    [InlineData("deployTokenFile")]
    public void Validate_ScopedTokenFileMissing_IsAnErrorNamingTheKey(string key)
    {
        var missing = Path.Combine(Path.GetTempPath(), $"no-such-token-{Guid.NewGuid():N}");
        var http = key == "readTokenFile" ? new SentinelOptions.HttpSettings { ReadTokenFile = missing } : new SentinelOptions.HttpSettings { DeployTokenFile = missing };

        var problems = new SentinelOptions { Http = http }.Validate();

        Assert.Contains($"http:{key}: {missing} does not exist", problems);
    }

    [Fact]
    public void Validate_EmptyOrUnsendableScopedTokenFiles_AreErrorsNamingTheirKeys()
    {
        var empty = TempFile("\uFEFF \n");
        var unsendable = TempFile("two\nlines");
        try
        {
            var problems = new SentinelOptions { Http = new SentinelOptions.HttpSettings { DeployTokenFile = empty, ReadTokenFile = unsendable } }.Validate();

            Assert.Contains($"http:deployTokenFile: {empty} is empty; an empty token would let anyone in", problems);
            Assert.Contains("http:readTokenFile: the token has characters that cannot be sent in an HTTP header (a line break, a control or non-ASCII character)", problems);
        }
        finally
        {
            File.Delete(empty);
            File.Delete(unsendable);
        }
    }

    [Fact]
    public void Validate_SameTokenInTwoScopes_IsAnErrorEvenWrittenDifferently()
    {
        // The same token once with a byte-order mark and a newline: read, they are one token.
        var deploy = TempFile("\uFEFFshared-token\r\n");
        var read = TempFile("shared-token");
        var adminAsDeploy = TempFile("the-admin-token\n");
        try
        {
            var readAsDeploy = new SentinelOptions { Http = new SentinelOptions.HttpSettings { ApiToken = "the-admin-token", DeployTokenFile = deploy, ReadTokenFile = read } }.Validate();
            var deployAsAdmin = new SentinelOptions { Http = new SentinelOptions.HttpSettings { ApiToken = "the-admin-token", DeployTokenFile = adminAsDeploy } }.Validate();
            var distinct = new SentinelOptions { Http = new SentinelOptions.HttpSettings { ApiToken = "the-admin-token", DeployTokenFile = deploy } }.Validate();

            Assert.Contains("http:readTokenFile: holds the same token as http:deployTokenFile; each scope needs a token of its own", readAsDeploy);
            Assert.Contains("http:deployTokenFile: holds the same token as http:apiToken; each scope needs a token of its own", deployAsAdmin);
            Assert.DoesNotContain(distinct, p => p.StartsWith("http:", StringComparison.Ordinal));
        }
        finally
        {
            File.Delete(deploy);
            File.Delete(read);
            File.Delete(adminAsDeploy);
        }
    }

    [Fact]
    public void ApiToken_ScopedTokenFiles_AreReadWithoutBomTrimmedAndRegisteredAsSecrets()
    {
        var deployToken = "deploy-" + Guid.NewGuid().ToString("N");
        var readToken = "read-" + Guid.NewGuid().ToString("N");
        var deploy = TempFile("\uFEFF" + deployToken + "\r\n");
        var read = TempFile("  " + readToken + "\n");
        try
        {
            var token = new ApiToken(new SentinelOptions { Http = new SentinelOptions.HttpSettings { ApiToken = "admin-" + deployToken, DeployTokenFile = deploy, ReadTokenFile = read } });

            Assert.Equal(
                (ApiScopes.Admin, ApiScopes.Deploy, ApiScopes.Read, (string?)null, (string?)null),
                (token.ScopeOf("admin-" + deployToken), token.ScopeOf(deployToken), token.ScopeOf(readToken), token.ScopeOf("\uFEFF" + deployToken), token.ScopeOf(string.Empty)));
            Assert.True(token.Matches("admin-" + deployToken));
            Assert.False(token.Matches(deployToken));
            Assert.Equal($"sent {SecretRegistry.Marker} and {SecretRegistry.Marker}", SecretRegistry.Shared.Redact($"sent {deployToken} and {readToken}"));
        }
        finally
        {
            File.Delete(deploy);
            File.Delete(read);
        }
    }

    private static string TempFile(string text)
    {
        var file = Path.Combine(Path.GetTempPath(), $"sentinel-token-{Guid.NewGuid():N}");
        File.WriteAllText(file, text);
        return file;
    }
}
