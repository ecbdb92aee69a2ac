using RollbackSentinel.Core.Policies;

namespace RollbackSentinel.Api;

// The settings part of GET /api/v1/policies: what the daemon runs, under the names of the policy format's YAML
// keys (docs/policy-format.md), durations as written there ("15m"), enums in lower case as in YAML. Unset
// optional settings are null (the adapter's or the daemon's default applies).

/// <summary><c>spec.target</c>: one key, the adapter's name, as in YAML (<c>{"kubectl": {...}}</c>).</summary>
internal static class TargetView
{
    public static IReadOnlyDictionary<string, object> From(Target target) => new Dictionary<string, object>(StringComparer.Ordinal)
    {
        [target.Kind] = target switch
        {
            // The URL as records and logs show it: a key in its path or query never leaves the daemon.
            WebhookTarget w => new WebhookTargetView(TargetIdentity.Redact(w.Url.Text), w.SecretFile, Duration(w.Timeout), w.IdempotencyKey?.Text),
            KubectlTarget k => new KubectlTargetView(k.Workload.ToString(), k.Name.Text, k.Namespace?.Text, k.Context, k.Kubeconfig, k.ToRevision, Duration(k.Timeout)),
            HelmTarget h => new HelmTargetView(h.Release.Text, h.Namespace?.Text, h.KubeContext, Duration(h.Timeout)),
            HAProxyTarget x => new HAProxyTargetView(
                x.RuntimeApi.OriginalString,
                x.Backend,
                x.Weights.ToDictionary(StringComparer.Ordinal),
                x.States.ToDictionary(s => s.Key, s => s.Value.ToString().ToLowerInvariant(), StringComparer.Ordinal),
                Duration(x.Timeout)),
            _ => new EmptyView(),
        },
    };

    private static string? Duration(TimeSpan? d) => d is { } x ? PromDuration.Format(x) : null;
}

internal sealed record WebhookTargetView(string Url, string? SecretFile, string? Timeout, string? IdempotencyKey);

internal sealed record KubectlTargetView(string Kind, string Name, string? Namespace, string? Context, string? Kubeconfig, int? ToRevision, string? Timeout);

internal sealed record HelmTargetView(string Release, string? Namespace, string? KubeContext, string? Timeout);

internal sealed record HAProxyTargetView(string RuntimeApi, string Backend, IReadOnlyDictionary<string, int> Weights, IReadOnlyDictionary<string, string> States, string? Timeout);

/// <summary><c>spec.confirm</c> with its defaults filled in; null when the policy has none (a page asks nobody).</summary>
internal sealed record ConfirmView(IReadOnlyList<string> Approvers, string Timeout, string OnTimeout)
{
    public static ConfirmView? From(ConfirmSettings? confirm) => confirm is null
        ? null
        : new ConfirmView(confirm.Approvers, PromDuration.Format(confirm.Timeout), confirm.OnTimeout.ToString().ToLowerInvariant());
}

/// <summary><c>spec.notify</c>: each null is the daemon's default channel.</summary>
internal sealed record NotifyView(string? SlackChannel, string? PagerdutyRoutingKeyFile)
{
    public static NotifyView From(NotifySettings notify) => new(notify.SlackChannel, notify.PagerDutyRoutingKeyFile);
}

/// <summary>A trigger's condition: the fields of its <c>errorRate</c>, <c>burnRate</c>, <c>latency</c>, <c>availability</c> or <c>threshold</c> block.</summary>
internal static class ConditionView
{
    public static object From(TriggerCondition condition) => condition switch
    {
        ErrorRateCondition e => new ErrorRateConditionView(e.Errors, e.Total, e.Max, e.MinTotal),

        // As written, {{window}} included; the defaults filled in (period, windows, minTotal 0).
        BurnRateCondition b => new BurnRateConditionView(
            b.Objective,
            PromDuration.Format(b.Period),
            b.Errors,
            b.Total,
            b.Windows.Select(w => new BurnRateWindowView(PromDuration.Format(w.Long), PromDuration.Format(w.Short), w.Factor)).ToArray(),
            b.MinTotal),
        LatencyCondition l => new LatencyConditionView(l.Query, Baseline(l.Baseline), l.MaxRatio, l.MaxIncrease),
        AvailabilityCondition a => new AvailabilityConditionView(a.Query, a.Min),
        ThresholdCondition t => new ThresholdConditionView(t.Query, t.Op.Symbol(), t.Value),
        _ => new EmptyView(),
    };

    private static IReadOnlyDictionary<string, string> Baseline(Baseline baseline) => baseline switch
    {
        QueryBaseline q => new Dictionary<string, string>(StringComparer.Ordinal) { ["query"] = q.Query },
        OffsetBaseline o => new Dictionary<string, string>(StringComparer.Ordinal) { ["offset"] = PromDuration.Format(o.Offset) },
        BeforeDeployBaseline b => new Dictionary<string, string>(StringComparer.Ordinal) { ["beforeDeploy"] = PromDuration.Format(b.Window) },
        _ => new Dictionary<string, string>(StringComparer.Ordinal),
    };
}

internal sealed record ErrorRateConditionView(string Errors, string Total, double Max, double MinTotal);

internal sealed record BurnRateConditionView(double Objective, string Period, string Errors, string Total, IReadOnlyList<BurnRateWindowView> Windows, double MinTotal);

internal sealed record BurnRateWindowView(string Long, string Short, double Factor);

internal sealed record LatencyConditionView(string Query, IReadOnlyDictionary<string, string> Baseline, double? MaxRatio, double? MaxIncrease);

internal sealed record AvailabilityConditionView(string Query, double Min);

internal sealed record ThresholdConditionView(string Query, string Op, double Value);
