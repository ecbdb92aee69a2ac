using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Prometheus;
using RollbackSentinel.Core.Changes;
using RollbackSentinel.Core.Evaluation;
using RollbackSentinel.Core.Incidents;
using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Core.Policies;
using RollbackSentinel.Core.State;

namespace RollbackSentinel.Telemetry;

/// <summary>
/// The daemon's own metrics, in a prometheus-net <see cref="CollectorRegistry"/> of their own (<see cref="Registry"/>,
/// served at <c>/metrics</c> by <see cref="TelemetryEndpointRouteBuilderExtensions.MapPrometheusMetrics(IEndpointRouteBuilder, string)"/>),
/// named as Prometheus wants them (<c>rollback_sentinel_*</c>, base units, <c>_total</c> on counters).
/// </summary>
/// <remarks>
/// <para>
/// One registry per instance, never prometheus-net's static default: two hosts in one process (parallel tests) do not
/// share series, and none of the library's process or runtime metrics are added.
/// </para>
/// <para>
/// A family is registered on its first use, so <c>/metrics</c> lists only families with a series, as it always has.
/// Counters and histograms are labelled by policy, trigger, kind: bounded by the rules, never by series labels.
/// Each family declares its labels in name order, so a series reads as it did before prometheus-net.
/// </para>
/// <para>
/// Per-trigger and cluster state comes from providers asked before each scrape (<see cref="SetTriggerSnapshotProvider"/>,
/// <see cref="SetClusterSnapshotProvider"/>); per-file validity is set and retained by the rules watcher
/// (<see cref="SetRuleFileValid"/>, <see cref="RetainRuleFiles"/>). What is no longer reported (a removed policy, a
/// forgotten series, a deleted file) has its series removed, so it disappears from the next scrape.
/// </para>
/// </remarks>
public sealed partial class SentinelMetrics : IDisposable
{
    /// <summary>Histogram buckets in seconds from 1 ms to 30 s: a fast instant query up to a slow, timed-out evaluation.</summary>
    public static readonly IReadOnlyList<double> DurationBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

    private static readonly string[] VerdictNames = SnakeCaseNames<VerdictKind>();
    private static readonly string[] ActionStatusNames = SnakeCaseNames<ActionStatus>();
    private static readonly string[] ErrorKindNames = SnakeCaseNames<MetricsErrorKind>();
    private static readonly string[] DecisionKindNames = SnakeCaseNames<DecisionKind>();
    private static readonly string[] TriggerActionNames = SnakeCaseNames<TriggerAction>();
    private static readonly string[] ChangeSourceNames = SnakeCaseNames<ChangeSource>();

    private readonly MetricFactory _factory;
    private readonly ILogger _logger;

    // Created on first use (see the remarks); prometheus-net hands every caller the same instance for a name, so a race
    // to create one is harmless.
    private Counter? _evaluations;
    private Histogram? _evaluationDuration;
    private Counter? _evaluationFailures;
    private Counter? _actions;
    private Counter? _pages;
    private Counter? _targetReads;
    private Counter? _ruleLoadErrors;
    private Gauge? _rulesValid;
    private Counter? _backendErrors;
    private Histogram? _backendDuration;
    private Histogram? _scheduleLag;
    private Counter? _decisions;
    private Counter? _changes;
    private Counter? _changeDetectionErrors;
    private Counter? _storeConflicts;
    private Counter? _foreignPolicyRuns;
    private Counter? _fenced;
    private Gauge? _triggerState;
    private Gauge? _triggerValue;
    private Gauge? _triggerThreshold;
    private Gauge? _triggerBaseline;
    private Gauge? _clusterNodes;
    private Gauge? _clusterRulesVersions;
    private Gauge? _rulesVersionInfo;
    private Gauge? _storeUp;
    private Gauge? _clusterClockSkew;

    private readonly HashSet<string> _ruleFiles = new(StringComparer.Ordinal);
    private readonly Lock _ruleFilesLock = new();

