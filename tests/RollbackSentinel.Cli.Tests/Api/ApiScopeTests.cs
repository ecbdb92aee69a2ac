using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Routing.Patterns;
using Microsoft.Extensions.DependencyInjection;
using RollbackSentinel.Cli.Tests.Daemon;

namespace RollbackSentinel.Cli.Tests.Api;

/// <summary>
/// The daemon's own endpoints under the scoped tokens: a read token may GET and nothing else; a deploy token may GET,
/// record changes and ask gates, never roll back or answer an incident; what a token may not do is 403 problem
/// details saying what it may, and changes nothing.
/// </summary>
[Collection(ApiDaemonCollection.Name)]
public sealed class ApiScopeTests
{
    private const string DeployToken = "in-process-deploy-token";
    private const string ReadToken = "in-process-read-token";

    private static readonly string[] Methods = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"];

    /// <summary>What a deploy token may call besides GET: recording a change and asking a gate (POST answers as GET does).</summary>
    private static readonly string[] DeployMay = ["POST /api/v1/changes", "POST /api/v1/gates/{policy}"];

    [Fact]
    public async Task DeployToken_ReadsIncidents_ButCannotRollBackApproveDenySnoozeOrAck_403NamingWhatItMayDo()
    {
        await using var sentinel = await StartAsync();
        using var admin = sentinel.Api();
        using var deploy = sentinel.Api(DeployToken);
        var started = await admin.PostJsonAsync("api/v1/policies/other/rollback", new { reason = "set-up", by = "test" });
        var id = started.GetProperty("incident").GetProperty("id").GetInt64();
        await Eventually.WaitAsync(() => Task.FromResult(sentinel.Webhook.Requests.Count == 1), TimeSpan.FromSeconds(30), "the set-up rollback");
        await Eventually.WaitAsync(async () => (await sentinel.StoredAsync()).Single().Incident.Status == Core.Incidents.IncidentStatus.Resolved, TimeSpan.FromSeconds(30), "the set-up incident to resolve");
        var before = Snapshot(await sentinel.StoredAsync());

        using var list = await deploy.Http.GetAsync("api/v1/incidents");
        var refused = new List<(string What, HttpStatusCode Status, JsonElement Problem)>();
        foreach (var path in new[] { "api/v1/policies/shop/rollback", $"api/v1/incidents/{id}/approve", $"api/v1/incidents/{id}/deny", $"api/v1/incidents/{id}/snooze", $"api/v1/incidents/{id}/ack" })
        {
            using var response = await deploy.Http.PostAsync(path, new StringContent("{\"reason\":\"from the pipeline\",\"by\":\"ci\"}", Encoding.UTF8, "application/json"));
            refused.Add((path, response.StatusCode, JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone()));
        }

        Assert.Equal(HttpStatusCode.OK, list.StatusCode);
        Assert.Equal(id, JsonDocument.Parse(await list.Content.ReadAsStringAsync()).RootElement[0].GetProperty("id").GetInt64());
        Assert.All(refused, r =>
        {
            Assert.True(r.Status == HttpStatusCode.Forbidden, $"{r.What}: {(int)r.Status}");
            Assert.Equal("deploy", r.Problem.GetProperty("scope").GetString());
            Assert.Contains("approve, deny, snooze, ack and rollback need the admin token", r.Problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        });
        Assert.Equal(before, Snapshot(await sentinel.StoredAsync()));
        Assert.Single(sentinel.Webhook.Requests);
    }

    [Fact]
    public async Task DeployToken_PostsAChangeAndAsksTheGate_AReadTokenMayOnlyReadThem()
    {
        await using var sentinel = await StartAsync();
        using var deploy = sentinel.Api(DeployToken);
        using var read = sentinel.Api(ReadToken);
        static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");
        const string Mark = """{"policy":"shop","labels":{"deployment":"cart"},"revision":"v42","by":"ci","description":"release 42"}""";

        using var posted = await deploy.Http.PostAsync("api/v1/changes", Json(Mark));
        using var refusedPost = await read.Http.PostAsync("api/v1/changes", Json(Mark));
        using var listed = await read.Http.GetAsync("api/v1/changes?policy=shop");
        using var gate = await deploy.Http.GetAsync("api/v1/gates/shop");
        using var gatePost = await deploy.Http.PostAsync("api/v1/gates/shop", Json("{}"));
        using var readGate = await read.Http.GetAsync("api/v1/gates/shop");
        using var readGatePost = await read.Http.PostAsync("api/v1/gates/shop", Json("{}"));

        Assert.Equal(HttpStatusCode.Created, posted.StatusCode);
        var change = JsonDocument.Parse(await posted.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal(("shop", "cart", "v42", "ci", "api"), (change.GetProperty("policy").GetString(), change.GetProperty("labels").GetProperty("deployment").GetString(), change.GetProperty("revision").GetString(), change.GetProperty("by").GetString(), change.GetProperty("source").GetString()));
        Assert.Equal(HttpStatusCode.Forbidden, refusedPost.StatusCode);
        Assert.Equal("read", JsonDocument.Parse(await refusedPost.Content.ReadAsStringAsync()).RootElement.GetProperty("scope").GetString());
        Assert.Equal(HttpStatusCode.OK, listed.StatusCode);
        var only = Assert.Single(JsonDocument.Parse(await listed.Content.ReadAsStringAsync()).RootElement.EnumerateArray());
        Assert.Equal(change.GetProperty("id").GetInt64(), only.GetProperty("id").GetInt64());

        // Nothing was evaluated since the change (Prometheus is unreachable): the gate is closed, and says so to either token.
        Assert.Equal((HttpStatusCode.Conflict, HttpStatusCode.Conflict, HttpStatusCode.Conflict), (gate.StatusCode, gatePost.StatusCode, readGate.StatusCode));
        Assert.False(JsonDocument.Parse(await gate.Content.ReadAsStringAsync()).RootElement.GetProperty("open").GetBoolean());
        Assert.Equal(HttpStatusCode.Forbidden, readGatePost.StatusCode);
    }

    [Theory]
    [InlineData("read")]
    [InlineData("deploy")]
    public async Task ScopedToken_EveryGuardedEndpointAndMethod_IsAdmittedExactlyWhereItsScopeAllows_AndNothingChanges(string scope)
    {
        await using var sentinel = await StartAsync();
        var before = Snapshot(await sentinel.StoredAsync());
        var token = scope == "read" ? ReadToken : DeployToken;
        var endpoints = sentinel.App.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>()
            .Where(e => e.Metadata.GetMetadata<IAllowAnonymous>() is null)

            // The status page takes a signed-in session, never a bearer token (StatusPageHttpTests, StatusPageBrowserTests).
            .Where(e => !e.Metadata.GetOrderedMetadata<Microsoft.AspNetCore.Authorization.IAuthorizeData>().Any(a => a.Policy == RollbackSentinel.StatusPage.StatusPageAuthentication.Policy))
            .ToList();
        Assert.True(endpoints.Count >= 10, string.Join(", ", endpoints.Select(e => e.RoutePattern.RawText)));

        using var http = new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false }) { BaseAddress = sentinel.BaseAddress, Timeout = TimeSpan.FromSeconds(10) };
        var wrong = new List<string>();
        var tried = 0;
        foreach (var endpoint in endpoints)
        {
            var path = Path(endpoint.RoutePattern);
            foreach (var method in Methods)
            {
                // By path and method (another endpoint may answer this method on the same path).
                var may = method is "GET" or "HEAD" || (scope == "deploy" && DeployMay.Contains($"{method} {endpoint.RoutePattern.RawText}"));
                using var request = new HttpRequestMessage(new HttpMethod(method), path.TrimStart('/'));
                request.Headers.TryAddWithoutValidation("Authorization", "Bearer " + token);
                if (method is not ("GET" or "HEAD"))
                {
                    // Nothing a scope admits may change what is stored: no policy named, so a change is refused as a bad body.
                    request.Content = new StringContent("{\"reason\":\"x\",\"by\":\"y\"}", Encoding.UTF8, "application/json");
                }

                using var response = await http.SendAsync(request);
                tried++;
                var status = (int)response.StatusCode;
                if (may ? status is 401 or 403 : status != 403)
                {
                    wrong.Add($"{method} {path}: {status} (expected {(may ? "admitted" : "403")}) {await response.Content.ReadAsStringAsync()}");
                }
                else if (!may && method != "HEAD")
                {
                    using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
                    Assert.Equal(scope, problem.RootElement.GetProperty("scope").GetString());
                    Assert.StartsWith($"this is the {scope} token (http.{scope}TokenFile)", problem.RootElement.GetProperty("detail").GetString(), StringComparison.Ordinal);
                }
            }
        }

        Assert.True(wrong.Count == 0, $"{wrong.Count} of {tried} requests:\n" + string.Join('\n', wrong.Take(20)));
        Assert.Equal(before, Snapshot(await sentinel.StoredAsync()));
        Assert.Empty(sentinel.Webhook.Requests);
    }

