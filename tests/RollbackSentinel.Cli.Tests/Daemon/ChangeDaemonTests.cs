using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace RollbackSentinel.Cli.Tests.Daemon;

/// <summary>
/// Change-aware decisions through the daemon as a process, a real Prometheus scraping the fake shop and the webhook
/// receiver: a rollback trigger is armed only after a change (posted through the API, or found by the policy's detect
/// query), the same breach with no change pages and says why, and a change survives the daemon being killed.
/// </summary>
[Collection(IncidentDaemonCollection.Name)]
public sealed class ChangeDaemonTests
{
    private static readonly TimeSpan Generous = TimeSpan.FromSeconds(45);

    // The default outside the window (page), said here so the tests do not depend on it.
    private const string Watch = "{for: 1h, outside: page}";

    private static async Task<JsonElement> PostChangeAsync(SentinelApi api)
    {
        using var response = await api.Http.PostAsJsonAsync(
            "api/v1/changes",
            new { policy = "shop", revision = "v42", previousRevision = "v41", by = "ci", description = "checkout v42" });
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Created, $"{(int)response.StatusCode}: {text}");
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    private static async Task<string> MetricsAsync(SentinelApi api) => await api.Http.GetStringAsync("metrics");

    [Fact]
    public async Task Run_ChangePostedThroughTheApi_ArmsTheWebhookRollbackAndTheIncidentBlamesTheChange()
    {
        await using var live = await LiveShop.StartAsync();
        using var workspace = new SentinelWorkspace(live.Prometheus.BaseAddress);
        workspace.WriteRule("shop.yaml", live.Policy(watch: Watch));
        await using var sentinel = await SentinelProcess.StartAsync(workspace);
        using var api = new SentinelApi(workspace.BaseAddress);
        await api.WaitForPassAsync(Generous);

        var posted = await PostChangeAsync(api);
        live.Shop.ErrorShare = 0.5;
        var timeline = await api.WaitForIncidentAsync(Generous, () => sentinel.Log, "acted", "actionfailed");

        var incident = timeline.GetProperty("incident");
        Assert.Equal(("acted", "rollback"), (incident.GetProperty("state").GetString(), incident.GetProperty("action").GetString()));
        Assert.False(incident.GetProperty("disarmed").GetBoolean());
        Assert.Equal(JsonValueKind.Null, incident.GetProperty("disarmedReason").ValueKind);
        var change = incident.GetProperty("change");
        Assert.Equal(posted.GetProperty("id").GetInt64(), change.GetProperty("id").GetInt64());
        Assert.Equal(("api", "v42", "v41", "ci"), (change.GetProperty("source").GetString(), change.GetProperty("revision").GetString(), change.GetProperty("previousRevision").GetString(), change.GetProperty("by").GetString()));
        Assert.Matches(@"^since v42, deployed \d+s ago by ci$", incident.GetProperty("changeSummary").GetString());

        var rollback = Assert.Single(live.Rollbacks);
        using (var body = JsonDocument.Parse(rollback.Body))
        {
            Assert.Equal(("shop", "errors"), (body.RootElement.GetProperty("policy").GetString(), body.RootElement.GetProperty("trigger").GetString()));
        }

        // The decision's line is logged after the commit the API already shows: wait for it rather than read it at once.
        await sentinel.WaitForLogAsync("Decision shop/errors {}: Act Rollback (dryRun=False, disarmed=False): ", Generous);
        Assert.Matches($@"; change: {posted.GetProperty("id").GetInt64()} \(api\) since v42, deployed \d+s ago by ci;", sentinel.Log);
        var metrics = await MetricsAsync(api);
        Assert.Contains("rollback_sentinel_decisions_total{action=\"rollback\",disarmed=\"false\",kind=\"act\",policy=\"shop\",trigger=\"errors\"} 1", metrics, StringComparison.Ordinal);
        Assert.Contains("rollback_sentinel_changes_total{policy=\"shop\",source=\"api\"} 1", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_SameBreachWithNoChangeKnown_PagesInsteadSaysWhyAndNeverCallsTheWebhook()
    {
        await using var live = await LiveShop.StartAsync();
        using var workspace = new SentinelWorkspace(live.Prometheus.BaseAddress);
        workspace.WriteRule("shop.yaml", live.Policy(watch: Watch));
        await using var sentinel = await SentinelProcess.StartAsync(workspace);
        using var api = new SentinelApi(workspace.BaseAddress);
        await api.WaitForPassAsync(Generous);

        live.Shop.ErrorShare = 0.5;
        var timeline = await api.WaitForIncidentAsync(Generous, () => sentinel.Log, "acted", "actionfailed");

        // No paging channel is configured, so the page fails (it is in the log only): what matters is that it paged.
        var incident = timeline.GetProperty("incident");
        Assert.Equal("page", incident.GetProperty("action").GetString());
        Assert.Equal("page", Assert.Single(timeline.GetProperty("actions").EnumerateArray()).GetProperty("kind").GetString());
        Assert.True(incident.GetProperty("disarmed").GetBoolean());
        Assert.Equal("no change of shop is known: a rollback would not undo the cause", incident.GetProperty("disarmedReason").GetString());
        Assert.Equal(JsonValueKind.Null, incident.GetProperty("change").ValueKind);
        Assert.Equal("no change known", incident.GetProperty("changeSummary").GetString());
        await sentinel.WaitForLogAsync("Decision shop/errors {}: Act Page (dryRun=False, disarmed=True): ", Generous);
        Assert.Contains("(rollback disarmed: no change of shop is known: a rollback would not undo the cause); change: no change known;", sentinel.Log, StringComparison.Ordinal);
        Assert.Contains("rollback_sentinel_decisions_total{action=\"page\",disarmed=\"true\",kind=\"act\",policy=\"shop\",trigger=\"errors\"} 1", await MetricsAsync(api), StringComparison.Ordinal);

        // Several more evaluations with the breach still on: nothing is rolled back.
        var opened = DateTimeOffset.Parse(incident.GetProperty("openedAt").GetString()!, CultureInfo.InvariantCulture);
        await Eventually.WaitAsync(async () => await api.LastEvaluatedAtAsync() is { } t && t > opened.AddSeconds(3), Generous, "further evaluations");
        Assert.Empty(live.Rollbacks);
        Assert.Single(await api.IncidentsAsync());
    }

    [Fact]
    public async Task Run_ChangeFoundByTheDetectQuery_IsRecordedAndArmsTheRollback()
    {
        await using var live = await LiveShop.StartAsync();
        using var workspace = new SentinelWorkspace(live.Prometheus.BaseAddress);
        workspace.WriteRule("shop.yaml", live.Policy(watch: "{for: 1h, detect: {query: 'max(shop_deployment_generation)'}}"));
        await using var sentinel = await SentinelProcess.StartAsync(workspace);
        using var api = new SentinelApi(workspace.BaseAddress);
        await api.WaitForPassAsync(Generous);

        // The policy as the API shows it, its watch and gate with their defaults filled in.
        var shown = (await api.GetJsonAsync("api/v1/policies")).EnumerateArray().Single();
        Assert.Equal(
            """{"for":"1h","outside":"page","detect":{"target":false,"interval":"30s","query":"max(shop_deployment_generation)"}}""",
            shown.GetProperty("watch").GetRawText());
        Assert.Equal(3, shown.GetProperty("gate").GetProperty("minPasses").GetInt32());

        live.Shop.Generation = 2;
        await Eventually.WaitAsync(() => Task.FromResult(sentinel.Log.Contains("of shop{} found by its detect query: 1 -> 2 at ", StringComparison.Ordinal)), Generous, "the change to be found" + Environment.NewLine + sentinel.Log);
        live.Shop.ErrorShare = 0.5;
        var timeline = await api.WaitForIncidentAsync(Generous, () => sentinel.Log, "acted", "actionfailed");

        var incident = timeline.GetProperty("incident");
        Assert.Equal(("acted", "rollback", false), (incident.GetProperty("state").GetString(), incident.GetProperty("action").GetString(), incident.GetProperty("disarmed").GetBoolean()));
        var change = incident.GetProperty("change");
        Assert.Equal(("query", "2", "1"), (change.GetProperty("source").GetString(), change.GetProperty("revision").GetString(), change.GetProperty("previousRevision").GetString()));
        Assert.Equal("{} changed from 1 to 2", change.GetProperty("description").GetString());
        Assert.Single(live.Rollbacks);

        Assert.Contains("rollback_sentinel_changes_total{policy=\"shop\",source=\"query\"} 1", await MetricsAsync(api), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_ChangePostedThenDaemonKilled_TheBreachAfterTheRestartStillRollsBack()
    {
        await using var live = await LiveShop.StartAsync();
        using var workspace = new SentinelWorkspace(live.Prometheus.BaseAddress);
        workspace.WriteRule("shop.yaml", live.Policy(watch: Watch));
        var first = await SentinelProcess.StartAsync(workspace);
        using var api = new SentinelApi(workspace.BaseAddress);
        await api.WaitForPassAsync(Generous);
        var posted = await PostChangeAsync(api);

        await first.KillAsync();
        await first.DisposeAsync();
        await using var second = await SentinelProcess.StartAsync(workspace);
        await api.WaitForPassAsync(Generous);
        live.Shop.ErrorShare = 0.5;
        var timeline = await api.WaitForIncidentAsync(Generous, () => second.Log, "acted", "actionfailed");

        var incident = timeline.GetProperty("incident");
        Assert.Equal(("acted", "rollback", false), (incident.GetProperty("state").GetString(), incident.GetProperty("action").GetString(), incident.GetProperty("disarmed").GetBoolean()));
        Assert.Equal(posted.GetProperty("id").GetInt64(), incident.GetProperty("change").GetProperty("id").GetInt64());
        Assert.Single(live.Rollbacks);
    }

    [Fact]
    public async Task Run_TargetChangedWhileTheDaemonWasDown_FoundAfterTheRestartAndDatedBeforeIt()
    {
        await using var live = await LiveShop.StartAsync();
        using var workspace = new SentinelWorkspace(live.Prometheus.BaseAddress);
        workspace.WriteRule("shop.yaml", live.Policy(watch: "{for: 1h, detect: {query: 'max(shop_deployment_generation)'}}"));
        var first = await SentinelProcess.StartAsync(workspace);
        using var api = new SentinelApi(workspace.BaseAddress);
        await api.WaitForPassAsync(Generous);
        await first.KillAsync();
        await first.DisposeAsync();

        // Deployed while nobody watched, and seen by Prometheus before the daemon is back.
        live.Shop.Generation = 2;
        var deployed = TimeProvider.System.GetUtcNow();
        using (var prometheus = new HttpClient { BaseAddress = live.Prometheus.BaseAddress })
        {
            await Eventually.WaitAsync(
                async () => (await prometheus.GetStringAsync("api/v1/query?query=max(shop_deployment_generation)")).Contains(",\"2\"]", StringComparison.Ordinal),
                Generous,
                "Prometheus to scrape the new generation");
        }

        var seen = TimeProvider.System.GetUtcNow();
        await using var second = await SentinelProcess.StartAsync(workspace);
        var restarted = TimeProvider.System.GetUtcNow();

        var change = (JsonElement)await Eventually.WaitAsync(
            async () => (await api.GetJsonAsync("api/v1/changes?policy=shop")).EnumerateArray().FirstOrDefault() is { ValueKind: JsonValueKind.Object } c ? (object)c : null,
            Generous,
            "the change to be found" + Environment.NewLine + second.Log);
        Assert.Equal(("query", "2", "1"), (change.GetProperty("source").GetString(), change.GetProperty("revision").GetString(), change.GetProperty("previousRevision").GetString()));
        var at = DateTimeOffset.Parse(change.GetProperty("at").GetString()!, CultureInfo.InvariantCulture);
        // Dated where it happened on the catch-up's grid (the policy's 1 s steps read back from history): at most a step
        // after Prometheus had it, before the daemon came back. Not "before ready": the AOT executable is ready within
        // that step, and its first evaluation may be the step that first sees the new generation.
        Assert.True(at <= seen.AddSeconds(1), $"the change is dated {at:O}, more than the catch-up's 1 s step after Prometheus had it at {seen:O} (restarted at {restarted:O})");
        Assert.True(at > deployed.AddSeconds(-5), $"the change is dated {at:O}, well before the deploy at {deployed:O}");
        Assert.Contains("The detect query of shop was caught up from ", second.Log, StringComparison.Ordinal);
        Assert.Single((await api.GetJsonAsync("api/v1/changes?policy=shop")).EnumerateArray());
    }
}
