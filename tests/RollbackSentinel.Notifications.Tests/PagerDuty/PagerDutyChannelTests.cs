using System.Diagnostics;
using System.Text.Json.Nodes;
using RollbackSentinel.Core.Incidents;
using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Core.Policies;
using RollbackSentinel.Notifications.PagerDuty;
using RollbackSentinel.Testing.Time;

using RollbackSentinel.Testing.PagerDuty;

namespace RollbackSentinel.Notifications.Tests.PagerDuty;

public sealed class PagerDutyChannelTests : IAsyncLifetime
{
    private const string RoutingKey = "R0UT1NGKEY0123456789abcdefABCDEF";
    private static readonly DateTimeOffset Now = new(2026, 3, 14, 9, 26, 53, TimeSpan.Zero);
    private static readonly DateTimeOffset Since = Now.AddMinutes(-3);

    private readonly ManualTimeProvider _clock = new(Now);
    private readonly HttpClient _http = new(PagerDutyChannel.CreateHandler());
    private PagerDutyEventsApiEmulator _pagerDuty = null!;

    public Task InitializeAsync()
    {
        _pagerDuty = PagerDutyEventsApiEmulator.Start();
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        _http.Dispose();
        await _pagerDuty.DisposeAsync();
    }

    [Fact]
    public async Task One_incident_is_triggered_acknowledged_and_resolved_under_one_dedup_key()
    {
        var channel = Channel(_clock);
        var asked = Notice(NoticeKind.AwaitingConfirmation) with
        {
            Value = 0.09,
            Threshold = 0.05,
            Baseline = 0.01,
            Evidence = [new EvidenceLine("ratio", "sum(rate(errors[5m])) / sum(rate(requests[5m]))", "0.09")],
            Action = "switch checkout back to blue",
            Before = "green 100%",
            AnswerDeadline = Now.AddMinutes(10),
            OnTimeout = "rollback",
            Link = new Uri("https://sentinel.example/api/incidents/42"),
        };

        var reference = await channel.PublishAsync(asked, null, CancellationToken.None);
        Assert.Equal("rollback-sentinel/checkout/42", reference);

        reference = await channel.PublishAsync(Notice(NoticeKind.RollingBack) with { AnsweredBy = "alice via slack" }, reference, CancellationToken.None);
        Assert.Equal("rollback-sentinel/checkout/42", reference);
        Assert.Equal("acknowledged", _pagerDuty.AlertState(reference!));

        reference = await channel.PublishAsync(Notice(NoticeKind.RolledBack) with { Before = "green 100%", After = "blue 100%" }, reference, CancellationToken.None);
        Assert.Equal("rollback-sentinel/checkout/42", reference);

        var events = _pagerDuty.Accepted;
        Assert.Equal(["trigger", "acknowledge", "resolve"], events.Select(e => e.EventAction));
        Assert.All(events, e => Assert.Equal("rollback-sentinel/checkout/42", e.DedupKey));
        Assert.All(events, e => Assert.Equal(RoutingKey, e.RoutingKey));
        Assert.Equal("resolved", _pagerDuty.AlertState("rollback-sentinel/checkout/42"));
        Assert.All(_pagerDuty.Requests, r => Assert.StartsWith("application/json", r.ContentType, StringComparison.Ordinal));

        var trigger = events[0].Body;
        Assert.Equal("RollbackSentinel", (string?)trigger["client"]);
        Assert.Equal("https://sentinel.example/api/incidents/42", (string?)trigger["client_url"]);
        var payload = trigger["payload"]!.AsObject();
        Assert.Equal(asked.Headline + " (no change known)", (string?)payload["summary"]);
        Assert.Equal("rollback-sentinel", (string?)payload["source"]);
        Assert.Equal("critical", (string?)payload["severity"]);
        Assert.Equal("2026-03-14T09:26:53Z", (string?)payload["timestamp"]);
        Assert.Equal("checkout", (string?)payload["component"]);
        Assert.Equal("error-rate", (string?)payload["group"]);
        Assert.Equal("awaiting_confirmation", (string?)payload["class"]);

        var details = payload["custom_details"]!.AsObject();
        Assert.Equal("awaiting_confirmation", (string?)details["state"]);
        Assert.Equal(42, (long?)details["incident"]);
        Assert.Equal(0.09, (double?)details["value"]);
        Assert.Equal(0.05, (double?)details["threshold"]);
        Assert.Equal(0.01, (double?)details["baseline"]);
        Assert.Equal("2026-03-14T09:23:53Z", (string?)details["since"]);
        Assert.Equal("switch checkout back to blue", (string?)details["action"]);
        Assert.Equal("green 100%", (string?)details["before"]);
        Assert.Null(details["after"]);
        Assert.Null(details["answered_by"]);
        Assert.Equal("2026-03-14T09:36:53Z", (string?)details["answer_deadline"]);
        Assert.Equal("rollback", (string?)details["on_timeout"]);
        Assert.Equal("checkout", (string?)details["labels"]!["deployment"]);
        var query = details["queries"]!.AsArray().Single()!.AsObject();
        Assert.Equal("ratio", (string?)query["role"]);
        Assert.Equal("sum(rate(errors[5m])) / sum(rate(requests[5m]))", (string?)query["query"]);
        Assert.Equal("0.09", (string?)query["value"]);

        var link = trigger["links"]!.AsArray().Single()!.AsObject();
        Assert.Equal("https://sentinel.example/api/incidents/42", (string?)link["href"]);
        Assert.False(string.IsNullOrEmpty((string?)link["text"]));

        // Acknowledge and resolve carry only what PagerDuty reads for them.
        Assert.Equal(["dedup_key", "event_action", "routing_key"], events[1].Body.Select(p => p.Key).Order(StringComparer.Ordinal));
        Assert.Equal(["dedup_key", "event_action", "routing_key"], events[2].Body.Select(p => p.Key).Order(StringComparer.Ordinal));
    }

