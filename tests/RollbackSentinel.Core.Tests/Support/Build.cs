using RollbackSentinel.Core.Evaluation;
using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Core.Policies;

namespace RollbackSentinel.Core.Tests.Support;

/// <summary>Small builders so each test states only what matters to it.</summary>
internal static class Build
{
    public static readonly DateTimeOffset T0 = new(2026, 11, 20, 10, 0, 0, TimeSpan.Zero);

    public static Trigger ErrorRate(double max = 0.05, double minTotal = 0.5, TimeSpan? @for = null, TriggerAction action = TriggerAction.Rollback, NoDataPolicy noData = NoDataPolicy.Inconclusive, string name = "errors") => new()
    {
        Name = name,
        Condition = new ErrorRateCondition("errors_q", "total_q", max, minTotal),
        For = @for ?? TimeSpan.Zero,
        Action = action,
        NoData = noData,
    };

    /// <summary>A burn-rate trigger over <c>errors_q[{{window}}]</c> and <c>total_q[{{window}}]</c>: 99.9%, 30d, the workbook's pairs by default.</summary>
    public static Trigger BurnRate(double objective = 99.9, double minTotal = 0.5, IReadOnlyList<BurnRateWindow>? windows = null, TimeSpan? period = null, TimeSpan? @for = null, NoDataPolicy noData = NoDataPolicy.Inconclusive) => new()
    {
        Name = "slo",
        Condition = new BurnRateCondition(objective, period ?? BurnRateCondition.DefaultPeriod, "errors_q[{{window}}]", "total_q[{{window}}]", windows ?? BurnRateCondition.DefaultWindows, minTotal),
        For = @for ?? TimeSpan.Zero,
        NoData = noData,
    };

    public static Trigger Latency(Baseline? baseline = null, double? maxRatio = 1.5, double? maxIncrease = null, TimeSpan? @for = null, string name = "latency") => new()
    {
        Name = name,
        Condition = new LatencyCondition("canary_q", baseline ?? new QueryBaseline("stable_q"), maxRatio, maxIncrease),
        For = @for ?? TimeSpan.Zero,
        Action = TriggerAction.Page,
    };

    public static Trigger Availability(double min = 0.95, TimeSpan? @for = null) => new()
    {
        Name = "availability",
        Condition = new AvailabilityCondition("up_q", min),
        For = @for ?? TimeSpan.Zero,
    };

    public static Trigger Threshold(ComparisonOperator op, double value, NoDataPolicy noData = NoDataPolicy.Inconclusive, TriggerAction action = TriggerAction.Notify) => new()
    {
        Name = "threshold",
        Condition = new ThresholdCondition("value_q", op, value),
        Action = action,
        NoData = noData,
    };

    public static Policy Policy(params Trigger[] triggers) => new()
    {
        Name = "checkout-api",
        Target = new WebhookTarget(Template.Parse("http://127.0.0.1:9/rollback")),
        Schedule = new IntervalSchedule(TimeSpan.FromSeconds(15)),
        Triggers = triggers,
    };

    /// <summary>
    /// The policy with <c>watch: {outside: rollback}</c>: its rollback triggers act with no change known, as before
    /// watch windows. For tests about something else than changes (for, cooldown, dry-run), chosen on purpose.
    /// </summary>
    public static Policy AlwaysArmed(this Policy policy) => policy with { Watch = new WatchSettings { Outside = OutsideAction.Rollback } };

    public static Sample S(double value, params (string, string)[] labels) => new(LabelSet.Of(labels), value);

    /// <summary>Outcomes for a trigger's queries, by role: samples per role, or an error.</summary>
    public static IReadOnlyDictionary<string, QueryOutcome> Outcomes(Trigger trigger, Func<QuerySpec, QueryOutcome> make) =>
        QuerySpec.For(trigger.Condition).ToDictionary(s => s.Role, make);

    public static IReadOnlyDictionary<string, QueryOutcome> Outcomes(Trigger trigger, IReadOnlyDictionary<string, Sample[]> byRole) =>
        Outcomes(trigger, spec => QueryOutcome.Success(spec, "2026-11-20T10:00:00Z", byRole.TryGetValue(spec.Role, out var s) ? s : []));
}
