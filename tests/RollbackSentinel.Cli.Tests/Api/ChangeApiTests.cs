using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using RollbackSentinel.Cli.Tests.Daemon;

namespace RollbackSentinel.Cli.Tests.Api;

/// <summary>
/// <c>POST /api/v1/changes</c> records a change (201, its Location, the stored change in the API's format with source
/// <c>api</c>), refuses every bad field with a 400 problem naming it and an unknown policy with a 404, and records
/// nothing then; <c>GET /api/v1/changes</c> lists them newest first, by policy, since a time, up to a limit.
/// </summary>
[Collection(ApiDaemonCollection.Name)]
public sealed class ChangeApiTests
{
    [Fact]
    public async Task PostChange_EveryField_Is201WithItsLocationAndTheStoredChange()
    {
        await using var sentinel = await InProcessSentinel.StartAsync();
        using var api = sentinel.Api();
        var at = TimeProvider.System.GetUtcNow().AddMinutes(-4);
        var atText = at.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

        using var response = await api.Http.PostAsJsonAsync("api/v1/changes", new
        {
            policy = "shop",
            labels = new Dictionary<string, string> { ["deployment"] = "cart" },
            revision = "v42",
            previousRevision = "v41",
            by = "ci",
            description = "cart: new checkout flow\n(pipeline 1234)",
            at = atText,
        });
        var text = await response.Content.ReadAsStringAsync();
        var body = JsonDocument.Parse(text).RootElement;

        Assert.True(response.StatusCode == HttpStatusCode.Created, text);
        var id = body.GetProperty("id").GetInt64();
        Assert.True(id > 0, text);
        Assert.Equal($"/api/v1/changes/{id}", response.Headers.Location?.OriginalString);
        Assert.Equal("shop", body.GetProperty("policy").GetString());
        Assert.Equal("""{"deployment":"cart"}""", body.GetProperty("labels").GetRawText());
        Assert.Equal(atText, body.GetProperty("at").GetString());
        Assert.Equal("api", body.GetProperty("source").GetString());
        Assert.Equal("v42", body.GetProperty("revision").GetString());
        Assert.Equal("v41", body.GetProperty("previousRevision").GetString());
        Assert.Equal("ci", body.GetProperty("by").GetString());
        Assert.Equal("cart: new checkout flow\n(pipeline 1234)", body.GetProperty("description").GetString());
        var recordedAt = DateTimeOffset.Parse(body.GetProperty("recordedAt").GetString()!, CultureInfo.InvariantCulture);
        Assert.InRange(recordedAt, at, TimeProvider.System.GetUtcNow().AddSeconds(1));
        Assert.Equal(
            ["id", "policy", "labels", "at", "source", "revision", "previousRevision", "by", "description", "recordedAt"],
            body.EnumerateObject().Select(p => p.Name));

        // The same change, by its id and in the list.
        Assert.Equal(text, (await api.GetJsonAsync($"api/v1/changes/{id}")).GetRawText());
        Assert.Equal(text, Assert.Single((await api.GetJsonAsync("api/v1/changes")).EnumerateArray()).GetRawText());
        Assert.Contains($"Change {id} of shop{{deployment=\"cart\"}} recorded from the API: v41 -> v42 at {atText} by ci", sentinel.Log.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task PostChange_OnlyAPolicy_IsDatedNowForEverySeriesWithNullsForWhatIsUnknown()
    {
        await using var sentinel = await InProcessSentinel.StartAsync();
        using var api = sentinel.Api();
        var before = TimeProvider.System.GetUtcNow().AddSeconds(-1);

        var body = await api.PostJsonAsync("api/v1/changes", new { policy = "other" });

        var at = DateTimeOffset.Parse(body.GetProperty("at").GetString()!, CultureInfo.InvariantCulture);
        Assert.InRange(at, before, TimeProvider.System.GetUtcNow().AddSeconds(1));
        Assert.Equal("{}", body.GetProperty("labels").GetRawText());
        Assert.Equal("api", body.GetProperty("source").GetString());
        foreach (var field in new[] { "revision", "previousRevision", "by", "description" })
        {
            Assert.Equal(JsonValueKind.Null, body.GetProperty(field).ValueKind);
        }
    }

    [Fact]
    public async Task PostChange_ByFromTheSentinelUserHeader_WhenTheBodyHasNone()
    {
        await using var sentinel = await InProcessSentinel.StartAsync();
        using var api = sentinel.Api();
        using var request = new HttpRequestMessage(HttpMethod.Post, "api/v1/changes") { Content = JsonContent.Create(new { policy = "shop", revision = "v7" }) };
        request.Headers.Add("X-Sentinel-User", "erin");

        using var response = await api.Http.SendAsync(request);

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Equal("erin", JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("by").GetString());
    }

    public static TheoryData<string, string, string> BadChanges => new()
    {
        { "no policy", """{"revision":"v42"}""", "'policy' is required" },
        { "an empty policy", """{"policy":" "}""", "'policy' is required" },
        { "a policy past its limit", $$"""{"policy":"{{new string('p', 254)}}"}""", "'policy' is 254 characters long; the limit is 253" },
        { "by past the limit", $$"""{"policy":"shop","by":"{{new string('b', 201)}}"}""", "'by' is 201 characters long; the limit is 200" },
        { "by with a line break", """{"policy":"shop","by":"ci\nINF forged"}""", "'by' must be one line without control characters" },
        { "revision past the limit", $$"""{"policy":"shop","revision":"{{new string('r', 201)}}"}""", "'revision' is 201 characters long; the limit is 200" },
        { "revision on two lines", """{"policy":"shop","revision":"v42\nv43"}""", "'revision' must be one line without control characters" },
        { "previousRevision past the limit", $$"""{"policy":"shop","previousRevision":"{{new string('r', 201)}}"}""", "'previousRevision' is 201 characters long; the limit is 200" },
        { "description past the limit", $$"""{"policy":"shop","description":"{{new string('d', 2001)}}"}""", "'description' is 2001 characters long; the limit is 2000" },
        { "description with an escape", """{"policy":"shop","description":"x\u001b[2J"}""", "'description' must not contain control characters other than line breaks and tabs" },
        { "too many labels", "{\"policy\":\"shop\",\"labels\":{" + string.Join(",", Enumerable.Range(0, 33).Select(i => $"\"l{i}\":\"v\"")) + "}}", "'labels' has 33 labels; the limit is 32" },
        { "a label name that is not one", """{"policy":"shop","labels":{"not a name":"v"}}""", "'labels': 'not a name' is not a label name" },
        { "a label name past its limit", $$$"""{"policy":"shop","labels":{"{{{new string('n', 129)}}}":"v"}}""", "is not a label name ([a-zA-Z_][a-zA-Z0-9_]*, at most 128 characters)" },
        { "a label value past its limit", $$$"""{"policy":"shop","labels":{"deployment":"{{{new string('d', 1025)}}}"}}""", "'labels.deployment' is 1025 characters long; the limit is 1024" },
        { "a null label value", """{"policy":"shop","labels":{"deployment":null}}""", "'labels.deployment' must be a string, got null" },
        { "labels that are not an object", """{"policy":"shop","labels":"deployment=cart"}""", "'labels' must be an object of label names to string values" },
        { "a label value that is a number", """{"policy":"shop","labels":{"deployment":7}}""", "'labels.deployment' must be a string" },
        { "a revision that is a number", """{"policy":"shop","revision":42}""", "'revision' must be a string" },
        { "at that is not RFC 3339", """{"policy":"shop","at":"yesterday"}""", "'at' must be an RFC 3339 time such as 2026-11-22T10:00:00Z, got 'yesterday'" },
        { "at without an offset", """{"policy":"shop","at":"2026-12-05T10:00:00"}""", "'at' must be an RFC 3339 time" },
        { "at that is a number", """{"policy":"shop","at":1795132800}""", "'at' must be an RFC 3339 time as a string" },
        { "at far in the future", """{"policy":"shop","at":"2099-01-01T00:00:00Z"}""", "'at' is 2099-01-01T00:00:00Z, more than 5m after the daemon's clock" },
        { "a body that is not JSON", "revision=v42", "the body must be a JSON object" },
        { "an empty body", string.Empty, "the body must be a JSON object" },
        { "an array", """[{"policy":"shop"}]""", "the body must be a JSON object" },
        { "null", "null", "the body must be a JSON object" },
    };

    [Theory]
    [MemberData(nameof(BadChanges))]
    public async Task PostChange_BadField_Is400NamingTheField_AndNothingIsRecorded(string what, string json, string detail)
    {
        await using var sentinel = await InProcessSentinel.StartAsync();
        using var api = sentinel.Api();

        using var response = await api.Http.PostAsync("api/v1/changes", new StringContent(json, Encoding.UTF8, "application/json"));

        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{what}: {(int)response.StatusCode} {text}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = JsonDocument.Parse(text).RootElement;
        Assert.Equal("bad field", problem.GetProperty("title").GetString());
        Assert.Contains(detail, problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Empty((await api.GetJsonAsync("api/v1/changes")).EnumerateArray());
    }

    [Fact]
    public async Task PostChange_AFewMinutesAhead_IsAcceptedAsClockSkew()
    {
        await using var sentinel = await InProcessSentinel.StartAsync();
        using var api = sentinel.Api();
        var at = TimeProvider.System.GetUtcNow().AddMinutes(4).ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

        var body = await api.PostJsonAsync("api/v1/changes", new { policy = "shop", at });

        Assert.Equal(at, body.GetProperty("at").GetString());
    }

    [Fact]
    public async Task PostChange_EveryFieldAtItsLimit_IsAcceptedAsGiven()
    {
        await using var sentinel = await InProcessSentinel.StartAsync();
        using var api = sentinel.Api();
        var labels = Enumerable.Range(0, 31).ToDictionary(i => $"l{i}", _ => "v");
        labels[new string('n', 128)] = new string('d', 1024);
        var description = "line one\nline two\t" + new string('d', 2000 - 18);

        var body = await api.PostJsonAsync("api/v1/changes", new { policy = "shop", labels, revision = new string('r', 200), previousRevision = new string('p', 200), by = new string('b', 200), description });

        Assert.Equal(32, body.GetProperty("labels").EnumerateObject().Count());
        Assert.Equal(new string('d', 1024), body.GetProperty("labels").GetProperty(new string('n', 128)).GetString());
        Assert.Equal(new string('r', 200), body.GetProperty("revision").GetString());
        Assert.Equal(new string('b', 200), body.GetProperty("by").GetString());
        Assert.Equal(description, body.GetProperty("description").GetString());
    }

    [Fact]
    public async Task PostChange_UnknownPolicy_Is404Problem_AndNothingIsRecorded()
    {
        await using var sentinel = await InProcessSentinel.StartAsync();
        using var api = sentinel.Api();

        using var response = await api.Http.PostAsJsonAsync("api/v1/changes", new { policy = "checkout-api", revision = "v42" });

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal("there is no policy 'checkout-api' (see GET /api/v1/policies)", problem.GetProperty("detail").GetString());
        Assert.Empty((await api.GetJsonAsync("api/v1/changes")).EnumerateArray());
    }

    [Fact]
    public async Task ListChanges_ByPolicySinceAndLimit_NewestFirst()
    {
        await using var sentinel = await InProcessSentinel.StartAsync();
        using var api = sentinel.Api();
        var now = TimeProvider.System.GetUtcNow();
        string Ago(double hours) => now.AddHours(-hours).ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);
        foreach (var (policy, revision, at) in new[] { ("shop", "v1", Ago(3)), ("shop", "v2", Ago(2)), ("other", "o1", Ago(1.5)), ("shop", "v3", Ago(0.5)) })
        {
            await api.PostJsonAsync("api/v1/changes", new { policy, revision, at });
        }

        async Task<string[]> RevisionsAsync(string query) =>
            [.. (await api.GetJsonAsync("api/v1/changes" + query)).EnumerateArray().Select(c => c.GetProperty("revision").GetString()!)];

        Assert.Equal(["v3", "o1", "v2", "v1"], await RevisionsAsync(string.Empty));
        Assert.Equal(["v3", "v2", "v1"], await RevisionsAsync("?policy=shop"));
        Assert.Equal(["o1"], await RevisionsAsync("?policy=other"));
        Assert.Equal(["v3", "o1"], await RevisionsAsync("?since=-100m"));
        Assert.Equal(["v3", "o1"], await RevisionsAsync("?since=100m"));
        Assert.Equal(["v3", "v2"], await RevisionsAsync($"?policy=shop&since={Uri.EscapeDataString(Ago(2.5))}"));
        Assert.Equal(["v3", "o1"], await RevisionsAsync("?limit=2"));
        Assert.Empty(await RevisionsAsync("?policy=nope"));
    }

    [Theory]
    [InlineData("api/v1/changes?since=yesterday", HttpStatusCode.BadRequest, "'since' must be an RFC 3339 time such as 2026-11-22T10:00:00Z, 'now', or a duration before now such as -1h (or 1h), got 'yesterday'")]
    [InlineData("api/v1/changes?limit=0", HttpStatusCode.BadRequest, "'limit' must be between 1 and 1000")]
    [InlineData("api/v1/changes?limit=1001", HttpStatusCode.BadRequest, "'limit' must be between 1 and 1000")]
    [InlineData("api/v1/changes/4242", HttpStatusCode.NotFound, "there is no change 4242")]
    [InlineData("api/v1/changes/abc", HttpStatusCode.BadRequest, "'abc' is not a change id (a whole number)")]
    public async Task ListOrGetChanges_BadQuery_AnswersWithAProblemSayingWhy(string path, HttpStatusCode status, string detail)
    {
        await using var sentinel = await InProcessSentinel.StartAsync();
        using var api = sentinel.Api();

        using var response = await api.Http.GetAsync(path);

        Assert.Equal(status, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(detail, JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("detail").GetString());
    }
}
