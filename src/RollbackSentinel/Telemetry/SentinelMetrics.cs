using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Text;
using RollbackSentinel.Core.Changes;
using RollbackSentinel.Core.Evaluation;
using RollbackSentinel.Core.Incidents;
using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Core.Policies;
using RollbackSentinel.Core.State;

namespace RollbackSentinel.Telemetry;

/// <summary>
/// The daemon's own metrics, on the meter <see cref="MeterName"/>, named as Prometheus wants them
/// (<c>rollback_sentinel_*</c>, base units, <c>_total</c> on counters) so any exporter shows the same names.
/// </summary>
/// <remarks>
/// Per-trigger and per-file state is exposed through observable gauges: the host reports what exists
/// now (<see cref="SetTriggerSnapshotProvider"/>, <see cref="SetRuleFileValid"/> / <see cref="RetainRuleFiles"/>),
/// and a removed policy or file simply stops being reported, so its series disappear from the next scrape.
/// Counters and histograms are tagged by policy, trigger, kind: bounded by the rules, never by series labels.
/// </remarks>
public sealed class SentinelMetrics : IDisposable
{
    public const string MeterName = "RollbackSentinel";

    /// <summary>Histogram buckets in seconds from 1 ms to 30 s: a fast instant query up to a slow, timed-out evaluation.</summary>
    public static readonly IReadOnlyList<double> DurationBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

    private static readonly string[] VerdictNames = SnakeCaseNames<VerdictKind>();
    private static readonly string[] ActionStatusNames = SnakeCaseNames<ActionStatus>();
    private static readonly string[] ErrorKindNames = SnakeCaseNames<MetricsErrorKind>();
    private static readonly string[] DecisionKindNames = SnakeCaseNames<DecisionKind>();
    private static readonly string[] TriggerActionNames = SnakeCaseNames<TriggerAction>();
    private static readonly string[] ChangeSourceNames = SnakeCaseNames<ChangeSource>();

    private readonly Meter _meter;
    private readonly bool _ownsMeter;
    private readonly Counter<long> _evaluations;
    private readonly Histogram<double> _evaluationDuration;
    private readonly Counter<long> _evaluationFailures;
    private readonly Counter<long> _actions;
    private readonly Counter<long> _pages;
    private readonly Counter<long> _targetReads;
    private readonly Counter<long> _ruleLoadErrors;
    private readonly Counter<long> _backendErrors;
    private readonly Histogram<double> _backendDuration;
    private readonly Histogram<double> _scheduleLag;
    private readonly Counter<long> _decisions;
    private readonly Counter<long> _changes;
    private readonly Counter<long> _changeDetectionErrors;
    private readonly Counter<long> _storeConflicts;
    private readonly Counter<long> _foreignPolicyRuns;
    private readonly Counter<long> _fenced;
    private readonly ConcurrentDictionary<string, bool> _ruleFiles = new(StringComparer.Ordinal);
    private Func<IEnumerable<TriggerSnapshot>>? _triggerSnapshots;
    private Func<ClusterSnapshot>? _cluster;
    private int _disposed;

    /// <summary>Creates the instruments on a meter from <paramref name="meterFactory"/>, which owns and disposes it.</summary>
    public SentinelMetrics(IMeterFactory meterFactory)
        : this(CreateMeter(meterFactory), ownsMeter: false)
    {
    }

    /// <summary>Creates the instruments on a meter of its own, disposed with this instance (for tools without DI).</summary>
    public SentinelMetrics()
        : this(new Meter(MeterName), ownsMeter: true)
    {
    }

