using System.Text.Json;
using Microsoft.Data.Sqlite;

namespace RollbackSentinel.Cli.Tests.Daemon;

/// <summary>
/// Humans in the loop, with the daemon as a process: a page with confirmation holds the rollback until a person
/// approves it (CLI, API) or denies it, or the time runs out (rollback, hold); every answer is recorded with who,
/// when and through what; a late answer is refused and changes nothing.
/// </summary>
[Collection(IncidentDaemonCollection.Name)]
public sealed class ConfirmationDaemonTests
{
    private static readonly TimeSpan Generous = TimeSpan.FromSeconds(45);

    private static string Confirm(string timeout = "10m", string onTimeout = "hold") =>
        $"  confirm:\n    approvers: [U024BE7LH]\n    timeout: {timeout}\n    onTimeout: {onTimeout}";

    private static async Task<(LiveShop Live, SentinelWorkspace Workspace, SentinelProcess Sentinel, SentinelApi Api)> StartAsync(
        string confirm, string action = "page", string? watch = LiveShop.AlwaysArmed)
    {
        var live = await LiveShop.StartAsync();
        var workspace = new SentinelWorkspace(live.Prometheus.BaseAddress);
        workspace.WriteRule("shop.yaml", live.Policy(action: action, spec: confirm, watch: watch));
        var sentinel = await SentinelProcess.StartAsync(workspace);
        var api = new SentinelApi(workspace.BaseAddress);
        await api.WaitForPassAsync(Generous);
        live.Shop.ErrorShare = 0.5;
        return (live, workspace, sentinel, api);
    }

    private static async Task StopAsync((LiveShop Live, SentinelWorkspace Workspace, SentinelProcess Sentinel, SentinelApi Api) run)
    {
        run.Api.Dispose();
        await run.Sentinel.DisposeAsync();
        run.Workspace.Dispose();
        await run.Live.DisposeAsync();
    }

    private static async Task<CliRun> CliAsync(SentinelWorkspace workspace, params string[] args)
    {
        var tokenFile = Path.Combine(Path.GetTempPath(), $"sentinel-token-{Guid.NewGuid():N}");
        await File.WriteAllTextAsync(tokenFile, SentinelWorkspace.Token);
        try
        {
            return await CliRun.RunAsync([.. args, "--url", workspace.BaseAddress.ToString(), "--token-file", tokenFile]);
        }
        finally
        {
            File.Delete(tokenFile);
        }
    }

    [Fact]
    public async Task Page_ApprovedFromTheCli_RollsBackOnce_AndALaterAnswerIsRefused()
    {
        var run = await StartAsync(Confirm());
        var (live, workspace, sentinel, api) = run;
        try
        {
            var waiting = await api.WaitForIncidentAsync(Generous, () => sentinel.Log, "awaitingconfirmation");
            var id = waiting.GetProperty("incident").GetProperty("id").GetInt64();
            Assert.Empty(live.Rollbacks); // held until someone answers
            Assert.Equal("held", waiting.GetProperty("actions")[0].GetProperty("status").GetString());

            var approve = await CliAsync(workspace, "approve", id.ToString(System.Globalization.CultureInfo.InvariantCulture), "--by", "alice", "--reason", "error budget gone");
            Assert.True(approve.ExitCode == 0, approve.Error);
            Assert.StartsWith($"rollback of incident {id} approved by alice: rolling back webhook", approve.Output, StringComparison.Ordinal);

            var acted = await api.WaitForIncidentAsync(Generous, () => sentinel.Log, "acted");
            Assert.Single(live.Rollbacks);
            var answer = Assert.Single(acted.GetProperty("acknowledgments").EnumerateArray());
            Assert.Equal(("alice", "cli", "approve", "error budget gone"), (answer.GetProperty("by").GetString(), answer.GetProperty("channel").GetString(), answer.GetProperty("answer").GetString(), answer.GetProperty("reason").GetString()));
            Assert.Contains(acted.GetProperty("events").EnumerateArray(), e => e.GetProperty("message").GetString() == "rollback approved by alice via cli (error budget gone)");

            var late = await CliAsync(workspace, "deny", id.ToString(System.Globalization.CultureInfo.InvariantCulture), "--by", "bob");
            Assert.Equal(ExitCodes.Refused, late.ExitCode);
            Assert.Contains($"incident {id} is not awaiting confirmation any more", late.Error, StringComparison.Ordinal);
            Assert.Single((await api.GetJsonAsync($"api/v1/incidents/{id}")).GetProperty("acknowledgments").EnumerateArray());
            Assert.Single(live.Rollbacks);
        }
        finally
        {
            await StopAsync(run);
        }
    }