    // What the last scrape reported, kept across scrapes so that an unchanged series costs a lookup, not an allocation.
    // Only touched under _collectLock (prometheus-net may run the callback of concurrent scrapes at the same time).
    private readonly Dictionary<(string Policy, string Trigger, LabelSet Series), TriggerSeries> _triggerSeries = [];
    private readonly Lock _collectLock = new();
    private int _scrape;
    private Gauge.Child? _nodesAlive;
    private Gauge.Child? _nodesDead;
    private Gauge.Child? _rulesVersionChild;
    private string? _rulesVersion;

    private Func<IEnumerable<TriggerSnapshot>>? _triggerSnapshots;
    private Func<ClusterSnapshot>? _cluster;
    private int _disposed;

    /// <summary>Creates the metrics in a registry of their own.</summary>
    public SentinelMetrics(ILogger<SentinelMetrics>? logger = null)
    {
        _logger = logger ?? (ILogger)NullLogger.Instance;
        Registry = new CollectorRegistry();
        _factory = global::Prometheus.Metrics.WithCustomRegistry(Registry);

        // Exemplars only appear in OpenMetrics, which /metrics does not serve: finding one in the trace context is waste.
        _factory.ExemplarBehavior = ExemplarBehavior.NoExemplars();
        Registry.AddBeforeCollectCallback(BeforeCollect);
    }

    /// <summary>The registry <c>/metrics</c> exports.</summary>
    public CollectorRegistry Registry { get; }

    private Counter Evaluations => _evaluations ??= Counter(Names.Evaluations, Help.Evaluations, Labels.Policy, Labels.Trigger, Labels.Verdict);

    private Histogram EvaluationDuration => _evaluationDuration ??= Histogram(Names.EvaluationDuration, Help.EvaluationDuration);

    private Counter EvaluationFailures => _evaluationFailures ??= Counter(Names.EvaluationFailures, Help.EvaluationFailures, Labels.Policy, Labels.Reason);

    private Counter Actions => _actions ??= Counter(Names.Actions, Help.Actions, Labels.Kind, Labels.Outcome, Labels.Policy);

    private Counter Pages => _pages ??= Counter(Names.Pages, Help.Pages, Labels.Policy);

    private Counter TargetReads => _targetReads ??= Counter(Names.TargetReads, Help.TargetReads, Labels.Kind, Labels.Outcome, Labels.Policy);

    private Counter RuleLoadErrors => _ruleLoadErrors ??= Counter(Names.RuleLoadErrors, Help.RuleLoadErrors, Labels.File);

    private Gauge RulesValid => _rulesValid ??= Gauge(Names.RulesValid, Help.RulesValid, Labels.File);

    private Counter BackendErrors => _backendErrors ??= Counter(Names.BackendRequestErrors, Help.BackendRequestErrors, Labels.Kind);

    private Histogram BackendDuration => _backendDuration ??= Histogram(Names.BackendRequestDuration, Help.BackendRequestDuration, Labels.Endpoint);

    private Histogram ScheduleLag => _scheduleLag ??= Histogram(Names.ScheduleLag, Help.ScheduleLag);

    private Counter Decisions => _decisions ??= Counter(Names.Decisions, Help.Decisions, Labels.Action, Labels.Disarmed, Labels.Kind, Labels.Policy, Labels.Trigger);

    private Counter Changes => _changes ??= Counter(Names.Changes, Help.Changes, Labels.Policy, Labels.Source);

    private Counter ChangeDetectionErrors => _changeDetectionErrors ??= Counter(Names.ChangeDetectionErrors, Help.ChangeDetectionErrors, Labels.Policy);

    private Counter StoreConflicts => _storeConflicts ??= Counter(Names.StoreConflicts, Help.StoreConflicts, Labels.Policy);

    private Counter ForeignPolicyRuns => _foreignPolicyRuns ??= Counter(Names.ClusterForeignPolicyRuns, Help.ClusterForeignPolicyRuns, Labels.Policy);

    private Counter Fenced => _fenced ??= Counter(Names.Fenced, Help.Fenced, Labels.What);

    private Gauge TriggerState => _triggerState ??= Gauge(Names.TriggerState, Help.TriggerState, Labels.Policy, Labels.Series, Labels.Trigger);

