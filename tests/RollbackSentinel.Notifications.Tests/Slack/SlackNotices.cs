using System.Text.Json.Nodes;
using RollbackSentinel.Core.Incidents;
using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Core.Policies;
using RollbackSentinel.Notifications.Slack;
using RollbackSentinel.Testing.Time;

using RollbackSentinel.Testing.Slack;

namespace RollbackSentinel.Notifications.Tests.Slack;

/// <summary>Notices and clients for the Slack tests.</summary>
internal static class SlackNotices
{
    public static readonly DateTimeOffset T0 = new(2026, 11, 20, 14, 2, 0, TimeSpan.Zero);

    public static IncidentNotice Notice(NoticeKind kind, long id = 42, string? answeredBy = null, IReadOnlyList<EvidenceLine>? evidence = null, LabelSet? labels = null) => new()
    {
        Incident = new Incident
        {
            Id = id,
            Policy = "checkout",
            Trigger = "error-rate",
            Labels = labels ?? LabelSet.Of(("deployment", "checkout"), ("namespace", "shop")),
            Action = TriggerAction.Page,
            Status = IncidentStatus.Open,
            OpenedAt = T0,
            UpdatedAt = T0,
            Summary = "error ratio 0.09 > max 0.05",
            EvidenceJson = "{}",
        },
        Kind = kind,
        Headline = "checkout/error-rate {deployment=checkout}: error ratio 0.09 > max 0.05",
        Since = T0.AddMinutes(-2),
        Value = 0.09,
        Threshold = 0.05,
        Baseline = 0.01,
        Evidence = evidence ??
        [
            new EvidenceLine("errors", "sum(rate(http_requests_total{code=~\"5..\"}[5m]))", "1.8"),
            new EvidenceLine("total", "sum(rate(http_requests_total[5m]))", "20"),
        ],
        Action = kind is NoticeKind.AwaitingConfirmation ? "kubectl rollout undo deployment/checkout -n shop" : "rolled back deployment/checkout to revision 41",
        Before = kind is NoticeKind.RolledBack ? "revision 42 (image shop/checkout:1.8.0)" : null,
        After = kind is NoticeKind.RolledBack ? "revision 41 (image shop/checkout:1.7.3)" : null,
        AnsweredBy = answeredBy,
        AnswerDeadline = kind is NoticeKind.AwaitingConfirmation ? new DateTimeOffset(2026, 11, 20, 14, 32, 0, TimeSpan.Zero) : null,
        OnTimeout = kind is NoticeKind.AwaitingConfirmation ? "rollback" : null,
    };

    public static SlackOptions Options(SlackApiEmulator slack, string? token = null) => new()
    {
        ApiBaseUrl = slack.ApiBaseUrl,
        BotToken = token ?? slack.Token,
        SigningSecret = "signing-secret",
        DefaultChannel = "C0INCIDENTS",
        RequestTimeout = TimeSpan.FromSeconds(5),
    };

    public static SlackClient Client(SlackApiEmulator slack, TimeProvider? time = null, string? token = null, SlackRetry? retry = null) =>
        new(new HttpClient(SlackClient.CreateHandler()), Options(slack, token), time ?? new ManualTimeProvider(T0), retry ?? new SlackRetry(3, TimeSpan.Zero, TimeSpan.FromSeconds(30)));

    /// <summary>Every string in the blocks, one a line, as Slack reads them (JSON escapes undone).</summary>
    public static string Text(JsonNode? node) => node switch
    {
        JsonArray array => string.Join("\n", array.Select(Text)),
        JsonObject obj => string.Join("\n", obj.Select(p => Text(p.Value))),
        JsonValue value when value.TryGetValue<string>(out var s) => s,
        _ => "",
    };
}
