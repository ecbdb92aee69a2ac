using RollbackSentinel.Core.Evaluation;
using RollbackSentinel.Core.Incidents;
using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Core.Policies;
using RollbackSentinel.Core.State;

namespace RollbackSentinel.Actions.Tests;

public sealed class RollbackRequestTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 20, 10, 0, 0, TimeSpan.Zero);

    private static Policy PolicyWith(Target target) => new()
    {
        Name = "shop",
        Target = target,
        Cooldown = TimeSpan.FromMinutes(20),
        Schedule = new IntervalSchedule(TimeSpan.FromSeconds(15)),
        Triggers = [new Trigger { Name = "errors", Condition = new ThresholdCondition("q", ComparisonOperator.GreaterThan, 1) }],
    };

    [Fact]
    public void For_TemplatedKubectlTarget_RendersNameAndNamespaceForTheSeries()
    {
        var target = new KubectlTarget(WorkloadKind.Deployment, Template.Parse("{{ labels.deployment }}")) { Namespace = Template.Parse("{{ labels.namespace }}-prod"), Context = "eu" };
        var labels = LabelSet.Of(("deployment", "checkout"), ("namespace", "shop"), ("pod", "checkout-1"));

        var request = RollbackRequest.For(PolicyWith(target), labels, "rs-key-1", T0, new RollbackEvidence("errors", "value 2 > 1"));

        Assert.Equal("shop", request.Policy);
        Assert.Equal("kubectl", request.Target.Kind);
        Assert.Same(target, request.Target.Definition);
        Assert.Equal("checkout", request.Target.Name?.Text);
        Assert.Equal("shop-prod", request.Target.Namespace?.Text);
        Assert.Null(request.Target.Url);
        Assert.Equal(labels, request.Labels);
        Assert.Equal("rs-key-1", request.IdempotencyKey);
        Assert.Equal(TimeSpan.FromMinutes(20), request.Cooldown);
        Assert.Equal(T0, request.DecidedAt);
        Assert.Equal(0, request.IncidentId);
        Assert.Null(request.BlamedChange);
    }

    [Fact]
    public void For_SeriesLackingALabel_KeepsTheErrorTemplatesGive()
    {
        var target = new HelmTarget(Template.Parse("{{ labels.release }}"));

        var request = RollbackRequest.For(PolicyWith(target), LabelSet.Of(("job", "shop")), "k", T0, new RollbackEvidence("errors", "s"));

        var release = Assert.IsType<RenderedText>(request.Target.Name);
        Assert.False(release.TryGet(out var text, out var error));
        Assert.Null(text);
        Assert.Equal("template '{{ labels.release }}' needs label(s) release but the series {job=\"shop\"} has none", error);
        Assert.Null(request.Target.Namespace);
    }

    [Fact]
    public void For_WebhookTarget_EscapesLabelValuesInTheUrlButNotInTheKey()
    {
        var target = new WebhookTarget(Template.Parse("https://deploy.example.com/rollback/{{ labels.app }}")) { IdempotencyKey = Template.Parse("{{ labels.app }}-{{ labels.version }}") };
        var labels = LabelSet.Of(("app", "a/b?c"), ("version", "v 2"));

        var request = RollbackRequest.For(PolicyWith(target), labels, "k", T0, new RollbackEvidence("errors", "s"));

        Assert.Equal("https://deploy.example.com/rollback/a%2Fb%3Fc", request.Target.Url?.Text);
        Assert.Equal("a/b?c-v 2", request.Target.IdempotencyKey?.Text);
        Assert.Null(request.Target.Name);
    }

    [Fact]
    public void For_HAProxyTarget_HasNoTemplatesToRender()
    {
        var target = new HAProxyTarget(new Uri("tcp://127.0.0.1:9999"), "app", new Dictionary<string, int> { ["blue"] = 100 });

        var request = RollbackRequest.For(PolicyWith(target), LabelSet.Empty, "k", T0, new RollbackEvidence("errors", "s"));

        Assert.Same(target, request.Target.Definition);
        Assert.Equal("haproxy", request.Target.Kind);
        Assert.Null(request.Target.Name);
        Assert.Null(request.Target.Namespace);
        Assert.Null(request.Target.Url);
        Assert.Null(request.Target.IdempotencyKey);
    }

    [Fact]
    public void EvidenceOf_DecisionAndIncident_TakesTheVerdictsValuesAndTheIncidentsDisarming()
    {
        var labels = LabelSet.Of(("app", "shop"));
        var verdict = new Verdict { Kind = VerdictKind.Breach, Reason = VerdictReason.ThresholdExceeded, Labels = labels, Value = 2, Threshold = 1, Baseline = 0.5, Summary = "value 2 > 1" };
        var decision = new Decision
        {
            Policy = "shop", Trigger = "errors", Labels = labels, At = T0, Kind = DecisionKind.Act, Action = TriggerAction.Rollback, Verdict = verdict, Since = T0.AddMinutes(-3),
        };
        var incident = Incident(labels) with { DisarmedReason = "no change of shop within 1h" };

        var evidence = RollbackEvidence.Of(decision, incident);

        Assert.Equal(new RollbackEvidence("errors", "value 2 > 1")
        {
            Since = T0.AddMinutes(-3), Value = 2, Threshold = 1, Baseline = 0.5, Disarmed = true, DisarmedReason = "no change of shop within 1h",
        }, evidence);
    }

    [Fact]
    public void EvidenceOf_IncidentOnly_HasItsTriggerAndSummaryAndNoValues()
    {
        var evidence = RollbackEvidence.Of(Incident(LabelSet.Empty) with { Trigger = "latency", Summary = "p99 0.9 > 0.5" });

        Assert.Equal(new RollbackEvidence("latency", "p99 0.9 > 0.5"), evidence);
        Assert.False(evidence.Disarmed);
    }

    private static Incident Incident(LabelSet labels) => new()
    {
        Id = 7, Policy = "shop", Trigger = "errors", Labels = labels, Action = TriggerAction.Rollback, Status = IncidentStatus.Acting,
        OpenedAt = T0, UpdatedAt = T0, Summary = "value 2 > 1", EvidenceJson = "{}",
    };
}