    private Gauge TriggerValue => _triggerValue ??= Gauge(Names.TriggerValue, Help.TriggerValue, Labels.Policy, Labels.Series, Labels.Trigger);

    private Gauge TriggerThreshold => _triggerThreshold ??= Gauge(Names.TriggerThreshold, Help.TriggerThreshold, Labels.Policy, Labels.Series, Labels.Trigger);

    private Gauge TriggerBaseline => _triggerBaseline ??= Gauge(Names.TriggerBaseline, Help.TriggerBaseline, Labels.Policy, Labels.Series, Labels.Trigger);

    private Gauge ClusterNodes => _clusterNodes ??= Gauge(Names.ClusterNodes, Help.ClusterNodes, Labels.State);

    private Gauge RulesVersionInfo => _rulesVersionInfo ??= Gauge(Names.RulesVersionInfo, Help.RulesVersionInfo, Labels.Version);

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
        Evaluations.WithLabels([policy, trigger, NameOf(VerdictNames, (int)verdict, verdict)]).Inc();

    /// <summary>
    /// Records how long a policy evaluation took. One histogram for all policies: per policy it would be 17
    /// series each, 2.3 MB per scrape at 1,000 policies (bench/README.md); a slow policy shows in its logs.
    /// </summary>
    public void RecordEvaluationDuration(TimeSpan duration) => RecordEvaluationDuration(duration.TotalSeconds);

    public void RecordEvaluationDuration(double seconds) => EvaluationDuration.Observe(seconds);

    /// <summary>Records how late an evaluation started after its scheduled slot.</summary>
    public void RecordScheduleLag(TimeSpan lag) => ScheduleLag.Observe(Math.Max(0, lag.TotalSeconds));

    /// <summary>Counts an evaluation cancelled because it ran past its time budget.</summary>
    public void RecordEvaluationTimeout(string policy) =>
        EvaluationFailures.WithLabels([policy, FailureReasons.Timeout]).Inc();

    /// <summary>Counts an evaluation that failed outside the verdicts (the store, a bug): its state did not advance.</summary>
    public void RecordEvaluationFailure(string policy) =>
        EvaluationFailures.WithLabels([policy, FailureReasons.Error]).Inc();

    /// <summary>Counts an action of adapter <paramref name="kind"/> (<c>webhook</c>, <c>kubectl</c>) that ended as <paramref name="outcome"/>.</summary>
    public void RecordAction(string policy, string kind, ActionStatus outcome) =>
        Actions.WithLabels([kind, NameOf(ActionStatusNames, (int)outcome, outcome), policy]).Inc();

    /// <summary>Counts a read of <paramref name="policy"/>'s target revision (change detection), by target kind, ok or failed.</summary>
    public void RecordTargetRead(string policy, string kind, bool ok) =>
        TargetReads.WithLabels([kind, ok ? "ok" : "failed", policy]).Inc();

    /// <summary>Counts a decision: its kind, the action it took (for a disarmed rollback trigger, <c>spec.watch.outside</c>) and whether it was disarmed.</summary>
    public void RecordDecision(Decision decision)
    {
        ArgumentNullException.ThrowIfNull(decision);
        Decisions.WithLabels(
            [
                NameOf(TriggerActionNames, (int)decision.Action, decision.Action),
                decision.Disarmed ? "true" : "false",
                NameOf(DecisionKindNames, (int)decision.Kind, decision.Kind),
                decision.Policy,
                decision.Trigger,
            ]).Inc();
    }

    /// <summary>Counts a change newly recorded for <paramref name="policy"/> from <paramref name="source"/>.</summary>
    public void RecordChange(string policy, ChangeSource source) =>
        Changes.WithLabels([policy, NameOf(ChangeSourceNames, (int)source, source)]).Inc();

    /// <summary>Counts an evaluation of <paramref name="policy"/> whose detect query failed.</summary>
    public void RecordChangeDetectionError(string policy) => ChangeDetectionErrors.WithLabels([policy]).Inc();

