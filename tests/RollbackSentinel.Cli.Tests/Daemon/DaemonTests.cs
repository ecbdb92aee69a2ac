using System.Text.Json;

namespace RollbackSentinel.Cli.Tests.Daemon;

/// <summary>
/// The daemon as a real process against a real Prometheus scraping a live target: it evaluates on its
/// schedule, fires once, acts through the webhook and records the incident; killed at any point, it
/// loses nothing and repeats nothing.
/// </summary>
[Collection(IncidentDaemonCollection.Name)]
public sealed class DaemonTests
{
    private static readonly TimeSpan Generous = TimeSpan.FromSeconds(45);

    [Fact]
    public async Task Run_ErrorRateRises_FiresOnceActsThroughTheWebhookAndRecordsTheIncident()
    {
        await using var live = await LiveShop.StartAsync();
        using var workspace = new SentinelWorkspace(live.Prometheus.BaseAddress);
        workspace.WriteRule("shop.yaml", live.Policy());
        await using var sentinel = await SentinelProcess.StartAsync(workspace);
        using var api = new SentinelApi(workspace.BaseAddress);

        await Eventually.WaitAsync(async () => await api.PhaseAsync("shop", "errors") == "ok" && (await api.LastVerdictAsync()) == "pass", Generous, "a passing evaluation");
        live.Shop.ErrorShare = 0.5;
        var incident = await Eventually.WaitAsync(
            async () => (await api.IncidentsAsync()).FirstOrDefault(i => i.GetProperty("state").GetString() == "acted") is { ValueKind: JsonValueKind.Object } i ? (object)i : null,
            Generous,
            "the incident to be acted on" + Environment.NewLine + sentinel.Log);

        var rollback = Assert.Single(live.Rollbacks);
        using var body = JsonDocument.Parse(rollback.Body);
        Assert.Equal("shop", body.RootElement.GetProperty("policy").GetString());
        Assert.Equal("errors", body.RootElement.GetProperty("trigger").GetString());
        Assert.True(body.RootElement.GetProperty("value").GetDouble() > 0.1);
        Assert.Equal(body.RootElement.GetProperty("idempotencyKey").GetString(), rollback.Header("Idempotency-Key"));

        var id = ((JsonElement)incident).GetProperty("id").GetInt64();
        var timeline = await api.GetJsonAsync($"api/v1/incidents/{id}");
        var action = Assert.Single(timeline.GetProperty("actions").EnumerateArray());
        Assert.Equal("succeeded", action.GetProperty("status").GetString());
        Assert.StartsWith("webhook http://127.0.0.1:", action.GetProperty("outcome").GetString());
        Assert.Equal($"delivered to {live.Webhook.BaseAddress}rollback", action.GetProperty("after").GetString());
        Assert.StartsWith($"POST incident {id} to ", action.GetProperty("plan").GetProperty("summary").GetString());
        Assert.StartsWith("error ratio ", timeline.GetProperty("incident").GetProperty("summary").GetString());

        // The decision is logged after its actions ran (they go first), so the line may follow the incident's record.
        await sentinel.WaitForLogAsync("Decision shop/errors {}: Act", Generous);
    }

    [Fact]
    public async Task Run_DryRun_RecordsWhatTheRollbackWouldDoAndSendsNothing()
    {
        await using var live = await LiveShop.StartAsync();
        using var workspace = new SentinelWorkspace(live.Prometheus.BaseAddress);
        workspace.WriteRule("shop.yaml", live.Policy(dryRun: true));
        await using var sentinel = await SentinelProcess.StartAsync(workspace);
        using var api = new SentinelApi(workspace.BaseAddress);

        await Eventually.WaitAsync(async () => await api.PhaseAsync("shop", "errors") == "ok" && (await api.LastVerdictAsync()) == "pass", Generous, "a passing evaluation");
        live.Shop.ErrorShare = 0.5;
        var action = await Eventually.WaitAsync(
            async () =>
            {
                foreach (var incident in await api.IncidentsAsync())
                {
                    var timeline = await api.GetJsonAsync($"api/v1/incidents/{incident.GetProperty("id").GetInt64()}");
                    var a = timeline.GetProperty("actions")[0];
                    if (a.GetProperty("plan").ValueKind == JsonValueKind.Object)
                    {
                        return (object)a;
                    }
                }

                return null;
            },
            Generous,
            "the dry-run to be recorded" + Environment.NewLine + sentinel.Log);

        var recorded = (JsonElement)action;
        Assert.Equal("skipped", recorded.GetProperty("status").GetString());
        Assert.StartsWith($"dry-run: would POST incident ", recorded.GetProperty("outcome").GetString());
        Assert.Contains($"to {live.Webhook.BaseAddress}rollback: POST {live.Webhook.BaseAddress}rollback (Idempotency-Key: ", recorded.GetProperty("outcome").GetString());
        Assert.StartsWith("POST incident ", recorded.GetProperty("plan").GetProperty("summary").GetString());
        Assert.Empty(live.Rollbacks);
        Assert.Contains("Dry-run of shop/errors", sentinel.Log);
        Assert.Equal(["dryrun"], (await api.IncidentsAsync()).Select(i => i.GetProperty("state").GetString())); // nothing ran: not "acted"
    }

