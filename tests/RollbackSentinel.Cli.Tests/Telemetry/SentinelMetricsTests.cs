using Microsoft.Extensions.DependencyInjection;
using RollbackSentinel.Core.Evaluation;
using RollbackSentinel.Core.Incidents;
using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Core.Policies;
using RollbackSentinel.Core.State;
using RollbackSentinel.Telemetry;
using RollbackSentinel.Testing.Time;
using static RollbackSentinel.Cli.Tests.Telemetry.Exposition;

namespace RollbackSentinel.Cli.Tests.Telemetry;

/// <summary>
/// The daemon's instruments through the exporter, wired as the host wires them: one container each, so the
/// exporter only sees this test's meter (the container's meter factory is its scope).
/// </summary>
public sealed class SentinelMetricsTests : IDisposable
{
    private readonly ServiceProvider _services = new ServiceCollection().AddSentinelTelemetry().BuildServiceProvider();

    private SentinelMetrics Metrics => _services.GetRequiredService<SentinelMetrics>();

    private string Collect() => ExpositionText.Sorted(Exposition.Collect(_services));

    public void Dispose() => _services.Dispose();

    [Fact]
    public void RecordPolicyEvaluation_CountsEachVerdictByTriggerAndKindAndTimesThePolicy()
    {
        var errors = new Trigger { Name = "errors", Condition = new ThresholdCondition("q", ComparisonOperator.GreaterThan, 1) };
        var latency = new Trigger { Name = "latency", Condition = new ThresholdCondition("q", ComparisonOperator.GreaterThan, 1) };

        Metrics.RecordPolicyEvaluation(
            "checkout",
            TimeSpan.FromMilliseconds(125),
            [
                new TriggerVerdicts(errors, [Verdict(VerdictKind.Breach, "a"), Verdict(VerdictKind.Breach, "b"), Verdict(VerdictKind.Pass, "c")]),
                new TriggerVerdicts(latency, [Verdict(VerdictKind.Inconclusive, "a")]),
            ]);

        var text = Collect();
        Assert.Contains(
            Text(
                "# HELP rollback_sentinel_evaluations_total Trigger verdicts, one per trigger and series at each evaluation, by verdict (pass, breach, inconclusive, error).",
                "# TYPE rollback_sentinel_evaluations_total counter",
                "rollback_sentinel_evaluations_total{policy=\"checkout\",trigger=\"errors\",verdict=\"breach\"} 2",
                "rollback_sentinel_evaluations_total{policy=\"checkout\",trigger=\"errors\",verdict=\"pass\"} 1",
                "rollback_sentinel_evaluations_total{policy=\"checkout\",trigger=\"latency\",verdict=\"inconclusive\"} 1"),
            text);
        Assert.Contains(
            Text(
                "# HELP rollback_sentinel_evaluation_duration_seconds Time to evaluate a policy: every query and every trigger.",
                "# TYPE rollback_sentinel_evaluation_duration_seconds histogram",
                "rollback_sentinel_evaluation_duration_seconds_sum 0.125",
                "rollback_sentinel_evaluation_duration_seconds_count 1",
                "rollback_sentinel_evaluation_duration_seconds_bucket{le=\"0.001\"} 0",
                "rollback_sentinel_evaluation_duration_seconds_bucket{le=\"0.0025\"} 0",
                "rollback_sentinel_evaluation_duration_seconds_bucket{le=\"0.005\"} 0",
                "rollback_sentinel_evaluation_duration_seconds_bucket{le=\"0.01\"} 0",
                "rollback_sentinel_evaluation_duration_seconds_bucket{le=\"0.025\"} 0",
                "rollback_sentinel_evaluation_duration_seconds_bucket{le=\"0.05\"} 0",
                "rollback_sentinel_evaluation_duration_seconds_bucket{le=\"0.1\"} 0",
                "rollback_sentinel_evaluation_duration_seconds_bucket{le=\"0.25\"} 1",
                "rollback_sentinel_evaluation_duration_seconds_bucket{le=\"0.5\"} 1",
                "rollback_sentinel_evaluation_duration_seconds_bucket{le=\"1\"} 1",
                "rollback_sentinel_evaluation_duration_seconds_bucket{le=\"2.5\"} 1",
                "rollback_sentinel_evaluation_duration_seconds_bucket{le=\"5\"} 1",
                "rollback_sentinel_evaluation_duration_seconds_bucket{le=\"10\"} 1",
                "rollback_sentinel_evaluation_duration_seconds_bucket{le=\"30\"} 1",
                "rollback_sentinel_evaluation_duration_seconds_bucket{le=\"+Inf\"} 1"),
            text);
    }

