using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using RollbackSentinel.Cli.Tests.Daemon;

namespace RollbackSentinel.Cli.Tests.Api;

/// <summary>
/// <c>GET|POST /api/v1/gates/{policy}</c>: 200 with the gate when every matching series passed <c>minPasses</c>
/// evaluations in a row since its latest change and no incident is open; otherwise 409 with the same body naming each
/// reason; query parameters filter by label; POST (a Flagger webhook's JSON body, an Argo Rollouts web metric) answers
/// the same; an unknown policy is a 404 problem.
/// </summary>
[Collection(ApiDaemonCollection.Name)]
public sealed class GateApiTests
{
    private static readonly TimeSpan Generous = TimeSpan.FromSeconds(45);

    private const string MinPasses2 = "  gate:\n    minPasses: 2";

    private static Task<InProcessSentinel> StartAsync(SteppedPrometheus prometheus) =>
        InProcessSentinel.StartAsync(policy: (name, webhook) => SteppedPrometheus.Policy(name, webhook, spec: MinPasses2), prometheus: prometheus.BaseAddress);

    private static async Task<(HttpStatusCode Status, JsonElement Body, string? MediaType)> GateAsync(SentinelApi api, string path, HttpMethod? method = null, string? body = null)
    {
        using var request = new HttpRequestMessage(method ?? HttpMethod.Get, path);
        if (body is not null)
        {
            request.Content = new StringContent(body, Encoding.UTF8, "application/json");
        }

        using var response = await api.Http.SendAsync(request);
        return (response.StatusCode, JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone(), response.Content.Headers.ContentType?.MediaType);
    }

    private static Task WaitOpenAsync(SentinelApi api, string path, InProcessSentinel sentinel) =>
        Eventually.WaitAsync(async () => (await GateAsync(api, path)).Status == HttpStatusCode.OK, Generous, $"the gate {path} to open\n{sentinel.Log.Text}");

    private static string[] Reasons(JsonElement gate) => [.. gate.GetProperty("reasons").EnumerateArray().Select(r => r.GetString()!)];

    [Fact]
    public async Task Gate_OneDeploymentPendingTheOtherPassing_ClosedForThePendingOneOpenForTheOther()
    {
        await using var prometheus = new SteppedPrometheus(("cart", 5), ("web", 0));
        await using var sentinel = await StartAsync(prometheus);
        using var api = sentinel.Api();

        await WaitOpenAsync(api, "api/v1/gates/shop?deployment=web", sentinel);
        var web = await GateAsync(api, "api/v1/gates/shop?deployment=web");
        var cart = await GateAsync(api, "api/v1/gates/shop?deployment=cart");
        var all = await GateAsync(api, "api/v1/gates/shop");

        Assert.Equal("application/json", web.MediaType);
        Assert.Equal("shop", web.Body.GetProperty("policy").GetString());
        Assert.True(web.Body.GetProperty("open").GetBoolean());
        Assert.Equal(2, web.Body.GetProperty("minPasses").GetInt32());
        Assert.Empty(Reasons(web.Body));
        var series = Assert.Single(web.Body.GetProperty("series").EnumerateArray());
        Assert.Equal("errors", series.GetProperty("trigger").GetString());
        Assert.Equal("""{"deployment":"web"}""", series.GetProperty("labels").GetRawText());
        Assert.Equal("passing", series.GetProperty("state").GetString());
        Assert.True(series.GetProperty("passes").GetInt32() >= 2, series.GetRawText());
        Assert.Equal(JsonValueKind.Null, series.GetProperty("change").ValueKind);

        Assert.Equal(HttpStatusCode.Conflict, cart.Status);
        Assert.Equal("application/json", cart.MediaType); // the gate itself, not a problem: the same body as an open gate
        Assert.False(cart.Body.GetProperty("open").GetBoolean());
        Assert.StartsWith("errors{deployment=\"cart\"}: pending (breaching since ", Assert.Single(Reasons(cart.Body)), StringComparison.Ordinal);
        Assert.Equal("pending", Assert.Single(cart.Body.GetProperty("series").EnumerateArray()).GetProperty("state").GetString());

        // Written as the host writes every answer (ASP.NET Core's relaxed escaping): a label set's quotes as \", not \u0022.
        using (var raw = await api.Http.GetAsync("api/v1/gates/shop?deployment=cart"))
        {
            var text = await raw.Content.ReadAsStringAsync();
            Assert.Contains("""errors{deployment=\"cart\"}: pending""", text, StringComparison.Ordinal);
        }

        // The CLI's spelling of the same filter answers the same.
        var cliSpelling = await GateAsync(api, "api/v1/gates/shop?label=deployment%3Dcart");
        Assert.Equal(HttpStatusCode.Conflict, cliSpelling.Status);
        Assert.Equal(Reasons(cart.Body), Reasons(cliSpelling.Body));
        Assert.Equal(HttpStatusCode.OK, (await GateAsync(api, "api/v1/gates/shop?label=deployment=web")).Status);

        Assert.Equal(HttpStatusCode.Conflict, all.Status);
        Assert.StartsWith("errors{deployment=\"cart\"}: pending", Assert.Single(Reasons(all.Body)), StringComparison.Ordinal);
        Assert.Equal(["pending", "passing"], all.Body.GetProperty("series").EnumerateArray().Select(s => s.GetProperty("state").GetString()));
    }