    [Fact]
    public async Task Run_RollbackFails_IsRecordedAsFailedWithTheReasonPagedAndNotRetried()
    {
        await using var live = await LiveShop.StartAsync();
        live.WebhookStatus = 503;
        using var workspace = new SentinelWorkspace(live.Prometheus.BaseAddress);
        workspace.WriteRule("shop.yaml", live.Policy());
        await using var sentinel = await SentinelProcess.StartAsync(workspace);
        using var api = new SentinelApi(workspace.BaseAddress);

        await api.WaitForPassAsync(Generous);
        live.Shop.ErrorShare = 0.5;
        var timeline = await api.WaitForIncidentAsync(Generous, () => sentinel.Log, "actionfailed");

        var id = timeline.GetProperty("incident").GetProperty("id").GetInt64();
        var action = Assert.Single(timeline.GetProperty("actions").EnumerateArray());
        Assert.Equal("failed", action.GetProperty("status").GetString());
        Assert.Equal($"webhook {live.Webhook.BaseAddress}rollback answered HTTP 503 (after 3 attempts)", action.GetProperty("outcome").GetString());
        await Eventually.WaitAsync(() => Task.FromResult(sentinel.Log.Contains($"PAGE shop/errors (incident {id}): rollback of ", StringComparison.Ordinal)), Generous, "the page" + Environment.NewLine + sentinel.Log);

        // Three attempts of the one action, and no more: the trigger stays firing, the failure waits for humans.
        await Task.Delay(TimeSpan.FromSeconds(5));
        Assert.Equal(3, live.Rollbacks.Count);
        Assert.Single(await api.IncidentsAsync());
    }

    [Fact]
    public async Task Run_KilledWhileATriggerIsPending_KeepsThePendingForAndFiresOnceAfterRestart()
    {
        await using var live = await LiveShop.StartAsync();
        using var workspace = new SentinelWorkspace(live.Prometheus.BaseAddress);
        // A 15 s interval: a restart within 2.5 periods (37.5 s) keeps the pending clock, and a loaded machine's restart
        // of the process (kill, start up to 14 s beside the other daemon tests in CI, then the policy's next slot) fits
        // in that; 7.5 s and 12.5 s (3 s and 5 s intervals) did not, in CI.
        workspace.WriteRule("shop.yaml", live.Policy(@for: "30s", interval: "15s"));
        var first = await SentinelProcess.StartAsync(workspace);
        using var api = new SentinelApi(workspace.BaseAddress);
        live.Shop.ErrorShare = 0.5;
        await Eventually.WaitAsync(async () => await api.PhaseAsync("shop", "errors") == "pending", Generous, "the trigger to be pending");
        var since = await api.BreachingSinceAsync();

        await first.KillAsync();
        await first.DisposeAsync();
        await using var second = await SentinelProcess.StartAsync(workspace);

        await Eventually.WaitAsync(async () => (await api.IncidentsAsync()).Any(i => i.GetProperty("state").GetString() == "acted"), Generous, "the incident after the restart" + Environment.NewLine + second.Log);
        Assert.Single(live.Rollbacks);
        var incident = Assert.Single(await api.IncidentsAsync());
        Assert.Equal(since, await api.BreachingSinceAsync()); // the 'for' clock was not restarted
        Assert.True(DateTimeOffset.Parse(incident.GetProperty("openedAt").GetString()!, System.Globalization.CultureInfo.InvariantCulture) >= DateTimeOffset.Parse(since!, System.Globalization.CultureInfo.InvariantCulture).AddSeconds(30));
    }

    [Fact]
    public async Task Run_KilledWhileTheActionRuns_MarksItInterruptedAndNeverRunsItAgain()
    {
        await using var live = await LiveShop.StartAsync(webhookDelay: TimeSpan.FromMinutes(2));
        using var workspace = new SentinelWorkspace(live.Prometheus.BaseAddress);
        workspace.WriteRule("shop.yaml", live.Policy());
        var first = await SentinelProcess.StartAsync(workspace);
        using var api = new SentinelApi(workspace.BaseAddress);
        live.Shop.ErrorShare = 0.5;
        await Eventually.WaitAsync(() => Task.FromResult(live.Webhook.Requests.Count > 0), Generous, "the webhook call to start");
        Assert.Equal("acting", (await api.IncidentsAsync()).Single().GetProperty("state").GetString());

        await first.KillAsync();
        await first.DisposeAsync();
        await using var second = await SentinelProcess.StartAsync(workspace);

        var incident = Assert.Single(await api.IncidentsAsync());
        Assert.Equal("actioninterrupted", incident.GetProperty("state").GetString());
        var timeline = await api.GetJsonAsync($"api/v1/incidents/{incident.GetProperty("id").GetInt64()}");
        Assert.Equal("interrupted", Assert.Single(timeline.GetProperty("actions").EnumerateArray()).GetProperty("status").GetString());
        Assert.Contains("NOT retried", second.Log);
        Assert.Contains($"PAGE shop/errors (incident {incident.GetProperty("id").GetInt64()}): rollback of ", second.Log);
        Assert.Contains("was interrupted by a restart; its effect is unknown and it is not run again", second.Log);

        // Several more evaluations with the breach still on: the firing trigger does not act again.
        await Eventually.WaitAsync(async () => await api.LastEvaluatedAtAsync() is { } t && t > DateTimeOffset.Parse(incident.GetProperty("updatedAt").GetString()!, System.Globalization.CultureInfo.InvariantCulture).AddSeconds(3), Generous, "further evaluations");
        Assert.Single(live.Webhook.Requests);
        Assert.Single(await api.IncidentsAsync());
    }

