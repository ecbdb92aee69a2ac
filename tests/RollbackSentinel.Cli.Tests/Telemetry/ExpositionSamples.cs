using RollbackSentinel.Core.Changes;
using RollbackSentinel.Core.Evaluation;
using RollbackSentinel.Core.Incidents;
using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Core.Policies;
using RollbackSentinel.Core.State;
using RollbackSentinel.Telemetry;

namespace RollbackSentinel.Cli.Tests.Telemetry;

/// <summary>Every instrument of <see cref="SentinelMetrics"/> with something recorded, for checks of the whole exposition.</summary>
internal static class ExpositionSamples
{
    /// <summary>A rule file name that needs every label-value escape.</summary>
    public const string AwkwardFile = "rules/we\"ird\\name\nwith a line feed.yaml";

    public static void Record(SentinelMetrics metrics)
    {
        metrics.RecordEvaluation("checkout", "errors", VerdictKind.Breach);
        metrics.RecordEvaluation("checkout", "errors", VerdictKind.Breach);
        metrics.RecordEvaluation("checkout", "errors", VerdictKind.Breach);
        metrics.RecordEvaluation("checkout", "latency", VerdictKind.Pass);
        metrics.RecordEvaluationDuration(TimeSpan.FromSeconds(0.125));
        metrics.RecordEvaluationDuration(TimeSpan.FromSeconds(0.25));
        metrics.RecordEvaluationDuration(TimeSpan.FromSeconds(4));
        metrics.RecordEvaluationTimeout("checkout");
        metrics.RecordAction("checkout", "webhook", ActionStatus.Succeeded);
        metrics.RecordRuleLoadError(AwkwardFile);
        metrics.SetRuleFileValid(AwkwardFile, false);
        metrics.SetRuleFileValid("rules/checkout.yaml", true);
        metrics.RecordBackendRequest(SentinelMetrics.BackendEndpoints.Query, TimeSpan.FromMilliseconds(3));
        metrics.RecordBackendRequest(SentinelMetrics.BackendEndpoints.QueryRange, TimeSpan.FromSeconds(31), MetricsErrorKind.Timeout);
        metrics.SetTriggerSnapshotProvider(() =>
        [
            new("checkout", "errors", LabelSet.Of(("app", "checkout")), TriggerPhase.Firing) { Value = 0.08, Threshold = 0.05 },
            new("checkout", "latency", LabelSet.Of(("app", "checkout")), TriggerPhase.Ok) { Value = double.NaN, Threshold = double.PositiveInfinity, Baseline = 0.25 },
        ]);
    }

    /// <summary><see cref="Record"/>, and something in every other family too: the whole catalogue users and dashboards see.</summary>
    public static void RecordEveryFamily(SentinelMetrics metrics)
    {
        Record(metrics);
        metrics.RecordEvaluationFailure("search");
        metrics.RecordScheduleLag(TimeSpan.FromMilliseconds(20));
        metrics.RecordPage("checkout");
        metrics.RecordTargetRead("checkout", "kubectl", ok: true);
        var verdict = new Verdict { Kind = VerdictKind.Breach, Reason = VerdictReason.WithinThreshold, Labels = LabelSet.Of(("app", "checkout")), Summary = "sample" };
        metrics.RecordDecision(new Decision { Policy = "checkout", Trigger = "errors", Labels = verdict.Labels, At = default, Kind = DecisionKind.Act, Action = TriggerAction.Rollback, Verdict = verdict });
        metrics.RecordChange("checkout", ChangeSource.Api);
        metrics.RecordChangeDetectionError("checkout");
        metrics.RecordStoreConflict("checkout");
        metrics.RecordForeignPolicyRun("search");
        metrics.RecordFenced(SentinelMetrics.FencedWhat.State);
        metrics.SetClusterSnapshotProvider(() => new ClusterSnapshot(Alive: 2, Dead: 1, RulesVersions: 1, RulesVersion: "sha256:aaaaaaaaaaaa", StoreUp: 1) { ClockSkewSeconds = 0.25 });
    }
}