    private SentinelMetrics(Meter meter, bool ownsMeter)
    {
        _meter = meter;
        _ownsMeter = ownsMeter;
        _evaluations = meter.CreateCounter<long>(
            Names.Evaluations, "{verdict}", "Trigger verdicts, one per trigger and series at each evaluation, by verdict (pass, breach, inconclusive, error).");
        _evaluationDuration = meter.CreateHistogram(
            Names.EvaluationDuration, "s", "Time to evaluate a policy: every query and every trigger.", advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = DurationBuckets });
        _evaluationFailures = meter.CreateCounter<long>(
            Names.EvaluationFailures, "{evaluation}", "Policy evaluations that produced no verdicts, by reason (timeout, error); the policy's state did not advance.");
        _actions = meter.CreateCounter<long>(
            Names.Actions, "{action}", "Actions run, by adapter kind and outcome (succeeded, failed, interrupted).");
        _pages = meter.CreateCounter<long>(
            Names.Pages, "{page}", "Pages sent to humans because an action failed or was interrupted.");
        _targetReads = meter.CreateCounter<long>(
            Names.TargetReads, "{read}", "Reads of a target's revision for change detection (kubectl, helm), by policy, target kind and outcome (ok, failed).");
        _ruleLoadErrors = meter.CreateCounter<long>(
            Names.RuleLoadErrors, "{error}", "Loads of a rule file that found errors; the last good version of the file keeps running.");
        meter.CreateObservableGauge(
            Names.RulesValid, ObserveRuleFiles, unit: null, description: "Whether a rule file loaded without errors (1) or not (0).");
        _backendErrors = meter.CreateCounter<long>(
            Names.BackendRequestErrors, "{error}", "Failed requests to the metrics backend, by kind (unreachable, timeout, bad_query, server_error, invalid_response, unauthorized).");
        _backendDuration = meter.CreateHistogram(
            Names.BackendRequestDuration, "s", "Duration of requests to the metrics backend, failed ones included, by endpoint (query, query_range).", advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = DurationBuckets });
        _scheduleLag = meter.CreateHistogram(
            Names.ScheduleLag, "s", "How late evaluations start after their scheduled slot (one histogram for all policies).", advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = DurationBuckets });
        _decisions = meter.CreateCounter<long>(
            Names.Decisions, "{decision}", "Decisions, by policy, trigger, kind (act, suppressed_by_cooldown, inconclusive_run, resolved), the action taken (rollback, page, notify) and whether a rollback trigger was disarmed (fired outside its watch window, so it took spec.watch.outside).");
        _changes = meter.CreateCounter<long>(
            Names.Changes, "{change}", "Changes recorded, by policy and source (api, target, query); a revision seen before is not counted again.");
        _changeDetectionErrors = meter.CreateCounter<long>(
            Names.ChangeDetectionErrors, "{error}", "Evaluations whose spec.watch.detect.query failed, by policy: no change was recorded from them.");
        _storeConflicts = meter.CreateCounter<long>(
            Names.StoreConflicts, "{conflict}", "Evaluations refused by the store because another writer committed the policy's state first, by policy: nothing was committed, no action ran, and the next evaluation reloads the state.");
        _foreignPolicyRuns = meter.CreateCounter<long>(
            Names.ClusterForeignPolicyRuns, "{run}", "Slots of a policy fired on this node although its rules do not have the policy (nodes with different rules versions share the cluster's schedules), by policy: the slot was skipped here.");
        _fenced = meter.CreateCounter<long>(
            Names.Fenced, "{write}", "Times this sentinel was fenced: a version or lease it held had been taken over by another (it was paused or cut off), so its write or side effect was refused, by what (state, incident, action, notification).");
        meter.CreateObservableGauge(
            Names.TriggerState, () => ObserveTriggers<int>(static s => (int)s.Phase), unit: null, description: "Phase of a trigger for one series: 0 ok, 1 pending, 2 firing.");
        meter.CreateObservableGauge(
            Names.TriggerValue, () => ObserveTriggers(static s => s.Value), unit: null, description: "The value a trigger last compared, for one series.");
        meter.CreateObservableGauge(
            Names.TriggerThreshold, () => ObserveTriggers(static s => s.Threshold), unit: null, description: "The effective threshold a trigger last compared against, for one series.");
        meter.CreateObservableGauge(
            Names.TriggerBaseline, () => ObserveTriggers(static s => s.Baseline), unit: null, description: "The baseline a trigger last used, for one series.");
        meter.CreateObservableGauge(
            Names.ClusterNodes, ObserveClusterNodes, unit: null, description: "Nodes the last cluster check-in listed, by state: alive (checked in within three check-in intervals) or dead.");
        meter.CreateObservableGauge(
            Names.ClusterRulesVersions, () => ObserveCluster(static c => c.RulesVersions), unit: null, description: "Distinct rules versions among alive nodes; more than 1: the nodes run different rules.");
        meter.CreateObservableGauge(
            Names.RulesVersionInfo, ObserveRulesVersion, unit: null, description: "The version of the rules this node runs (1, labelled with it).");
        meter.CreateObservableGauge(
            Names.StoreUp, () => ObserveCluster(static c => c.StoreUp), unit: null, description: "Whether the store answered this node's last check-in (1) or not (0).");
        meter.CreateObservableGauge(
            Names.ClusterClockSkew, ObserveClockSkew, unit: "s", description: "This node's clock minus the store's (PostgreSQL's), signed, as measured at its last check-in; 0 on SQLite (the store runs in this process, on its clock).");
    }

    /// <summary>Records one policy evaluation: its duration and every verdict, by trigger and kind.</summary>
    public void RecordPolicyEvaluation(string policy, TimeSpan duration, IReadOnlyList<TriggerVerdicts> triggers)
    {
        ArgumentNullException.ThrowIfNull(triggers);
        RecordEvaluationDuration(duration);
        foreach (var trigger in triggers)
        {
            foreach (var verdict in trigger.Verdicts)
            {
                RecordEvaluation(policy, trigger.Trigger.Name, verdict.Kind);
            }
        }
    }

    /// <summary>Counts one verdict of <paramref name="trigger"/> (for one series).</summary>
    public void RecordEvaluation(string policy, string trigger, VerdictKind verdict) =>
        RecordEvaluation(policy, trigger, NameOf(VerdictNames, (int)verdict, verdict));

    // Label values only ever come from the enums above, so the series stay a small fixed set.
    private void RecordEvaluation(string policy, string trigger, string verdict) =>
        _evaluations.Add(1, new(Labels.Policy, policy), new(Labels.Trigger, trigger), new(Labels.Verdict, verdict));

    /// <summary>
    /// Records how long a policy evaluation took. One histogram for all policies: per policy it would be 17
    /// series each, 2.3 MB per scrape at 1,000 policies (bench/README.md); a slow policy shows in its logs.
    /// </summary>
    public void RecordEvaluationDuration(TimeSpan duration) => RecordEvaluationDuration(duration.TotalSeconds);

    public void RecordEvaluationDuration(double seconds) => _evaluationDuration.Record(seconds);

    /// <summary>Records how late an evaluation started after its scheduled slot.</summary>
    public void RecordScheduleLag(TimeSpan lag) => _scheduleLag.Record(Math.Max(0, lag.TotalSeconds));

    /// <summary>Counts an evaluation cancelled because it ran past its time budget.</summary>
    public void RecordEvaluationTimeout(string policy) =>
        _evaluationFailures.Add(1, new(Labels.Policy, policy), new(Labels.Reason, FailureReasons.Timeout));

    /// <summary>Counts an evaluation that failed outside the verdicts (the store, a bug): its state did not advance.</summary>
    public void RecordEvaluationFailure(string policy) =>
        _evaluationFailures.Add(1, new(Labels.Policy, policy), new(Labels.Reason, FailureReasons.Error));

    /// <summary>Counts an action of adapter <paramref name="kind"/> (<c>webhook</c>, <c>kubectl</c>) that ended as <paramref name="outcome"/>.</summary>
    public void RecordAction(string policy, string kind, ActionStatus outcome) =>
        RecordAction(policy, kind, NameOf(ActionStatusNames, (int)outcome, outcome));

    private void RecordAction(string policy, string kind, string outcome) =>
        _actions.Add(1, new(Labels.Policy, policy), new(Labels.Kind, kind), new(Labels.Outcome, outcome));

    /// <summary>Counts a read of <paramref name="policy"/>'s target revision (change detection), by target kind, ok or failed.</summary>
    public void RecordTargetRead(string policy, string kind, bool ok) =>
        _targetReads.Add(1, new(Labels.Policy, policy), new(Labels.Kind, kind), new(Labels.Outcome, ok ? "ok" : "failed"));

    /// <summary>Counts a decision: its kind, the action it took (for a disarmed rollback trigger, <c>spec.watch.outside</c>) and whether it was disarmed.</summary>
    public void RecordDecision(Decision decision)
    {
        ArgumentNullException.ThrowIfNull(decision);
        var tags = new TagList
        {
            { Labels.Policy, decision.Policy },
            { Labels.Trigger, decision.Trigger },
            { Labels.Kind, NameOf(DecisionKindNames, (int)decision.Kind, decision.Kind) },
            { Labels.Action, NameOf(TriggerActionNames, (int)decision.Action, decision.Action) },
            { Labels.Disarmed, decision.Disarmed ? "true" : "false" },
        };
        _decisions.Add(1, in tags);
    }

    /// <summary>Counts a change newly recorded for <paramref name="policy"/> from <paramref name="source"/>.</summary>
    public void RecordChange(string policy, ChangeSource source) =>
        _changes.Add(1, new(Labels.Policy, policy), new(Labels.Source, NameOf(ChangeSourceNames, (int)source, source)));

    /// <summary>Counts an evaluation of <paramref name="policy"/> whose detect query failed.</summary>
    public void RecordChangeDetectionError(string policy) =>
        _changeDetectionErrors.Add(1, new KeyValuePair<string, object?>(Labels.Policy, policy));

    /// <summary>Counts an evaluation of <paramref name="policy"/> whose commit the store refused (a stale state version).</summary>
    public void RecordStoreConflict(string policy) =>
        _storeConflicts.Add(1, new KeyValuePair<string, object?>(Labels.Policy, policy));

    /// <summary>Counts a slot of <paramref name="policy"/> fired here although this node's rules do not have it (skipped).</summary>
    public void RecordForeignPolicyRun(string policy) =>
        _foreignPolicyRuns.Add(1, new KeyValuePair<string, object?>(Labels.Policy, policy));

    /// <summary>Counts a write or side effect refused because this sentinel was superseded (<see cref="FencedWhat"/>).</summary>
    public void RecordFenced(string what) =>
        _fenced.Add(1, new KeyValuePair<string, object?>(Labels.What, what));

    /// <summary>Counts a page to humans about <paramref name="policy"/> (an action failed or was interrupted).</summary>
    public void RecordPage(string policy) => _pages.Add(1, new KeyValuePair<string, object?>(Labels.Policy, policy));

    /// <summary>Counts a load of <paramref name="file"/> that found errors.</summary>
    public void RecordRuleLoadError(string file) =>
        _ruleLoadErrors.Add(1, new KeyValuePair<string, object?>(Labels.File, file));

    /// <summary>Sets <c>rollback_sentinel_rules_valid{file}</c>; the file is reported until removed.</summary>
    public void SetRuleFileValid(string file, bool valid)
    {
        ArgumentNullException.ThrowIfNull(file);
        _ruleFiles[file] = valid;
    }

    /// <summary>Stops reporting <paramref name="file"/> (it was deleted).</summary>
    public void RemoveRuleFile(string file)
    {
        ArgumentNullException.ThrowIfNull(file);
        _ruleFiles.TryRemove(file, out _);
    }

    /// <summary>Stops reporting every file not in <paramref name="files"/>: call after a reload with the files it saw.</summary>
    public void RetainRuleFiles(IEnumerable<string> files)
    {
        ArgumentNullException.ThrowIfNull(files);
        var keep = new HashSet<string>(files, StringComparer.Ordinal);
        foreach (var file in _ruleFiles.Keys)
        {
            if (!keep.Contains(file))
            {
                _ruleFiles.TryRemove(file, out _);
            }
        }
    }

    /// <summary>
    /// Records one request to the metrics backend. <paramref name="endpoint"/> is <see cref="BackendEndpoints.Query"/>
    /// or <see cref="BackendEndpoints.QueryRange"/>; <paramref name="error"/> is null when it succeeded.
    /// </summary>
    public void RecordBackendRequest(string endpoint, TimeSpan duration, MetricsErrorKind? error = null)
    {
        _backendDuration.Record(duration.TotalSeconds, new KeyValuePair<string, object?>(Labels.Endpoint, endpoint));
        if (error is { } kind)
        {
            _backendErrors.Add(1, new KeyValuePair<string, object?>(Labels.Kind, NameOf(ErrorKindNames, (int)kind, kind)));
        }
    }

    /// <summary>
    /// Sets where the per-trigger gauges (state, value, threshold, baseline) come from; null stops them.
    /// The provider is called once per gauge at every scrape, from the scrape's thread: return a snapshot,
    /// cheaply, and only what exists now, so removed policies and forgotten series drop out. A provider that
    /// throws loses those gauges for that scrape only.
    /// </summary>
    public void SetTriggerSnapshotProvider(Func<IEnumerable<TriggerSnapshot>>? provider) =>
        Volatile.Write(ref _triggerSnapshots, provider);

    /// <summary>
    /// Sets where the cluster gauges (nodes by state, rules versions, this node's rules version, the store's reachability)
    /// come from; null stops them. Called at every scrape: return a snapshot, cheaply.
    /// </summary>
    public void SetClusterSnapshotProvider(Func<ClusterSnapshot>? provider) =>
        Volatile.Write(ref _cluster, provider);

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        Volatile.Write(ref _triggerSnapshots, null);
        Volatile.Write(ref _cluster, null);
        _ruleFiles.Clear();
        if (_ownsMeter)
        {
            _meter.Dispose();
        }
    }

    private static Meter CreateMeter(IMeterFactory meterFactory)
    {
        ArgumentNullException.ThrowIfNull(meterFactory);
        return meterFactory.Create(new MeterOptions(MeterName));
    }

    private IEnumerable<Measurement<int>> ObserveRuleFiles()
    {
        foreach (var (file, valid) in _ruleFiles)
        {
            yield return new Measurement<int>(valid ? 1 : 0, new KeyValuePair<string, object?>(Labels.File, file));
        }
    }

    private IEnumerable<Measurement<int>> ObserveCluster(Func<ClusterSnapshot, int?> select)
    {
        if (Volatile.Read(ref _cluster) is { } provider && select(provider()) is { } value)
        {
            yield return new Measurement<int>(value);
        }
    }

    private IEnumerable<Measurement<double>> ObserveClockSkew()
    {
        if (Volatile.Read(ref _cluster) is { } provider && provider().ClockSkewSeconds is { } skew)
        {
            yield return new Measurement<double>(skew);
        }
    }

    private IEnumerable<Measurement<int>> ObserveClusterNodes()
    {
        if (Volatile.Read(ref _cluster) is { } provider && provider() is { Alive: { } alive, Dead: { } dead })
        {
            yield return new Measurement<int>(alive, new KeyValuePair<string, object?>(Labels.State, NodeStates.Alive));
            yield return new Measurement<int>(dead, new KeyValuePair<string, object?>(Labels.State, NodeStates.Dead));
        }
    }

    private IEnumerable<Measurement<int>> ObserveRulesVersion()
    {
        if (Volatile.Read(ref _cluster) is { } provider && provider().RulesVersion is { } version)
        {
            yield return new Measurement<int>(1, new KeyValuePair<string, object?>(Labels.Version, version));
        }
    }

    private IEnumerable<Measurement<T>> ObserveTriggers<T>(Func<TriggerSnapshot, T?> select)
        where T : struct
    {
        var provider = Volatile.Read(ref _triggerSnapshots);
        if (provider is null)
        {
            yield break;
        }

        foreach (var snapshot in provider())
        {
            if (select(snapshot) is not { } value)
            {
                continue;
            }

            var tags = new TagList
            {
                { Labels.Policy, snapshot.Policy },
                { Labels.Trigger, snapshot.Trigger },
                { Labels.Series, snapshot.Series.ToString() },
            };
            yield return new Measurement<T>(value, in tags);
        }
    }

    /// <summary>The label value of an enum member without boxing it (this is on every record call).</summary>
    private static string NameOf<TEnum>(string[] names, int index, TEnum value)
        where TEnum : struct, Enum =>
        (uint)index < (uint)names.Length ? names[index] : SnakeCase(value.ToString());

    private static string[] SnakeCaseNames<TEnum>()
        where TEnum : struct, Enum
    {
        // Indexed by value: the enums used here number their members 0, 1, 2, ...
        var values = Enum.GetValues<TEnum>();
        var names = new string[values.Length];
        foreach (var value in values)
        {
            var index = Convert.ToInt32(value, System.Globalization.CultureInfo.InvariantCulture);
            if ((uint)index < (uint)names.Length)
            {
                names[index] = SnakeCase(value.ToString());
            }
        }

        return names;
    }

    private static string SnakeCase(string pascal)
    {
        var sb = new StringBuilder(pascal.Length + 4);
        foreach (var c in pascal)
        {
            if (char.IsUpper(c) && sb.Length > 0)
            {
                sb.Append('_');
            }

            sb.Append(char.ToLowerInvariant(c));
        }

        return sb.ToString();
    }

    /// <summary>The Prometheus names of the daemon's metrics.</summary>
    public static class Names
    {
        public const string Evaluations = "rollback_sentinel_evaluations_total";
        public const string EvaluationDuration = "rollback_sentinel_evaluation_duration_seconds";
        public const string EvaluationFailures = "rollback_sentinel_evaluation_failures_total";
        public const string Actions = "rollback_sentinel_actions_total";
        public const string Pages = "rollback_sentinel_pages_total";
        public const string TargetReads = "rollback_sentinel_target_reads_total";
        public const string RuleLoadErrors = "rollback_sentinel_rule_load_errors_total";
        public const string RulesValid = "rollback_sentinel_rules_valid";
        public const string BackendRequestErrors = "rollback_sentinel_backend_request_errors_total";
        public const string BackendRequestDuration = "rollback_sentinel_backend_request_duration_seconds";
        public const string ScheduleLag = "rollback_sentinel_schedule_lag_seconds";
        public const string Decisions = "rollback_sentinel_decisions_total";
        public const string Changes = "rollback_sentinel_changes_total";
        public const string ChangeDetectionErrors = "rollback_sentinel_change_detection_errors_total";
        public const string StoreConflicts = "rollback_sentinel_store_conflicts_total";
        public const string ClusterForeignPolicyRuns = "rollback_sentinel_cluster_foreign_policy_runs_total";
        public const string Fenced = "rollback_sentinel_fenced_total";
        public const string TriggerState = "rollback_sentinel_trigger_state";
        public const string TriggerValue = "rollback_sentinel_trigger_value";
        public const string TriggerThreshold = "rollback_sentinel_trigger_threshold";
        public const string TriggerBaseline = "rollback_sentinel_trigger_baseline";
        public const string ClusterNodes = "rollback_sentinel_cluster_nodes";
        public const string ClusterRulesVersions = "rollback_sentinel_cluster_rules_versions";
        public const string RulesVersionInfo = "rollback_sentinel_rules_version_info";
        public const string StoreUp = "rollback_sentinel_store_up";
        public const string ClusterClockSkew = "rollback_sentinel_cluster_clock_skew_seconds";
    }

    /// <summary>Label names, shared so dashboards and tests spell them alike.</summary>
    public static class Labels
    {
        public const string Policy = "policy";
        public const string Trigger = "trigger";
        public const string Verdict = "verdict";
        public const string Kind = "kind";
        public const string Outcome = "outcome";
        public const string File = "file";
        public const string Endpoint = "endpoint";
        public const string Series = "series";
        public const string Reason = "reason";
        public const string Action = "action";
        public const string Disarmed = "disarmed";
        public const string Source = "source";
        public const string State = "state";
        public const string Version = "version";
        public const string What = "what";
    }

    /// <summary>Values of the <c>state</c> label of <c>rollback_sentinel_cluster_nodes</c>.</summary>
    public static class NodeStates
    {
        public const string Alive = "alive";
        public const string Dead = "dead";
    }

    /// <summary>Values of the <c>what</c> label of <c>rollback_sentinel_fenced_total</c>.</summary>
    public static class FencedWhat
    {
        /// <summary>A policy state commit refused: another sentinel committed the state first.</summary>
        public const string State = "state";

        /// <summary>An incident move refused: another sentinel moved the incident or its action first.</summary>
        public const string Incident = "incident";

        /// <summary>An action's lease could not be renewed: its side effect is not made, or was made under a lease that ended.</summary>
        public const string Action = "action";

        /// <summary>A channel delivery another sentinel claims: not published by this one.</summary>
        public const string Notification = "notification";

        /// <summary>This node was silent past the failover threshold (paused, frozen, cut off) and taken for dead; counted when it checks in again.</summary>
        public const string Node = "node";
    }

    /// <summary>Values of the <c>reason</c> label of <c>rollback_sentinel_evaluation_failures_total</c>.</summary>
    public static class FailureReasons
    {
        public const string Timeout = "timeout";
        public const string Error = "error";
    }

    /// <summary>Values of the <c>endpoint</c> label of <c>rollback_sentinel_backend_request_duration_seconds</c>.</summary>
    public static class BackendEndpoints
    {
        public const string Query = "query";
        public const string QueryRange = "query_range";
    }
}
