using System.Text;
using System.Text.Json;
using RollbackSentinel.Cli.Tests.Daemon;

namespace RollbackSentinel.Cli.Tests.Api;

/// <summary>
/// The client verbs against a running daemon: they find it the way <c>run</c> was configured, say what happened
/// with distinct exit codes (0 done, 2 bad command line, 3 unreachable, 4 not authorized, 5 refused), and show
/// incidents in full and as the API's JSON.
/// </summary>
[Collection(ApiDaemonCollection.Name)]
public sealed class ClientVerbTests
{
    [Fact]
    public async Task ClientVerbs_GivenOnlyTheDaemonsSettings_FindItsAddressOnLoopbackAndItsGeneratedToken()
    {
        await using var sentinel = await InProcessSentinel.StartAsync((o, _) => o.Http.ApiToken = null);
        var generated = await File.ReadAllBytesAsync(Path.Combine(sentinel.Root, "data", "api-token"));
        var config = Path.Combine(sentinel.Root, "sentinel.yaml");
        await File.WriteAllTextAsync(config, $"""
            http:
              listen: http://0.0.0.0:{sentinel.BaseAddress.Port}
            storage:
              path: {Path.Combine(sentinel.Root, "data", "sentinel.db")}
            """);

        var status = await CliRun.RunAsync("status", "--config", config);
        var rollback = await CliRun.RunAsync("rollback", "shop", "--reason", "checkout broken", "--by", "erin", "--config", config);
        var incidents = await CliRun.RunAsync("incidents", "--config", config, "--format", "json");

        Assert.Equal(64, generated.Length); // 32 random bytes as hex, and no byte-order mark before them
        Assert.Matches("^[0-9a-f]{64}$", Encoding.ASCII.GetString(generated));
        Assert.True(status.ExitCode == 0, status.Error);
        Assert.StartsWith("POLICY  TRIGGER", status.Output, StringComparison.Ordinal);
        Assert.True(rollback.ExitCode == 0, rollback.Error);
        Assert.StartsWith("rolling back ", rollback.Output, StringComparison.Ordinal);
        Assert.EndsWith("as erin asked: checkout broken\n", rollback.Output, StringComparison.Ordinal);
        var listed = Assert.Single(JsonDocument.Parse(incidents.Output).RootElement.EnumerateArray());
        Assert.Equal(("shop", "manual"), (listed.GetProperty("policy").GetString(), listed.GetProperty("trigger").GetString()));
        await Eventually.WaitAsync(() => Task.FromResult(sentinel.Webhook.Requests.Count == 1), TimeSpan.FromSeconds(30), "the rollback");
    }

    [Fact]
    public async Task ClientVerbs_TokenFileWithAByteOrderMarkAndNewline_IsAcceptedByTheDaemonAndTheCli()
    {
        var tokenFile = Path.Combine(Path.GetTempPath(), $"sentinel-bom-token-{Guid.NewGuid():N}");
        await File.WriteAllTextAsync(tokenFile, "bom-token-value\r\n", new UTF8Encoding(encoderShouldEmitUTF8Identifier: true));
        try
        {
            await using var sentinel = await InProcessSentinel.StartAsync((o, _) => (o.Http.ApiToken, o.Http.ApiTokenFile) = (null, tokenFile));
            using var api = sentinel.Api("bom-token-value");

            var status = await CliRun.RunAsync("status", "--url", sentinel.Url, "--token-file", tokenFile);

            Assert.Equal(0xEF, (await File.ReadAllBytesAsync(tokenFile))[0]);
            Assert.True(status.ExitCode == 0, status.Error);
            Assert.Contains("shop", status.Output, StringComparison.Ordinal);
            Assert.Equal(2, (await api.GetJsonAsync("api/v1/policies")).GetArrayLength());
        }
        finally
        {
            File.Delete(tokenFile);
        }
    }