    private static Task<InProcessSentinel> StartAsync() =>
        InProcessSentinel.StartAsync((options, root) =>
        {
            var deploy = System.IO.Path.Combine(root, "deploy-token");
            var read = System.IO.Path.Combine(root, "read-token");
            File.WriteAllText(deploy, DeployToken + "\n");
            File.WriteAllText(read, "\uFEFF" + ReadToken);
            options.Http.DeployTokenFile = deploy;
            options.Http.ReadTokenFile = read;
        });

    private static string Snapshot(IReadOnlyList<Core.Incidents.IncidentTimeline> stored) =>
        string.Join('\n', stored.Select(t => $"{t.Incident.Id} {t.Incident.Policy} {t.Incident.Status} events={t.Events.Count} actions={t.Actions.Count} answers={t.Acknowledgments.Count}"));

    /// <summary>The endpoint's path with sample values: an incident that does not exist, the policy <c>shop</c>.</summary>
    private static string Path(RoutePattern pattern) =>
        "/" + string.Join("/", pattern.PathSegments.Select(s => string.Concat(s.Parts.Select(p => p switch
        {
            RoutePatternLiteralPart l => l.Content,
            RoutePatternParameterPart { Name: "id" } => "424242",
            RoutePatternParameterPart { Name: "name" or "policy" } => "shop",
            RoutePatternParameterPart q => throw new InvalidOperationException($"no sample value for {{{q.Name}}} in {pattern.RawText}"),
            _ => throw new InvalidOperationException(pattern.RawText),
        }))));
}