    [Fact]
    public async Task Run_KilledWhileTheActionRuns_RestartedUnderANewNodeId_MarksItInterruptedAtStart()
    {
        // A Kubernetes Deployment's new pod has a new host name, the default node.id: the store's lock still says no
        // other daemon can be running the action, so the restart interrupts it as one under the same name would.
        await using var live = await LiveShop.StartAsync(webhookDelay: TimeSpan.FromMinutes(2));
        using var workspace = new SentinelWorkspace(live.Prometheus.BaseAddress);
        workspace.WriteRule("shop.yaml", live.Policy());
        string[] run = ["run", "--config", workspace.ConfigPath];
        var first = await SentinelProcess.StartAsync(workspace, run, new Dictionary<string, string> { ["SENTINEL__NODE__ID"] = "shop-sentinel-7d9f-aaaaa" });
        using var api = new SentinelApi(workspace.BaseAddress);
        live.Shop.ErrorShare = 0.5;
        await Eventually.WaitAsync(() => Task.FromResult(live.Webhook.Requests.Count > 0), Generous, "the webhook call to start");
        Assert.Equal("acting", (await api.IncidentsAsync()).Single().GetProperty("state").GetString());

        await first.KillAsync();
        await first.DisposeAsync();
        await using var second = await SentinelProcess.StartAsync(workspace, run, new Dictionary<string, string> { ["SENTINEL__NODE__ID"] = "shop-sentinel-7d9f-bbbbb" });

        var incident = Assert.Single(await api.IncidentsAsync());
        Assert.Equal("actioninterrupted", incident.GetProperty("state").GetString());
        var timeline = await api.GetJsonAsync($"api/v1/incidents/{incident.GetProperty("id").GetInt64()}");
        Assert.Equal("interrupted", Assert.Single(timeline.GetProperty("actions").EnumerateArray()).GetProperty("status").GetString());
        Assert.Contains("NOT retried", second.Log);
        Assert.Contains($"PAGE shop/errors (incident {incident.GetProperty("id").GetInt64()}): rollback of ", second.Log);
        Assert.Contains("was interrupted by a restart; its effect is unknown and it is not run again", second.Log);
        Assert.Single(live.Webhook.Requests);
    }

    [Fact]
    public async Task Run_KilledAfterTheAction_DoesNotActAgainAfterRestart()
    {
        await using var live = await LiveShop.StartAsync();
        using var workspace = new SentinelWorkspace(live.Prometheus.BaseAddress);
        workspace.WriteRule("shop.yaml", live.Policy());
        var first = await SentinelProcess.StartAsync(workspace);
        using var api = new SentinelApi(workspace.BaseAddress);
        live.Shop.ErrorShare = 0.5;
        await Eventually.WaitAsync(async () => (await api.IncidentsAsync()).Any(i => i.GetProperty("state").GetString() == "acted"), Generous, "the action");

        await first.KillAsync();
        await first.DisposeAsync();
        await using var second = await SentinelProcess.StartAsync(workspace);
        var restartedAt = await Eventually.WaitAsync(async () => await api.LastEvaluatedAtAsync() is { } t ? (object)t : null, Generous, "a first evaluation after the restart");
        await Eventually.WaitAsync(async () => await api.LastEvaluatedAtAsync() is { } t && t > ((DateTimeOffset)restartedAt).AddSeconds(3), Generous, "evaluations after the restart");

        Assert.Single(live.Rollbacks);
        Assert.Equal("firing", await api.PhaseAsync("shop", "errors"));
        Assert.Single(await api.IncidentsAsync());
    }

    [Fact]
    public async Task Run_Sigterm_StopsGracefullyWithExitCodeZero()
    {
        await using var live = await LiveShop.StartAsync();
        using var workspace = new SentinelWorkspace(live.Prometheus.BaseAddress);
        workspace.WriteRule("shop.yaml", live.Policy());
        await using var sentinel = await SentinelProcess.StartAsync(workspace);

        var exit = await sentinel.TerminateAsync();

        Assert.Equal(0, exit);
        Assert.Contains("Application is shutting down", sentinel.Log);
    }
}
