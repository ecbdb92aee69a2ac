using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using RollbackSentinel.Api;
using RollbackSentinel.Hosting;
using RollbackSentinel.Testing.Net;

namespace RollbackSentinel.Cli.Tests.Api;

/// <summary>
/// The token scopes as rules, on a small app wired the daemon's way (<see cref="ApiTokenAuthentication.AddSentinelApi"/>,
/// a group that requires authorization) with endpoints of every kind of mark: any token may GET; a deploy token may also
/// call what is marked <see cref="ApiScopes.Deploy"/>; anything else needs the admin token; refusals say what the token may do.
/// </summary>
public sealed class ApiScopeRulesTests : IAsyncLifetime
{
    private const string AdminToken = "admin-token-for-rules";
    private const string DeployToken = "deploy-token-for-rules";
    private const string ReadToken = "read-token-for-rules";

    private readonly string _root = Directory.CreateTempSubdirectory("sentinel-scopes-").FullName;
    private WebApplication _app = null!;
    private Uri _base = null!;

    public static TheoryData<string, string, string, int> Cases => new()
    {
        // token, method, path, status
        { ReadToken, "GET", "/api/v1/things", 200 },
        { ReadToken, "HEAD", "/api/v1/things", 405 }, // admitted: MapGet answers no HEAD
        { ReadToken, "POST", "/api/v1/things", 403 },
        { ReadToken, "DELETE", "/api/v1/things", 403 },
        { ReadToken, "POST", "/api/v1/changes", 403 },
        { ReadToken, "GET", "/api/v1/gates/shop", 200 },
        { ReadToken, "POST", "/api/v1/gates/shop", 403 },
        { ReadToken, "GET", "/api/v1/admin-only", 403 },
        { ReadToken, "GET", "/api/v1/no-such-thing", 404 },
        { ReadToken, "POST", "/api/v1/no-such-thing", 403 },
        { DeployToken, "GET", "/api/v1/things", 200 },
        { DeployToken, "POST", "/api/v1/things", 403 },
        { DeployToken, "PUT", "/api/v1/things", 403 },
        { DeployToken, "POST", "/api/v1/changes", 201 },
        { DeployToken, "GET", "/api/v1/gates/shop", 200 },
        { DeployToken, "POST", "/api/v1/gates/shop", 200 },
        { DeployToken, "GET", "/api/v1/admin-only", 403 },
        { DeployToken, "POST", "/api/v1/no-such-thing", 403 },
        { AdminToken, "GET", "/api/v1/things", 200 },
        { AdminToken, "POST", "/api/v1/things", 200 },
        { AdminToken, "POST", "/api/v1/changes", 201 },
        { AdminToken, "POST", "/api/v1/gates/shop", 200 },
        { AdminToken, "GET", "/api/v1/admin-only", 200 },
        { AdminToken, "PUT", "/api/v1/things", 405 },
        { "not-a-token", "GET", "/api/v1/things", 401 },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Request_WithEachToken_IsAdmittedExactlyWhereItsScopeAllows(string token, string method, string path, int expected)
    {
        using var http = new HttpClient { BaseAddress = _base };
        using var request = new HttpRequestMessage(new HttpMethod(method), path.TrimStart('/'));
        request.Headers.TryAddWithoutValidation("Authorization", "Bearer " + token);
        if (method is "POST" or "PUT" or "DELETE")
        {
            request.Content = new StringContent("{}", Encoding.UTF8, "application/json");
        }

        using var response = await http.SendAsync(request);

        Assert.Equal(expected, (int)response.StatusCode);
        if (expected is 200 or 201 && method != "HEAD")
        {
            // The endpoint ran: its own answer, not a door's.
            Assert.Equal($"{method} {path}", await response.Content.ReadAsStringAsync());
        }
    }

    [Fact]
    public async Task DeployToken_OutsideItsScope_Is403ProblemSayingWhatItMayDo()
    {
        using var http = new HttpClient { BaseAddress = _base };
        http.DefaultRequestHeaders.TryAddWithoutValidation("Authorization", "Bearer " + DeployToken);

        using var response = await http.PostAsync("api/v1/things", new StringContent("{}", Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal(403, problem.RootElement.GetProperty("status").GetInt32());
        Assert.Equal("deploy", problem.RootElement.GetProperty("scope").GetString());
        Assert.Equal(
            "this is the deploy token (http.deployTokenFile): it may read (GET), record changes (POST /api/v1/changes) and ask gates (/api/v1/gates/{policy}); approve, deny, snooze, ack and rollback need the admin token",
            problem.RootElement.GetProperty("detail").GetString());
    }

    [Fact]
    public async Task ReadToken_Post_Is403ProblemSayingItMayOnlyRead()
    {
        using var http = new HttpClient { BaseAddress = _base };
        http.DefaultRequestHeaders.TryAddWithoutValidation("Authorization", "Bearer " + ReadToken);

        using var response = await http.PostAsync("api/v1/changes", new StringContent("{}", Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal("read", problem.RootElement.GetProperty("scope").GetString());
        Assert.StartsWith("this is the read token (http.readTokenFile): it may only read (GET)", problem.RootElement.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    public async Task InitializeAsync()
    {
        var deployFile = Path.Combine(_root, "deploy-token");
        var readFile = Path.Combine(_root, "read-token");
        await File.WriteAllTextAsync(deployFile, DeployToken + "\n");
        await File.WriteAllTextAsync(readFile, ReadToken);
        var options = new SentinelOptions
        {
            Storage = new SentinelOptions.StorageSettings { Path = Path.Combine(_root, "data", "sentinel.db") },
            Http = new SentinelOptions.HttpSettings { ApiToken = AdminToken, DeployTokenFile = deployFile, ReadTokenFile = readFile },
        };

        var port = FreePort.Next();
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton(new ApiToken(options));
        builder.Services.AddSentinelApi();
        _app = builder.Build();
        _app.UseRouting();
        _app.UseAuthentication();
        _app.UseAuthorization();
        var api = _app.MapGroup("/api/v1").RequireAuthorization();
        api.MapGet("/things", () => "GET /api/v1/things");
        api.MapPost("/things", () => "POST /api/v1/things");
        api.MapPost("/changes", () => Results.Text("POST /api/v1/changes", statusCode: 201)).RequireAuthorization(ApiScopes.Deploy);
        api.MapMethods("/gates/{policy}", [HttpMethods.Get, HttpMethods.Post], (HttpContext c, string policy) => $"{c.Request.Method} /api/v1/gates/{policy}").RequireAuthorization(ApiScopes.Deploy);
        api.MapGet("/admin-only", () => "GET /api/v1/admin-only").RequireAuthorization(ApiScopes.Admin);
        await _app.StartAsync();
        _base = new Uri($"http://127.0.0.1:{port}/");
    }

    public async Task DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        Directory.Delete(_root, recursive: true);
    }
}
