using System.Text;
using RollbackSentinel.Actions;
using RollbackSentinel.Actions.Webhook;
using RollbackSentinel.Core.Evaluation;
using RollbackSentinel.Core.Incidents;
using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Core.Policies;
using RollbackSentinel.Core.State;
using RollbackSentinel.Testing.Net;
using RollbackSentinel.Testing.Time;

namespace RollbackSentinel.Actions.Tests;

public sealed class WebhookRollbackActionTests : IDisposable
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 20, 10, 0, 0, TimeSpan.Zero);
    private readonly string _dir = Directory.CreateTempSubdirectory("webhook-tests-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static RollbackRequest Request(Uri url, string? secretFile = null, TimeSpan? timeout = null) =>
        Request(url.ToString(), LabelSet.Empty, "rs-key-1", secretFile, timeout);

    private static RollbackRequest Request(string urlTemplate, LabelSet labels, string incidentKey, string? secretFile = null, TimeSpan? timeout = null, string? idempotencyKey = null)
    {
        var target = new WebhookTarget(Template.Parse(urlTemplate))
        {
            SecretFile = secretFile,
            Timeout = timeout ?? TimeSpan.FromSeconds(5),
            IdempotencyKey = idempotencyKey is null ? null : Template.Parse(idempotencyKey),
        };
        var policy = new Policy
        {
            Name = "shop",
            Target = target,
            Schedule = new IntervalSchedule(TimeSpan.FromSeconds(15)),
            Triggers = [new Trigger { Name = "errors", Condition = new ThresholdCondition("q", ComparisonOperator.GreaterThan, 1) }],
        };
        var verdict = new Verdict { Kind = VerdictKind.Breach, Reason = VerdictReason.ThresholdExceeded, Labels = labels, Value = 2, Threshold = 1, Summary = "value 2 > 1" };
        var decision = new Decision { Policy = "shop", Trigger = "errors", Labels = labels, At = T0, Kind = DecisionKind.Act, Action = TriggerAction.Rollback, Verdict = verdict };
        var incident = new Incident
        {
            Id = 7, Policy = "shop", Trigger = "errors", Labels = labels, Action = TriggerAction.Rollback, Status = IncidentStatus.Acting,
            OpenedAt = T0, UpdatedAt = T0, Summary = "value 2 > 1", EvidenceJson = "{}",
        };
        return RollbackRequests.From(policy, incident, decision, incidentKey);
    }

    private static WebhookRollbackAction Adapter(WebhookRetry? retry = null) =>
        new(new HttpClient(WebhookRollbackAction.CreateHandler()), new ManualTimeProvider(T0), retry ?? new WebhookRetry(3, TimeSpan.Zero));

    private static async Task<ActionResult> RunAsync(WebhookRollbackAction adapter, RollbackRequest request, bool dryRun = false) =>
        await adapter.ExecuteAsync(request, await adapter.PlanAsync(request, CancellationToken.None), dryRun, CancellationToken.None);

    [Fact]
    public async Task Execute_2xx_SucceedsWithTheIdempotencyKeyAndTheIncidentAsJson()
    {
        await using var receiver = LoopbackHttpServer.Start(new CannedResponse(202, ""));

        var result = await RunAsync(Adapter(), Request(new Uri(receiver.BaseAddress, "rollback")));

        Assert.True(result.Succeeded, result.Outcome);
        Assert.Equal($"webhook http://127.0.0.1:{receiver.BaseAddress.Port}/rollback answered HTTP 202", result.Outcome);
        var request = Assert.Single(receiver.Requests);
        Assert.Equal("rs-key-1", request.Header("Idempotency-Key"));
        using var body = System.Text.Json.JsonDocument.Parse(request.Body);
        Assert.Equal("value 2 > 1", body.RootElement.GetProperty("summary").GetString());
        Assert.Equal(7, body.RootElement.GetProperty("incident").GetInt64());
        Assert.Null(request.Header(WebhookRollbackAction.SignatureHeader));
    }

    [Fact]
    public async Task Execute_ActionRecordedEarlier_SendsWhatTheIncidentStoredAndNoValues()
    {
        await using var receiver = LoopbackHttpServer.Start(new CannedResponse(200, ""));
        var labels = LabelSet.Of(("app", "cart"));
        var policy = new Policy
        {
            Name = "shop",
            Target = new WebhookTarget(Template.Parse(new Uri(receiver.BaseAddress, "rollback").ToString())) { Timeout = TimeSpan.FromSeconds(5) },
            Schedule = new IntervalSchedule(TimeSpan.FromSeconds(15)),
            Triggers = [new Trigger { Name = "errors", Condition = new ThresholdCondition("q", ComparisonOperator.GreaterThan, 1) }],
        };
        var incident = new Incident
        {
            Id = 9, Policy = "shop", Trigger = "latency", Labels = labels, Action = TriggerAction.Page, Status = IncidentStatus.Open,
            OpenedAt = T0.AddMinutes(-2), UpdatedAt = T0, Summary = "p99 0.9 > 0.5", EvidenceJson = "{}", DisarmedReason = "no change of cart within 1h",
        };
        var request = RollbackRequest.For(policy, incident.Labels, "rs-key-9", incident.OpenedAt, RollbackEvidence.Of(incident)) with { IncidentId = incident.Id };

        var result = await RunAsync(Adapter(), request);

        Assert.True(result.Succeeded, result.Outcome);
        using var body = System.Text.Json.JsonDocument.Parse(Assert.Single(receiver.Requests).Body);
        var root = body.RootElement;
        Assert.Equal(9, root.GetProperty("incident").GetInt64());
        Assert.Equal("shop", root.GetProperty("policy").GetString());
        Assert.Equal("latency", root.GetProperty("trigger").GetString());
        Assert.Equal("rollback", root.GetProperty("action").GetString());
        Assert.Equal("cart", root.GetProperty("labels").GetProperty("app").GetString());
        Assert.Equal("2026-11-20T09:58:00Z", root.GetProperty("at").GetString());
        Assert.Equal(System.Text.Json.JsonValueKind.Null, root.GetProperty("since").ValueKind);
        Assert.Equal("p99 0.9 > 0.5", root.GetProperty("summary").GetString());
        Assert.Equal(System.Text.Json.JsonValueKind.Null, root.GetProperty("value").ValueKind);
        Assert.Equal(System.Text.Json.JsonValueKind.Null, root.GetProperty("threshold").ValueKind);
        Assert.Equal(System.Text.Json.JsonValueKind.Null, root.GetProperty("baseline").ValueKind);
        Assert.Equal("rs-key-9", root.GetProperty("idempotencyKey").GetString());
        Assert.Equal("no change known", root.GetProperty("changeSummary").GetString());
        Assert.True(root.GetProperty("disarmed").GetBoolean());
        Assert.Equal("no change of cart within 1h", root.GetProperty("disarmedReason").GetString());
    }

    [Fact]
    public async Task Execute_IncidentBlamingAChange_SendsTheChangeInTheApisFormatAndItsSummary()
    {
        await using var receiver = LoopbackHttpServer.Start(new CannedResponse(200, ""));
        var request = Request(new Uri(receiver.BaseAddress, "rollback"));
        var change = new Core.Changes.Change
        {
            Id = 5, Policy = "shop", Labels = LabelSet.Of(("deployment", "cart")), At = T0.AddMinutes(-4), Source = Core.Changes.ChangeSource.Api,
            Revision = "v42", PreviousRevision = "v41", By = "ci", Description = "deploy 42", RecordedAt = T0.AddMinutes(-4),
        };
        request = request with { BlamedChange = change };

        await RunAsync(Adapter(), request);

        using var body = System.Text.Json.JsonDocument.Parse(Assert.Single(receiver.Requests).Body);
        var root = body.RootElement;
        Assert.Equal(
            """{"id":5,"policy":"shop","labels":{"deployment":"cart"},"at":"2026-11-20T09:56:00Z","source":"api","revision":"v42","previousRevision":"v41","by":"ci","description":"deploy 42","recordedAt":"2026-11-20T09:56:00Z"}""",
            root.GetProperty("change").GetRawText());
        Assert.Equal("since v42, deployed 4m ago by ci", root.GetProperty("changeSummary").GetString());
        Assert.False(root.GetProperty("disarmed").GetBoolean());
        Assert.Equal(System.Text.Json.JsonValueKind.Null, root.GetProperty("disarmedReason").ValueKind);
    }

    [Fact]
    public async Task Execute_NoChangeKnown_SaysSoAndCarriesANullChange()
    {
        await using var receiver = LoopbackHttpServer.Start(new CannedResponse(200, ""));

        await RunAsync(Adapter(), Request(new Uri(receiver.BaseAddress, "rollback")));

        using var body = System.Text.Json.JsonDocument.Parse(Assert.Single(receiver.Requests).Body);
        Assert.Equal(System.Text.Json.JsonValueKind.Null, body.RootElement.GetProperty("change").ValueKind);
        Assert.Equal("no change known", body.RootElement.GetProperty("changeSummary").GetString());
    }

    [Fact]
    public async Task Execute_SecretFileTheReaderRefuses_FailsWithItsReasonAndSendsNothing()
    {
        await using var receiver = LoopbackHttpServer.Start(new CannedResponse(200, ""));
        var adapter = new WebhookRollbackAction(
            new HttpClient(WebhookRollbackAction.CreateHandler()), new ManualTimeProvider(T0), new WebhookRetry(3, TimeSpan.Zero), new RefusingReader());

        var result = await RunAsync(adapter, Request(new Uri(receiver.BaseAddress, "rollback"), "/data/api-token"));

        Assert.False(result.Succeeded);
        Assert.Equal("refused to read the webhook secret file: '/data/api-token' is the API token", result.Outcome);
        Assert.Empty(receiver.Requests);
    }

    [Fact]
    public async Task Execute_WithSecretFile_RegistersTheSecretForRedaction()
    {
        var value = "webhook-secret-" + Guid.NewGuid().ToString("N");
        var secret = Path.Combine(_dir, "secret");
        await File.WriteAllTextAsync(secret, value);
        await using var receiver = LoopbackHttpServer.Start(new CannedResponse(200, ""));

        await RunAsync(Adapter(), Request(new Uri(receiver.BaseAddress, "rollback"), secret));

        Assert.Equal("echo [REDACTED]", Core.Secrets.SecretRegistry.Shared.Redact("echo " + value));
    }

    [Fact]
    public async Task Execute_WithSecretFile_SignsTimestampAndBodyWithHmacSha256()
    {
        var secret = Path.Combine(_dir, "secret");
        await File.WriteAllTextAsync(secret, "s3cret\n");
        await using var receiver = LoopbackHttpServer.Start(new CannedResponse(200, ""));

        var result = await RunAsync(Adapter(), Request(new Uri(receiver.BaseAddress, "rollback"), secret));

        Assert.True(result.Succeeded, result.Outcome);
        var request = Assert.Single(receiver.Requests);
        var timestamp = request.Header(WebhookRollbackAction.TimestampHeader)!;
        Assert.Equal(T0.ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture), timestamp);
        var expected = Convert.ToHexString(System.Security.Cryptography.HMACSHA256.HashData(
            Encoding.UTF8.GetBytes("s3cret"), Encoding.UTF8.GetBytes(timestamp + "." + request.Body))).ToLowerInvariant();
        Assert.Equal("sha256=" + expected, request.Header(WebhookRollbackAction.SignatureHeader));
    }

    [Fact]
    public async Task Execute_EmptySecretFile_FailsWithoutSending()
    {
        var secret = Path.Combine(_dir, "secret");
        await File.WriteAllTextAsync(secret, "  ");
        await using var receiver = LoopbackHttpServer.Start(new CannedResponse(200, ""));

        var result = await RunAsync(Adapter(), Request(new Uri(receiver.BaseAddress, "rollback"), secret));

        Assert.False(result.Succeeded);
        Assert.Equal($"the webhook secret file {secret} is empty", result.Outcome);
        Assert.Empty(receiver.Requests);
    }

    [Theory]
    [InlineData(302)]
    [InlineData(307)]
    public async Task Execute_Redirect_IsAFailureAndIsNotFollowed(int status)
    {
        await using var receiver = LoopbackHttpServer.Start((r, _) => Task.FromResult(new CannedResponse(status, "")));

        var result = await RunAsync(Adapter(), Request(new Uri(receiver.BaseAddress, "rollback")));

        Assert.False(result.Succeeded);
        Assert.Contains($"answered HTTP {status} (a redirect, not followed", result.Outcome);
        Assert.Single(receiver.Requests);
    }

    [Fact]
    public async Task Execute_UrlWithCredentialsAndKey_NeverPutsThemInTheOutcome()
    {
        await using var receiver = LoopbackHttpServer.Start(new CannedResponse(500, ""));
        var url = new Uri($"http://bot:s3cret@127.0.0.1:{receiver.BaseAddress.Port}/hook?key=abc123");

        var result = await RunAsync(Adapter(), Request(url));

        Assert.False(result.Succeeded);
        Assert.Equal($"webhook http://127.0.0.1:{receiver.BaseAddress.Port}/hook answered HTTP 500 (after 3 attempts)", result.Outcome);
    }

    [Fact]
    public async Task Execute_Unreachable_FailsSayingSo()
    {
        var result = await RunAsync(Adapter(), Request(new Uri($"http://127.0.0.1:{FreePort.Next()}/rollback")));

        Assert.False(result.Succeeded);
        Assert.Contains("could not be reached: ConnectionError", result.Outcome);
    }

    [Fact]
    public async Task Execute_FirstAttemptTimesOut_RetriesWithTheSameKeyAndTheReceiverDeliversOnce()
    {
        var secret = Path.Combine(_dir, "secret");
        await File.WriteAllTextAsync(secret, "s3cret");
        var delivered = new System.Collections.Concurrent.ConcurrentDictionary<string, int>();
        var attempts = 0;
        await using var receiver = LoopbackHttpServer.Start(async (r, ct) =>
        {
            // A receiver as the docs describe it: check the signature, deliver once per Idempotency-Key.
            var timestamp = r.Header(WebhookRollbackAction.TimestampHeader)!;
            var expected = "sha256=" + WebhookRollbackAction.Sign("s3cret", timestamp, Encoding.UTF8.GetBytes(r.Body));
            if (r.Header(WebhookRollbackAction.SignatureHeader) != expected)
            {
                return new CannedResponse(401, "");
            }

            delivered.AddOrUpdate(r.Header("Idempotency-Key")!, 1, (_, n) => n + 1);
            if (Interlocked.Increment(ref attempts) == 1)
            {
                await Task.Delay(TimeSpan.FromSeconds(3), ct); // the first attempt hangs past the adapter's timeout
            }

            return new CannedResponse(200, "");
        });

        var result = await RunAsync(Adapter(), Request(new Uri(receiver.BaseAddress, "rollback"), secret, TimeSpan.FromMilliseconds(300)));

        Assert.Equal(ActionEffect.Changed, result.Effect);
        Assert.Equal($"webhook http://127.0.0.1:{receiver.BaseAddress.Port}/rollback answered HTTP 200 (attempt 2 of 3)", result.Outcome);
        Assert.Equal(2, receiver.Requests.Count);
        Assert.All(receiver.Requests, r => Assert.Equal("rs-key-1", r.Header("Idempotency-Key")));
        Assert.Equal(["1", "2"], receiver.Requests.Select(r => r.Header(WebhookRollbackAction.AttemptHeader)).Order());
        Assert.Equal(receiver.Requests[0].Body, receiver.Requests[1].Body);

        // One incident, one key: a receiver that deduplicates on it acts once.
        Assert.Equal("rs-key-1", Assert.Single(delivered.Keys));
    }

    [Fact]
    public async Task Execute_5xxThenSuccess_IsRetried()
    {
        var calls = 0;
        await using var receiver = LoopbackHttpServer.Start((_, _) => Task.FromResult(new CannedResponse(Interlocked.Increment(ref calls) == 1 ? 503 : 204, "")));

        var result = await RunAsync(Adapter(), Request(new Uri(receiver.BaseAddress, "rollback")));

        Assert.True(result.Succeeded, result.Outcome);
        Assert.EndsWith("answered HTTP 204 (attempt 2 of 3)", result.Outcome, StringComparison.Ordinal);
        Assert.Equal(2, receiver.Requests.Count);
    }

    [Theory]
    [InlineData(400)]
    [InlineData(401)]
    [InlineData(409)]
    public async Task Execute_4xx_IsAFailureAndNotRetried(int status)
    {
        await using var receiver = LoopbackHttpServer.Start(new CannedResponse(status, ""));

        var result = await RunAsync(Adapter(), Request(new Uri(receiver.BaseAddress, "rollback")));

        Assert.Equal(ActionEffect.Failed, result.Effect);
        Assert.Equal($"webhook http://127.0.0.1:{receiver.BaseAddress.Port}/rollback answered HTTP {status}", result.Outcome);
        Assert.Single(receiver.Requests);
    }

    [Fact]
    public async Task Execute_AlwaysTimesOut_FailsAfterEveryAttemptSayingSo()
    {
        await using var receiver = LoopbackHttpServer.Start(async (_, ct) =>
        {
            await Task.Delay(TimeSpan.FromSeconds(3), ct);
            return new CannedResponse(200, "");
        });

        // A second is long enough for a loaded machine's listener to take each request before the client gives up on it.
        var result = await RunAsync(Adapter(new WebhookRetry(2, TimeSpan.Zero)), Request(new Uri(receiver.BaseAddress, "rollback"), timeout: TimeSpan.FromSeconds(1)));

        Assert.Equal(ActionEffect.Failed, result.Effect);
        Assert.Equal($"webhook http://127.0.0.1:{receiver.BaseAddress.Port}/rollback did not answer within 1s (after 2 attempts)", result.Outcome);
        // The listener records a request on its own thread: the second may be recorded just after the client gave up on it.
        using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (receiver.Requests.Count < 2 && !wait.IsCancellationRequested)
        {
            await Task.Delay(20, CancellationToken.None);
        }

        Assert.Equal(2, receiver.Requests.Count);
    }

    [Fact]
    public async Task DryRun_SendsNothingAndSaysWhatItWouldSend()
    {
        await using var receiver = LoopbackHttpServer.Start(new CannedResponse(200, ""));

        var result = await RunAsync(Adapter(), Request(new Uri(receiver.BaseAddress, "rollback")), dryRun: true);

        Assert.Equal(ActionEffect.DryRun, result.Effect);
        Assert.Equal(
            $"dry-run: would POST incident 7 to http://127.0.0.1:{receiver.BaseAddress.Port}/rollback: POST http://127.0.0.1:{receiver.BaseAddress.Port}/rollback (Idempotency-Key: rs-key-1; up to 3 attempts on 5xx or timeout)",
            result.Outcome);
        Assert.Empty(receiver.Requests);
    }

    [Fact]
    public async Task Plan_IsStableJson_AndRoundTrips()
    {
        var adapter = Adapter();
        var plan = await adapter.PlanAsync(Request(new Uri("http://127.0.0.1:9/hook?key=secret")), CancellationToken.None);

        Assert.DoesNotContain("secret", plan.ToJson(), StringComparison.Ordinal);
        Assert.Equal(plan.ToJson(), ActionPlan.FromJson(plan.ToJson()).ToJson());
    }

    [Fact]
    public async Task Execute_PolicyIdempotencyKey_IsTheSameFromEverySentinel()
    {
        // Two sidecars, two stores, two incidents for the same bad release: one key, so the receiver acts once.
        await using var receiver = LoopbackHttpServer.Start(new CannedResponse(200, ""));
        var labels = LabelSet.Of(("deployment", "checkout"), ("version", "1.5.0"));
        var url = receiver.BaseAddress + "rollback";

        var first = await RunAsync(Adapter(), Request(url, labels, "incident-key-of-sentinel-a", idempotencyKey: "{{ labels.deployment }}-{{ labels.version }}"));
        var second = await RunAsync(Adapter(), Request(url, labels, "incident-key-of-sentinel-b", idempotencyKey: "{{ labels.deployment }}-{{ labels.version }}"));

        Assert.True(first.Succeeded && second.Succeeded);
        Assert.Equal(["shop:checkout-1.5.0", "shop:checkout-1.5.0"], receiver.Requests.Select(r => r.Header("Idempotency-Key")));
        Assert.All(receiver.Requests, r => Assert.Contains("\"idempotencyKey\":\"shop:checkout-1.5.0\"", r.Body, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Execute_LabelValuesInTheUrl_AreEscapedAndCannotChangeThePathOrQuery()
    {
        await using var receiver = LoopbackHttpServer.Start(new CannedResponse(200, ""));
        var labels = LabelSet.Of(("deployment", "../admin?drop=all#x"));

        var result = await RunAsync(Adapter(), Request(receiver.BaseAddress + "rollback/{{ labels.deployment }}", labels, "k"));

        Assert.True(result.Succeeded, result.Outcome);
        Assert.Equal("/rollback/..%2Fadmin%3Fdrop%3Dall%23x", Assert.Single(receiver.Requests).PathAndQuery);
    }

    [Fact]
    public async Task Execute_SecretInTheUrlPath_IsNotInTheOutcomeOrThePlan()
    {
        await using var receiver = LoopbackHttpServer.Start(new CannedResponse(200, ""));
        var url = receiver.BaseAddress + "services/T000/B000/XXXXSECRETXXXX";
        var adapter = Adapter();
        var request = Request(url, LabelSet.Empty, "k");

        var plan = await adapter.PlanAsync(request, CancellationToken.None);
        var result = await adapter.ExecuteAsync(request, plan, dryRun: false, CancellationToken.None);

        Assert.True(result.Succeeded, result.Outcome);
        Assert.DoesNotContain("SECRET", plan.ToJson() + result.Outcome + result.After, StringComparison.Ordinal);
        Assert.StartsWith($"webhook http://127.0.0.1:{receiver.BaseAddress.Port}/services/…#", result.Outcome, StringComparison.Ordinal);
        Assert.Equal("/services/T000/B000/XXXXSECRETXXXX", Assert.Single(receiver.Requests).PathAndQuery);
    }

    private sealed class RefusingReader : Core.Secrets.ISecretFileReader
    {
        public Task<string> ReadAsync(string path, CancellationToken cancellationToken) =>
            throw new Core.Secrets.SecretFileRefusedException($"'{path}' is the API token");
    }
}