    [Fact]
    public async Task Page_DeniedThroughTheApi_ClosesTheIncidentAndNothingIsRolledBack()
    {
        var run = await StartAsync(Confirm());
        var (live, _, sentinel, api) = run;
        try
        {
            var waiting = await api.WaitForIncidentAsync(Generous, () => sentinel.Log, "awaitingconfirmation");
            var id = waiting.GetProperty("incident").GetProperty("id").GetInt64();

            var denied = await api.PostJsonAsync($"api/v1/incidents/{id}/deny", new { by = "carol", reason = "known noisy dependency" });

            Assert.Equal("denied", denied.GetProperty("incident").GetProperty("state").GetString());
            var timeline = await api.GetJsonAsync($"api/v1/incidents/{id}");
            Assert.Equal(("skipped", "not run: denied by carol via api (known noisy dependency)"), (timeline.GetProperty("actions")[0].GetProperty("status").GetString(), timeline.GetProperty("actions")[0].GetProperty("outcome").GetString()));
            await Task.Delay(TimeSpan.FromSeconds(3)); // evaluations go on: nothing acts
            Assert.Empty(live.Rollbacks);
            Assert.Single(await api.IncidentsAsync());
        }
        finally
        {
            await StopAsync(run);
        }
    }

    [Fact]
    public async Task Page_NobodyAnswers_OnTimeoutRollback_RollsBack()
    {
        var run = await StartAsync(Confirm(timeout: "3s", onTimeout: "rollback"));
        var (live, _, sentinel, api) = run;
        try
        {
            var acted = await api.WaitForIncidentAsync(Generous, () => sentinel.Log, "acted");

            Assert.Single(live.Rollbacks);
            Assert.Empty(acted.GetProperty("acknowledgments").EnumerateArray());
            Assert.Contains(acted.GetProperty("events").EnumerateArray(), e => e.GetProperty("kind").GetString() == "timed-out"
                && e.GetProperty("message").GetString()!.EndsWith(": rolling back, as the policy says (onTimeout: rollback)", StringComparison.Ordinal));
        }
        finally
        {
            await StopAsync(run);
        }
    }

    [Fact]
    public async Task Reload_OnlyConfirmEdited_TheNewTimeoutAndOnTimeoutApplyWithoutARestart()
    {
        await using var live = await LiveShop.StartAsync();
        using var workspace = new SentinelWorkspace(live.Prometheus.BaseAddress);
        workspace.WriteRule("shop.yaml", live.Policy(action: "page", spec: Confirm(timeout: "10m", onTimeout: "hold")));
        await using var sentinel = await SentinelProcess.StartAsync(workspace);
        using var api = new SentinelApi(workspace.BaseAddress);
        await api.WaitForPassAsync(Generous);

        // Nothing but the confirm block changes: the same file, the same triggers, the same everything else.
        workspace.WriteRule("shop.yaml", live.Policy(action: "page", spec: Confirm(timeout: "3s", onTimeout: "rollback")));
        await Eventually.WaitAsync(
            async () => (await api.GetJsonAsync("api/v1/policies")).EnumerateArray().Single().GetProperty("confirm") is { ValueKind: JsonValueKind.Object } c
                && c.GetProperty("timeout").GetString() == "3s" && c.GetProperty("onTimeout").GetString() == "rollback",
            Generous,
            "the edited confirm block to be loaded" + Environment.NewLine + sentinel.Log);
        // The reload is logged after the registry took it, so the line may follow what the API shows.
        await sentinel.WaitForLogAsync("Rules reloaded: 0 added, 1 changed, 0 removed; 1 policies running", Generous);
        live.Shop.ErrorShare = 0.5;

        // Nobody answers: after 3s (not 10m) the new onTimeout rolls back (the old one would hold).
        var acted = await api.WaitForIncidentAsync(Generous, () => sentinel.Log, "acted");
        var openedAt = DateTimeOffset.Parse(acted.GetProperty("incident").GetProperty("openedAt").GetString()!, System.Globalization.CultureInfo.InvariantCulture);
        var held = acted.GetProperty("events").EnumerateArray().Select(e => e.GetProperty("message").GetString()!).Single(m => m.Contains(" held until someone approves it, by ", StringComparison.Ordinal));
        Assert.Equal(openedAt + TimeSpan.FromSeconds(3), DateTimeOffset.Parse(held[(held.LastIndexOf(", by ", StringComparison.Ordinal) + 5)..], System.Globalization.CultureInfo.InvariantCulture));
        Assert.Single(live.Rollbacks);
        Assert.Contains(acted.GetProperty("events").EnumerateArray(), e => e.GetProperty("kind").GetString() == "timed-out"
            && e.GetProperty("message").GetString()!.EndsWith(": rolling back, as the policy says (onTimeout: rollback)", StringComparison.Ordinal));
    }