    [Fact]
    public void RecordEvaluationTimeoutAndFailure_AreCountedByReason()
    {
        Metrics.RecordEvaluationTimeout("checkout");
        Metrics.RecordEvaluationTimeout("checkout");
        Metrics.RecordEvaluationFailure("search");

        Assert.Equal(
            Text(
                "# HELP rollback_sentinel_evaluation_failures_total Policy evaluations that produced no verdicts, by reason (timeout, error); the policy's state did not advance.",
                "# TYPE rollback_sentinel_evaluation_failures_total counter",
                "rollback_sentinel_evaluation_failures_total{policy=\"checkout\",reason=\"timeout\"} 2",
                "rollback_sentinel_evaluation_failures_total{policy=\"search\",reason=\"error\"} 1"),
            Collect());
    }

    [Fact]
    public void RecordDecision_CountsByKindActionTakenAndWhetherDisarmed()
    {
        var verdict = Verdict(VerdictKind.Breach, "cart");
        var armed = new Decision { Policy = "checkout", Trigger = "errors", Labels = verdict.Labels, At = default, Kind = DecisionKind.Act, Action = TriggerAction.Rollback, Verdict = verdict };
        Metrics.RecordDecision(armed);
        Metrics.RecordDecision(armed with { Action = TriggerAction.Page, Disarmed = true, DisarmedReason = "no change of checkout is known" });
        Metrics.RecordDecision(armed with { Action = TriggerAction.Page, Disarmed = true, DisarmedReason = "no change of checkout is known" });
        Metrics.RecordDecision(armed with { Kind = DecisionKind.Resolved });

        Assert.Equal(
            Text(
                "# HELP rollback_sentinel_decisions_total Decisions, by policy, trigger, kind (act, suppressed_by_cooldown, inconclusive_run, resolved), the action taken (rollback, page, notify) and whether a rollback trigger was disarmed (fired outside its watch window, so it took spec.watch.outside).",
                "# TYPE rollback_sentinel_decisions_total counter",
                "rollback_sentinel_decisions_total{action=\"page\",disarmed=\"true\",kind=\"act\",policy=\"checkout\",trigger=\"errors\"} 2",
                "rollback_sentinel_decisions_total{action=\"rollback\",disarmed=\"false\",kind=\"act\",policy=\"checkout\",trigger=\"errors\"} 1",
                "rollback_sentinel_decisions_total{action=\"rollback\",disarmed=\"false\",kind=\"resolved\",policy=\"checkout\",trigger=\"errors\"} 1"),
            Collect());
    }

    [Fact]
    public void RecordChangeAndDetectionError_AreCountedByPolicyAndSource()
    {
        Metrics.RecordChange("checkout", Core.Changes.ChangeSource.Api);
        Metrics.RecordChange("checkout", Core.Changes.ChangeSource.Query);
        Metrics.RecordChange("checkout", Core.Changes.ChangeSource.Query);
        Metrics.RecordChangeDetectionError("search");

        Assert.Equal(
            Text(
                "# HELP rollback_sentinel_change_detection_errors_total Evaluations whose spec.watch.detect.query failed, by policy: no change was recorded from them.",
                "# TYPE rollback_sentinel_change_detection_errors_total counter",
                "rollback_sentinel_change_detection_errors_total{policy=\"search\"} 1",
                "# HELP rollback_sentinel_changes_total Changes recorded, by policy and source (api, target, query); a revision seen before is not counted again.",
                "# TYPE rollback_sentinel_changes_total counter",
                "rollback_sentinel_changes_total{policy=\"checkout\",source=\"api\"} 1",
                "rollback_sentinel_changes_total{policy=\"checkout\",source=\"query\"} 2"),
            Collect());
    }

    [Fact]
    public void RecordStoreConflict_IsCountedByPolicy()
    {
        Metrics.RecordStoreConflict("checkout");
        Metrics.RecordStoreConflict("checkout");
        Metrics.RecordStoreConflict("search");

        Assert.Equal(
            Text(
                "# HELP rollback_sentinel_store_conflicts_total Evaluations refused by the store because another writer committed the policy's state first, by policy: nothing was committed, no action ran, and the next evaluation reloads the state.",
                "# TYPE rollback_sentinel_store_conflicts_total counter",
                "rollback_sentinel_store_conflicts_total{policy=\"checkout\"} 2",
                "rollback_sentinel_store_conflicts_total{policy=\"search\"} 1"),
            Collect());
    }

