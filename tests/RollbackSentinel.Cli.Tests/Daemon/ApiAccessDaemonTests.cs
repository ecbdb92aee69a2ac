using System.Diagnostics;
using System.Text.Json;
using RollbackSentinel.Testing.Net;

namespace RollbackSentinel.Cli.Tests.Daemon;

/// <summary>
/// The API's door, with the daemon as a process and the tools people use: the issue's curl with an upper-case path
/// gets no rollback without the token; the token the daemon generates works with <c>curl $(cat data/api-token)</c>;
/// the client verbs, run as processes, find the daemon from the same SENTINEL__* settings as <c>run</c>; a deploy token
/// (a pipeline's) cannot approve a held rollback; a scoped token file that is missing stops the start.
/// </summary>
[Collection(StartupDaemonCollection.Name)]
public sealed class ApiAccessDaemonTests
{
    [Fact]
    public async Task Curl_TheIssuesUpperCaseRollbackWithoutAToken_Is401AndNothingRuns()
    {
        await using var webhook = LoopbackHttpServer.Start(new CannedResponse(200, "{\"ok\":true}"));
        using var workspace = new SentinelWorkspace(new Uri("http://127.0.0.1:9/"));
        workspace.WriteRule("shop.yaml", Policy(webhook));
        await using var sentinel = await SentinelProcess.StartAsync(workspace);
        using var api = new SentinelApi(workspace.BaseAddress);

        var rollback = await RunAsync("curl", ["-s", "-w", "\n%{http_code}", "-X", "POST", $"http://127.0.0.1:{workspace.Port}/API/v1/policies/shop/rollback", "-H", "Content-Type: application/json", "-d", "{\"reason\":\"x\",\"by\":\"y\"}"], workspace.Root);
        var incidents = await RunAsync("curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", $"http://127.0.0.1:{workspace.Port}/Api/v1/incidents"], workspace.Root);
        var rules = await RunAsync("curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", $"http://127.0.0.1:{workspace.Port}/aPi/v1/rules"], workspace.Root);

        var lines = rollback.Output.Split('\n');
        Assert.Equal("401", lines[^1]);
        Assert.Equal(401, JsonDocument.Parse(lines[0]).RootElement.GetProperty("status").GetInt32());
        Assert.Equal(("401", "401"), (incidents.Output, rules.Output));
        Assert.Empty(await api.IncidentsAsync());
        Assert.Empty(webhook.Requests);
    }

    [Fact]
    public async Task GeneratedToken_HasNoByteOrderMark_WorksWithCurlCat_AndTheClientVerbsFindTheDaemonFromTheEnvironment()
    {
        await using var webhook = LoopbackHttpServer.Start(new CannedResponse(200, "{\"ok\":true}"));
        using var workspace = new SentinelWorkspace(new Uri("http://127.0.0.1:9/"));
        workspace.WriteRule("shop.yaml", Policy(webhook));
        var settings = new Dictionary<string, string>
        {
            ["SENTINEL__PROMETHEUS__URL"] = "http://127.0.0.1:9/",
            ["SENTINEL__HTTP__LISTEN"] = $"http://0.0.0.0:{workspace.Port}",
        };

        // No --config: ./rules, ./data and a generated token, as in the README's first steps.
        await using var sentinel = await SentinelProcess.StartAsync(workspace, ["run"], settings);
        var token = await File.ReadAllBytesAsync(Path.Combine(workspace.Root, "data", "api-token"));
        var curl = await RunAsync("bash", ["-c", $"curl -s -o /dev/null -w '%{{http_code}}' -H \"Authorization: Bearer $(cat data/api-token)\" http://127.0.0.1:{workspace.Port}/api/v1/policies"], workspace.Root);
        var statusHere = await RunCliAsync(["status"], workspace.Root, settings);
        var elsewhere = Directory.CreateTempSubdirectory("sentinel-elsewhere-").FullName;
        var incidentsElsewhere = await RunCliAsync(["incidents", "--format", "json"], elsewhere, new Dictionary<string, string>(settings) { ["SENTINEL__STORAGE__PATH"] = Path.Combine(workspace.Root, "data", "sentinel.db") });
        var withoutSettings = await RunCliAsync(["incidents", "--url", workspace.BaseAddress.ToString()], elsewhere, new Dictionary<string, string>());
        Directory.Delete(elsewhere);

        Assert.NotEqual(0xEF, token[0]);
        Assert.Matches("^[0-9a-f]{64}$", System.Text.Encoding.ASCII.GetString(token));
        Assert.Equal("200", curl.Output);
        Assert.True(statusHere.ExitCode == 0, statusHere.Error);
        Assert.StartsWith("POLICY  TRIGGER", statusHere.Output, StringComparison.Ordinal);
        Assert.True(incidentsElsewhere.ExitCode == 0, incidentsElsewhere.Error);
        Assert.Equal("[]", incidentsElsewhere.Output.Trim());
        Assert.Equal(ExitCodes.Unauthorized, withoutSettings.ExitCode); // no token found anywhere: 4, not "unreachable"
        Assert.Contains("answered HTTP 401", withoutSettings.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task DeployToken_CannotApproveAHeldRollback_FromCurlOrTheCli_TheAdminTokenCan()
    {
        await using var live = await LiveShop.StartAsync();
        using var workspace = new SentinelWorkspace(live.Prometheus.BaseAddress);
        workspace.WriteRule("shop.yaml", live.Policy(action: "page", spec: "  confirm:\n    approvers: [U024BE7LH]\n    timeout: 10m\n    onTimeout: hold"));
        var deployTokenFile = Path.Combine(workspace.Root, "deploy-token");
        await File.WriteAllTextAsync(deployTokenFile, "\uFEFFpipeline-deploy-token\n");
        await using var sentinel = await SentinelProcess.StartAsync(
            workspace, ["run", "--config", workspace.ConfigPath], new Dictionary<string, string> { ["SENTINEL__HTTP__DEPLOYTOKENFILE"] = deployTokenFile });
        using var api = new SentinelApi(workspace.BaseAddress);
        await api.WaitForPassAsync(TimeSpan.FromSeconds(45));
        live.Shop.ErrorShare = 0.5;
        var waiting = await api.WaitForIncidentAsync(TimeSpan.FromSeconds(45), () => sentinel.Log, "awaitingconfirmation");
        var id = waiting.GetProperty("incident").GetProperty("id").GetInt64().ToString(System.Globalization.CultureInfo.InvariantCulture);

        var curl = await RunAsync("curl", ["-s", "-w", "\n%{http_code}", "-X", "POST", $"http://127.0.0.1:{workspace.Port}/api/v1/incidents/{id}/approve", "-H", "Authorization: Bearer pipeline-deploy-token", "-H", "Content-Type: application/json", "-d", "{\"by\":\"ci\"}"], workspace.Root);
        var cli = await RunCliAsync(["approve", id, "--by", "ci", "--url", workspace.BaseAddress.ToString(), "--token-file", deployTokenFile], workspace.Root, new Dictionary<string, string>());
        var read = await RunAsync("curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", $"http://127.0.0.1:{workspace.Port}/api/v1/incidents/{id}", "-H", "Authorization: Bearer pipeline-deploy-token"], workspace.Root);
        var stillWaiting = await api.GetJsonAsync($"api/v1/incidents/{id}");

        var lines = curl.Output.Split('\n');
        Assert.Equal("403", lines[^1]);
        using (var problem = JsonDocument.Parse(lines[0]))
        {
            Assert.Equal("deploy", problem.RootElement.GetProperty("scope").GetString());
            Assert.Contains("approve, deny, snooze, ack and rollback need the admin token", problem.RootElement.GetProperty("detail").GetString(), StringComparison.Ordinal);
        }

        Assert.Equal(ExitCodes.Unauthorized, cli.ExitCode);
        Assert.Contains("403", cli.Error, StringComparison.Ordinal);
        Assert.Equal("200", read.Output);
        Assert.Equal("awaitingconfirmation", stillWaiting.GetProperty("incident").GetProperty("state").GetString());
        Assert.Empty(stillWaiting.GetProperty("acknowledgments").EnumerateArray());
        Assert.Empty(live.Rollbacks);

        // The admin token approves the same incident: the refusal was the token's scope, nothing else.
        var approved = await api.PostJsonAsync($"api/v1/incidents/{id}/approve", new { by = "alice" });
        Assert.StartsWith($"rollback of incident {id} approved by alice", approved.GetProperty("message").GetString(), StringComparison.Ordinal);
        await api.WaitForIncidentAsync(TimeSpan.FromSeconds(45), () => sentinel.Log, "acted", "resolved");
        Assert.Single(live.Rollbacks);
    }

    [Theory]
    [InlineData("SENTINEL__HTTP__READTOKENFILE", "http:readTokenFile")]
    [InlineData("SENTINEL__HTTP__DEPLOYTOKENFILE", "http:deployTokenFile")]
    public async Task Run_ScopedTokenFileMissing_ExitsWithSettingsErrorNamingIt(string variable, string key)
    {
        using var workspace = new SentinelWorkspace(new Uri("http://127.0.0.1:9/"));
        var missing = Path.Combine(workspace.Root, "no-such-token");

        var (exitCode, output) = await SentinelProcess.RunToExitAsync(workspace, ["run", "--config", workspace.ConfigPath], new Dictionary<string, string> { [variable] = missing });

        Assert.Equal(ExitCodes.Usage, exitCode);
        Assert.Contains($"{key}: {missing} does not exist", output, StringComparison.Ordinal);
    }

    private static string Policy(LoopbackHttpServer webhook) => $"""
        apiVersion: rollback-sentinel/v1
        kind: RollbackPolicy
        metadata:
          name: shop
        spec:
          target:
            webhook:
              url: {webhook.BaseAddress}rollback
          schedule:
            interval: 1m
          triggers:
            - name: errors
              threshold:
                query: sum(rate(http_requests_total[1m]))
                op: ">"
                value: 1
              action: rollback
        """;

    /// <summary>The CLI as its own process (<see cref="SentinelCommand"/>) in <paramref name="directory"/> with only the given SENTINEL variables.</summary>
    private static Task<CliRun> RunCliAsync(IReadOnlyList<string> args, string directory, IReadOnlyDictionary<string, string> environment) =>
        RunAsync(SentinelCommand.Program, SentinelCommand.With(args), directory, environment);

    private static async Task<CliRun> RunAsync(string program, IReadOnlyList<string> args, string directory, IReadOnlyDictionary<string, string>? environment = null)
    {
        var info = new ProcessStartInfo(program)
        {
            WorkingDirectory = directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        foreach (var key in info.Environment.Keys.Where(k => k.StartsWith("SENTINEL", StringComparison.Ordinal)).ToList())
        {
            info.Environment.Remove(key);
        }

        foreach (var (k, v) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[k] = v;
        }

        using var process = Process.Start(info)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token);
        return new CliRun(process.ExitCode, await output, await error);
    }
}