    [Fact]
    public async Task DisarmedRollback_NobodyAnswers_OnTimeoutRollback_IsHeldNotRolledBack_AndAPersonCanStillApprove()
    {
        // A rollback trigger with no change known pages for confirmation (outside: page); silence must not roll back
        // what no change explains, whatever onTimeout says.
        var run = await StartAsync(Confirm(timeout: "3s", onTimeout: "rollback"), action: "rollback", watch: "{outside: page}");
        var (live, _, sentinel, api) = run;
        try
        {
            var held = await Eventually.WaitAsync(
                async () => (await api.IncidentsAsync()).FirstOrDefault(i => i.GetProperty("timedOutAt").ValueKind == JsonValueKind.String) is { ValueKind: JsonValueKind.Object } i ? (object)i : null,
                Generous,
                "the timeout" + Environment.NewLine + sentinel.Log);
            var incident = (JsonElement)held;
            Assert.Equal("awaitingconfirmation", incident.GetProperty("state").GetString());
            Assert.True(incident.GetProperty("disarmed").GetBoolean());
            Assert.Contains("a rollback would not undo the cause", incident.GetProperty("disarmedReason").GetString(), StringComparison.Ordinal);
            Assert.Empty(live.Rollbacks);

            await api.PostJsonAsync($"api/v1/incidents/{incident.GetProperty("id").GetInt64()}/approve", new { by = "dave" });
            await api.WaitForIncidentAsync(Generous, () => sentinel.Log, "acted");
            Assert.Single(live.Rollbacks);
        }
        finally
        {
            await StopAsync(run);
        }
    }

    [Fact]
    public async Task Page_NobodyAnswers_OnTimeoutHold_StaysHeldAndSaysSo_AndCanStillBeApproved()
    {
        var run = await StartAsync(Confirm(timeout: "3s", onTimeout: "hold"));
        var (live, _, sentinel, api) = run;
        try
        {
            var held = await Eventually.WaitAsync(
                async () => (await api.IncidentsAsync()).FirstOrDefault(i => i.GetProperty("timedOutAt").ValueKind == JsonValueKind.String) is { ValueKind: JsonValueKind.Object } i ? (object)i : null,
                Generous,
                "the timeout" + Environment.NewLine + sentinel.Log);
            var incident = (JsonElement)held;
            Assert.Equal("awaitingconfirmation", incident.GetProperty("state").GetString());
            Assert.Empty(live.Rollbacks);

            await api.PostJsonAsync($"api/v1/incidents/{incident.GetProperty("id").GetInt64()}/approve", new { by = "dave" });
            await api.WaitForIncidentAsync(Generous, () => sentinel.Log, "acted");
            Assert.Single(live.Rollbacks);
        }
        finally
        {
            await StopAsync(run);
        }
    }

