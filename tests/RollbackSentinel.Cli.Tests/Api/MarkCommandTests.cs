using System.Globalization;
using System.Text.Json;
using RollbackSentinel.Cli.Tests.Daemon;

namespace RollbackSentinel.Cli.Tests.Api;

/// <summary>
/// <c>rollback-sentinel mark</c>: a pipeline's deploy marker, recorded with a running daemon and printed back (as a
/// line, or with <c>--format json</c> the API's change); exit codes like the other client verbs.
/// </summary>
[Collection(ApiDaemonCollection.Name)]
public sealed class MarkCommandTests
{
    [Fact]
    public async Task Mark_EveryOption_RecordsTheChangeAndPrintsIt()
    {
        await using var sentinel = await InProcessSentinel.StartAsync();
        using var api = sentinel.Api();
        var at = TimeProvider.System.GetUtcNow().AddMinutes(-10);
        var atText = at.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

        var mark = await CliRun.RunAsync(
            "mark", "shop", "--label", "deployment=cart", "--label", "region=eu", "--revision", "v42", "--previous-revision", "v41", "--by", "ci",
            "--description", "new checkout flow", "--at", atText, "--url", sentinel.Url, "--token-file", sentinel.TokenFile());

        Assert.True(mark.ExitCode == 0, mark.Error);
        var stored = Assert.Single((await api.GetJsonAsync("api/v1/changes")).EnumerateArray());
        var id = stored.GetProperty("id").GetInt64();
        Assert.Equal($"change {id} of shop{{deployment=\"cart\", region=\"eu\"}}: v41 -> v42 at {atText} by ci (api)\n", mark.Output);
        Assert.Equal(string.Empty, mark.Error);
        Assert.Equal("""{"deployment":"cart","region":"eu"}""", stored.GetProperty("labels").GetRawText());
        Assert.Equal(("v42", "v41", "ci", "new checkout flow", atText, "api"), (
            stored.GetProperty("revision").GetString(), stored.GetProperty("previousRevision").GetString(), stored.GetProperty("by").GetString(),
            stored.GetProperty("description").GetString(), stored.GetProperty("at").GetString(), stored.GetProperty("source").GetString()));
    }

    [Fact]
    public async Task Mark_RelativeAtAndJsonOutput_PrintsTheStoredChangeAsTheApiGivesIt()
    {
        await using var sentinel = await InProcessSentinel.StartAsync();
        using var api = sentinel.Api();
        var before = TimeProvider.System.GetUtcNow();

        var mark = await CliRun.RunAsync("mark", "other", "--revision", "o7", "--at", "-1h", "--format", "json", "--url", sentinel.Url, "--token-file", sentinel.TokenFile());
        var output = await CliRun.RunAsync("mark", "other", "--revision", "o8", "--output", "json", "--by", "ci", "--url", sentinel.Url, "--token-file", sentinel.TokenFile());

        Assert.True(mark.ExitCode == 0, mark.Error);
        var printed = JsonDocument.Parse(mark.Output).RootElement;
        var stored = await api.GetJsonAsync($"api/v1/changes/{printed.GetProperty("id").GetInt64()}");
        Assert.Equal(stored.GetRawText(), JsonSerializer.Serialize(printed));
        var at = DateTimeOffset.Parse(printed.GetProperty("at").GetString()!, CultureInfo.InvariantCulture);
        Assert.InRange(at, before.AddHours(-1).AddSeconds(-2), TimeProvider.System.GetUtcNow().AddHours(-1).AddSeconds(1));
        Assert.Equal("{}", printed.GetProperty("labels").GetRawText());
        Assert.Equal(Environment.UserName, printed.GetProperty("by").GetString()); // who ran it, when --by is not given
        Assert.True(output.ExitCode == 0, output.Error);
        Assert.Equal("o8", JsonDocument.Parse(output.Output).RootElement.GetProperty("revision").GetString());
    }