    /// <summary>Counts an evaluation of <paramref name="policy"/> whose commit the store refused (a stale state version).</summary>
    public void RecordStoreConflict(string policy) => StoreConflicts.WithLabels([policy]).Inc();

    /// <summary>Counts a slot of <paramref name="policy"/> fired here although this node's rules do not have it (skipped).</summary>
    public void RecordForeignPolicyRun(string policy) => ForeignPolicyRuns.WithLabels([policy]).Inc();

    /// <summary>Counts a write or side effect refused because this sentinel was superseded (<see cref="FencedWhat"/>).</summary>
    public void RecordFenced(string what) => Fenced.WithLabels([what]).Inc();

    /// <summary>Counts a page to humans about <paramref name="policy"/> (an action failed or was interrupted).</summary>
    public void RecordPage(string policy) => Pages.WithLabels([policy]).Inc();

    /// <summary>Counts a load of <paramref name="file"/> that found errors.</summary>
    public void RecordRuleLoadError(string file) => RuleLoadErrors.WithLabels([file]).Inc();

    /// <summary>Sets <c>rollback_sentinel_rules_valid{file}</c>; the file is reported until removed.</summary>
    public void SetRuleFileValid(string file, bool valid)
    {
        ArgumentNullException.ThrowIfNull(file);
        lock (_ruleFilesLock)
        {
            _ruleFiles.Add(file);
            RulesValid.WithLabels([file]).Set(valid ? 1 : 0);
        }
    }

    /// <summary>Stops reporting <paramref name="file"/> (it was deleted).</summary>
    public void RemoveRuleFile(string file)
    {
        ArgumentNullException.ThrowIfNull(file);
        lock (_ruleFilesLock)
        {
            if (_ruleFiles.Remove(file))
            {
                RulesValid.RemoveLabelled(file);
            }
        }
    }

    /// <summary>Stops reporting every file not in <paramref name="files"/>: call after a reload with the files it saw.</summary>
    public void RetainRuleFiles(IEnumerable<string> files)
    {
        ArgumentNullException.ThrowIfNull(files);
        var keep = new HashSet<string>(files, StringComparer.Ordinal);
        lock (_ruleFilesLock)
        {
            foreach (var file in _ruleFiles.Where(f => !keep.Contains(f)).ToList())
            {
                _ruleFiles.Remove(file);
                RulesValid.RemoveLabelled(file);
            }
        }
    }

    /// <summary>
    /// Records one request to the metrics backend. <paramref name="endpoint"/> is <see cref="BackendEndpoints.Query"/>
    /// or <see cref="BackendEndpoints.QueryRange"/>; <paramref name="error"/> is null when it succeeded.
    /// </summary>
    public void RecordBackendRequest(string endpoint, TimeSpan duration, MetricsErrorKind? error = null)
    {
        BackendDuration.WithLabels([endpoint]).Observe(duration.TotalSeconds);
        if (error is { } kind)
        {
            BackendErrors.WithLabels([NameOf(ErrorKindNames, (int)kind, kind)]).Inc();
        }
    }

    /// <summary>
    /// Sets where the per-trigger gauges (state, value, threshold, baseline) come from; null stops them.
    /// The provider is called once before every scrape, from the scrape's thread: return a snapshot, cheaply, and only
    /// what exists now, so removed policies and forgotten series drop out. A provider that throws loses those gauges for
    /// that scrape only.
    /// </summary>
    public void SetTriggerSnapshotProvider(Func<IEnumerable<TriggerSnapshot>>? provider) =>
        Volatile.Write(ref _triggerSnapshots, provider);

    /// <summary>
    /// Sets where the cluster gauges (nodes by state, rules versions, this node's rules version, the store's reachability,
    /// the clock skew) come from; null stops them. Called before every scrape: return a snapshot, cheaply.
    /// </summary>
    public void SetClusterSnapshotProvider(Func<ClusterSnapshot>? provider) =>
        Volatile.Write(ref _cluster, provider);