    [Fact]
    public async Task Gate_Post_AnswersLikeGet_IgnoringAFlaggerWebhookBody()
    {
        await using var prometheus = new SteppedPrometheus(("cart", 5), ("web", 0));
        await using var sentinel = await StartAsync(prometheus);
        using var api = sentinel.Api();
        await WaitOpenAsync(api, "api/v1/gates/shop?deployment=web", sentinel);
        const string Flagger = """{"name":"podinfo","namespace":"test","phase":"Progressing","checksum":"85d557f47b","metadata":{"deployment":"cart","type":"confirm-promotion"}}""";

        var webFlagger = await GateAsync(api, "api/v1/gates/shop?deployment=web", HttpMethod.Post, Flagger);
        var webEmpty = await GateAsync(api, "api/v1/gates/shop?deployment=web", HttpMethod.Post);
        var cartFlagger = await GateAsync(api, "api/v1/gates/shop?deployment=cart", HttpMethod.Post, Flagger);

        Assert.Equal(HttpStatusCode.OK, webFlagger.Status);
        Assert.True(webFlagger.Body.GetProperty("open").GetBoolean());
        Assert.Equal(HttpStatusCode.OK, webEmpty.Status);
        Assert.Equal(HttpStatusCode.Conflict, cartFlagger.Status);
        Assert.StartsWith("errors{deployment=\"cart\"}: pending", Assert.Single(Reasons(cartFlagger.Body)), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Gate_FilterMatchingNoSeries_IsClosedAsNotYetEvaluated()
    {
        await using var prometheus = new SteppedPrometheus(("web", 0));
        await using var sentinel = await StartAsync(prometheus);
        using var api = sentinel.Api();
        await WaitOpenAsync(api, "api/v1/gates/shop", sentinel);

        var gate = await GateAsync(api, "api/v1/gates/shop?deployment=cart");

        Assert.Equal(HttpStatusCode.Conflict, gate.Status);
        Assert.Equal(["errors: not yet evaluated for {deployment=\"cart\"}"], Reasons(gate.Body));
        Assert.Empty(gate.Body.GetProperty("series").EnumerateArray());
    }

    [Fact]
    public async Task Gate_ChangeRecorded_ClosesUntilMinPassesSinceIt_ThenOpensNamingTheChange()
    {
        await using var prometheus = new SteppedPrometheus(("web", 0));
        await using var sentinel = await StartAsync(prometheus);
        using var api = sentinel.Api();
        await WaitOpenAsync(api, "api/v1/gates/shop?deployment=web", sentinel);

        var change = await api.PostJsonAsync("api/v1/changes", new { policy = "shop", labels = new { deployment = "web" }, revision = "v43", by = "ci" });
        var closed = await GateAsync(api, "api/v1/gates/shop?deployment=web");
        await WaitOpenAsync(api, "api/v1/gates/shop?deployment=web", sentinel);
        var open = await GateAsync(api, "api/v1/gates/shop?deployment=web");

        Assert.Equal(HttpStatusCode.Conflict, closed.Status);
        var reason = Assert.Single(Reasons(closed.Body));

        // Asked at once, or just after the first evaluation since the change.
        Assert.True(
            reason == $"errors{{deployment=\"web\"}}: not yet evaluated since the change (v43 at {change.GetProperty("at").GetString()})"
            || reason == "errors{deployment=\"web\"}: 1 of 2 passing evaluations since v43",
            reason);
        var series = Assert.Single(open.Body.GetProperty("series").EnumerateArray());
        Assert.Equal(change.GetRawText(), series.GetProperty("change").GetRawText());
        Assert.True(series.GetProperty("passes").GetInt32() >= 2, series.GetRawText());
    }

    [Fact]
    public async Task Gate_OpenIncident_KeepsItClosedNamingTheIncident()
    {
        await using var prometheus = new SteppedPrometheus(("web", 0));
        await using var sentinel = await StartAsync(prometheus);
        using var api = sentinel.Api();
        await WaitOpenAsync(api, "api/v1/gates/shop?deployment=web", sentinel);

        var started = await api.PostJsonAsync("api/v1/policies/shop/rollback", new { reason = "smoke test failed", by = "erin", labels = new { deployment = "web" } });
        var incident = started.GetProperty("incident").GetProperty("id").GetInt64();
        var gate = await GateAsync(api, "api/v1/gates/shop?deployment=web");
        var otherPolicy = await GateAsync(api, "api/v1/gates/other?deployment=web");

        Assert.Equal(HttpStatusCode.Conflict, gate.Status);
        Assert.Matches($"^incident {incident} \\(manual\\{{deployment=\"web\"\\}}\\) is (open|acting|acted|actionfailed)$", Assert.Single(Reasons(gate.Body)));
        Assert.Equal(HttpStatusCode.OK, otherPolicy.Status);
    }

    [Theory]
    [InlineData("api/v1/gates/checkout-api", HttpStatusCode.NotFound, "there is no policy 'checkout-api' (see GET /api/v1/policies)")]
    [InlineData("api/v1/gates/shop?deployment=a&deployment=b", HttpStatusCode.BadRequest, "the label filter 'deployment' is given more than once; give each label once")]
    [InlineData("api/v1/gates/shop?not-a-label=x", HttpStatusCode.BadRequest, "'label filter': 'not-a-label' is not a label name")]
    public async Task Gate_UnknownPolicyOrBadFilter_IsAProblemSayingWhy(string path, HttpStatusCode status, string detail)
    {
        await using var sentinel = await InProcessSentinel.StartAsync();
        using var api = sentinel.Api();

        foreach (var method in new[] { HttpMethod.Get, HttpMethod.Post })
        {
            using var response = await api.Http.SendAsync(new HttpRequestMessage(method, path) { Content = method == HttpMethod.Post ? JsonContent.Create(new { name = "podinfo" }) : null });

            Assert.Equal(status, response.StatusCode);
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            Assert.StartsWith(detail, JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("detail").GetString(), StringComparison.Ordinal);
        }
    }
}
