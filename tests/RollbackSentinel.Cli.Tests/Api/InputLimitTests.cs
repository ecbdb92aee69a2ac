using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using RollbackSentinel.Cli.Tests.Daemon;
using RollbackSentinel.Notifications.Slack;

namespace RollbackSentinel.Cli.Tests.Api;

/// <summary>
/// Everything a person types (reason, by, labels, channel; through the API, Slack and the CLI) has a limit, and every
/// body has a size limit: past it the request is refused with problem details naming the field and the limit (400),
/// or the size (413), logged as one line without a stack trace, and nothing is changed.
/// </summary>
[Collection(ApiDaemonCollection.Name)]
public sealed class InputLimitTests
{
    private const string SigningSecret = "0123456789abcdef0123456789abcdef";

    public static TheoryData<string, object, string> BadManualRollbacks => new()
    {
        { "reason past the limit", new { reason = new string('r', 2001), by = "erin" }, "'reason' is 2001 characters long; the limit is 2000" },
        { "by past the limit", new { reason = "x", by = new string('b', 201) }, "'by' is 201 characters long; the limit is 200" },
        { "by with a line break", new { reason = "x", by = "erin\n2026-12-05T07:00:00.000+00:00 INF Manual rollback of shop asked by admin" }, "'by' must be one line without control characters" },
        { "reason with an escape", new { reason = "x\u001b[2J", by = "erin" }, "'reason' must not contain control characters other than line breaks and tabs" },
        { "too many labels", new { reason = "x", labels = Enumerable.Range(0, 33).ToDictionary(i => $"l{i}", i => "v"), by = "erin" }, "'labels' has 33 labels; the limit is 32" },
        { "a label value past the limit", new { reason = "x", labels = new Dictionary<string, string> { ["deployment"] = new string('d', 1025) }, by = "erin" }, "'labels.deployment' is 1025 characters long; the limit is 1024" },
        { "a label name that is not one", new { reason = "x", labels = new Dictionary<string, string> { ["not a name"] = "v" }, by = "erin" }, "'labels': 'not a name' is not a label name" },
        { "an unknown channel", new { reason = "x", by = "erin", channel = "slack" }, "'channel' must be one of api, cli, got 'slack'" },
        { "a null label value", new { reason = "x", labels = new Dictionary<string, string?> { ["deployment"] = null }, by = "erin" }, "'labels.deployment' must be a string, got null" },
        { "by with a line separator", new { reason = "x", by = "erin\u2028INF forged" }, "'by' must be one line without control characters" },
    };

