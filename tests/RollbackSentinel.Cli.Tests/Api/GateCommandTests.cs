using System.Text.Json;
using RollbackSentinel.Cli.Tests.Daemon;

namespace RollbackSentinel.Cli.Tests.Api;

/// <summary>
/// <c>rollback-sentinel gate</c>: exits 0 when the gate is open, 1 when it is still closed when <c>--wait</c> runs out
/// (printing the reasons), 2 when no answer could be had (bad command line, unreachable daemon, refused token, no such
/// policy); with <c>--wait</c> it asks every <c>--poll</c> until the gate opens.
/// </summary>
[Collection(ApiDaemonCollection.Name)]
public sealed class GateCommandTests
{
    private static readonly TimeSpan Generous = TimeSpan.FromSeconds(45);

    private static Task<InProcessSentinel> StartAsync(SteppedPrometheus prometheus) =>
        InProcessSentinel.StartAsync(policy: (name, webhook) => SteppedPrometheus.Policy(name, webhook, spec: "  gate:\n    minPasses: 2"), prometheus: prometheus.BaseAddress);

    private static async Task WaitForGateAsync(InProcessSentinel sentinel, string path, bool open)
    {
        using var api = sentinel.Api();
        await Eventually.WaitAsync(
            async () =>
            {
                using var response = await api.Http.GetAsync(path);
                return response.IsSuccessStatusCode == open && (await api.GetJsonAsync("api/v1/policies")).EnumerateArray().All(p => p.GetProperty("lastEvaluatedAt").ValueKind == JsonValueKind.String);
            },
            Generous,
            $"the gate {path} to be {(open ? "open" : "closed")}\n{sentinel.Log.Text}");
    }

    [Fact]
    public async Task Gate_Open_Exits0AndSaysSo()
    {
        await using var prometheus = new SteppedPrometheus(("cart", 5), ("web", 0));
        await using var sentinel = await StartAsync(prometheus);
        await WaitForGateAsync(sentinel, "api/v1/gates/shop?deployment=web", open: true);

        var gate = await CliRun.RunAsync("gate", "shop", "--label", "deployment=web", "--url", sentinel.Url, "--token-file", sentinel.TokenFile());
        var json = await CliRun.RunAsync("gate", "shop", "--label", "deployment=web", "--format", "json", "--url", sentinel.Url, "--token-file", sentinel.TokenFile());

        Assert.True(gate.ExitCode == 0, gate.Error);
        Assert.StartsWith("gate shop{deployment=\"web\"} is open: every trigger passed 2 evaluations in a row since the latest change, and no incident is open\n", gate.Output, StringComparison.Ordinal);
        Assert.Matches("\n  errors\\{deployment=\"web\"\\}: passing, [0-9]+ passing in a row, no change known\n$", gate.Output);
        Assert.Equal(0, json.ExitCode);
        var body = JsonDocument.Parse(json.Output).RootElement;
        Assert.True(body.GetProperty("open").GetBoolean());
        Assert.Equal("web", Assert.Single(body.GetProperty("series").EnumerateArray()).GetProperty("labels").GetProperty("deployment").GetString());
    }

