using RollbackSentinel.Core.Evaluation;
using RollbackSentinel.Core.Incidents;
using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Core.Policies;
using RollbackSentinel.Core.State;

namespace RollbackSentinel.Storage.Tests.Support;

/// <summary>Decisions, verdicts and commits as the state machine makes them, with readable defaults.</summary>
public static class Samples
{
    public const string Policy = "checkout-api";
    public const string Trigger = "error-rate-spike";
    public const string Target = "kubectl/checkout/shop";

    public static readonly DateTimeOffset T0 = new(2026, 11, 20, 14, 30, 0, TimeSpan.Zero);

    public static readonly CancellationToken None = CancellationToken.None;

    /// <summary>How long a started action is leased to the sentinel that started it.</summary>
    public static readonly TimeSpan Lease = TimeSpan.FromMinutes(10);

    /// <summary>A notification claim of the test's sentinel (one owner: its own lease never keeps an incident from it).</summary>
    public static readonly ActionLease NotifyLease = new("test-node", T0.AddHours(1));

    public static readonly LabelSet Cart = LabelSet.Of(("deployment", "cart"));

    public static readonly LabelSet Web = LabelSet.Of(("deployment", "web"));

    public static Verdict Breach(LabelSet labels, double value = 0.09) => new()
    {
        Kind = VerdictKind.Breach,
        Reason = VerdictReason.ThresholdExceeded,
        Labels = labels,
        Value = value,
        Threshold = 0.05,
        Summary = $"error ratio {value} (1.8/20) > max 0.05",
        Queries =
        [
            new QueryEvidence("errors", """sum(rate(http_requests_total{app="checkout",code=~"5.."}[1m]))""", "2026-11-20T14:30:00Z", 1.8),
            new QueryEvidence("total", """sum(rate(http_requests_total{app="checkout"}[1m]))""", "2026-11-20T14:30:00Z", 20),
        ],
    };

    public static Verdict Pass(LabelSet labels) => new()
    {
        Kind = VerdictKind.Pass,
        Reason = VerdictReason.WithinThreshold,
        Labels = labels,
        Value = 0.01,
        Threshold = 0.05,
        Summary = "error ratio 0.01 (0.2/20) <= max 0.05",
    };

    public static Verdict LowTraffic(LabelSet labels) => new()
    {
        Kind = VerdictKind.Inconclusive,
        Reason = VerdictReason.LowTraffic,
        Labels = labels,
        Threshold = 0.05,
        Summary = "low traffic: total 0.3 < minTotal 1",
    };

    public static Decision Act(
        DateTimeOffset at,
        LabelSet? labels = null,
        string trigger = Trigger,
        string policy = Policy,
        TriggerAction action = TriggerAction.Rollback,
        bool dryRun = false)
    {
        var l = labels ?? LabelSet.Empty;
        return new Decision
        {
            Policy = policy,
            Trigger = trigger,
            Labels = l,
            At = at,
            Kind = DecisionKind.Act,
            Action = action,
            DryRun = dryRun,
            Verdict = Breach(l),
            Since = at - TimeSpan.FromMinutes(2),
            Message = $"roll back: error ratio 0.09 (1.8/20) > max 0.05 (breaching for 2m) at {at:HH:mm:ss}",
        };
    }

    public static Decision Resolved(DateTimeOffset at, LabelSet? labels = null, string trigger = Trigger, string policy = Policy)
    {
        var l = labels ?? LabelSet.Empty;
        return new Decision
        {
            Policy = policy,
            Trigger = trigger,
            Labels = l,
            At = at,
            Kind = DecisionKind.Resolved,
            Action = TriggerAction.Rollback,
            Verdict = Pass(l),
            Message = $"resolved at {at:HH:mm:ss}: error ratio 0.01 (0.2/20) <= max 0.05",
        };
    }

    public static Decision Notice(DecisionKind kind, DateTimeOffset at, LabelSet? labels = null, string trigger = Trigger)
    {
        var l = labels ?? LabelSet.Empty;
        return new Decision
        {
            Policy = Policy,
            Trigger = trigger,
            Labels = l,
            At = at,
            Kind = kind,
            Action = TriggerAction.Rollback,
            Verdict = kind == DecisionKind.InconclusiveRun ? LowTraffic(l) : Breach(l),
            Message = $"{kind} at {at:HH:mm:ss}",
        };
    }

    /// <summary>An evaluation with one verdict row per decision (its verdict) and the given state.</summary>
    public static EvaluationCommit Commit(DateTimeOffset at, PolicyState? state, params Decision[] decisions) => new(
        decisions.Length > 0 ? decisions[0].Policy : Policy,
        at,
        state ?? PolicyState.Empty,
        decisions.Select(d => Row(d.Trigger, d.Verdict)).ToList(),
        decisions,
        _ => Target);

    public static EvaluationCommit Commit(DateTimeOffset at, params Decision[] decisions) => Commit(at, null, decisions);

    public static EvaluationRow Row(string trigger, Verdict v) => new(trigger, v.Labels, v.Kind, v.Reason, v.Value, v.Threshold, v.Baseline, v.Summary);

    /// <summary>Label values that break naive escaping: quotes, backslashes, newlines, tabs, non-ASCII, emoji, empty.</summary>
    public static LabelSet AwkwardLabels { get; } = LabelSet.Of(
        ("deployment", "cart \"blue\"\nline2\\end\ttab"),
        ("region", "zürich-日本-🚀"),
        ("empty", string.Empty),
        ("json", """{"a":[1,2]}"""));
}