    [Fact]
    public async Task Page_BreachClearsBeforeAnyoneAnswers_RecoversWithoutRollingBack()
    {
        var run = await StartAsync(Confirm());
        var (live, _, sentinel, api) = run;
        try
        {
            await api.WaitForIncidentAsync(Generous, () => sentinel.Log, "awaitingconfirmation");
            live.Shop.ErrorShare = 0;

            var recovered = await api.WaitForIncidentAsync(Generous, () => sentinel.Log, "resolved");

            Assert.Equal(("skipped", "not run: the breach cleared before anyone answered"), (recovered.GetProperty("actions")[0].GetProperty("status").GetString(), recovered.GetProperty("actions")[0].GetProperty("outcome").GetString()));
            Assert.Empty(live.Rollbacks);
        }
        finally
        {
            await StopAsync(run);
        }
    }

    [Fact]
    public async Task ManualRollback_ThroughTheApi_NeedsAReason_RunsTheAdapterOnce_AndRecordsWhoAndWhy()
    {
        await using var live = await LiveShop.StartAsync();
        using var workspace = new SentinelWorkspace(live.Prometheus.BaseAddress);
        workspace.WriteRule("shop.yaml", live.Policy());
        await using var sentinel = await SentinelProcess.StartAsync(workspace);
        using var api = new SentinelApi(workspace.BaseAddress);
        using var http = new HttpClient { BaseAddress = workspace.BaseAddress };
        http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", SentinelWorkspace.Token);
        await api.WaitForPassAsync(Generous);

        var noReason = await http.PostAsync("api/v1/policies/shop/rollback", System.Net.Http.Json.JsonContent.Create(new { by = "erin" }));
        var unknown = await http.PostAsync("api/v1/policies/nope/rollback", System.Net.Http.Json.JsonContent.Create(new { reason = "x" }));
        Assert.Equal((400, 404), ((int)noReason.StatusCode, (int)unknown.StatusCode));
        Assert.Empty(await api.IncidentsAsync());

        var started = await api.PostJsonAsync("api/v1/policies/shop/rollback", new { by = "erin", reason = "customer reports checkout failures" });
        Assert.StartsWith("rolling back webhook", started.GetProperty("message").GetString(), StringComparison.Ordinal);

        // A manual rollback is resolved once done: no trigger will ever pass for it.
        var acted = await api.WaitForIncidentAsync(Generous, () => sentinel.Log, "resolved");
        Assert.Single(live.Rollbacks);
        Assert.Equal("manual", acted.GetProperty("incident").GetProperty("trigger").GetString());
        var asked = Assert.Single(acted.GetProperty("acknowledgments").EnumerateArray());
        Assert.Equal(("erin", "api", "rollback", "customer reports checkout failures"), (asked.GetProperty("by").GetString(), asked.GetProperty("channel").GetString(), asked.GetProperty("answer").GetString(), asked.GetProperty("reason").GetString()));
        Assert.Equal("succeeded", acted.GetProperty("actions")[0].GetProperty("status").GetString());
    }

    [Fact]
    public async Task Approval_AfterTheTargetWasAlreadyRolledBack_DoesNotRollBackTwice()
    {
        var run = await StartAsync(Confirm());
        var (live, _, sentinel, api) = run;
        try
        {
            var waiting = await api.WaitForIncidentAsync(Generous, () => sentinel.Log, "awaitingconfirmation");
            var id = waiting.GetProperty("incident").GetProperty("id").GetInt64();

            // Someone rolls the same target back by hand while the question is open...
            await api.PostJsonAsync("api/v1/policies/shop/rollback", new { by = "erin", reason = "could not wait" });
            await Eventually.WaitAsync(() => Task.FromResult(live.Rollbacks.Count == 1), Generous, "the manual rollback");

            // ...then the question is approved: the held rollback answered the same situation, and is not run.
            await api.PostJsonAsync($"api/v1/incidents/{id}/approve", new { by = "alice" });
            var failed = await api.WaitForIncidentAsync(Generous, () => sentinel.Log, "actionfailed");

            Assert.Equal(id, failed.GetProperty("incident").GetProperty("id").GetInt64());
            Assert.Contains("was already rolled back at", failed.GetProperty("actions")[0].GetProperty("outcome").GetString(), StringComparison.Ordinal);
            await Task.Delay(TimeSpan.FromSeconds(2));
            Assert.Single(live.Rollbacks);
        }
        finally
        {
            await StopAsync(run);
        }
    }

