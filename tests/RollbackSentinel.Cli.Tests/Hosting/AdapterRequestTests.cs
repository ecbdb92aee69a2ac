using RollbackSentinel.Cli;
using RollbackSentinel.Core.Changes;
using RollbackSentinel.Core.Evaluation;
using RollbackSentinel.Core.Incidents;
using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Core.Policies;
using RollbackSentinel.Core.State;
using RollbackSentinel.Daemon;

namespace RollbackSentinel.Cli.Tests.Hosting;

/// <summary>The request the host gives an adapter: from a decision, from an action recorded earlier, from <c>plan</c>.</summary>
public sealed class AdapterRequestTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 20, 10, 0, 0, TimeSpan.Zero);

    private static readonly LabelSet Series = LabelSet.Of(("deployment", "checkout"), ("namespace", "shop"), ("pod", "checkout-7"));

    private static readonly Policy Policy = new()
    {
        Name = "checkout",
        Target = new KubectlTarget(WorkloadKind.Deployment, Template.Parse("{{ labels.deployment }}")) { Namespace = Template.Parse("{{ labels.namespace }}") },
        Cooldown = TimeSpan.FromMinutes(45),
        Schedule = new IntervalSchedule(TimeSpan.FromSeconds(15)),
        Triggers =
        [
            new Trigger { Name = "error-rate", Condition = new ThresholdCondition("q", ComparisonOperator.GreaterThan, 1) },
            new Trigger { Name = "latency", Condition = new ThresholdCondition("q", ComparisonOperator.GreaterThan, 1) },
        ],
    };

    private static readonly Change Blamed = new()
    {
        Id = 5, Policy = "checkout", Labels = LabelSet.Of(("deployment", "checkout")), At = T0.AddMinutes(-4), Source = ChangeSource.Api,
        Revision = "v42", PreviousRevision = "v41", By = "ci", Description = "deploy 42", RecordedAt = T0.AddMinutes(-4),
    };

    private static OpenedIncident Opened(Change? blamed = null, string? disarmedReason = null) => new(
        new Incident
        {
            Id = 12, Policy = "checkout", Trigger = "error-rate", Labels = Series, Action = TriggerAction.Rollback, Status = IncidentStatus.Open,
            OpenedAt = T0, UpdatedAt = T0, Summary = "error ratio 0.09 > max 0.05", EvidenceJson = "{}", BlamedChange = blamed, DisarmedReason = disarmedReason,
        },
        new ActionRecord
        {
            Id = 3, IncidentId = 12, Kind = "rollback", Target = "kubectl/-/shop/deployment/checkout", IdempotencyKey = "rs-checkout-12", Status = ActionStatus.Pending, CreatedAt = T0,
        });

    [Fact]
    public void Request_FromADecision_RendersTheTargetForTheSeriesWithTheActionsKeyAndTheDecisionsEvidence()
    {
        var verdict = new Verdict { Kind = VerdictKind.Breach, Reason = VerdictReason.ThresholdExceeded, Labels = Series, Value = 0.09, Threshold = 0.05, Summary = "error ratio 0.09 > max 0.05" };
        var decision = new Decision
        {
            Policy = "checkout", Trigger = "error-rate", Labels = Series, At = T0, Kind = DecisionKind.Act, Action = TriggerAction.Rollback, Verdict = verdict,
            Since = T0.AddMinutes(-2), Blamed = Blamed,
        };
        var opened = Opened();

        var request = ActionExecutor.Request(Policy, opened, new ActionExecutor.Cause(decision.Action, decision.At, Actions.RollbackEvidence.Of(decision, opened.Incident), decision.Blamed));

        Assert.Equal("checkout", request.Policy);
        Assert.Equal(12, request.IncidentId);
        Assert.Equal("kubectl", request.Target.Kind);
        Assert.Equal("checkout", request.Target.Name?.Text);
        Assert.Equal("shop", request.Target.Namespace?.Text);
        Assert.Equal(Series, request.Labels);
        Assert.Equal("rs-checkout-12", request.IdempotencyKey);
        Assert.Equal(TimeSpan.FromMinutes(45), request.Cooldown);
        Assert.Equal(T0, request.DecidedAt);
        Assert.Equal(Blamed, request.BlamedChange);
        Assert.Equal(new Actions.RollbackEvidence("error-rate", "error ratio 0.09 > max 0.05") { Since = T0.AddMinutes(-2), Value = 0.09, Threshold = 0.05 }, request.Evidence);
    }

    [Fact]
    public void Request_ActionRecordedEarlier_UsesWhatTheIncidentStoredWithoutADecision()
    {
        var opened = Opened(Blamed, "no change of checkout within 1h");
        var incident = opened.Incident;

        var request = ActionExecutor.Request(Policy, opened, new ActionExecutor.Cause(TriggerAction.Rollback, incident.OpenedAt, Actions.RollbackEvidence.Of(incident), incident.BlamedChange));

        Assert.Equal(12, request.IncidentId);
        Assert.Equal("checkout", request.Target.Name?.Text);
        Assert.Equal("rs-checkout-12", request.IdempotencyKey);
        Assert.Equal(T0, request.DecidedAt);
        Assert.Equal(Blamed, request.BlamedChange);
        Assert.Equal(new Actions.RollbackEvidence("error-rate", "error ratio 0.09 > max 0.05") { Disarmed = true, DisarmedReason = "no change of checkout within 1h" }, request.Evidence);
    }

    [Fact]
    public void PlanRequest_NoDecision_PlansForTheGivenLabelsWithThePlanKeyAndTheFirstTrigger()
    {
        var request = PlanCommand.Request(Policy, LabelSet.Of(("deployment", "cart"), ("namespace", "store")), T0);

        Assert.Equal("checkout", request.Policy);
        Assert.Equal(0, request.IncidentId);
        Assert.Equal("cart", request.Target.Name?.Text);
        Assert.Equal("store", request.Target.Namespace?.Text);
        Assert.Equal(LabelSet.Of(("deployment", "cart"), ("namespace", "store")), request.Labels);
        Assert.Equal("plan-checkout", request.IdempotencyKey);
        Assert.Equal(TimeSpan.FromMinutes(45), request.Cooldown);
        Assert.Equal(T0, request.DecidedAt);
        Assert.Null(request.BlamedChange);
        Assert.Equal(new Actions.RollbackEvidence("error-rate", "rollback planned from the command line"), request.Evidence);
    }
}