    [Fact]
    public async Task ClientVerbs_ExitCodes_TellUnreachableFromUnauthorizedFromRefusedFromBadCommandLines()
    {
        await using var sentinel = await InProcessSentinel.StartAsync();
        var token = sentinel.TokenFile();
        var wrongToken = Path.Combine(sentinel.Root, "wrong-token");
        await File.WriteAllTextAsync(wrongToken, "not-the-token");

        var unreachable = await CliRun.RunAsync("status", "--url", $"http://127.0.0.1:{Testing.Net.FreePort.Next()}", "--token-file", token);
        var unauthorized = await CliRun.RunAsync("incidents", "--url", sentinel.Url, "--token-file", wrongToken);
        var noSuchIncident = await CliRun.RunAsync("approve", "4242", "--url", sentinel.Url, "--token-file", token);
        var noSuchPolicy = await CliRun.RunAsync("rollback", "nope", "--reason", "x", "--url", sentinel.Url, "--token-file", token);
        var notAnId = await CliRun.RunAsync("approve", "abc", "--url", sentinel.Url, "--token-file", token);
        var badLimit = await CliRun.RunAsync("incidents", "--limit", "many", "--url", sentinel.Url, "--token-file", token);
        var longReason = await CliRun.RunAsync("rollback", "shop", "--reason", new string('r', 2001), "--url", sentinel.Url, "--token-file", token);
        var forgedBy = await CliRun.RunAsync("deny", "1", "--by", "alice\nINF forged", "--url", sentinel.Url, "--token-file", token);
        var missingTokenFile = await CliRun.RunAsync("status", "--url", sentinel.Url, "--token-file", token + ".missing");
        var noScheme = await CliRun.RunAsync("status", "--url", $"127.0.0.1:{sentinel.BaseAddress.Port}", "--token-file", token);
        var nonAsciiToken = Path.Combine(sentinel.Root, "non-ascii-token");
        await File.WriteAllTextAsync(nonAsciiToken, "t\u00f6ken");
        var unsendable = await CliRun.RunAsync("status", "--url", sentinel.Url, "--token-file", nonAsciiToken);

        Assert.Equal((ExitCodes.DaemonUnreachable, 3), (unreachable.ExitCode, ExitCodes.DaemonUnreachable));
        Assert.Contains("error: cannot reach the daemon at http://127.0.0.1:", unreachable.Error, StringComparison.Ordinal);
        Assert.Equal(4, unauthorized.ExitCode);
        Assert.Contains("answered HTTP 401: the bearer token is not valid", unauthorized.Error, StringComparison.Ordinal);
        Assert.Equal(5, noSuchIncident.ExitCode);
        Assert.Contains("answered HTTP 404", noSuchIncident.Error, StringComparison.Ordinal);
        Assert.Equal(5, noSuchPolicy.ExitCode);
        Assert.Contains("there is no policy 'nope'", noSuchPolicy.Error, StringComparison.Ordinal);
        Assert.Equal(2, notAnId.ExitCode);
        Assert.StartsWith("error: 'abc' is not an incident id: give its number, e.g. 12", notAnId.Error, StringComparison.Ordinal);
        Assert.Equal(2, badLimit.ExitCode);
        Assert.StartsWith("error: --limit must be a whole number from 1 to 1000, got 'many'", badLimit.Error, StringComparison.Ordinal);
        Assert.Equal(2, longReason.ExitCode);
        Assert.StartsWith("error: '--reason' is 2001 characters long; the limit is 2000", longReason.Error, StringComparison.Ordinal);
        Assert.Equal(2, forgedBy.ExitCode);
        Assert.StartsWith("error: '--by' must be one line without control characters", forgedBy.Error, StringComparison.Ordinal);
        Assert.Equal(2, missingTokenFile.ExitCode);
        Assert.StartsWith("error: cannot read the API token: ", missingTokenFile.Error, StringComparison.Ordinal);
        Assert.Equal(2, noScheme.ExitCode);
        Assert.StartsWith($"error: '127.0.0.1:{sentinel.BaseAddress.Port}' is not the daemon's address: give an http:// URL", noScheme.Error, StringComparison.Ordinal);
        Assert.Equal(2, unsendable.ExitCode);
        Assert.StartsWith("error: the API token has characters that cannot be sent in an HTTP header", unsendable.Error, StringComparison.Ordinal);
        Assert.All(new[] { unreachable, unauthorized, noSuchIncident, noSuchPolicy, notAnId, badLimit, longReason, forgedBy, missingTokenFile, unsendable, noScheme }, r => Assert.DoesNotContain("System.", r.Error, StringComparison.Ordinal));
        Assert.Empty(await sentinel.StoredAsync()); // nothing refused reached the store
        Assert.Empty(sentinel.Webhook.Requests);
    }