    [Theory]
    [InlineData(NoticeKind.DryRun)]
    [InlineData(NoticeKind.Notified)]
    [InlineData(NoticeKind.Recovered)]
    [InlineData(NoticeKind.Denied)]
    public async Task A_first_notice_that_closes_the_incident_pages_nobody(NoticeKind kind)
    {
        var reference = await Channel(_clock).PublishAsync(Notice(kind), null, CancellationToken.None);

        Assert.Null(reference);
        Assert.Empty(_pagerDuty.Requests);
    }

    [Fact]
    public async Task A_dry_run_incident_stays_silent_through_its_recovery()
    {
        var channel = Channel(_clock);
        var reference = await channel.PublishAsync(Notice(NoticeKind.DryRun), null, CancellationToken.None);
        reference = await channel.PublishAsync(Notice(NoticeKind.Recovered), reference, CancellationToken.None);

        Assert.Null(reference);
        Assert.Empty(_pagerDuty.Requests);
    }

    [Fact]
    public async Task An_automatic_rollback_that_fails_is_triggered_at_warning_then_critical_and_resolved_on_recovery()
    {
        var channel = Channel(_clock);
        var reference = await channel.PublishAsync(Notice(NoticeKind.RollingBack, TriggerAction.Rollback), null, CancellationToken.None);
        reference = await channel.PublishAsync(Notice(NoticeKind.RollbackFailed, TriggerAction.Rollback) with { Action = "kubectl rollout undo failed: forbidden" }, reference, CancellationToken.None);
        reference = await channel.PublishAsync(Notice(NoticeKind.Recovered, TriggerAction.Rollback), reference, CancellationToken.None);

        var events = _pagerDuty.Accepted;
        Assert.Equal(["trigger", "trigger", "resolve"], events.Select(e => e.EventAction));
        Assert.Equal("warning", (string?)events[0].Body["payload"]!["severity"]);
        Assert.Equal("rolling_back", (string?)events[0].Body["payload"]!["class"]);
        Assert.Equal("critical", (string?)events[1].Body["payload"]!["severity"]);
        Assert.Equal("kubectl rollout undo failed: forbidden", (string?)events[1].Body["payload"]!["custom_details"]!["action"]);
        Assert.Single(events.Select(e => e.DedupKey).Distinct());
        Assert.Equal("resolved", _pagerDuty.AlertState(reference!));
    }

