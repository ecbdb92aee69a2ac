using System.Net;
using System.Text;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Routing.Patterns;
using Microsoft.Extensions.DependencyInjection;
using RollbackSentinel.Cli.Tests.Daemon;

namespace RollbackSentinel.Cli.Tests.Api;

/// <summary>
/// The API token is part of every endpoint (authentication and a deny-by-default authorization policy), not a test
/// of the path's spelling: every mapped endpoint, under every spelling routing accepts or that could slip past a
/// prefix test, with any method and without the token or with a wrong one, is refused and changes nothing.
/// </summary>
[Collection(ApiDaemonCollection.Name)]
public sealed class ApiAuthenticationTests
{
    private static readonly string[] Methods = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"];

    /// <summary>The only endpoints that answer without the token: probes, /metrics, and Slack's (signed by Slack).</summary>
    private static readonly string[] Anonymous = ["GET /favicon.ico", "GET /healthz", "GET /login", "GET /metrics", "GET /readyz", "POST /login", "POST /slack/commands", "POST /slack/interactions"];

    [Fact]
    public async Task EveryEndpoint_AnySpellingAnyMethod_WithoutOrWithAWrongToken_IsRefusedAndChangesNothing()
    {
        await using var sentinel = await InProcessSentinel.StartAsync();
        using var api = sentinel.Api();

        // An incident to answer, made with the token, so that the answer endpoints have something they could change.
        var started = await api.PostJsonAsync("api/v1/policies/other/rollback", new { reason = "set-up", by = "test" });
        var incidentId = started.GetProperty("incident").GetProperty("id").GetInt64();
        await Eventually.WaitAsync(() => Task.FromResult(sentinel.Webhook.Requests.Count == 1), TimeSpan.FromSeconds(30), "the set-up rollback");
        await Eventually.WaitAsync(async () => (await sentinel.StoredAsync()).Single().Incident.Status == Core.Incidents.IncidentStatus.Resolved, TimeSpan.FromSeconds(30), "the set-up incident to resolve");
        var changes = sentinel.App.Services.GetRequiredService<Core.Changes.IChangeStore>();
        // The set-up rollback is recorded as the sentinel's own change, after the action (on a loaded machine, after the
        // incident has resolved): wait for it, or the walk below would be blamed for it.
        await Eventually.WaitAsync(async () => (await changes.ListChangesAsync(null, null, 100, CancellationToken.None)).Count > 0, TimeSpan.FromSeconds(30), "the set-up rollback's change");
        var before = Snapshot(await sentinel.StoredAsync());

        // The set-up rollback is the sentinel's own change; the walk must add none.
        var changesBefore = (await changes.ListChangesAsync(null, null, 100, CancellationToken.None)).Select(c => c.Id).ToArray();
        Assert.All(await changes.ListChangesAsync(null, null, 100, CancellationToken.None), c => Assert.True(c.IsSentinelRollback, c.ToString()));

        var endpoints = sentinel.App.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>().ToList();
        var described = endpoints.Select(e => (Endpoint: e, Name: $"{string.Join(',', e.Metadata.GetMetadata<IHttpMethodMetadata>()?.HttpMethods ?? ["*"])} {e.RoutePattern.RawText}")).ToList();
        Assert.Equal(Anonymous, described.Where(d => d.Endpoint.Metadata.GetMetadata<IAllowAnonymous>() is not null).Select(d => d.Name).Order(StringComparer.Ordinal));
        var guarded = described.Where(d => d.Endpoint.Metadata.GetMetadata<IAllowAnonymous>() is null).ToList();
        Assert.Contains(guarded, d => d.Name == "POST /api/v1/policies/{name}/rollback");
        Assert.Contains(guarded, d => d.Name == "POST /api/v1/incidents/{id:long}/approve");
        Assert.True(guarded.Count >= 10, string.Join(", ", guarded.Select(d => d.Name)));

        using var http = new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false }) { Timeout = TimeSpan.FromSeconds(10) };
        var admitted = new List<string>();
        var tried = 0;
        foreach (var (endpoint, name) in guarded)
        {
            foreach (var path in Spellings(endpoint.RoutePattern, incidentId).Append("/api/v1/no-such-endpoint").Append("/API/V1/NO-SUCH-ENDPOINT"))
            {
                foreach (var method in Methods)
                {
                    foreach (var authorization in new string?[] { null, "Bearer not-the-token", "Bearer ", $"Basic {Convert.ToBase64String(Encoding.UTF8.GetBytes(InProcessSentinel.Token))}", $"{InProcessSentinel.Token}" })
                    {
                        using var request = new HttpRequestMessage(new HttpMethod(method), new Uri(sentinel.BaseAddress.GetLeftPart(UriPartial.Authority) + path));
                        if (method is not ("GET" or "HEAD" or "OPTIONS"))
                        {
                            request.Content = new StringContent("{\"reason\":\"x\",\"by\":\"y\"}", Encoding.UTF8, "application/json");
                        }

                        if (authorization is not null)
                        {
                            request.Headers.TryAddWithoutValidation("Authorization", authorization);
                        }

                        using var response = await http.SendAsync(request);
                        tried++;

                        // The status page's own endpoints want a signed-in session, not a token: a page sends the browser
                        // to sign in (303), a form post is refused (401); neither ever reaches the endpoint.
                        if (StatusPage(endpoint) && !path.StartsWith("/api/", StringComparison.OrdinalIgnoreCase))
                        {
                            if (!(response.StatusCode == HttpStatusCode.SeeOther && response.Headers.Location?.OriginalString.StartsWith("/login?return=", StringComparison.Ordinal) == true)
                                && response.StatusCode != HttpStatusCode.Unauthorized && response.StatusCode != HttpStatusCode.MethodNotAllowed)
                            {
                                admitted.Add($"{method} {path} ({authorization ?? "no token"}) for {name}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
                            }

                            continue;
                        }

                        // Refused at the door, before routing's 404/405, binding's 400 or the endpoint's own 404/409 could say anything.
                        if (response.StatusCode != HttpStatusCode.Unauthorized
                            || (method != "HEAD" && response.Content.Headers.ContentType?.MediaType != "application/problem+json"))
                        {
                            admitted.Add($"{method} {path} ({authorization ?? "no token"}) for {name}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
                        }
                        else if (authorization is null)
                        {
                            Assert.Equal("Bearer realm=\"rollback-sentinel\"", response.Headers.WwwAuthenticate.ToString());
                        }
                    }
                }
            }
        }

        Assert.True(admitted.Count == 0, $"{admitted.Count} of {tried} requests were not refused with 401:\n" + string.Join('\n', admitted.Take(20)));
        Assert.True(tried > 1000, $"only {tried} requests");
        Assert.Equal(before, Snapshot(await sentinel.StoredAsync()));
        Assert.Equal(changesBefore, (await changes.ListChangesAsync(null, null, 100, CancellationToken.None)).Select(c => c.Id).ToArray());
        Assert.Single(sentinel.Webhook.Requests);

        // With the token, the same rollback is accepted: the walk was refused for want of the token, not by chance.
        var accepted = await api.PostJsonAsync("api/v1/policies/shop/rollback", new { reason = "control", by = "test" });
        Assert.StartsWith("rolling back ", accepted.GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    /// <summary>An endpoint of the status page (its session policy), not of the API.</summary>
    private static bool StatusPage(RouteEndpoint endpoint) =>
        endpoint.Metadata.GetOrderedMetadata<Microsoft.AspNetCore.Authorization.IAuthorizeData>().Any(a => a.Policy == RollbackSentinel.StatusPage.StatusPageAuthentication.Policy);

    [Fact]
    public async Task UnknownPathsAndProblems_WithoutTheToken_Are401ProblemDetails_TheProbesAndMetricsStayOpen()
    {
        await using var sentinel = await InProcessSentinel.StartAsync();
        using var anonymous = sentinel.Api(token: null);

        using var unknown = await anonymous.Http.GetAsync("Api/v1/no-such-thing");
        using var list = await anonymous.Http.GetAsync("aPi/v1/rules");
        using var health = await anonymous.Http.GetAsync("healthz");
        using var ready = await anonymous.Http.GetAsync("readyz");
        using var metrics = await anonymous.Http.GetAsync("metrics");

        Assert.Equal((HttpStatusCode.Unauthorized, HttpStatusCode.Unauthorized), (unknown.StatusCode, list.StatusCode));
        Assert.Equal("application/problem+json", list.Content.Headers.ContentType?.MediaType);
        using var problem = System.Text.Json.JsonDocument.Parse(await list.Content.ReadAsStringAsync());
        Assert.Equal(401, problem.RootElement.GetProperty("status").GetInt32());
        Assert.Equal("send 'Authorization: Bearer <token>' (see http:apiTokenFile)", problem.RootElement.GetProperty("detail").GetString());
        Assert.Equal((HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.OK), (health.StatusCode, ready.StatusCode, metrics.StatusCode));
        Assert.Contains("rollback_sentinel_", await metrics.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    /// <summary>Incidents, their states and every answer: equal before and after means nothing changed.</summary>
    private static string Snapshot(IReadOnlyList<Core.Incidents.IncidentTimeline> stored) =>
        string.Join('\n', stored.Select(t => $"{t.Incident.Id} {t.Incident.Policy} {t.Incident.Status} events={t.Events.Count} actions={t.Actions.Count} answers={t.Acknowledgments.Count}"));

    /// <summary>
    /// The endpoint's path with its parameters filled in, spelled as routing still matches it (any letter case, a
    /// trailing slash, percent-encoded letters) and as a prefix test could miss it (double slashes, %2F separators).
    /// </summary>
    private static IEnumerable<string> Spellings(RoutePattern pattern, long incidentId)
    {
        string Build(Func<string, string> literal, string separator = "/", string lead = "/") =>
            lead + string.Join(separator, pattern.PathSegments.Select(s => string.Concat(s.Parts.Select(p => p switch
            {
                RoutePatternLiteralPart l => literal(l.Content),
                RoutePatternParameterPart { Name: "id" } => incidentId.ToString(System.Globalization.CultureInfo.InvariantCulture),
                RoutePatternParameterPart { Name: "name" or "policy" } => "shop",
                RoutePatternParameterPart { Name: "answer" } => "approve",
                RoutePatternParameterPart q => throw new InvalidOperationException($"no sample value for {{{q.Name}}} in {pattern.RawText}"),
                _ => throw new InvalidOperationException(pattern.RawText),
            }))));

        yield return Build(l => l);
        yield return Build(l => l.ToUpperInvariant());
        yield return Build(l => char.ToUpperInvariant(l[0]) + l[1..]);
        yield return Build(l => string.Concat(l.Select((c, i) => i % 2 == 1 ? char.ToUpperInvariant(c) : c)));
        yield return Build(l => l) + "/";
        yield return Build(l => l.ToUpperInvariant()) + "/";
        yield return Build(l => l, lead: "//");
        yield return Build(l => l, separator: "//");
        yield return Build(l => l, separator: "%2F");
        yield return Build(l => l, separator: "%2f", lead: "/%2F");
        yield return Build(l => "%" + ((int)l[0]).ToString("X2", System.Globalization.CultureInfo.InvariantCulture) + l[1..]);
        yield return Build(l => l.ToUpperInvariant(), separator: "//") + "/";
    }
}