    [Fact]
    public async Task Approval_AfterAnotherPolicyRolledBackThroughTheSameWebhook_RollsBack()
    {
        var run = await StartAsync(Confirm());
        var (live, workspace, sentinel, api) = run;
        try
        {
            // Another policy posts to the same receiver (no templates in either URL): its rollback is another rollback.
            workspace.WriteRule("search.yaml", live.Policy(name: "search", max: 0.99));
            await Eventually.WaitAsync(
                async () => (await api.GetJsonAsync("api/v1/policies")).EnumerateArray().Any(p => p.GetProperty("name").GetString() == "search"),
                Generous,
                "the second policy to load");
            var waiting = await api.WaitForIncidentAsync(Generous, () => sentinel.Log, "awaitingconfirmation");
            var id = waiting.GetProperty("incident").GetProperty("id").GetInt64();

            await api.PostJsonAsync("api/v1/policies/search/rollback", new { by = "erin", reason = "search is slow" });
            await Eventually.WaitAsync(() => Task.FromResult(live.Rollbacks.Count == 1), Generous, "the other policy's rollback");

            await api.PostJsonAsync($"api/v1/incidents/{id}/approve", new { by = "alice" });
            await Eventually.WaitAsync(() => Task.FromResult(live.Rollbacks.Count == 2), Generous, "the approved rollback");

            var incident = await api.GetJsonAsync($"api/v1/incidents/{id}");
            var action = incident.GetProperty("actions")[0];
            Assert.Equal("shop", incident.GetProperty("incident").GetProperty("policy").GetString());
            Assert.StartsWith("webhook/shop/", action.GetProperty("target").GetString(), StringComparison.Ordinal);
            Assert.DoesNotContain("already rolled back", action.GetProperty("outcome").GetString() ?? string.Empty, StringComparison.Ordinal);
        }
        finally
        {
            await StopAsync(run);
        }
    }

    [Fact]
    public async Task Approval_OfAQuestionRecordedBeforeAnUpgrade_RollsBack()
    {
        var run = await StartAsync(Confirm());
        var (live, workspace, sentinel, api) = run;
        SentinelProcess? upgraded = null;
        var stopped = false;
        try
        {
            var waiting = await api.WaitForIncidentAsync(Generous, () => sentinel.Log, "awaitingconfirmation");
            var id = waiting.GetProperty("incident").GetProperty("id").GetInt64();

            // The question was recorded by a version that named a webhook target by its kind alone.
            await sentinel.DisposeAsync();
            stopped = true;
            using (var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = Path.Combine(workspace.Root, "data", "sentinel.db"), Pooling = false }.ConnectionString))
            {
                connection.Open();
                using var command = connection.CreateCommand();
                command.CommandText = "UPDATE actions SET target = 'webhook' WHERE incident_id = $id";
                command.Parameters.AddWithValue("$id", id);
                Assert.Equal(1, command.ExecuteNonQuery());
            }

            upgraded = await SentinelProcess.StartAsync(workspace);
            await api.PostJsonAsync($"api/v1/incidents/{id}/approve", new { by = "alice" });
            await Eventually.WaitAsync(() => Task.FromResult(live.Rollbacks.Count == 1), Generous, "the approved rollback");

            var outcome = (await api.GetJsonAsync($"api/v1/incidents/{id}")).GetProperty("actions")[0].GetProperty("outcome").GetString() ?? string.Empty;
            Assert.DoesNotContain("target changed", outcome, StringComparison.Ordinal);
            Assert.DoesNotContain("not run", outcome, StringComparison.Ordinal);
        }
        finally
        {
            // The first process is disposed above (a process is disposed once).
            api.Dispose();
            if (upgraded is not null)
            {
                await upgraded.DisposeAsync();
            }
            else if (!stopped)
            {
                await sentinel.DisposeAsync();
            }

            workspace.Dispose();
            await live.DisposeAsync();
        }
    }
}