    /// <summary>Stops the providers, so a scrape after the host stopped does not call into its disposed services.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        Volatile.Write(ref _triggerSnapshots, null);
        Volatile.Write(ref _cluster, null);
    }

    private Counter Counter(string name, string help, params string[] labels) => _factory.CreateCounter(name, help, labels);

    private Gauge Gauge(string name, string help, params string[] labels) => _factory.CreateGauge(name, help, labels);

    private Histogram Histogram(string name, string help, params string[] labels) =>
        _factory.CreateHistogram(name, help, labels, new HistogramConfiguration { Buckets = [.. DurationBuckets] });

    private void BeforeCollect()
    {
        lock (_collectLock)
        {
            _scrape++;
            CollectTriggers();
            CollectCluster();
        }
    }

    /// <summary>Sets the four gauges of every series the provider reports and removes those of every series it no longer does.</summary>
    private void CollectTriggers()
    {
        if (Volatile.Read(ref _triggerSnapshots) is { } provider)
        {
            try
            {
                foreach (var snapshot in provider())
                {
                    var key = (snapshot.Policy, snapshot.Trigger, snapshot.Series);
                    if (!_triggerSeries.TryGetValue(key, out var series))
                    {
                        series = new TriggerSeries();
                        _triggerSeries.Add(key, series);
                    }

                    series.Scrape = _scrape;
                    SetOrRemove(ref series.State, TriggerState, snapshot, (int)snapshot.Phase);
                    SetOrRemove(ref series.Value, TriggerValue, snapshot, snapshot.Value);
                    SetOrRemove(ref series.Threshold, TriggerThreshold, snapshot, snapshot.Threshold);
                    SetOrRemove(ref series.Baseline, TriggerBaseline, snapshot, snapshot.Baseline);
                }
            }
            catch (Exception e)
            {
                // The gauges are left out of this scrape: none of their series was seen in it.
                LogSnapshotProviderFailed("trigger", e);
                _scrape++;
            }
        }

        foreach (var (key, series) in _triggerSeries)
        {
            if (series.Scrape != _scrape)
            {
                series.State?.Remove();
                series.Value?.Remove();
                series.Threshold?.Remove();
                series.Baseline?.Remove();
                _triggerSeries.Remove(key);
            }
        }
    }

    private static void SetOrRemove(ref Gauge.Child? child, Gauge gauge, TriggerSnapshot snapshot, double? value)
    {
        if (value is { } v)
        {
            child ??= gauge.WithLabels([snapshot.Policy, snapshot.Series.ToString(), snapshot.Trigger]);
            child.Set(v);
        }
        else if (child is not null)
        {
            child.Remove();
            child = null;
        }
    }

    private void CollectCluster()
    {
        ClusterSnapshot? cluster = null;
        if (Volatile.Read(ref _cluster) is { } provider)
        {
            try
            {
                cluster = provider();
            }
            catch (Exception e)
            {
                LogSnapshotProviderFailed("cluster", e);
            }
        }

        SetOrHide(ref _clusterRulesVersions, Names.ClusterRulesVersions, Help.ClusterRulesVersions, cluster?.RulesVersions);
        SetOrHide(ref _storeUp, Names.StoreUp, Help.StoreUp, cluster?.StoreUp);
        SetOrHide(ref _clusterClockSkew, Names.ClusterClockSkew, Help.ClusterClockSkew, cluster?.ClockSkewSeconds);

        if (cluster is { Alive: { } alive, Dead: { } dead })
        {
            (_nodesAlive ??= ClusterNodes.WithLabels([NodeStates.Alive])).Set(alive);
            (_nodesDead ??= ClusterNodes.WithLabels([NodeStates.Dead])).Set(dead);
        }
        else
        {
            _nodesAlive?.Remove();
            _nodesDead?.Remove();
            (_nodesAlive, _nodesDead) = (null, null);
        }

        var version = cluster?.RulesVersion;
        if (!string.Equals(version, _rulesVersion, StringComparison.Ordinal))
        {
            _rulesVersionChild?.Remove();
            _rulesVersionChild = version is null ? null : RulesVersionInfo.WithLabels([version]);
            _rulesVersion = version;
        }

        _rulesVersionChild?.Set(1);
    }

    private void SetOrHide(ref Gauge? gauge, string name, string help, double? value)
    {
        if (value is { } v)
        {
            (gauge ??= Gauge(name, help)).Set(v);
        }
        else
        {
            gauge?.Unpublish();
        }
    }

    [LoggerMessage(EventId = 700, Level = LogLevel.Warning, Message = "The {Gauges} snapshot provider failed during a scrape; its gauges are left out of this scrape")]
    private partial void LogSnapshotProviderFailed(string gauges, Exception exception);

    /// <summary>The gauge series of one trigger and series, and the scrape that last reported it.</summary>
    private sealed class TriggerSeries
    {
        public Gauge.Child? State;
        public Gauge.Child? Value;
        public Gauge.Child? Threshold;
        public Gauge.Child? Baseline;
        public int Scrape;
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

    /// <summary>The help text of each family, as <c># HELP</c> shows it.</summary>
    private static class Help
    {
        public const string Evaluations = "Trigger verdicts, one per trigger and series at each evaluation, by verdict (pass, breach, inconclusive, error).";
        public const string EvaluationDuration = "Time to evaluate a policy: every query and every trigger.";
        public const string EvaluationFailures = "Policy evaluations that produced no verdicts, by reason (timeout, error); the policy's state did not advance.";
        public const string Actions = "Actions run, by adapter kind and outcome (succeeded, failed, interrupted).";
        public const string Pages = "Pages sent to humans because an action failed or was interrupted.";
        public const string TargetReads = "Reads of a target's revision for change detection (kubectl, helm), by policy, target kind and outcome (ok, failed).";
        public const string RuleLoadErrors = "Loads of a rule file that found errors; the last good version of the file keeps running.";
        public const string RulesValid = "Whether a rule file loaded without errors (1) or not (0).";
        public const string BackendRequestErrors = "Failed requests to the metrics backend, by kind (unreachable, timeout, bad_query, server_error, invalid_response, unauthorized).";
        public const string BackendRequestDuration = "Duration of requests to the metrics backend, failed ones included, by endpoint (query, query_range).";
        public const string ScheduleLag = "How late evaluations start after their scheduled slot (one histogram for all policies).";
        public const string Decisions = "Decisions, by policy, trigger, kind (act, suppressed_by_cooldown, inconclusive_run, resolved), the action taken (rollback, page, notify) and whether a rollback trigger was disarmed (fired outside its watch window, so it took spec.watch.outside).";
        public const string Changes = "Changes recorded, by policy and source (api, target, query); a revision seen before is not counted again.";
        public const string ChangeDetectionErrors = "Evaluations whose spec.watch.detect.query failed, by policy: no change was recorded from them.";
        public const string StoreConflicts = "Evaluations refused by the store because another writer committed the policy's state first, by policy: nothing was committed, no action ran, and the next evaluation reloads the state.";
        public const string ClusterForeignPolicyRuns = "Slots of a policy fired on this node although its rules do not have the policy (nodes with different rules versions share the cluster's schedules), by policy: the slot was skipped here.";
        public const string Fenced = "Times this sentinel was fenced: a version or lease it held had been taken over by another (it was paused or cut off), so its write or side effect was refused, by what (state, incident, action, notification).";
        public const string TriggerState = "Phase of a trigger for one series: 0 ok, 1 pending, 2 firing.";
        public const string TriggerValue = "The value a trigger last compared, for one series.";
        public const string TriggerThreshold = "The effective threshold a trigger last compared against, for one series.";
        public const string TriggerBaseline = "The baseline a trigger last used, for one series.";
        public const string ClusterNodes = "Nodes the last cluster check-in listed, by state: alive (checked in within three check-in intervals) or dead.";
        public const string ClusterRulesVersions = "Distinct rules versions among alive nodes; more than 1: the nodes run different rules.";
        public const string RulesVersionInfo = "The version of the rules this node runs (1, labelled with it).";
        public const string StoreUp = "Whether the store answered this node's last check-in (1) or not (0).";
        public const string ClusterClockSkew = "This node's clock minus the store's (PostgreSQL's), signed, as measured at its last check-in; 0 on SQLite (the store runs in this process, on its clock).";
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
