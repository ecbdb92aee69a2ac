using System.Globalization;
using System.Text;
using System.Text.Json;
using RollbackSentinel.Notifications.Slack;
using RollbackSentinel.Testing.PagerDuty;
using RollbackSentinel.Testing.Slack;

namespace RollbackSentinel.Cli.Tests.Daemon;

/// <summary>
/// The whole flow with the daemon as a process, Slack and PagerDuty as emulators of their documented APIs (no real
/// Slack or PagerDuty can be reached here): a page posts one Slack message with buttons and triggers PagerDuty;
/// forged, replayed, unknown-user and malformed interactions change nothing; a signed approval from an approver
/// rolls back through the webhook, and the same Slack message ends showing who approved and what changed.
/// </summary>
[Collection(IncidentDaemonCollection.Name)]
public sealed class ChatOpsDaemonTests
{
    private const string SigningSecret = "8f742231b10e8888abcd99yyyzzz85a5";
    private const string Alice = "U024BE7LH";
    private static readonly TimeSpan Generous = TimeSpan.FromSeconds(45);

    [Fact]
    public async Task Page_ApprovedFromSlack_RollsBackOnce_TheOneMessageShowsWhoApprovedAndWhatChanged()
    {
        await using var rig = await Rig.StartAsync("timeout: 10m\n    onTimeout: hold");
        var (slack, pagerduty, live, sentinel, api, http) = (rig.Slack, rig.PagerDuty, rig.Live, rig.Sentinel, rig.Api, rig.Http);

        live.Shop.ErrorShare = 0.5;
        var waiting = await api.WaitForIncidentAsync(Generous, () => sentinel.Log, "awaitingconfirmation");
        var id = waiting.GetProperty("incident").GetProperty("id").GetInt64();
        var post = await Eventually.WaitAsync(
            () => Task.FromResult(slack.Calls.FirstOrDefault(c => c.Method == "chat.postMessage") is { } c ? (object)c : null), Generous, "the Slack message" + Environment.NewLine + sentinel.Log);
        var posted = ((SlackCall)post).Json;
        Assert.Equal("C0DEPLOYS", posted["channel"]!.GetValue<string>());
        Assert.Contains("\"action_id\":\"approve\"", posted.ToJsonString(), StringComparison.Ordinal);
        await Eventually.WaitAsync(() => Task.FromResult(pagerduty.Accepted.Any(e => e.EventAction == "trigger")), Generous, "the PagerDuty trigger");

        // Nothing forged, replayed, unauthorized or malformed changes anything.
        var now = TimeProvider.System.GetUtcNow().ToUnixTimeSeconds();
        Assert.Equal(401, (int)(await SendAsync(http, Interaction(id, Alice), now, secret: "wrong-secret")).StatusCode);
        Assert.Equal(401, (int)(await SendAsync(http, Interaction(id, Alice), now - 360)).StatusCode);
        var stranger = await SendAsync(http, Interaction(id, "U0STRANGER"), now);
        Assert.Contains("may not answer", await stranger.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(400, (int)(await SendAsync(http, "payload=%7Bnot+json", now)).StatusCode);
        Assert.Equal("awaitingconfirmation", (await api.GetJsonAsync($"api/v1/incidents/{id}")).GetProperty("incident").GetProperty("state").GetString());
        Assert.Empty(live.Rollbacks);

        // Alice approves.
        var approved = await SendAsync(http, Interaction(id, Alice), now);
        Assert.Contains($"approved by alice ({Alice})", await approved.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        var acted = await api.WaitForIncidentAsync(Generous, () => sentinel.Log, "acted");
        Assert.Single(live.Rollbacks);
        var answer = Assert.Single(acted.GetProperty("acknowledgments").EnumerateArray());
        Assert.Equal(($"alice ({Alice})", "slack", "approve"), (answer.GetProperty("by").GetString(), answer.GetProperty("channel").GetString(), answer.GetProperty("answer").GetString()));

        // One message, updated in place: it ends rolled back, saying who approved and what changed, without buttons.
        var ts = posted["ts"]?.GetValue<string>() ?? slack.Calls.First(c => c.Method == "chat.postMessage").Json["ts"]?.GetValue<string>();
        var final = await Eventually.WaitAsync(
            () => Task.FromResult(slack.Calls.LastOrDefault(c => c.Method == "chat.update") is { } u && u.Body.Contains("approved by alice", StringComparison.Ordinal) && u.Body.Contains("Rolled back", StringComparison.OrdinalIgnoreCase) ? (object)u : null),
            Generous,
            "the Slack message to show the rollback" + Environment.NewLine + string.Join(Environment.NewLine, slack.Calls.Select(c => c.Method + " " + c.Body)));
        Assert.Single(slack.Calls, c => c.Method == "chat.postMessage");
        Assert.DoesNotContain("\"action_id\":\"approve\"", ((SlackCall)final).Body, StringComparison.Ordinal);
        Assert.Empty(slack.Violations);
        var updated = slack.Calls.Where(c => c.Method == "chat.update").Select(c => c.Json["ts"]!.GetValue<string>()).Distinct();
        Assert.Single(updated);

        // PagerDuty: one dedup key, triggered then acknowledged by the approval, resolved once rolled back.
        await Eventually.WaitAsync(() => Task.FromResult(pagerduty.Accepted.Any(e => e.EventAction == "resolve")), Generous, "the PagerDuty resolve");
        Assert.Single(pagerduty.Accepted.Select(e => e.DedupKey).Distinct());
        var events = pagerduty.Accepted.Select(e => e.EventAction).ToList();
        Assert.Equal(("trigger", "resolve"), (events[0], events[^1]));
        Assert.Equal(events.Count, events.Distinct().Count()); // once per state change, never repeated

        // Slack: every update shows something new (no update per evaluation).
        var bodies = slack.Calls.Where(c => c.Method == "chat.update").Select(c => c.Json["blocks"]!.ToJsonString()).ToList();
        Assert.Equal(bodies.Count, bodies.Distinct().Count());
    }

    [Fact]
    public async Task Page_NobodyAnswers_OnTimeoutEscalate_PagesAgainAndKeepsWaiting_SlashCommandsWork()
    {
        await using var rig = await Rig.StartAsync("timeout: 3s\n    onTimeout: escalate");
        var (slack, pagerduty, live, sentinel, api, http) = (rig.Slack, rig.PagerDuty, rig.Live, rig.Sentinel, rig.Api, rig.Http);

        live.Shop.ErrorShare = 0.5;
        await Eventually.WaitAsync(
            async () => (await api.IncidentsAsync()).Any(i => i.GetProperty("timedOutAt").ValueKind == JsonValueKind.String),
            Generous,
            "the timeout" + Environment.NewLine + sentinel.Log);

        // Escalated: PagerDuty is triggered again (critical, timed out) on the same dedup key; the rollback stays held.
        await Eventually.WaitAsync(() => Task.FromResult(pagerduty.Accepted.Count(e => e.EventAction == "trigger") >= 2), Generous, "the escalation");
        var escalation = pagerduty.Accepted.Last(e => e.EventAction == "trigger").Body;
        Assert.Equal("critical", escalation["payload"]!["severity"]!.GetValue<string>());
        Assert.Equal(2, pagerduty.Accepted.Select(e => e.DedupKey).Distinct().Count());
        Assert.EndsWith("/escalated", pagerduty.Accepted.Last(e => e.EventAction == "trigger").DedupKey, StringComparison.Ordinal);
        Assert.Empty(live.Rollbacks);

        // Slash commands, signed: status lists it; a stranger cannot roll back; ack is recorded.
        var now = TimeProvider.System.GetUtcNow().ToUnixTimeSeconds();
        var incident = Assert.Single(await api.IncidentsAsync());
        var id = incident.GetProperty("id").GetInt64().ToString(CultureInfo.InvariantCulture);
        var status = await (await SendAsync(http, Command("status", Alice), now, path: "slack/commands")).Content.ReadAsStringAsync();
        Assert.Contains($"#{id} shop/errors", status, StringComparison.Ordinal);
        var refused = await (await SendAsync(http, Command("rollback shop", "U0STRANGER"), now, path: "slack/commands")).Content.ReadAsStringAsync();
        Assert.Contains("may not roll back shop", refused, StringComparison.Ordinal);
        var acked = await (await SendAsync(http, Command($"ack {id}", Alice), now, path: "slack/commands")).Content.ReadAsStringAsync();
        Assert.Contains($"incident {id} acknowledged by alice ({Alice})", acked, StringComparison.Ordinal);
        Assert.Empty(live.Rollbacks);
        Assert.Equal("awaitingconfirmation", Assert.Single(await api.IncidentsAsync()).GetProperty("state").GetString());

        // The buttons still work after the timeout: Alice denies from Slack; the incident closes, nothing rolls back.
        var denied = await SendAsync(http, Interaction(long.Parse(id, CultureInfo.InvariantCulture), Alice, "deny"), now);
        Assert.Contains($"denied by alice ({Alice})", await denied.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        var closed = Assert.Single(await api.IncidentsAsync());
        Assert.Equal("denied", closed.GetProperty("state").GetString());
        await Eventually.WaitAsync(() => Task.FromResult(pagerduty.Accepted.Count(e => e.EventAction == "resolve") == 2), Generous, "both PagerDuty incidents resolved");
        Assert.Empty(live.Rollbacks);
    }

    /// <summary>Slack and PagerDuty emulators, the live shop, and the daemon set up to use both, paging with confirmation.</summary>
    private sealed class Rig : IAsyncDisposable
    {
        private readonly string _secrets;
        private readonly SentinelWorkspace _workspace;

        private Rig(string secrets, SentinelWorkspace workspace, SlackApiEmulator slack, PagerDutyEventsApiEmulator pagerDuty, LiveShop live, SentinelProcess sentinel)
        {
            _secrets = secrets;
            _workspace = workspace;
            (Slack, PagerDuty, Live, Sentinel) = (slack, pagerDuty, live, sentinel);
            Api = new SentinelApi(workspace.BaseAddress);
            Http = new HttpClient { BaseAddress = workspace.BaseAddress };
        }

        public SlackApiEmulator Slack { get; }

        public PagerDutyEventsApiEmulator PagerDuty { get; }

        public LiveShop Live { get; }

        public SentinelProcess Sentinel { get; }

        public SentinelApi Api { get; }

        public HttpClient Http { get; }

        /// <param name="confirm">The confirm block after its approvers, e.g. "timeout: 10m\n    onTimeout: hold".</param>
        public static async Task<Rig> StartAsync(string confirm)
        {
            var slack = SlackApiEmulator.Start();
            var pagerDuty = PagerDutyEventsApiEmulator.Start();
            var live = await LiveShop.StartAsync();
            var secrets = Directory.CreateTempSubdirectory("sentinel-secrets-").FullName;
            File.WriteAllText(Path.Combine(secrets, "slack-token"), slack.Token);
            File.WriteAllText(Path.Combine(secrets, "slack-secret"), SigningSecret);
            File.WriteAllText(Path.Combine(secrets, "pd-key"), new string('a', 32));
            var workspace = new SentinelWorkspace(live.Prometheus.BaseAddress, $"""
                notifications:
                  externalUrl: https://sentinel.example.com
                  slack:
                    apiUrl: {slack.ApiBaseUrl}
                    botTokenFile: {Path.Combine(secrets, "slack-token")}
                    signingSecretFile: {Path.Combine(secrets, "slack-secret")}
                    channel: C0DEPLOYS
                  pagerDuty:
                    eventsUrl: {pagerDuty.EventsUrl}
                    routingKeyFile: {Path.Combine(secrets, "pd-key")}
                """);
            workspace.WriteRule("shop.yaml", live.Policy(action: "page", spec: $"  confirm:\n    approvers: [{Alice}]\n    {confirm}"));
            var rig = new Rig(secrets, workspace, slack, pagerDuty, live, await SentinelProcess.StartAsync(workspace));
            await rig.Api.WaitForPassAsync(Generous);
            return rig;
        }

        public async ValueTask DisposeAsync()
        {
            Http.Dispose();
            Api.Dispose();
            await Sentinel.DisposeAsync();
            _workspace.Dispose();
            await Live.DisposeAsync();
            await PagerDuty.DisposeAsync();
            await Slack.DisposeAsync();
            Directory.Delete(_secrets, recursive: true);
        }
    }

    private static string Command(string text, string user) =>
        $"command=%2Fsentinel&text={Uri.EscapeDataString(text)}&user_id={user}&user_name={(user == Alice ? "alice" : "stranger")}&channel_id=C0DEPLOYS&team_id=T0&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2F1";

    private static string Interaction(long incident, string user, string answer = "approve")
    {
        var payload = JsonSerializer.Serialize(new
        {
            type = "block_actions",
            user = new { id = user, username = user == Alice ? "alice" : "stranger", name = user == Alice ? "alice" : "stranger" },
            channel = new { id = "C0DEPLOYS" },
            message = new { ts = "1.1" },
            response_url = "https://hooks.slack.com/actions/T0/1/abc",
            actions = new[] { new { action_id = answer, value = incident.ToString(CultureInfo.InvariantCulture), type = "button" } },
        });
        return "payload=" + Uri.EscapeDataString(payload);
    }

    private static async Task<HttpResponseMessage> SendAsync(HttpClient http, string body, long timestamp, string secret = SigningSecret, string path = "slack/interactions")
    {
        var ts = timestamp.ToString(CultureInfo.InvariantCulture);
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(body, Encoding.UTF8, "application/x-www-form-urlencoded") };
        request.Headers.Add(SlackRequestVerifier.TimestampHeader, ts);
        request.Headers.Add(SlackRequestVerifier.SignatureHeader, SlackRequestVerifier.Sign(secret, ts, body));
        return await http.SendAsync(request);
    }
}