    [Fact]
    public void RecordFenced_IsCountedByWhat_BesideStoreConflicts()
    {
        Metrics.RecordFenced(SentinelMetrics.FencedWhat.Action);
        Metrics.RecordFenced(SentinelMetrics.FencedWhat.Notification);
        Metrics.RecordFenced(SentinelMetrics.FencedWhat.Notification);
        Metrics.RecordFenced(SentinelMetrics.FencedWhat.State);
        Metrics.RecordFenced(SentinelMetrics.FencedWhat.Incident);

        Assert.Equal(
            Text(
                "# HELP rollback_sentinel_fenced_total Times this sentinel was fenced: a version or lease it held had been taken over by another (it was paused or cut off), so its write or side effect was refused, by what (state, incident, action, notification).",
                "# TYPE rollback_sentinel_fenced_total counter",
                "rollback_sentinel_fenced_total{what=\"action\"} 1",
                "rollback_sentinel_fenced_total{what=\"incident\"} 1",
                "rollback_sentinel_fenced_total{what=\"notification\"} 2",
                "rollback_sentinel_fenced_total{what=\"state\"} 1"),
            Collect());
    }

    [Fact]
    public void RecordAction_CountsByPolicyKindAndOutcome()
    {
        Metrics.RecordAction("checkout", "webhook", ActionStatus.Succeeded);
        Metrics.RecordAction("checkout", "webhook", ActionStatus.Succeeded);
        Metrics.RecordAction("checkout", "webhook", ActionStatus.Interrupted);

        Assert.Equal(
            Text(
                "# HELP rollback_sentinel_actions_total Actions run, by adapter kind and outcome (succeeded, failed, interrupted).",
                "# TYPE rollback_sentinel_actions_total counter",
                "rollback_sentinel_actions_total{kind=\"webhook\",outcome=\"interrupted\",policy=\"checkout\"} 1",
                "rollback_sentinel_actions_total{kind=\"webhook\",outcome=\"succeeded\",policy=\"checkout\"} 2"),
            Collect());
    }

    [Fact]
    public void RuleFiles_ValidityIsAGaugePerFileAndForgottenFilesDisappear()
    {
        Metrics.SetRuleFileValid("rules/a.yaml", true);
        Metrics.SetRuleFileValid("rules/b.yaml", false);
        Metrics.SetRuleFileValid("rules/c.yaml", true);
        Metrics.RecordRuleLoadError("rules/b.yaml");

        var before = Collect();
        Metrics.RetainRuleFiles(["rules/a.yaml", "rules/b.yaml"]);
        Metrics.RemoveRuleFile("rules/a.yaml");
        var after = Collect();

        Assert.Equal(
            Text(
                "# HELP rollback_sentinel_rule_load_errors_total Loads of a rule file that found errors; the last good version of the file keeps running.",
                "# TYPE rollback_sentinel_rule_load_errors_total counter",
                "rollback_sentinel_rule_load_errors_total{file=\"rules/b.yaml\"} 1",
                "# HELP rollback_sentinel_rules_valid Whether a rule file loaded without errors (1) or not (0).",
                "# TYPE rollback_sentinel_rules_valid gauge",
                "rollback_sentinel_rules_valid{file=\"rules/a.yaml\"} 1",
                "rollback_sentinel_rules_valid{file=\"rules/b.yaml\"} 0",
                "rollback_sentinel_rules_valid{file=\"rules/c.yaml\"} 1"),
            before);
        Assert.EndsWith(
            Text(
                "# TYPE rollback_sentinel_rules_valid gauge",
                "rollback_sentinel_rules_valid{file=\"rules/b.yaml\"} 0"),
            after);
    }