    [Fact]
    public async Task Mark_ExitCodes_TellUnreachableFromUnauthorizedFromRefusedFromBadCommandLines()
    {
        await using var sentinel = await InProcessSentinel.StartAsync();
        using var api = sentinel.Api();
        var token = sentinel.TokenFile();
        var wrongToken = Path.Combine(sentinel.Root, "wrong-token");
        await File.WriteAllTextAsync(wrongToken, "not-the-token");

        var unreachable = await CliRun.RunAsync("mark", "shop", "--url", $"http://127.0.0.1:{Testing.Net.FreePort.Next()}", "--token-file", token);
        var unauthorized = await CliRun.RunAsync("mark", "shop", "--url", sentinel.Url, "--token-file", wrongToken);
        var noSuchPolicy = await CliRun.RunAsync("mark", "checkout-api", "--revision", "v42", "--url", sentinel.Url, "--token-file", token);
        var tooFarAhead = await CliRun.RunAsync("mark", "shop", "--at", "2099-01-01T00:00:00Z", "--url", sentinel.Url, "--token-file", token);
        var badLabel = await CliRun.RunAsync("mark", "shop", "--label", "deployment", "--url", sentinel.Url, "--token-file", token);
        var badAt = await CliRun.RunAsync("mark", "shop", "--at", "yesterday", "--url", sentinel.Url, "--token-file", token);
        var twoLineRevision = await CliRun.RunAsync("mark", "shop", "--revision", "v42\nv43", "--url", sentinel.Url, "--token-file", token);
        var longDescription = await CliRun.RunAsync("mark", "shop", "--description", new string('d', 2001), "--url", sentinel.Url, "--token-file", token);
        var noPolicy = await CliRun.RunAsync("mark", "--url", sentinel.Url, "--token-file", token);

        Assert.Equal(3, unreachable.ExitCode);
        Assert.StartsWith("error: cannot reach the daemon at http://127.0.0.1:", unreachable.Error, StringComparison.Ordinal);
        Assert.Equal(4, unauthorized.ExitCode);
        Assert.Contains("answered HTTP 401: the bearer token is not valid", unauthorized.Error, StringComparison.Ordinal);
        Assert.Equal(5, noSuchPolicy.ExitCode);
        Assert.Contains("answered HTTP 404: there is no policy 'checkout-api'", noSuchPolicy.Error, StringComparison.Ordinal);
        Assert.Equal(5, tooFarAhead.ExitCode);
        Assert.Contains("'at' is 2099-01-01T00:00:00Z, more than 5m after the daemon's clock", tooFarAhead.Error, StringComparison.Ordinal);
        Assert.Equal(2, badLabel.ExitCode);
        Assert.StartsWith("error: --label 'deployment' is not name=value", badLabel.Error, StringComparison.Ordinal);
        Assert.Equal(2, badAt.ExitCode);
        Assert.StartsWith("error: --at must be an RFC 3339 time such as 2026-11-22T10:00:00Z, 'now', or a duration before now such as -1h, got 'yesterday'", badAt.Error, StringComparison.Ordinal);
        Assert.Equal(2, twoLineRevision.ExitCode);
        Assert.StartsWith("error: '--revision' must be one line without control characters", twoLineRevision.Error, StringComparison.Ordinal);
        Assert.Equal(2, longDescription.ExitCode);
        Assert.StartsWith("error: '--description' is 2001 characters long; the limit is 2000", longDescription.Error, StringComparison.Ordinal);
        Assert.Equal(2, noPolicy.ExitCode);
        Assert.All(new[] { unreachable, unauthorized, noSuchPolicy, tooFarAhead, badLabel, badAt, twoLineRevision, longDescription, noPolicy }, r => Assert.Equal(string.Empty, r.Output));
        Assert.Empty((await api.GetJsonAsync("api/v1/changes")).EnumerateArray());
    }

    [Fact]
    public async Task MarkHelp_ListsTheClientExitCodes()
    {
        var help = await CliRun.RunAsync("mark", "--help");

        Assert.Equal(0, help.ExitCode);
        Assert.Contains("--revision", help.Output, StringComparison.Ordinal);
        Assert.Contains("Exit codes:\n  0  done\n  2  bad command line, settings or token file\n  3  the daemon could not be reached", help.Output, StringComparison.Ordinal);
    }
}