    [Fact]
    public async Task Gate_Closed_Exits1PrintingTheReasons()
    {
        await using var prometheus = new SteppedPrometheus(("cart", 5), ("web", 0));
        await using var sentinel = await StartAsync(prometheus);
        await WaitForGateAsync(sentinel, "api/v1/gates/shop?deployment=web", open: true);

        var gate = await CliRun.RunAsync("gate", "shop", "--label", "deployment=cart", "--url", sentinel.Url, "--token-file", sentinel.TokenFile());
        var waited = await CliRun.RunAsync("gate", "shop", "--wait", "2s", "--poll", "1s", "--url", sentinel.Url, "--token-file", sentinel.TokenFile());

        Assert.Equal(1, gate.ExitCode);
        Assert.StartsWith("gate shop{deployment=\"cart\"} is closed:\n  - errors{deployment=\"cart\"}: pending (breaching since ", gate.Output, StringComparison.Ordinal);
        Assert.Contains("\n  errors{deployment=\"cart\"}: pending, 0 passing in a row, no change known\n", gate.Output, StringComparison.Ordinal);
        Assert.Equal(string.Empty, gate.Error);
        Assert.Equal(1, waited.ExitCode);
        Assert.StartsWith("gate shop is closed:\n  - errors{deployment=\"cart\"}: pending (breaching since ", waited.Output, StringComparison.Ordinal);
        Assert.StartsWith("gate shop is closed (waiting up to 2s more): errors{deployment=\"cart\"}: pending (breaching since ", waited.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Gate_Wait_AsksAgainUntilTheGateOpens_ThenExits0()
    {
        await using var prometheus = new SteppedPrometheus(("cart", 5));
        await using var sentinel = await StartAsync(prometheus);
        await WaitForGateAsync(sentinel, "api/v1/gates/shop", open: false);

        var waiting = CliRun.RunAsync("gate", "shop", "--wait", "2m", "--poll", "1s", "--url", sentinel.Url, "--token-file", sentinel.TokenFile());
        await Task.Delay(TimeSpan.FromSeconds(1)); // the verb's first answer is "closed"; not a timing assertion: either way it must end open
        prometheus.Set("cart", 0);
        var gate = await waiting;

        Assert.True(gate.ExitCode == 0, gate.Output + gate.Error);
        Assert.StartsWith("gate shop is open: ", gate.Output, StringComparison.Ordinal);
        Assert.StartsWith("gate shop is closed (waiting up to ", gate.Error, StringComparison.Ordinal);
        Assert.Contains("errors{deployment=\"cart\"}: ", gate.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Gate_DaemonGoneWhileWaiting_AsksAgainUntilTheWaitIsOver_ThenExits2()
    {
        await using var prometheus = new SteppedPrometheus(("cart", 5));
        await using var sentinel = await StartAsync(prometheus);
        await WaitForGateAsync(sentinel, "api/v1/gates/shop", open: false);

        int Answered() => sentinel.Log.Entries.Count(e => e.Contains("/api/v1/gates/shop - 409", StringComparison.Ordinal));
        var before = Answered();
        var waiting = CliRun.RunAsync("gate", "shop", "--wait", "4s", "--poll", "1s", "--url", sentinel.Url, "--token-file", sentinel.TokenFile());
        await Eventually.WaitAsync(() => Task.FromResult(Answered() > before), Generous, "the verb's first answer");
        await sentinel.App.StopAsync();
        var gate = await waiting;

        Assert.Equal(2, gate.ExitCode);
        Assert.Equal(string.Empty, gate.Output);
        var lines = gate.Error.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.StartsWith("gate shop is closed (waiting up to ", lines[0], StringComparison.Ordinal);
        Assert.Matches("^warning: cannot reach the daemon at .* \\(asking again in [0-9.]+m?s\\)$", lines[1]);
        Assert.StartsWith("error: cannot reach the daemon at ", lines[^1], StringComparison.Ordinal);
    }

    [Fact]
    public async Task Gate_NoAnswer_Exits2SayingWhy()
    {
        await using var sentinel = await InProcessSentinel.StartAsync();
        var token = sentinel.TokenFile();
        var wrongToken = Path.Combine(sentinel.Root, "wrong-token");
        await File.WriteAllTextAsync(wrongToken, "not-the-token");

        var unreachable = await CliRun.RunAsync("gate", "shop", "--wait", "10m", "--url", $"http://127.0.0.1:{Testing.Net.FreePort.Next()}", "--token-file", token);
        var unauthorized = await CliRun.RunAsync("gate", "shop", "--url", sentinel.Url, "--token-file", wrongToken);
        var noSuchPolicy = await CliRun.RunAsync("gate", "checkout-api", "--wait", "10m", "--url", sentinel.Url, "--token-file", token);
        var badWait = await CliRun.RunAsync("gate", "shop", "--wait", "forever", "--url", sentinel.Url, "--token-file", token);
        var zeroPoll = await CliRun.RunAsync("gate", "shop", "--poll", "0s", "--url", sentinel.Url, "--token-file", token);
        var badLabel = await CliRun.RunAsync("gate", "shop", "--label", "not a label=x", "--url", sentinel.Url, "--token-file", token);

        Assert.Equal(2, unreachable.ExitCode);
        Assert.StartsWith("error: cannot reach the daemon at http://127.0.0.1:", unreachable.Error, StringComparison.Ordinal);
        Assert.Equal(2, unauthorized.ExitCode);
        Assert.Contains("answered HTTP 401: the bearer token is not valid", unauthorized.Error, StringComparison.Ordinal);
        Assert.Equal(2, noSuchPolicy.ExitCode);
        Assert.Contains("answered HTTP 404: there is no policy 'checkout-api'", noSuchPolicy.Error, StringComparison.Ordinal);
        Assert.Equal(2, badWait.ExitCode);
        Assert.StartsWith("error: --wait must be a duration such as 10m (s, m, h), got 'forever'", badWait.Error, StringComparison.Ordinal);
        Assert.Equal(2, zeroPoll.ExitCode);
        Assert.StartsWith("error: --poll must be a duration such as 5s (s, m, h), more than 0, got '0s'", zeroPoll.Error, StringComparison.Ordinal);
        Assert.Equal(2, badLabel.ExitCode);
        Assert.StartsWith("error: '--label': 'not a label' is not a label name", badLabel.Error, StringComparison.Ordinal);
        Assert.All(new[] { unreachable, unauthorized, noSuchPolicy, badWait, zeroPoll, badLabel }, r => Assert.Equal(string.Empty, r.Output));
    }

    [Fact]
    public async Task MarkAndGate_WithThePipelinesDeployToken_Work_AReadTokenMayAskButNotMark()
    {
        await using var prometheus = new SteppedPrometheus(("web", 0));
        await using var sentinel = await InProcessSentinel.StartAsync(
            (options, root) =>
            {
                (options.Http.DeployTokenFile, options.Http.ReadTokenFile) = (Path.Combine(root, "deploy-token"), Path.Combine(root, "read-token"));
                File.WriteAllText(options.Http.DeployTokenFile, "pipeline-deploy-token");
                File.WriteAllText(options.Http.ReadTokenFile, "dashboard-read-token");
            },
            (name, webhook) => SteppedPrometheus.Policy(name, webhook, spec: "  gate:\n    minPasses: 2"),
            prometheus.BaseAddress);
        var deploy = Path.Combine(sentinel.Root, "deploy-token");
        var read = Path.Combine(sentinel.Root, "read-token");

        var mark = await CliRun.RunAsync("mark", "shop", "--label", "deployment=web", "--revision", "v43", "--by", "ci", "--url", sentinel.Url, "--token-file", deploy);
        var gate = await CliRun.RunAsync("gate", "shop", "--label", "deployment=web", "--wait", "60s", "--poll", "1s", "--url", sentinel.Url, "--token-file", deploy);
        var readGate = await CliRun.RunAsync("gate", "shop", "--url", sentinel.Url, "--token-file", read);
        var readMark = await CliRun.RunAsync("mark", "shop", "--revision", "v44", "--url", sentinel.Url, "--token-file", read);

        Assert.True(mark.ExitCode == 0, mark.Error);
        Assert.True(gate.ExitCode == 0, gate.Output + gate.Error);
        Assert.Contains("since change 1 of shop{deployment=\"web\"}: v43 at ", gate.Output, StringComparison.Ordinal);
        Assert.True(readGate.ExitCode == 0, readGate.Error);
        Assert.Equal(4, readMark.ExitCode);
        Assert.Contains("answered HTTP 403", readMark.Error, StringComparison.Ordinal);
        using var api = sentinel.Api();
        Assert.Equal(["v43"], (await api.GetJsonAsync("api/v1/changes")).EnumerateArray().Select(c => c.GetProperty("revision").GetString()));
    }

    [Fact]
    public async Task GateHelp_ListsItsOwnExitCodes()
    {
        var help = await CliRun.RunAsync("gate", "--help");

        Assert.Equal(0, help.ExitCode);
        Assert.Contains("--wait", help.Output, StringComparison.Ordinal);
        Assert.Contains("--poll", help.Output, StringComparison.Ordinal);
        Assert.Contains(
            "Exit codes:\n  0  the gate is open\n  1  the gate is closed (still closed when --wait ran out): the reasons are printed\n  2  no answer: bad command line, settings or token file, the daemon unreachable, the token refused (HTTP 401/403), or no such policy\n",
            help.Output,
            StringComparison.Ordinal);
    }
}
