using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.Data.Sqlite;
using RollbackSentinel.Testing.PagerDuty;
using RollbackSentinel.Testing.Slack;

namespace RollbackSentinel.Cli.Tests.Daemon;

/// <summary>
/// Secrets through the daemon as a process: a rule cannot name the daemon's own credentials (or anything outside
/// <c>secrets.allowedDirectories</c>) as its secret file; secrets a service echoes back, or a person pastes, never
/// reach the log (text or JSON) or the store; text from outside can never forge a log line.
/// </summary>
[Collection(StartupDaemonCollection.Name)]
public sealed partial class SecretsDaemonTests : IDisposable
{
    private static readonly TimeSpan Generous = TimeSpan.FromSeconds(45);

    private readonly string _secrets = Directory.CreateTempSubdirectory("sentinel-allowed-secrets-").FullName;
    private readonly string _operatorSecrets = Directory.CreateTempSubdirectory("sentinel-operator-secrets-").FullName;

    [Fact]
    public async Task Run_PolicyNamesTheApiTokenAsItsRoutingKeyFile_IsRejectedAtTheFieldAndTheTokenIsNeverSent()
    {
        await using var pagerDuty = PagerDutyEventsApiEmulator.Start();
        await using var live = await LiveShop.StartAsync();
        var apiToken = Path.Combine(_secrets, "api-token");
        File.WriteAllText(apiToken, SentinelWorkspace.Token);
        var policyKey = new string('b', 32);
        File.WriteAllText(Path.Combine(_secrets, "shop-key"), policyKey);
        File.WriteAllText(Path.Combine(_operatorSecrets, "pd-key"), new string('a', 32));
        using var workspace = new SentinelWorkspace(live.Prometheus.BaseAddress, $"""
            secrets:
              allowedDirectories: [{_secrets}]
            notifications:
              pagerDuty:
                eventsUrl: {pagerDuty.EventsUrl}
                routingKeyFile: {Path.Combine(_operatorSecrets, "pd-key")}
            """);
        workspace.WriteRule("shop.yaml", live.Policy(action: "page", spec: $"  notify:\n    pagerdutyRoutingKeyFile: {Path.Combine(_secrets, "shop-key")}"));
        workspace.WriteRule("stolen.yaml", live.Policy(name: "stolen", action: "page", spec: $"  notify:\n    pagerdutyRoutingKeyFile: {apiToken}"));

        // The API token file is inside the allowed directory: still never a rule's secret.
        await using var sentinel = await SentinelProcess.StartAsync(workspace, ["run", "--config", workspace.ConfigPath], new Dictionary<string, string> { ["SENTINEL__HTTP__APITOKENFILE"] = apiToken });
        using var api = new SentinelApi(workspace.BaseAddress);
        await api.WaitForPassAsync(Generous);

        var rules = (await api.GetJsonAsync("api/v1/rules")).EnumerateArray().ToList();
        var stolen = Assert.Single(rules, f => f.GetProperty("file").GetString()!.EndsWith("stolen.yaml", StringComparison.Ordinal));
        Assert.False(stolen.GetProperty("valid").GetBoolean());
        var error = Assert.Single(stolen.GetProperty("errors").EnumerateArray()).GetString()!;
        Assert.Matches(
            $@"^{Regex.Escape(Path.Combine(workspace.RulesPath, "stolen.yaml"))}:\d+:\d+: spec\.notify\.pagerdutyRoutingKeyFile: '{Regex.Escape(apiToken)}' is the API token: a rule may never name the daemon's own credentials or store$",
            error);
        Assert.Equal(["shop"], (await api.GetJsonAsync("api/v1/policies")).EnumerateArray().Select(p => p.GetProperty("name").GetString()));

        // The allowed policy pages with its own key; the token is sent nowhere.
        live.Shop.ErrorShare = 0.5;
        await Eventually.WaitAsync(() => Task.FromResult(pagerDuty.Accepted.Any(e => e.EventAction == "trigger")), Generous, "the PagerDuty trigger" + Environment.NewLine + sentinel.Log);
        Assert.All(pagerDuty.Accepted, e => Assert.Equal(policyKey, e.RoutingKey));
        Assert.DoesNotContain(pagerDuty.Requests, r => r.Body.Contains(SentinelWorkspace.Token, StringComparison.Ordinal));
        Assert.Contains("spec.notify.pagerdutyRoutingKeyFile", sentinel.Log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_ServicesEchoTheKeyAndTokenBackAndAPersonPastesOne_JsonLogAndStoreHoldOnlyTheMarker()
    {
        var botToken = "xoxb-" + Guid.NewGuid().ToString("N");
        var routingKey = Guid.NewGuid().ToString("N");
        await using var slack = SlackApiEmulator.Start(botToken);
        await using var pagerDuty = PagerDutyEventsApiEmulator.Start();
        await using var live = await LiveShop.StartAsync();
        File.WriteAllText(Path.Combine(_operatorSecrets, "slack-token"), botToken + "\n");
        File.WriteAllText(Path.Combine(_operatorSecrets, "pd-key"), routingKey);
        using var workspace = new SentinelWorkspace(live.Prometheus.BaseAddress, $"""
            notifications:
              slack:
                apiUrl: {slack.ApiBaseUrl}
                botTokenFile: {Path.Combine(_operatorSecrets, "slack-token")}
                channel: C0DEPLOYS
              pagerDuty:
                eventsUrl: {pagerDuty.EventsUrl}
                routingKeyFile: {Path.Combine(_operatorSecrets, "pd-key")}
            """);
        workspace.WriteRule("shop.yaml", live.Policy(action: "page"));
        slack.FailNextEchoingToken("chat.postMessage");
        pagerDuty.RejectNextEchoingRoutingKey();
        await using var sentinel = await SentinelProcess.StartAsync(workspace, ["run", "--config", workspace.ConfigPath, "--log-format", "json"], new Dictionary<string, string>());
        using var api = new SentinelApi(workspace.BaseAddress);
        await api.WaitForPassAsync(Generous);

        live.Shop.ErrorShare = 0.5;
        await Eventually.WaitAsync(
            () => Task.FromResult(Logged(sentinel, "Telling \"slack\" about incident") && Logged(sentinel, "Telling \"pagerduty\" about incident")),
            Generous,
            "both channels' failures logged" + Environment.NewLine + sentinel.Log);
        Assert.Contains(slack.Calls, c => c.Body.Length > 0 && c.Authorization == "Bearer " + botToken); // the echo really quoted it

        // A person pastes the routing key into a rollback's reason.
        await api.PostJsonAsync("api/v1/policies/shop/rollback", new { reason = $"pd key is {routingKey}, oops", by = "alice" });
        await Eventually.WaitAsync(() => Task.FromResult(Logged(sentinel, "Manual rollback of \"shop\"")), Generous, "the manual rollback" + Environment.NewLine + sentinel.Log);

        var log = sentinel.Log;
        Assert.DoesNotContain(botToken, log, StringComparison.Ordinal);
        Assert.DoesNotContain(routingKey, log, StringComparison.Ordinal);
        var lines = log.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var events = lines.Select(l => JsonDocument.Parse(l).RootElement.Clone()).ToList(); // one JSON object per line
        Assert.Contains(events, e => Rendered(e).Contains("Slack chat.postMessage failed: invalid_auth:[REDACTED]", StringComparison.Ordinal));
        Assert.Contains(events, e => Rendered(e).Contains("Routing key [REDACTED] does not match an integration", StringComparison.Ordinal));
        Assert.Contains(events, e => Rendered(e).Contains("pd key is [REDACTED], oops", StringComparison.Ordinal)
            && e.GetProperty("Properties").GetProperty("Reason").GetString() == "pd key is [REDACTED], oops");

        var stored = StoredText(workspace);
        Assert.DoesNotContain(routingKey, stored, StringComparison.Ordinal);
        Assert.DoesNotContain(botToken, stored, StringComparison.Ordinal);
        Assert.Contains("pd key is [REDACTED], oops", stored, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_ReasonWithNewlinesAndControlCharacters_TextLogEscapesThemAndNoLineIsForged()
    {
        await using var live = await LiveShop.StartAsync();
        using var workspace = new SentinelWorkspace(live.Prometheus.BaseAddress);
        workspace.WriteRule("shop.yaml", live.Policy());
        await using var sentinel = await SentinelProcess.StartAsync(workspace);
        using var api = new SentinelApi(workspace.BaseAddress);
        await api.WaitForPassAsync(Generous);

        const string Forged = "2026-12-05T07:00:00.000+00:00 CRT PAGE shop/errors (incident 99): forged";
        await api.PostJsonAsync("api/v1/policies/shop/rollback", new { reason = $"bad deploy\n{Forged}\r\n{Forged}\u2028{Forged}\tend", by = "alice" });
        await Eventually.WaitAsync(() => Task.FromResult(sentinel.Log.Contains("Manual rollback of shop", StringComparison.Ordinal)), Generous, "the manual rollback" + Environment.NewLine + sentinel.Log);

        var log = sentinel.Log;
        Assert.Contains($"bad deploy\\n{Forged}\\r\\n{Forged}\\u2028{Forged}\\tend", log, StringComparison.Ordinal);
        var lines = log.Split('\n');
        Assert.DoesNotContain(lines, l => l.StartsWith(Forged, StringComparison.Ordinal));
        Assert.DoesNotContain('\u2028', log);
        Assert.DoesNotContain('\t', log);

        // Other control characters (an escape sequence that could rewrite a terminal line) never get this far:
        // the API refuses them in a reason; the log's escaping of them is SafeLogSinkTests'.
        Assert.Equal(System.Net.HttpStatusCode.BadRequest, await api.PostStatusAsync("api/v1/policies/shop/rollback", new { reason = "x\u001b[2Ky", by = "alice" }));

        // Every line is a log line of its own (timestamp first) or an indented continuation (a stack trace).
        Assert.All(lines.Where(l => l.Length > 0), l => Assert.Matches(@"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d [A-Z]{3} |\s)", l));
    }

    public void Dispose()
    {
        Directory.Delete(_secrets, recursive: true);
        Directory.Delete(_operatorSecrets, recursive: true);
    }

    /// <summary>Whether a JSON log line's rendered message holds the text (string properties are rendered quoted).</summary>
    private static bool Logged(SentinelProcess sentinel, string text) =>
        sentinel.Log.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Where(l => l.StartsWith('{'))
            .Any(l => Rendered(JsonDocument.Parse(l).RootElement).Contains(text, StringComparison.Ordinal));

    private static string Rendered(JsonElement e) => e.TryGetProperty("RenderedMessage", out var m) ? m.GetString() ?? "" : "";

    /// <summary>Every text column of the incident tables, as written in the database file.</summary>
    private static string StoredText(SentinelWorkspace workspace)
    {
        using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = Path.Combine(workspace.Root, "data", "sentinel.db"), Mode = SqliteOpenMode.ReadOnly, Pooling = false }.ConnectionString);
        connection.Open();
        var text = new List<string>();
        foreach (var table in new[] { "incidents", "incident_events", "actions", "acknowledgments" })
        {
            using var command = connection.CreateCommand();
            command.CommandText = $"SELECT * FROM {table}";
            using var reader = command.ExecuteReader();
            while (reader.Read())
            {
                for (var i = 0; i < reader.FieldCount; i++)
                {
                    text.Add(reader.IsDBNull(i) ? "" : Convert.ToString(reader.GetValue(i), System.Globalization.CultureInfo.InvariantCulture) ?? "");
                }
            }
        }

        return string.Join('\n', text);
    }
}
