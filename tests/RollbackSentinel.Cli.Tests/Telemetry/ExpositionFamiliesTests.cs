using Microsoft.Extensions.DependencyInjection;
using RollbackSentinel.Telemetry;

namespace RollbackSentinel.Cli.Tests.Telemetry;

/// <summary>
/// The families <c>/metrics</c> shows, as users and dashboards see them: name, type, help and label names. The expected
/// list was captured from the hand-written exporter before <c>/metrics</c> moved to prometheus-net (issue 14), so a
/// family renamed, retyped, re-described or relabelled by the move, or by anything later, fails here.
/// </summary>
public sealed class ExpositionFamiliesTests
{
    /// <summary>One line per family, sorted by name: <c>name type [label,...] help</c>.</summary>
    private static readonly string[] Expected =
    [
        "rollback_sentinel_actions_total counter [kind,outcome,policy] Actions run, by adapter kind and outcome (succeeded, failed, interrupted).",
        "rollback_sentinel_backend_request_duration_seconds histogram [endpoint] Duration of requests to the metrics backend, failed ones included, by endpoint (query, query_range).",
        "rollback_sentinel_backend_request_errors_total counter [kind] Failed requests to the metrics backend, by kind (unreachable, timeout, bad_query, server_error, invalid_response, unauthorized).",
        "rollback_sentinel_change_detection_errors_total counter [policy] Evaluations whose spec.watch.detect.query failed, by policy: no change was recorded from them.",
        "rollback_sentinel_changes_total counter [policy,source] Changes recorded, by policy and source (api, target, query); a revision seen before is not counted again.",
        "rollback_sentinel_cluster_clock_skew_seconds gauge [] This node's clock minus the store's (PostgreSQL's), signed, as measured at its last check-in; 0 on SQLite (the store runs in this process, on its clock).",
        "rollback_sentinel_cluster_foreign_policy_runs_total counter [policy] Slots of a policy fired on this node although its rules do not have the policy (nodes with different rules versions share the cluster's schedules), by policy: the slot was skipped here.",
        "rollback_sentinel_cluster_nodes gauge [state] Nodes the last cluster check-in listed, by state: alive (checked in within three check-in intervals) or dead.",
        "rollback_sentinel_cluster_rules_versions gauge [] Distinct rules versions among alive nodes; more than 1: the nodes run different rules.",
        "rollback_sentinel_decisions_total counter [action,disarmed,kind,policy,trigger] Decisions, by policy, trigger, kind (act, suppressed_by_cooldown, inconclusive_run, resolved), the action taken (rollback, page, notify) and whether a rollback trigger was disarmed (fired outside its watch window, so it took spec.watch.outside).",
        "rollback_sentinel_evaluation_duration_seconds histogram [] Time to evaluate a policy: every query and every trigger.",
        "rollback_sentinel_evaluation_failures_total counter [policy,reason] Policy evaluations that produced no verdicts, by reason (timeout, error); the policy's state did not advance.",
        "rollback_sentinel_evaluations_total counter [policy,trigger,verdict] Trigger verdicts, one per trigger and series at each evaluation, by verdict (pass, breach, inconclusive, error).",
        "rollback_sentinel_fenced_total counter [what] Times this sentinel was fenced: a version or lease it held had been taken over by another (it was paused or cut off), so its write or side effect was refused, by what (state, incident, action, notification).",
        "rollback_sentinel_pages_total counter [policy] Pages sent to humans because an action failed or was interrupted.",
        "rollback_sentinel_rule_load_errors_total counter [file] Loads of a rule file that found errors; the last good version of the file keeps running.",
        "rollback_sentinel_rules_valid gauge [file] Whether a rule file loaded without errors (1) or not (0).",
        "rollback_sentinel_rules_version_info gauge [version] The version of the rules this node runs (1, labelled with it).",
        "rollback_sentinel_schedule_lag_seconds histogram [] How late evaluations start after their scheduled slot (one histogram for all policies).",
        "rollback_sentinel_store_conflicts_total counter [policy] Evaluations refused by the store because another writer committed the policy's state first, by policy: nothing was committed, no action ran, and the next evaluation reloads the state.",
        "rollback_sentinel_store_up gauge [] Whether the store answered this node's last check-in (1) or not (0).",
        "rollback_sentinel_target_reads_total counter [kind,outcome,policy] Reads of a target's revision for change detection (kubectl, helm), by policy, target kind and outcome (ok, failed).",
        "rollback_sentinel_trigger_baseline gauge [policy,series,trigger] The baseline a trigger last used, for one series.",
        "rollback_sentinel_trigger_state gauge [policy,series,trigger] Phase of a trigger for one series: 0 ok, 1 pending, 2 firing.",
        "rollback_sentinel_trigger_threshold gauge [policy,series,trigger] The effective threshold a trigger last compared against, for one series.",
        "rollback_sentinel_trigger_value gauge [policy,series,trigger] The value a trigger last compared, for one series.",
    ];

    [Fact]
    public void Exposition_EveryFamily_KeepsItsNameTypeHelpAndLabelNames()
    {
        using var services = new ServiceCollection().AddSentinelTelemetry().BuildServiceProvider();
        ExpositionSamples.RecordEveryFamily(services.GetRequiredService<SentinelMetrics>());

        var families = ExpositionText.Families(Exposition.Collect(services));

        Assert.Equal(Expected, families.Select(f => f.ToString()));
    }
}