    [Fact]
    public async Task A_snooze_acknowledges_and_a_denial_resolves()
    {
        var channel = Channel(_clock);
        var reference = await channel.PublishAsync(Notice(NoticeKind.AwaitingConfirmation), null, CancellationToken.None);
        reference = await channel.PublishAsync(Notice(NoticeKind.Snoozed) with { AnsweredBy = "bob via slack" }, reference, CancellationToken.None);
        Assert.Equal("acknowledged", _pagerDuty.AlertState(reference!));
        reference = await channel.PublishAsync(Notice(NoticeKind.Denied) with { AnsweredBy = "bob via slack" }, reference, CancellationToken.None);

        Assert.Equal(["trigger", "acknowledge", "resolve"], _pagerDuty.Accepted.Select(e => e.EventAction));
        Assert.Equal("resolved", _pagerDuty.AlertState(reference!));
    }

    [Fact]
    public async Task A_timed_out_question_escalates_on_a_second_key_that_pages_again_and_both_resolve_together()
    {
        var channel = Channel(_clock);
        var reference = await channel.PublishAsync(Notice(NoticeKind.AwaitingConfirmation), null, CancellationToken.None);
        reference = await channel.PublishAsync(Notice(NoticeKind.TimedOut) with { OnTimeout = "escalate" }, reference, CancellationToken.None);

        // A trigger on the open key would page nobody new: the escalation is a new PagerDuty incident.
        Assert.Equal([("trigger", "rollback-sentinel/checkout/42"), ("trigger", "rollback-sentinel/checkout/42/escalated")], _pagerDuty.Accepted.Select(e => (e.EventAction, e.DedupKey)));
        Assert.Equal("timed_out", (string?)_pagerDuty.Accepted[1].Body["payload"]!["class"]);
        Assert.Equal("rollback-sentinel/checkout/42/escalated", reference);

        await channel.PublishAsync(Notice(NoticeKind.Denied), reference, CancellationToken.None);

        Assert.Equal(
            [("resolve", "rollback-sentinel/checkout/42/escalated"), ("resolve", "rollback-sentinel/checkout/42")],
            _pagerDuty.Accepted.Skip(2).Select(e => (e.EventAction, e.DedupKey)));
    }

    [Fact]
    public async Task A_timed_out_question_on_hold_sends_nothing_new()
    {
        var channel = Channel(_clock);
        var reference = await channel.PublishAsync(Notice(NoticeKind.AwaitingConfirmation), null, CancellationToken.None);
        var after = await channel.PublishAsync(Notice(NoticeKind.TimedOut) with { OnTimeout = "hold" }, reference, CancellationToken.None);

        Assert.Null(after);
        Assert.Equal(["trigger"], _pagerDuty.Accepted.Select(e => e.EventAction));
    }

