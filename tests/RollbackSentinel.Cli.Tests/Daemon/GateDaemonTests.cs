using System.Net;
using System.Text.Json;

namespace RollbackSentinel.Cli.Tests.Daemon;

/// <summary>
/// The gate through the daemon as a process, a real Prometheus scraping the fake shop: after a change marked with
/// <c>rollback-sentinel mark</c>, the gate opens only after <c>minPasses</c> passing evaluations; it closes while a
/// trigger is pending, and opens again only after <c>minPasses</c> passes in a row.
/// </summary>
[Collection(IncidentDaemonCollection.Name)]
public sealed class GateDaemonTests
{
    private static readonly TimeSpan Generous = TimeSpan.FromSeconds(60);

    private static async Task<(HttpStatusCode Status, JsonElement Gate)> GateAsync(SentinelApi api)
    {
        using var response = await api.Http.GetAsync("api/v1/gates/shop");
        return (response.StatusCode, JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone());
    }

    private static string[] Reasons(JsonElement gate) => [.. gate.GetProperty("reasons").EnumerateArray().Select(r => r.GetString()!)];

    [Fact]
    public async Task Run_TriggerPending_ClosesTheGate_WhichOpensAgainOnlyAfterMinPassesPasses()
    {
        await using var live = await LiveShop.StartAsync();
        using var workspace = new SentinelWorkspace(live.Prometheus.BaseAddress);

        // A long 'for' keeps the breach pending: nothing fires, the gate alone must say "not now".
        workspace.WriteRule("shop.yaml", live.Policy(@for: "1h", action: "page", watch: null, spec: "  gate:\n    minPasses: 3"));
        await using var sentinel = await SentinelProcess.StartAsync(workspace);
        using var api = new SentinelApi(workspace.BaseAddress);
        await api.WaitForPassAsync(Generous);

        // A pipeline marks its deploy and waits for the gate.
        var mark = await CliRun.RunAsync("mark", "shop", "--revision", "v42", "--by", "ci", "--config", workspace.ConfigPath);
        var waited = await CliRun.RunAsync("gate", "shop", "--wait", "60s", "--poll", "1s", "--config", workspace.ConfigPath);
        var (openStatus, open) = await GateAsync(api);

        Assert.True(mark.ExitCode == 0, mark.Error);
        Assert.Matches("^change [0-9]+ of shop: v42 at .* by ci \\(api\\)\n$", mark.Output);
        Assert.True(waited.ExitCode == 0, waited.Output + waited.Error + sentinel.Log);
        Assert.StartsWith("gate shop is open: every trigger passed 3 evaluations in a row since the latest change, and no incident is open\n", waited.Output, StringComparison.Ordinal);
        Assert.Matches("\n  errors: passing, [0-9]+ passing in a row, since change [0-9]+ of shop: v42 at .* by ci \\(api\\)\n$", waited.Output);
        Assert.Equal(HttpStatusCode.OK, openStatus);
        var series = Assert.Single(open.GetProperty("series").EnumerateArray());
        Assert.True(series.GetProperty("passes").GetInt32() >= 3, series.GetRawText());
        Assert.Equal("v42", series.GetProperty("change").GetProperty("revision").GetString());

        // Errors: the trigger is pending, and the gate is closed saying so.
        live.Shop.ErrorShare = 0.5;
        var pending = (JsonElement)await Eventually.WaitAsync(
            async () => await GateAsync(api) is { Status: HttpStatusCode.Conflict } g && Reasons(g.Gate) is [var r] && r.StartsWith("errors: pending (breaching since ", StringComparison.Ordinal) ? (object)g.Gate : null,
            Generous,
            "the gate to close while the trigger is pending\n" + sentinel.Log);
        var closed = await CliRun.RunAsync("gate", "shop", "--config", workspace.ConfigPath);

        Assert.Equal("pending", Assert.Single(pending.GetProperty("series").EnumerateArray()).GetProperty("state").GetString());
        Assert.Equal(1, closed.ExitCode);
        Assert.StartsWith("gate shop is closed:\n  - errors: ", closed.Output, StringComparison.Ordinal);

        // Errors gone: every answer until it opens is closed for a reason, and it opens with at least minPasses passes.
        live.Shop.ErrorShare = 0;
        var answers = new List<(HttpStatusCode Status, JsonElement Gate)>();
        await Eventually.WaitAsync(
            async () =>
            {
                answers.Add(await GateAsync(api));
                return answers[^1].Status == HttpStatusCode.OK;
            },
            Generous,
            "the gate to open again\n" + sentinel.Log);

        var reopened = answers[^1].Gate;
        Assert.True(Assert.Single(reopened.GetProperty("series").EnumerateArray()).GetProperty("passes").GetInt32() >= 3, reopened.GetRawText());
        Assert.Empty(Reasons(reopened));
        foreach (var (status, gate) in answers.SkipLast(1))
        {
            Assert.Equal(HttpStatusCode.Conflict, status);
            Assert.Matches(@"^errors: (pending \(breaching since .*\)|breaching at the last evaluation|[0-2] of 3 passing evaluations since v42)$", Assert.Single(Reasons(gate)));
        }

        Assert.Contains(answers, a => Reasons(a.Gate) is [var r] && r.EndsWith(" of 3 passing evaluations since v42", StringComparison.Ordinal));
        Assert.Empty(live.Rollbacks);
    }
}