    [Fact]
    public void TriggerSnapshots_FourGaugesWithSeriesAsOneLabel_AndARemovedPolicyDisappears()
    {
        var snapshots = new List<TriggerSnapshot>
        {
            new("checkout", "errors", LabelSet.Of(("app", "checkout"), ("region", "eu")), TriggerPhase.Firing) { Value = 0.08, Threshold = 0.05 },
            new("search", "latency", LabelSet.Empty, TriggerPhase.Pending) { Value = 0.7, Threshold = 0.6, Baseline = 0.4 },
        };
        Metrics.SetTriggerSnapshotProvider(() => snapshots);

        var before = Collect();
        snapshots.RemoveAt(1);
        var after = Collect();
        Metrics.SetTriggerSnapshotProvider(null);
        var stopped = Collect();

        Assert.Equal(
            Text(
                "# HELP rollback_sentinel_trigger_baseline The baseline a trigger last used, for one series.",
                "# TYPE rollback_sentinel_trigger_baseline gauge",
                "rollback_sentinel_trigger_baseline{policy=\"search\",series=\"{}\",trigger=\"latency\"} 0.4",
                "# HELP rollback_sentinel_trigger_state Phase of a trigger for one series: 0 ok, 1 pending, 2 firing.",
                "# TYPE rollback_sentinel_trigger_state gauge",
                "rollback_sentinel_trigger_state{policy=\"checkout\",series=\"{app=\\\"checkout\\\", region=\\\"eu\\\"}\",trigger=\"errors\"} 2",
                "rollback_sentinel_trigger_state{policy=\"search\",series=\"{}\",trigger=\"latency\"} 1",
                "# HELP rollback_sentinel_trigger_threshold The effective threshold a trigger last compared against, for one series.",
                "# TYPE rollback_sentinel_trigger_threshold gauge",
                "rollback_sentinel_trigger_threshold{policy=\"checkout\",series=\"{app=\\\"checkout\\\", region=\\\"eu\\\"}\",trigger=\"errors\"} 0.05",
                "rollback_sentinel_trigger_threshold{policy=\"search\",series=\"{}\",trigger=\"latency\"} 0.6",
                "# HELP rollback_sentinel_trigger_value The value a trigger last compared, for one series.",
                "# TYPE rollback_sentinel_trigger_value gauge",
                "rollback_sentinel_trigger_value{policy=\"checkout\",series=\"{app=\\\"checkout\\\", region=\\\"eu\\\"}\",trigger=\"errors\"} 0.08",
                "rollback_sentinel_trigger_value{policy=\"search\",series=\"{}\",trigger=\"latency\"} 0.7"),
            before);
        Assert.DoesNotContain("search", after);
        Assert.DoesNotContain("rollback_sentinel_trigger_baseline{", after);
        Assert.Contains("rollback_sentinel_trigger_state{policy=\"checkout\",series=\"{app=\\\"checkout\\\", region=\\\"eu\\\"}\",trigger=\"errors\"} 2\n", after);

        // No series at all; a family, once used, keeps its HELP and TYPE lines (prometheus-net), which Prometheus ignores.
        Assert.All(stopped.Split('\n', StringSplitOptions.RemoveEmptyEntries), line => Assert.StartsWith("# ", line, StringComparison.Ordinal));
    }

    [Fact]
    public void TriggerSnapshots_ProviderThrows_GaugesAreLeftOutAndTheRestIsServed()
    {
        Metrics.RecordEvaluation("checkout", "errors", VerdictKind.Error);
        Metrics.SetTriggerSnapshotProvider(() => throw new InvalidOperationException("state store unavailable"));

        var text = Collect();

        Assert.Contains("rollback_sentinel_evaluations_total{policy=\"checkout\",trigger=\"errors\",verdict=\"error\"} 1\n", text);
        Assert.DoesNotContain("rollback_sentinel_trigger_", text);
    }

    [Fact]
    public async Task WithMetrics_TimesEachBackendRequestAndCountsFailuresByKind()
    {
        var time = new ManualTimeProvider(new DateTimeOffset(2025, 1, 1, 0, 0, 0, TimeSpan.Zero));
        var backend = new ScriptedMetricsSource(time);
        var source = backend.WithMetrics(Metrics, time);

        await source.QueryAsync("up", time.GetUtcNow(), CancellationToken.None);
        backend.Failure = new MetricsQueryException(MetricsErrorKind.Timeout, "up", "timed out");
        await Assert.ThrowsAsync<MetricsQueryException>(() => source.QueryRangeAsync("up", time.GetUtcNow(), time.GetUtcNow(), TimeSpan.FromMinutes(1), CancellationToken.None));

        var text = Collect();
        Assert.Contains(
            Text(
                "# HELP rollback_sentinel_backend_request_errors_total Failed requests to the metrics backend, by kind (unreachable, timeout, bad_query, server_error, invalid_response, unauthorized).",
                "# TYPE rollback_sentinel_backend_request_errors_total counter",
                "rollback_sentinel_backend_request_errors_total{kind=\"timeout\"} 1"),
            text);
        Assert.Contains("rollback_sentinel_backend_request_duration_seconds_bucket{endpoint=\"query\",le=\"0.025\"} 0\n", text);
        Assert.Contains("rollback_sentinel_backend_request_duration_seconds_bucket{endpoint=\"query\",le=\"0.05\"} 1\n", text);
        Assert.Contains("rollback_sentinel_backend_request_duration_seconds_sum{endpoint=\"query\"} 0.05\n", text);
        Assert.Contains("rollback_sentinel_backend_request_duration_seconds_count{endpoint=\"query_range\"} 1\n", text);
    }