    [Fact]
    public async Task A_long_headline_is_cut_to_the_1024_characters_PagerDuty_takes()
    {
        var reference = await Channel(_clock).PublishAsync(Notice(NoticeKind.Paged) with { Headline = new string('x', 3000) }, null, CancellationToken.None);

        Assert.NotNull(reference);
        var summary = (string)_pagerDuty.Accepted.Single().Body["payload"]!["summary"]!;
        Assert.Equal(1024, summary.Length);
        Assert.EndsWith("…", summary, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_routing_key_can_be_chosen_per_policy()
    {
        const string PaymentsKey = "PAYMENTS0123456789abcdefABCDEF01";
        var channel = Channel(_clock, o => o with { RoutingKeyFor = n => n.Incident.Policy == "payments" ? PaymentsKey : null });

        await channel.PublishAsync(Notice(NoticeKind.Paged), null, CancellationToken.None);
        await channel.PublishAsync(Notice(NoticeKind.Paged) with { Incident = Notice(NoticeKind.Paged).Incident with { Policy = "payments", Id = 7 } }, null, CancellationToken.None);

        Assert.Equal([RoutingKey, PaymentsKey], _pagerDuty.Accepted.Select(e => e.RoutingKey));
        Assert.Equal("rollback-sentinel/payments/7", _pagerDuty.Accepted[1].DedupKey);
    }

    [Fact]
    public async Task No_routing_key_is_a_readable_failure()
    {
        var channel = Channel(_clock, o => o with { RoutingKey = null });

        var e = await Assert.ThrowsAsync<NotificationException>(() => channel.PublishAsync(Notice(NoticeKind.Paged), null, CancellationToken.None));

        Assert.Contains("no routing key for policy checkout", e.Message, StringComparison.Ordinal);
        Assert.Empty(_pagerDuty.Requests);
    }

    [Fact]
    public async Task A_429_is_retried_and_the_event_goes_through()
    {
        _pagerDuty.EnqueueFault(429);
        var channel = Channel(TimeProvider.System, o => o with { RetryDelay = TimeSpan.FromMilliseconds(10) });

        var reference = await channel.PublishAsync(Notice(NoticeKind.Paged), null, CancellationToken.None);

        Assert.Equal("rollback-sentinel/checkout/42", reference);
        Assert.Equal([429, 202], _pagerDuty.Requests.Select(r => r.Status));
        Assert.Equal(_pagerDuty.Requests[0].Body, _pagerDuty.Requests[1].Body);
        Assert.Equal("triggered", _pagerDuty.AlertState(reference!));
    }

    [Fact]
    public async Task A_Retry_After_is_honoured()
    {
        _pagerDuty.EnqueueFault(429, retryAfter: TimeSpan.FromSeconds(1));
        var channel = Channel(TimeProvider.System, o => o with { RetryDelay = TimeSpan.FromMilliseconds(1) });
        var watch = Stopwatch.StartNew();

        await channel.PublishAsync(Notice(NoticeKind.Paged), null, CancellationToken.None);

        Assert.True(watch.Elapsed >= TimeSpan.FromMilliseconds(900), $"retried after {watch.Elapsed}, before the 1s Retry-After");
        Assert.Equal([429, 202], _pagerDuty.Requests.Select(r => r.Status));
    }

    [Fact]
    public async Task A_5xx_and_a_timeout_are_retried()
    {
        _pagerDuty.EnqueueFault(503);
        _pagerDuty.EnqueueFault(202, delay: TimeSpan.FromSeconds(5));
        var channel = Channel(TimeProvider.System, o => o with { RetryDelay = TimeSpan.FromMilliseconds(10), Timeout = TimeSpan.FromMilliseconds(300) });

        var reference = await channel.PublishAsync(Notice(NoticeKind.Paged), null, CancellationToken.None);

        Assert.Equal("rollback-sentinel/checkout/42", reference);
        Assert.Single(_pagerDuty.Accepted);
    }

    [Fact]
    public async Task Persistent_rate_limiting_fails_after_the_attempts()
    {
        for (var i = 0; i < 3; i++)
        {
            _pagerDuty.EnqueueFault(429);
        }

        var channel = Channel(TimeProvider.System, o => o with { MaxAttempts = 3, RetryDelay = TimeSpan.FromMilliseconds(5) });

        var e = await Assert.ThrowsAsync<NotificationException>(() => channel.PublishAsync(Notice(NoticeKind.Paged), null, CancellationToken.None));

        Assert.Equal("pagerduty: PagerDuty rate-limited the trigger event for incident 42 (HTTP 429) (after 3 attempts)", e.Message);
        Assert.Equal(3, _pagerDuty.Requests.Count);
    }

    [Fact]
    public async Task A_400_is_surfaced_with_PagerDutys_errors_and_not_retried()
    {
        const string WrongKey = "short-secret-key";
        var channel = Channel(TimeProvider.System, o => o with { RoutingKey = WrongKey, RetryDelay = TimeSpan.FromMilliseconds(5) });

        var e = await Assert.ThrowsAsync<NotificationException>(() => channel.PublishAsync(Notice(NoticeKind.Paged), null, CancellationToken.None));

        Assert.Equal(
            "pagerduty: PagerDuty refused the trigger event for incident 42 (HTTP 400): Event object is invalid; Length of 'routing_key' is incorrect (should be 32 characters)",
            e.Message);
        Assert.DoesNotContain(WrongKey, e.Message, StringComparison.Ordinal);
        Assert.Equal([400], _pagerDuty.Requests.Select(r => r.Status));
    }

    [Fact]
    public async Task A_very_long_policy_name_still_gives_a_stable_key_within_255_characters()
    {
        var notice = Notice(NoticeKind.Paged) with { Incident = Notice(NoticeKind.Paged).Incident with { Policy = new string('p', 400) } };

        var first = await Channel(_clock).PublishAsync(notice, null, CancellationToken.None);
        var again = PagerDutyChannel.DedupKeyFor(notice);

        Assert.Equal(255, first!.Length);
        Assert.Equal(first, again);
        Assert.Equal(first, _pagerDuty.Accepted.Single().DedupKey);
    }

    [Fact]
    public void The_channel_is_named_pagerduty_and_is_never_republished()
    {
        var channel = Channel(_clock);

        Assert.Equal("pagerduty", channel.Name);
        Assert.Null(channel.RepublishEvery);
    }

    [Fact]
    public async Task PublishAsync_BlamedChangeAndDisarmedRollback_AreInTheSummaryAndCustomDetails()
    {
        var change = new Core.Changes.Change
        {
            Id = 7, Policy = "checkout", At = Since.AddMinutes(-4), Source = Core.Changes.ChangeSource.Api, Revision = "v42", PreviousRevision = "v41", By = "ci",
        };
        var disarmed = Notice(NoticeKind.Paged) with
        {
            Incident = Notice(NoticeKind.Paged).Incident with { BlamedChange = change, DisarmedReason = "no change of checkout within 1h (last: v41 -> v42, 3d ago): a rollback would not undo the cause" },
        };

        await Channel(_clock).PublishAsync(disarmed, null, CancellationToken.None);
        await Channel(_clock).PublishAsync(Notice(NoticeKind.Paged) with { Incident = Notice(NoticeKind.Paged).Incident with { Id = 43 } }, null, CancellationToken.None);

        var blamed = _pagerDuty.Accepted[0].Body["payload"]!.AsObject();
        Assert.Equal(disarmed.Headline + " (since v42, deployed 4m ago by ci)", (string?)blamed["summary"]);
        Assert.Equal("since v42, deployed 4m ago by ci", (string?)blamed["custom_details"]!["change"]);
        Assert.Equal("no change of checkout within 1h (last: v41 -> v42, 3d ago): a rollback would not undo the cause", (string?)blamed["custom_details"]!["disarmed_reason"]);
        var none = _pagerDuty.Accepted[1].Body["payload"]!.AsObject();
        Assert.Equal("no change known", (string?)none["custom_details"]!["change"]);
        Assert.False(none["custom_details"]!.AsObject().ContainsKey("disarmed_reason"));
    }

    private PagerDutyChannel Channel(TimeProvider time, Func<PagerDutyOptions, PagerDutyOptions>? configure = null)
    {
        var options = new PagerDutyOptions { EventsUrl = _pagerDuty.EventsUrl, RoutingKey = RoutingKey };
        return new PagerDutyChannel(_http, configure?.Invoke(options) ?? options, time);
    }

    private static IncidentNotice Notice(NoticeKind kind, TriggerAction action = TriggerAction.Page) => new()
    {
        Incident = new Incident
        {
            Id = 42,
            Policy = "checkout",
            Trigger = "error-rate",
            Labels = LabelSet.Of(("deployment", "checkout"), ("namespace", "shop")),
            Action = action,
            Status = IncidentStatus.Open,
            OpenedAt = Since,
            UpdatedAt = Now,
            Summary = "error ratio 0.09 > max 0.05",
            EvidenceJson = "{}",
        },
        Kind = kind,
        Headline = "checkout/error-rate {deployment=checkout}: error ratio 0.09 > max 0.05",
        Since = Since,
    };
}
