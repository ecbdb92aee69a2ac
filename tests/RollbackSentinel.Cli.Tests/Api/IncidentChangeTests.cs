using System.Text.Json;
using RollbackSentinel.Cli.Tests.Daemon;

namespace RollbackSentinel.Cli.Tests.Api;

/// <summary>
/// Incidents blame a change: the API (list and by id) gives <c>change</c>, <c>changeSummary</c>, <c>disarmed</c> and
/// <c>disarmedReason</c>; <c>incidents</c> has a CHANGE column and <c>incidents show</c> prints the change and why a
/// rollback trigger was disarmed.
/// </summary>
[Collection(ApiDaemonCollection.Name)]
public sealed class IncidentChangeTests
{
    private static readonly TimeSpan Generous = TimeSpan.FromSeconds(45);

    [Fact]
    public async Task Incidents_BreachAfterAChangeAndWithoutOne_ShowTheBlamedChangeAndTheDisarmedPage()
    {
        await using var prometheus = new SteppedPrometheus(("cart", 0), ("web", 0));
        await using var sentinel = await InProcessSentinel.StartAsync(
            policy: (name, webhook) => SteppedPrometheus.Policy(name, webhook, @for: "0s", action: "rollback", spec: "  watch:\n    for: 1h"),
            prometheus: prometheus.BaseAddress);
        using var api = sentinel.Api();
        var change = await api.PostJsonAsync("api/v1/changes", new { policy = "shop", labels = new { deployment = "cart" }, revision = "v42", by = "ci" });
        var changedAt = DateTimeOffset.Parse(change.GetProperty("at").GetString()!, System.Globalization.CultureInfo.InvariantCulture);

        // The breach begins after the change: at an evaluation that starts after it.
        await Eventually.WaitAsync(
            async () => (await api.GetJsonAsync("api/v1/policies")).EnumerateArray().Single(p => p.GetProperty("name").GetString() == "shop").GetProperty("lastEvaluatedAt") is { ValueKind: JsonValueKind.String } last
                && DateTimeOffset.Parse(last.GetString()!, System.Globalization.CultureInfo.InvariantCulture) > changedAt,
            Generous,
            "an evaluation after the change");
        prometheus.Set("cart", 5);

        JsonElement[] incidents;
        try
        {
            incidents = (JsonElement[])await Eventually.WaitAsync(
                async () => (await api.IncidentsAsync()).Where(i => i.GetProperty("labels").GetProperty("deployment").GetString() == "cart").ToArray() is { Length: 2 } both ? both : null,
                Generous,
                "an incident of cart for each policy");
        }
        catch (TimeoutException e)
        {
            throw new TimeoutException(e.Message + "\n" + string.Join("\n", (await api.IncidentsAsync()).Select(i => i.GetRawText())) + "\n" + sentinel.Log.Text, e);
        }

        // The same breach, in two policies: shop knows of the change, other does not.
        var cart = incidents.Single(i => i.GetProperty("policy").GetString() == "shop");
        var other = incidents.Single(i => i.GetProperty("policy").GetString() == "other");
        var cartId = cart.GetProperty("id").GetInt64();
        var otherId = other.GetProperty("id").GetInt64();
        var cartTimeline = await api.GetJsonAsync($"api/v1/incidents/{cartId}");
        var otherTimeline = await api.GetJsonAsync($"api/v1/incidents/{otherId}");
        var token = sentinel.TokenFile();
        var table = await CliRun.RunAsync("incidents", "--url", sentinel.Url, "--token-file", token);
        var showCart = await CliRun.RunAsync("incidents", "show", cartId.ToString(System.Globalization.CultureInfo.InvariantCulture), "--url", sentinel.Url, "--token-file", token);
        var showOther = await CliRun.RunAsync("incidents", "show", otherId.ToString(System.Globalization.CultureInfo.InvariantCulture), "--url", sentinel.Url, "--token-file", token);

        // Armed: a rollback that blames the change.
        Assert.True(cart.GetProperty("action").GetString() == "rollback", cart.GetRawText());
        Assert.Equal(change.GetRawText(), cart.GetProperty("change").GetRawText());
        Assert.Matches("^since v42, deployed [0-9]+s ago by ci$", cart.GetProperty("changeSummary").GetString());
        Assert.False(cart.GetProperty("disarmed").GetBoolean());
        Assert.Equal(JsonValueKind.Null, cart.GetProperty("disarmedReason").ValueKind);

        // Disarmed: the other policy knows of no change, so it pages instead.
        const string Reason = "no change of other{deployment=\"cart\"} is known: a rollback would not undo the cause";
        Assert.Equal("page", other.GetProperty("action").GetString());
        Assert.Equal(JsonValueKind.Null, other.GetProperty("change").ValueKind);
        Assert.Equal("no change known", other.GetProperty("changeSummary").GetString());
        Assert.True(other.GetProperty("disarmed").GetBoolean());
        Assert.Equal(Reason, other.GetProperty("disarmedReason").GetString());

        // By id, the same fields.
        Assert.Equal(change.GetRawText(), cartTimeline.GetProperty("incident").GetProperty("change").GetRawText());
        Assert.Equal(Reason, otherTimeline.GetProperty("incident").GetProperty("disarmedReason").GetString());

        Assert.True(table.ExitCode == 0, table.Error);
        Assert.Contains(" STATE ", table.OutputLines[0], StringComparison.Ordinal);
        Assert.Matches("  CHANGE +WHY$", table.OutputLines[0]);
        Assert.Matches("  since v42, deployed [0-9]+s ago by ci  ", table.OutputLines.Single(l => l.StartsWith($"{cartId} ", StringComparison.Ordinal)));
        Assert.Contains("  no change known (disarmed)  ", table.OutputLines.Single(l => l.StartsWith($"{otherId} ", StringComparison.Ordinal)), StringComparison.Ordinal);

        Assert.True(showCart.ExitCode == 0, showCart.Error);
        Assert.Matches(
            $"\n  change:   since v42, deployed [0-9]+s ago by ci\n            change {change.GetProperty("id").GetInt64()} of shop\\{{deployment=\"cart\"\\}}: v42 at {change.GetProperty("at").GetString()} by ci \\(api\\)\n",
            showCart.Output);
        Assert.DoesNotContain("disarmed:", showCart.Output, StringComparison.Ordinal);
        Assert.Contains($"\n  change:   no change known\n  disarmed: {Reason}\n", showOther.Output, StringComparison.Ordinal);
    }
}