    [Theory]
    [InlineData("two\nlines")]
    [InlineData("a\0nul")]
    [InlineData("bell\u0007")]
    public async Task ClientVerbs_TokenWithALineBreakOrControlCharacterInside_IsAUsageErrorNotACrash(string token)
    {
        var tokenFile = Path.Combine(Path.GetTempPath(), $"sentinel-bad-token-{Guid.NewGuid():N}");
        await File.WriteAllTextAsync(tokenFile, token + "\n");
        try
        {
            var status = await CliRun.RunAsync("status", "--url", "http://127.0.0.1:9", "--token-file", tokenFile);

            Assert.Equal(ExitCodes.Usage, status.ExitCode);
            Assert.Equal("error: the API token has characters that cannot be sent in an HTTP header (it should be the hex string the daemon generated, or what http.apiTokenFile holds)\n", status.Error);
        }
        finally
        {
            File.Delete(tokenFile);
        }
    }

    [Fact]
    public async Task IncidentsShow_PrintsEvidenceEventsPlanAndBeforeAfter_AndJsonIsTheApisObject()
    {
        await using var sentinel = await InProcessSentinel.StartAsync();
        var token = sentinel.TokenFile();
        using var api = sentinel.Api();
        var started = await CliRun.RunAsync("rollback", "shop", "--reason", "two lines\nof reason", "--label", "deployment=checkout", "--by", "erin", "--url", sentinel.Url, "--token-file", token);
        Assert.True(started.ExitCode == 0, started.Error);
        var id = Assert.Single(await sentinel.StoredAsync()).Incident.Id;
        await Eventually.WaitAsync(async () => (await api.GetJsonAsync($"api/v1/incidents/{id}")).GetProperty("actions")[0].GetProperty("status").GetString() == "succeeded", TimeSpan.FromSeconds(30), "the rollback");

        var text = await CliRun.RunAsync("incidents", "show", id.ToString(System.Globalization.CultureInfo.InvariantCulture), "--url", sentinel.Url, "--token-file", token);
        var json = await CliRun.RunAsync("incidents", "show", id.ToString(System.Globalization.CultureInfo.InvariantCulture), "--format", "json", "--url", sentinel.Url, "--token-file", token);
        var status = await CliRun.RunAsync("status", "--format", "json", "--url", sentinel.Url, "--token-file", token);

        Assert.True(text.ExitCode == 0, text.Error);
        Assert.StartsWith($"incident {id}: shop/manual {{deployment=\"checkout\"}}\n  state:    resolved\n", text.Output, StringComparison.Ordinal);
        Assert.Contains("\nevidence:\n  {", text.Output, StringComparison.Ordinal);
        Assert.Contains("\nevents:\n  ", text.Output, StringComparison.Ordinal);
        Assert.Matches(@"\nactions:\n  #\d+ rollback .+: succeeded\n", text.Output);
        Assert.Contains("\n    plan:\n      {", text.Output, StringComparison.Ordinal);
        Assert.Contains($"\n    after:     delivered to {sentinel.Webhook.BaseAddress}rollback-shop\n", text.Output, StringComparison.Ordinal);
        Assert.Matches(@"\nanswers:\n  \S+  rollback by erin via cli \(two lines\\nof reason\)\n", text.Output);

        Assert.True(json.ExitCode == 0, json.Error);
        var fromCli = JsonDocument.Parse(json.Output).RootElement;
        var fromApi = await api.GetJsonAsync($"api/v1/incidents/{id}");
        Assert.Equal(JsonSerializer.Serialize(fromApi), JsonSerializer.Serialize(fromCli));
        Assert.Equal("two lines\nof reason", fromCli.GetProperty("acknowledgments")[0].GetProperty("reason").GetString());

        Assert.True(status.ExitCode == 0, status.Error);
        var both = JsonDocument.Parse(status.Output).RootElement;
        Assert.Equal(["other", "shop"], both.GetProperty("policies").EnumerateArray().Select(p => p.GetProperty("name").GetString()!).Order(StringComparer.Ordinal));
        Assert.Equal(2, both.GetProperty("rules").GetArrayLength());
    }
}
