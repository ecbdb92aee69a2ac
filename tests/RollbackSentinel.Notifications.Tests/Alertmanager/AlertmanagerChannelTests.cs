using System.Text.Json;
using RollbackSentinel.Core.Incidents;
using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Core.Policies;
using RollbackSentinel.Notifications.Alertmanager;
using RollbackSentinel.Testing.Alertmanager;
using RollbackSentinel.Testing.Net;

namespace RollbackSentinel.Notifications.Tests.Alertmanager;

/// <summary>One real Alertmanager for the tests of a class; each test uses its own incident id.</summary>
public sealed class AlertmanagerFixture : IAsyncLifetime
{
    public AlertmanagerServer Server { get; private set; } = null!;

    public async Task InitializeAsync() => Server = await AlertmanagerServer.StartAsync(CancellationToken.None);

    public async Task DisposeAsync() => await Server.DisposeAsync();
}

public sealed class AlertmanagerChannelTests(AlertmanagerFixture fixture) : IClassFixture<AlertmanagerFixture>, IDisposable
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);
    private static long _nextId = 1000;

    private readonly HttpClient _http = new(AlertmanagerChannel.CreateHandler());
    private readonly AlertmanagerServer _alertmanager = fixture.Server;

    public void Dispose() => _http.Dispose();

    [Fact]
    public async Task An_incident_awaiting_confirmation_is_one_active_alert_with_its_labels_and_annotations()
    {
        var now = TimeProvider.System.GetUtcNow();
        var since = new DateTimeOffset(now.Year, now.Month, now.Day, now.Hour, now.Minute, now.Second, TimeSpan.Zero).AddMinutes(-3);
        var notice = Notice(NextId(), NoticeKind.AwaitingConfirmation, since) with
        {
            Value = 0.09,
            Threshold = 0.05,
            Baseline = 0.01,
            Evidence = [new EvidenceLine("ratio", "sum(rate(errors[5m])) / sum(rate(requests[5m]))", "0.09")],
            Action = "switch checkout back to blue",
            Before = "green 100%",
            OnTimeout = "rollback",
            Link = new Uri("https://sentinel.example/api/incidents/1"),
        };
        var before = TimeProvider.System.GetUtcNow();

        var reference = await Channel().PublishAsync(notice, null, CancellationToken.None);

        Assert.Equal(notice.Key, reference);
        var alert = await WaitForAsync(notice, a => a.State == "active");
        Assert.Equal(
            new Dictionary<string, string>
            {
                ["alertname"] = "RollbackSentinel",
                ["policy"] = "checkout",
                ["trigger"] = "error-rate",
                ["incident"] = Id(notice),
                ["severity"] = "critical",
                ["target"] = "haproxy",
                ["deployment"] = "checkout",
                ["namespace"] = "shop",
            },
            alert.Labels);
        Assert.Equal(notice.Headline, alert.Annotations["summary"]);
        Assert.Equal(
            $"value 0.09, threshold 0.05, baseline 0.01, since {since.UtcDateTime:yyyy-MM-dd'T'HH:mm:ss'Z'}\nratio: sum(rate(errors[5m])) / sum(rate(requests[5m])) = 0.09",
            alert.Annotations["description"]);
        Assert.Equal("awaiting_confirmation", alert.Annotations["state"]);
        Assert.Equal("switch checkout back to blue", alert.Annotations["action"]);
        Assert.Equal("green 100%", alert.Annotations["before"]);
        Assert.Equal("rollback", alert.Annotations["on_timeout"]);
        Assert.Equal("https://sentinel.example/api/incidents/1", alert.Annotations["link"]);
        Assert.False(alert.Annotations.ContainsKey("answered_by"));
        Assert.False(alert.Annotations.ContainsKey("after"));
        Assert.Equal("https://sentinel.example/api/incidents/1", alert.GeneratorUrl);
        Assert.Equal(since, alert.StartsAt, TimeSpan.FromMilliseconds(1));

        // Open: it ends a few republish periods from now, so it lapses only if the daemon stops posting.
        var lifetime = new AlertmanagerOptions { Url = _alertmanager.BaseAddress }.AlertLifetime;
        Assert.InRange(alert.EndsAt, before + lifetime - TimeSpan.FromSeconds(1), TimeProvider.System.GetUtcNow() + lifetime);
    }

    [Fact]
    public async Task Rolling_back_then_rolled_back_updates_the_one_alert_and_resolves_it()
    {
        var channel = Channel();
        var id = NextId();
        var since = TimeProvider.System.GetUtcNow().AddMinutes(-2);

        var reference = await channel.PublishAsync(Notice(id, NoticeKind.AwaitingConfirmation, since), null, CancellationToken.None);
        var asked = await WaitForAsync(Notice(id, NoticeKind.AwaitingConfirmation, since), a => a.State == "active");

        var rollingBack = Notice(id, NoticeKind.RollingBack, since) with { AnsweredBy = "alice via slack", Action = "switch checkout back to blue" };
        reference = await channel.PublishAsync(rollingBack, reference, CancellationToken.None);
        var approved = await WaitForAsync(rollingBack, a => a.Annotations.GetValueOrDefault("state") == "rolling_back");
        Assert.Equal(asked.Fingerprint, approved.Fingerprint);
        Assert.Equal(asked.Labels, approved.Labels);
        Assert.Equal("alice via slack", approved.Annotations["answered_by"]);
        Assert.Equal("active", approved.State);

        var rolledBack = Notice(id, NoticeKind.RolledBack, since) with { AnsweredBy = "alice via slack", Before = "green 100%", After = "blue 100%" };
        reference = await channel.PublishAsync(rolledBack, reference, CancellationToken.None);
        Assert.Equal(rolledBack.Key, reference);

        // Resolved (endsAt now): Alertmanager 0.25 drops it from GET /api/v2/alerts, whatever the filters.
        await WaitUntilGoneAsync(rolledBack);
    }

    [Fact]
    public async Task Republishing_an_open_incident_keeps_one_alert_and_pushes_its_end_later()
    {
        var channel = Channel();
        var notice = Notice(NextId(), NoticeKind.Paged, TimeProvider.System.GetUtcNow().AddMinutes(-1));

        var reference = await channel.PublishAsync(notice, null, CancellationToken.None);
        var first = await WaitForAsync(notice, a => a.State == "active");
        await Task.Delay(50);
        await channel.PublishAsync(notice, reference, CancellationToken.None);
        var second = await WaitForAsync(notice, a => a.EndsAt > first.EndsAt);

        Assert.Equal(first.Fingerprint, second.Fingerprint);
        Assert.Equal(first.StartsAt, second.StartsAt);
        Assert.Single(await AlertsOfAsync(notice));
    }

    [Fact]
    public async Task An_open_alert_lapses_when_it_is_no_longer_republished()
    {
        var channel = Channel(o => o with { RepublishEvery = TimeSpan.FromMilliseconds(500), AlertLifetime = TimeSpan.FromSeconds(2) });
        var notice = Notice(NextId(), NoticeKind.RollbackFailed, TimeProvider.System.GetUtcNow().AddMinutes(-1));
        Assert.Equal(TimeSpan.FromMilliseconds(500), channel.RepublishEvery);

        await channel.PublishAsync(notice, null, CancellationToken.None);
        await WaitForAsync(notice, a => a.State == "active");

        await WaitUntilGoneAsync(notice);
    }

    [Theory]
    [InlineData(NoticeKind.DryRun)]
    [InlineData(NoticeKind.Notified)]
    public async Task A_first_notice_that_closes_the_incident_posts_nothing(NoticeKind kind)
    {
        var notice = Notice(NextId(), kind, TimeProvider.System.GetUtcNow().AddMinutes(-1), TriggerAction.Notify);

        var reference = await Channel().PublishAsync(notice, null, CancellationToken.None);

        Assert.Null(reference);
        Assert.Empty(await AlertsOfAsync(notice));
    }

    [Fact]
    public async Task Incident_labels_that_clash_with_the_channels_own_are_prefixed()
    {
        var notice = Notice(NextId(), NoticeKind.RollingBack, TimeProvider.System.GetUtcNow().AddMinutes(-1), TriggerAction.Rollback);
        notice = notice with
        {
            Incident = notice.Incident with
            {
                Labels = LabelSet.Of(("deployment", "checkout"), ("severity", "sev1"), ("policy", "theirs"), ("app.kubernetes.io/name", "shop"), ("empty", "")),
            },
        };

        await Channel().PublishAsync(notice, null, CancellationToken.None);

        var alert = await WaitForAsync(notice, a => a.State == "active");
        Assert.Equal("warning", alert.Labels["severity"]);
        Assert.Equal("sev1", alert.Labels["label_severity"]);
        Assert.Equal("checkout", alert.Labels["policy"]);
        Assert.Equal("theirs", alert.Labels["label_policy"]);
        Assert.Equal("shop", alert.Labels["app_kubernetes_io_name"]);
        Assert.False(alert.Labels.ContainsKey("empty"));
    }

    [Fact]
    public async Task A_refusal_is_reported_with_Alertmanagers_answer_and_not_retried()
    {
        await using var stub = LoopbackHttpServer.Start(new CannedResponse(400, JsonSerializer.Serialize("invalid label set: invalid name \"bad-label\"")));
        var channel = Channel(o => o with { Url = stub.BaseAddress, RetryDelay = TimeSpan.FromMilliseconds(5) });
        var notice = Notice(NextId(), NoticeKind.Paged, TimeProvider.System.GetUtcNow());

        var e = await Assert.ThrowsAsync<NotificationException>(() => channel.PublishAsync(notice, null, CancellationToken.None));

        Assert.Equal(
            $"alertmanager: Alertmanager at http://{stub.BaseAddress.Authority} refused the alert for incident {Id(notice)} (HTTP 400): invalid label set: invalid name \"bad-label\"",
            e.Message);
        Assert.Single(stub.Requests);
        Assert.Equal("/api/v2/alerts", stub.Requests[0].PathAndQuery);
    }

    [Fact]
    public async Task A_5xx_is_retried_then_reported()
    {
        await using var stub = LoopbackHttpServer.Start(new CannedResponse(503, "\"overloaded\""));
        var channel = Channel(o => o with { Url = new Uri(stub.BaseAddress, "alertmanager"), MaxAttempts = 3, RetryDelay = TimeSpan.FromMilliseconds(5) });
        var notice = Notice(NextId(), NoticeKind.Paged, TimeProvider.System.GetUtcNow());

        var e = await Assert.ThrowsAsync<NotificationException>(() => channel.PublishAsync(notice, null, CancellationToken.None));

        Assert.EndsWith("(HTTP 503): overloaded (after 3 attempts)", e.Message, StringComparison.Ordinal);
        Assert.Equal(3, stub.Requests.Count);
        Assert.All(stub.Requests, r => Assert.Equal("/alertmanager/api/v2/alerts", r.PathAndQuery));
    }

    [Fact]
    public async Task A_5xx_once_is_retried_and_the_alert_arrives()
    {
        var calls = 0;
        using var forward = new HttpClient();
        await using var flaky = LoopbackHttpServer.Start(async (request, ct) =>
        {
            if (Interlocked.Increment(ref calls) == 1)
            {
                return new CannedResponse(502, "bad gateway", "text/plain");
            }

            using var content = new StringContent(request.Body, System.Text.Encoding.UTF8, "application/json");
            using var answer = await forward.PostAsync(new Uri(_alertmanager.BaseAddress, "api/v2/alerts"), content, ct);
            return new CannedResponse((int)answer.StatusCode, await answer.Content.ReadAsStringAsync(ct));
        });
        var channel = Channel(o => o with { Url = flaky.BaseAddress, RetryDelay = TimeSpan.FromMilliseconds(5) });
        var notice = Notice(NextId(), NoticeKind.Paged, TimeProvider.System.GetUtcNow().AddMinutes(-1));

        await channel.PublishAsync(notice, null, CancellationToken.None);

        Assert.Equal(2, calls);
        await WaitForAsync(notice, a => a.State == "active");
    }

    [Fact]
    public void The_channel_is_named_alertmanager_and_republishes_every_minute_by_default()
    {
        var channel = Channel();

        Assert.Equal("alertmanager", channel.Name);
        Assert.Equal(TimeSpan.FromMinutes(1), channel.RepublishEvery);
        Assert.Throws<ArgumentException>(() => Channel(o => o with { AlertLifetime = o.RepublishEvery }));
    }

    private AlertmanagerChannel Channel(Func<AlertmanagerOptions, AlertmanagerOptions>? configure = null)
    {
        var options = new AlertmanagerOptions { Url = _alertmanager.BaseAddress };
        return new AlertmanagerChannel(_http, configure?.Invoke(options) ?? options, TimeProvider.System);
    }

    private Task<IReadOnlyList<AlertmanagerAlert>> AlertsOfAsync(IncidentNotice notice) =>
        _alertmanager.GetAlertsAsync(CancellationToken.None, "alertname=\"RollbackSentinel\"", $"incident=\"{Id(notice)}\"");

    private async Task<AlertmanagerAlert> WaitForAsync(IncidentNotice notice, Func<AlertmanagerAlert, bool> condition)
    {
        var deadline = TimeProvider.System.GetUtcNow() + Patience;
        IReadOnlyList<AlertmanagerAlert> alerts;
        do
        {
            alerts = await AlertsOfAsync(notice);
            if (alerts.Count == 1 && condition(alerts[0]))
            {
                return alerts[0];
            }

            Assert.True(alerts.Count <= 1, $"{alerts.Count} alerts for incident {Id(notice)}: the labels changed");
            await Task.Delay(100);
        }
        while (TimeProvider.System.GetUtcNow() < deadline);

        Assert.Fail($"incident {Id(notice)}: no alert as expected within {Patience}; got {JsonSerializer.Serialize(alerts)}. Alertmanager's log:\n{_alertmanager.RecentLog}");
        return null!;
    }

    private async Task WaitUntilGoneAsync(IncidentNotice notice)
    {
        var deadline = TimeProvider.System.GetUtcNow() + Patience;
        while (TimeProvider.System.GetUtcNow() < deadline)
        {
            if ((await AlertsOfAsync(notice)).Count == 0)
            {
                return;
            }

            await Task.Delay(100);
        }

        Assert.Fail($"incident {Id(notice)}: still listed after {Patience}: {JsonSerializer.Serialize(await AlertsOfAsync(notice))}");
    }

    [Fact]
    public async Task An_incident_blaming_a_change_carries_it_and_the_disarm_reason_as_annotations()
    {
        var since = TimeProvider.System.GetUtcNow().AddMinutes(-1);
        var notice = Notice(NextId(), NoticeKind.Paged, since);
        notice = notice with
        {
            Incident = notice.Incident with
            {
                BlamedChange = new Core.Changes.Change { Policy = "checkout", At = since.AddMinutes(-4), Source = Core.Changes.ChangeSource.Target, Revision = "3 (checkout-7d9f8c)", PreviousRevision = "2 (checkout-5b6c7d)" },
                DisarmedReason = "no change of checkout within 1h (last: 2 -> 3, 3d ago): a rollback would not undo the cause",
            },
        };
        var unknown = Notice(NextId(), NoticeKind.Paged, since);

        await Channel().PublishAsync(notice, null, CancellationToken.None);
        await Channel().PublishAsync(unknown, null, CancellationToken.None);

        var alert = await WaitForAsync(notice, a => a.State == "active");
        Assert.Equal("since 3 (checkout-7d9f8c), deployed 4m ago", alert.Annotations["change"]);
        Assert.Equal("no change of checkout within 1h (last: 2 -> 3, 3d ago): a rollback would not undo the cause", alert.Annotations["disarmed_reason"]);
        var other = await WaitForAsync(unknown, a => a.State == "active");
        Assert.Equal("no change known", other.Annotations["change"]);
        Assert.False(other.Annotations.ContainsKey("disarmed_reason"));
    }

    private static long NextId() => Interlocked.Increment(ref _nextId);

    private static string Id(IncidentNotice notice) => notice.Incident.Id.ToString(System.Globalization.CultureInfo.InvariantCulture);

    private static IncidentNotice Notice(long id, NoticeKind kind, DateTimeOffset since, TriggerAction action = TriggerAction.Page) => new()
    {
        Incident = new Incident
        {
            Id = id,
            Policy = "checkout",
            Trigger = "error-rate",
            Labels = LabelSet.Of(("deployment", "checkout"), ("namespace", "shop")),
            Action = action,
            Status = IncidentStatus.Open,
            OpenedAt = since,
            UpdatedAt = since,
            Summary = "error ratio 0.09 > max 0.05",
            EvidenceJson = "{}",
        },
        Kind = kind,
        Headline = "checkout/error-rate {deployment=checkout}: error ratio 0.09 > max 0.05",
        Since = since,
        Target = "haproxy",
    };
}