    [Fact]
    public void RecordCalls_OnceTheirTagSetsAreKnown_AllocateNothing()
    {
        var metrics = Metrics;
        var verdict = Verdict(VerdictKind.Breach, "cart");
        var decision = new Decision { Policy = "checkout", Trigger = "errors", Labels = verdict.Labels, At = default, Kind = DecisionKind.Act, Action = TriggerAction.Page, Disarmed = true, Verdict = verdict };
        void RecordAll()
        {
            metrics.RecordDecision(decision);
            metrics.RecordChange("checkout", Core.Changes.ChangeSource.Target);
            metrics.RecordEvaluation("checkout", "errors", VerdictKind.Breach);
            metrics.RecordEvaluationDuration(TimeSpan.FromMilliseconds(20));
            metrics.RecordAction("checkout", "webhook", ActionStatus.Failed);
            metrics.RecordBackendRequest(SentinelMetrics.BackendEndpoints.Query, TimeSpan.FromMilliseconds(5), MetricsErrorKind.Unreachable);
        }

        RecordAll();
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 1000; i++)
        {
            RecordAll();
        }

        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(0, allocated);
        Assert.Contains("rollback_sentinel_evaluations_total{policy=\"checkout\",trigger=\"errors\",verdict=\"breach\"} 1001\n", Collect());
    }

    [Fact]
    public void TwoInstances_EachHasItsOwnRegistry_AndNoProcessOrRuntimeMetricsAreAdded()
    {
        using var other = new SentinelMetrics();
        Metrics.RecordEvaluation("checkout", "errors", VerdictKind.Pass);
        other.RecordEvaluation("search", "latency", VerdictKind.Breach);

        var text = Collect();

        Assert.Equal(
            Text(
                "# HELP rollback_sentinel_evaluations_total Trigger verdicts, one per trigger and series at each evaluation, by verdict (pass, breach, inconclusive, error).",
                "# TYPE rollback_sentinel_evaluations_total counter",
                "rollback_sentinel_evaluations_total{policy=\"checkout\",trigger=\"errors\",verdict=\"pass\"} 1"),
            text);
        Assert.DoesNotContain("checkout", Exposition.Collect(other));
        Assert.DoesNotContain("search", text);
    }

    private static Verdict Verdict(VerdictKind kind, string app) => new()
    {
        Kind = kind,
        Reason = VerdictReason.WithinThreshold,
        Labels = LabelSet.Of(("app", app)),
        Summary = "test",
    };

    /// <summary>Answers after 50 ms of fake time, or fails as told.</summary>
    private sealed class ScriptedMetricsSource(ManualTimeProvider time) : IMetricsSource
    {
        public MetricsQueryException? Failure { get; set; }

        public Task<IReadOnlyList<Sample>> QueryAsync(string query, DateTimeOffset at, CancellationToken cancellationToken)
        {
            time.Advance(TimeSpan.FromMilliseconds(50));
            return Failure is null ? Task.FromResult<IReadOnlyList<Sample>>([]) : Task.FromException<IReadOnlyList<Sample>>(Failure);
        }

        public Task<IReadOnlyList<RangeSeries>> QueryRangeAsync(
            string query, DateTimeOffset start, DateTimeOffset end, TimeSpan step, CancellationToken cancellationToken)
        {
            time.Advance(TimeSpan.FromMilliseconds(50));
            return Failure is null ? Task.FromResult<IReadOnlyList<RangeSeries>>([]) : Task.FromException<IReadOnlyList<RangeSeries>>(Failure);
        }
    }
}