    [Theory]
    [MemberData(nameof(BadManualRollbacks))]
    public async Task ManualRollback_FieldPastItsLimit_Is400NamingTheFieldAndTheLimit_AndNothingRuns(string what, object body, string detail)
    {
        await using var sentinel = await InProcessSentinel.StartAsync();
        using var api = sentinel.Api();

        using var response = await api.Http.PostAsJsonAsync("api/v1/policies/shop/rollback", body);

        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{what}: {(int)response.StatusCode} {text}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        using var problem = JsonDocument.Parse(text);
        Assert.StartsWith(detail, problem.RootElement.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Empty(await sentinel.StoredAsync());
        Assert.Empty(sentinel.Webhook.Requests);
    }

    [Fact]
    public async Task ManualRollback_AtTheLimits_IsAccepted_AndAMultiLineReasonIsRecordedAsGiven()
    {
        await using var sentinel = await InProcessSentinel.StartAsync();
        using var api = sentinel.Api();
        var reason = "first line\nsecond line\t" + new string('r', 2000 - 23);

        var started = await api.PostJsonAsync("api/v1/policies/shop/rollback", new { reason, by = new string('b', 200), labels = new Dictionary<string, string> { ["deployment"] = new string('d', 1024) } });

        Assert.StartsWith("rolling back ", started.GetProperty("message").GetString(), StringComparison.Ordinal);
        var recorded = Assert.Single(Assert.Single(await sentinel.StoredAsync()).Acknowledgments);
        Assert.Equal((reason, new string('b', 200)), (recorded.Reason, recorded.By));
    }

    [Fact]
    public async Task ManualRollback_FiveMegabyteReason_Is413ProblemDetails_LoggedAsOneLine_AndNothingRuns()
    {
        await using var sentinel = await InProcessSentinel.StartAsync();

        // {"by":"erin","reason":"rrr…"} over a socket: the daemon may answer before the upload is done.
        var (status, headers, body) = await RawPostAsync(sentinel.BaseAddress, "api/v1/policies/shop/rollback", "application/json", $"Bearer {InProcessSentinel.Token}", 5 * 1024 * 1024, withLength: true, "{\"by\":\"erin\",\"reason\":\"", "\"}");

        Assert.True(status == 413, $"{status}\n{headers}\n{body}");
        Assert.Contains("Content-Type: application/problem+json", headers, StringComparison.OrdinalIgnoreCase);
        using var problem = JsonDocument.Parse(body);
        Assert.Equal(413, problem.RootElement.GetProperty("status").GetInt32());
        Assert.Equal("the body may be at most 65536 bytes", problem.RootElement.GetProperty("detail").GetString());
        Assert.Empty(await sentinel.StoredAsync());
        Assert.Empty(sentinel.Webhook.Requests);
        Assert.DoesNotContain("Exception", sentinel.Log.Text, StringComparison.Ordinal);
        Assert.Single(sentinel.Log.Entries, e => e.Contains("Request POST /api/v1/policies/shop/rollback refused with 413: the body may be at most 65536 bytes", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("approve", "{\"by\":\"alice\\n2026-12-05 INF forged\"}", "'by' must be one line without control characters")]
    [InlineData("deny", "{\"by\":\"alice\",\"reason\":\"LONG\"}", "'reason' is 2001 characters long; the limit is 2000")]
    [InlineData("ack", "{\"by\":\"alice\",\"channel\":\"slack\"}", "'channel' must be one of api, cli, got 'slack'")]
    public async Task Answer_FieldPastItsLimit_Is400NamingTheField_AndNothingIsRecorded(string answer, string body, string detail)
    {
        await using var sentinel = await InProcessSentinel.StartAsync();
        using var api = sentinel.Api();
        var started = await api.PostJsonAsync("api/v1/policies/other/rollback", new { reason = "set-up", by = "test" });
        var id = started.GetProperty("incident").GetProperty("id").GetInt64();

        using var response = await api.Http.PostAsync($"api/v1/incidents/{id}/{answer}", new StringContent(body.Replace("LONG", new string('r', 2001), StringComparison.Ordinal), Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.StartsWith(detail, problem.RootElement.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Single(Assert.Single(await sentinel.StoredAsync()).Acknowledgments); // only the set-up's own
    }

    [Theory]
    [InlineData("slack/commands", true)]
    [InlineData("slack/interactions", true)]
    [InlineData("slack/commands", false)]
    [InlineData("api/v1/policies/shop/rollback", true)]
    [InlineData("api/v1/incidents/1/approve", false)]
    public async Task FortyMegabyteBody_Is413ProblemDetails_WithoutAStackTraceInTheLog(string path, bool withLength)
    {
        await using var sentinel = await InProcessSentinel.StartAsync(WithSlack);
        using var api = sentinel.Api();
        var contentType = path.StartsWith("slack", StringComparison.Ordinal) ? "application/x-www-form-urlencoded" : "application/json";
        var (status, headers, body) = await RawPostAsync(sentinel.BaseAddress, path, contentType, $"Bearer {InProcessSentinel.Token}", 40 * 1024 * 1024, withLength);

        Assert.True(status == 413, $"{status}\n{headers}\n{body}");
        Assert.Contains("Content-Type: application/problem+json", headers, StringComparison.OrdinalIgnoreCase);
        using var problem = JsonDocument.Parse(body);
        Assert.Equal("request body too large", problem.RootElement.GetProperty("title").GetString());
        Assert.Matches(@"^the body may be at most \d+ bytes$", problem.RootElement.GetProperty("detail").GetString());
        Assert.DoesNotContain("Exception", sentinel.Log.Text, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", sentinel.Log.Text, StringComparison.Ordinal);
        Assert.Single(sentinel.Log.Entries, e => e.Contains($"Request POST /{path} refused with 413: the body may be at most ", StringComparison.Ordinal));
        Assert.Empty(await sentinel.StoredAsync());
    }

    [Theory]
    [InlineData("rollback shop", "stranger\nforged", "'user_name' must be one line without control characters")]
    [InlineData("rollback POLICY", "alice", "'text' is 300 characters long; the limit is 253")]
    [InlineData("status", "NAME", "'user_name' is 201 characters long; the limit is 200")]
    public async Task SlackCommand_FieldPastItsLimit_Is400NamingIt_AndNothingRuns(string text, string user, string detail)
    {
        await using var sentinel = await InProcessSentinel.StartAsync(WithSlack);
        using var http = new HttpClient { BaseAddress = sentinel.BaseAddress };
        var form = $"command=%2Fsentinel&text={Uri.EscapeDataString(text.Replace("POLICY", new string('p', 300), StringComparison.Ordinal))}&user_id=U024BE7LH&user_name={Uri.EscapeDataString(user.Replace("NAME", new string('n', 201), StringComparison.Ordinal))}&channel_id=C0DEPLOYS&team_id=T0";
        var ts = TimeProvider.System.GetUtcNow().ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
        using var request = new HttpRequestMessage(HttpMethod.Post, "slack/commands") { Content = new StringContent(form, Encoding.UTF8, "application/x-www-form-urlencoded") };
        request.Headers.Add(SlackRequestVerifier.TimestampHeader, ts);
        request.Headers.Add(SlackRequestVerifier.SignatureHeader, SlackRequestVerifier.Sign(SigningSecret, ts, form));

        using var response = await http.SendAsync(request);

        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, body);
        using var problem = JsonDocument.Parse(body);
        Assert.StartsWith(detail, problem.RootElement.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Empty(await sentinel.StoredAsync());
        Assert.Empty(sentinel.Webhook.Requests);
    }

    /// <summary>
    /// POSTs a body of <paramref name="length"/> bytes over a plain socket, with Content-Length or chunked, and reads
    /// the answer even when the server answers before the upload is done (HttpClient reports a broken pipe instead).
    /// </summary>
    private static async Task<(int Status, string Headers, string Body)> RawPostAsync(Uri baseAddress, string path, string contentType, string authorization, int length, bool withLength, string prefix = "", string suffix = "")
    {
        // The body: the prefix, filler up to 'length' bytes in all, the suffix (ASCII).
        var payload = new byte[length];
        Array.Fill(payload, (byte)'a');
        Encoding.ASCII.GetBytes(prefix, payload);
        Encoding.ASCII.GetBytes(suffix, payload.AsSpan(length - suffix.Length));
        using var client = new System.Net.Sockets.TcpClient();
        await client.ConnectAsync(baseAddress.Host, baseAddress.Port);
        var stream = client.GetStream();
        var head = $"POST /{path} HTTP/1.1\r\nHost: {baseAddress.Authority}\r\nContent-Type: {contentType}\r\nAuthorization: {authorization}\r\nConnection: close\r\n"
            + (withLength ? $"Content-Length: {length}\r\n\r\n" : "Transfer-Encoding: chunked\r\n\r\n");
        await stream.WriteAsync(Encoding.ASCII.GetBytes(head));
        var upload = Task.Run(async () =>
        {
            try
            {
                for (var sent = 0; sent < length; sent += 64 * 1024)
                {
                    var chunk = payload.AsMemory(sent, Math.Min(64 * 1024, length - sent));
                    if (!withLength)
                    {
                        await stream.WriteAsync(Encoding.ASCII.GetBytes($"{chunk.Length:x}\r\n"));
                    }

                    await stream.WriteAsync(chunk);
                    if (!withLength)
                    {
                        await stream.WriteAsync("\r\n"u8.ToArray());
                    }
                }

                if (!withLength)
                {
                    await stream.WriteAsync("0\r\n\r\n"u8.ToArray());
                }
            }
            catch (IOException)
            {
                // The server answered and closed: the rest of the upload is not wanted.
            }
        });

        using var reader = new StreamReader(stream, Encoding.UTF8);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var answer = await reader.ReadToEndAsync(timeout.Token);
        await upload;
        var split = answer.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        var headers = answer[..split];
        var body = answer[(split + 4)..];
        if (headers.Contains("Transfer-Encoding: chunked", StringComparison.OrdinalIgnoreCase))
        {
            // One chunk is all a problem document needs: size line, data, then the last chunk.
            body = body[(body.IndexOf("\r\n", StringComparison.Ordinal) + 2)..];
            body = body[..body.IndexOf("\r\n", StringComparison.Ordinal)];
        }

        return (int.Parse(headers.Split(' ')[1], CultureInfo.InvariantCulture), headers, body);
    }

    /// <summary>Slack on, with a signing secret; its Web API is unreachable (nothing here needs it).</summary>
    private static void WithSlack(RollbackSentinel.Hosting.SentinelOptions options, string root)
    {
        File.WriteAllText(Path.Combine(root, "slack-secret"), SigningSecret);
        File.WriteAllText(Path.Combine(root, "slack-token"), "xoxb-test");
        options.Notifications.Slack.ApiUrl = "http://127.0.0.1:9/api/";
        options.Notifications.Slack.BotTokenFile = Path.Combine(root, "slack-token");
        options.Notifications.Slack.SigningSecretFile = Path.Combine(root, "slack-secret");
        options.Notifications.Slack.Channel = "C0DEPLOYS";
    }
}
