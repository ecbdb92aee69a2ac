using System.Diagnostics;
using Microsoft.Extensions.Options;
using RollbackSentinel.Core.Changes;
using RollbackSentinel.Core.Evaluation;
using RollbackSentinel.Core.Incidents;
using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Core.Policies;
using RollbackSentinel.Core.State;
using RollbackSentinel.Hosting;
using RollbackSentinel.Telemetry;

namespace RollbackSentinel.Daemon;

/// <summary>
/// One scheduled evaluation of one policy: resolve its queries now, decide with the shared engine, commit
/// state, verdicts and incidents in one transaction, then run the actions it opened. Never throws: every
/// failure is logged and counted, and the next slot tries again.
/// </summary>
internal sealed partial class PolicyEvaluationService(
    PolicyRegistry registry,
    IIncidentStore store,
    IncidentService incidents,
    IChangeStore changeStore,
    QueryChangeDetector detector,
    IMetricsBackends metricsBackends,
    ActionExecutor actions,
    EvaluationCounter evaluations,
    SentinelMetrics metrics,
    IOptions<SentinelOptions> options,
    TimeProvider time,
    ILogger<PolicyEvaluationService> logger)
{
    /// <summary>A failing backend fails every trigger at every slot: log each failure when it starts or changes, and then at most this often.</summary>
    public static readonly TimeSpan RepeatErrorLogEvery = TimeSpan.FromMinutes(5);

    private readonly System.Collections.Concurrent.ConcurrentDictionary<(string Policy, string Trigger), (string Summary, DateTimeOffset At)> _loggedErrors = new();

    public Task EvaluateAsync(string policyName, CancellationToken cancellationToken) => EvaluateAsync(policyName, null, cancellationToken);

    /// <param name="policyName">The policy to evaluate.</param>
    /// <param name="slot">The time the schedule meant this evaluation for (Quartz's scheduled fire time): the evaluation is made at it.</param>
    /// <param name="cancellationToken">The daemon stopping.</param>
    public async Task EvaluateAsync(string policyName, DateTimeOffset? slot, CancellationToken cancellationToken)
    {
        var entry = registry.Find(policyName);
        if (entry is null)
        {
            // Removed by a reload since this run was scheduled: forget what was logged about it.
            foreach (var key in _loggedErrors.Keys.Where(k => k.Policy == policyName))
            {
                _loggedErrors.TryRemove(key, out _);
            }

            detector.Forget(policyName);
            return;
        }

        // A slot that fires while the daemon stops is simply not run (and nothing is thrown at Quartz).
        if (cancellationToken.IsCancellationRequested || !entry.Gate.Wait(0, CancellationToken.None))
        {
            if (!cancellationToken.IsCancellationRequested)
            {
                LogSkippedOverlap(policyName);
            }

            return;
        }

        var started = Stopwatch.GetTimestamp();
        try
        {
            var (evaluation, opened, rulesVersion) = await EvaluateAndCommitAsync(entry, slot, cancellationToken).ConfigureAwait(false);

            // This node ran it (whether it committed or failed): the check-ins report how many per minute.
            evaluations.Record();
            if (evaluation is null)
            {
                return;
            }

            // Actions first, each on its own: one failing (or the telemetry below) must not keep another from running.
            foreach (var incident in opened)
            {
                try
                {
                    var decision = evaluation.Step.Decisions.First(d => d.Kind == DecisionKind.Act && d.Trigger == incident.Incident.Trigger && d.Labels.Equals(incident.Incident.Labels));
                    await actions.ExecuteAsync(evaluation.Policy, incident, decision, cancellationToken).ConfigureAwait(false);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    // Left pending in the store: PendingActions picks it up on its next sweep.
                    LogActionNotStarted(e, incident.Action.Kind, policyName, incident.Incident.Id);
                }
            }

            Record(evaluation, rulesVersion!, Stopwatch.GetElapsedTime(started));
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            LogCancelled(policyName);
        }
        finally
        {
            entry.Gate.Release();
        }
    }

    /// <summary>
    /// Evaluates the policy now and commits the result. On a failure other than cancellation nothing was committed
    /// and the state was not advanced: it is logged and counted, and null comes back.
    /// </summary>
    private async Task<(PolicyEvaluation? Evaluation, IReadOnlyList<OpenedIncident> Opened, string? RulesVersion)> EvaluateAndCommitAsync(PolicyEntry entry, DateTimeOffset? slot, CancellationToken cancellationToken)
    {
        var name = entry.Policy.Name;
        try
        {
            // The state is loaded at every evaluation and committed against its version: a restart, or another writer
            // that committed since, means resuming from the store (pending 'for' clocks, firing triggers and cooldowns
            // where they were, minus the series of triggers edited meanwhile; pending clocks broken by a long gap
            // restart at the step). Otherwise the runner already stands on it: the version comes back, not the state.
            // One read either way (on a cluster, policies move between nodes, so the state is often another node's).
            var (version, stored) = await store.LoadStateUnlessAtAsync(name, entry.StateVersion, cancellationToken).ConfigureAwait(false);
            if (entry.StateVersion != version)
            {
                entry.Resume(stored);
                version = stored?.Version ?? 0;
            }

            // A reload hands over a new version; it is swapped in here, under the gate, so no evaluation of the
            // old version can overwrite the new one's state.
            entry.ApplyPendingUpdate();
            var policy = entry.Runner.Policy;

            // The rules this evaluation runs on: recorded in the evidence of every incident it opens.
            var rulesVersion = registry.RulesVersion;
            var period = Period(policy);
            var maxGap = TimeSpan.FromTicks((long)(period.Ticks * 2.5));
            entry.Runner.MaxGap = maxGap;

            // The queries share a budget shorter than the period; a query past it is an error verdict, not a hang.
            var budget = TimeSpan.FromTicks((long)(period.Ticks * options.Value.EvaluationTimeoutShare));
            var at = EvaluationTime(entry.Runner, slot);

            // The deciding queries start now, all at once (PrefetchingQueryResolver), at the time the runner takes (`at`,
            // handed to it as the slot below): they run while the detect query and the change history are read, and
            // the evaluation waits for the slowest of them, not for their sum. Their values do not depend on changes;
            // before-deploy baselines do, and are queried once the history is loaded.
            // Changes the detect query finds now are recorded first, so this evaluation is judged against them. Then
            // the changes it is judged against are loaded: a store failure fails the evaluation (nothing decided as if
            // no change existed). The detect query shares the queries' budget; the store's reads do not.
            var metricsSource = metricsBackends.For(policy.Backend);
            var withinBudget = new DeadlineMetricsSource(metricsSource, budget);
            using var queries = PrefetchingQueryResolver.Start(policy, new InstantQueryResolver(withinBudget, ChangeHistory.Empty), at, cancellationToken);
            var detecting = Stopwatch.GetTimestamp();
            await detector.DetectAsync(entry, policy, withinBudget, at, period, maxGap, cancellationToken).ConfigureAwait(false);
            var detected = Stopwatch.GetElapsedTime(detecting);
            var changes = await changeStore.LoadChangeHistoryAsync(name, at - HistoryReach(policy, period), cancellationToken).ConfigureAwait(false);
            IReadOnlyList<OpenedIncident> opened = [];
            var evaluation = await entry.Runner.EvaluateAsync(
                queries.Then(new InstantQueryResolver(new DeadlineMetricsSource(metricsSource, budget, detected), changes)),
                changes,
                async (e, ct) => opened = await incidents.CommitEvaluationAsync(ToCommit(policy, e) with { ExpectedStateVersion = version, RulesVersion = rulesVersion }, ct).ConfigureAwait(false),
                at,
                cancellationToken).ConfigureAwait(false);
            entry.Committed(version + 1);
            return (evaluation, opened, rulesVersion);
        }
        catch (PolicyStateConflictException)
        {
            // Nothing was committed and the runner did not take the new state: no action runs from this evaluation, and
            // the next one starts from what the other writer committed.
            entry.Forget();
            metrics.RecordStoreConflict(name);
            metrics.RecordFenced(SentinelMetrics.FencedWhat.State);
            LogStateConflict(name);
            return (null, [], null);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            metrics.RecordEvaluationFailure(name);
            LogFailed(e, name);
            return (null, [], null);
        }
    }

    /// <summary>
    /// When the runner will evaluate (its rule, <see cref="PolicyRunner.EvaluateAsync(IQueryResolver, ChangeHistory, Func{PolicyEvaluation, CancellationToken, ValueTask}, DateTimeOffset?, CancellationToken)"/>):
    /// the slot, unless it is in the future or not after the last evaluation. Decided before the detect query runs,
    /// which dates its changes at it, and handed to the runner as the slot, so both use the same time.
    /// </summary>
    private DateTimeOffset EvaluationTime(PolicyRunner runner, DateTimeOffset? slot)
    {
        var now = time.GetUtcNow();
        return slot is { } s && s <= now && (runner.State.LastEvaluatedAt is not { } last || s > last) ? s : now;
    }

    /// <summary>
    /// How far back changes are loaded (besides the latest of each label set, which always is): a firing trigger's
    /// breach began at most its <c>for</c> and a gap ago, and the change that arms it at most <c>watch.for</c> before that.
    /// </summary>
    internal static TimeSpan HistoryReach(Policy policy, TimeSpan period) =>
        policy.Watch.For + policy.Triggers.Select(t => t.For).DefaultIfEmpty(TimeSpan.Zero).Max() + TimeSpan.FromTicks((long)(period.Ticks * 2.5)) + ReachMargin;

    /// <summary>Room for evaluations that ran late.</summary>
    private static readonly TimeSpan ReachMargin = TimeSpan.FromMinutes(1);

    private TimeSpan Period(Policy policy) =>
        policy.Schedule is IntervalSchedule i ? i.Interval : CronPeriod((CronSchedule)policy.Schedule);

    private TimeSpan CronPeriod(CronSchedule schedule)
    {
        var cron = new Quartz.CronExpression(schedule.Expression, TimeZoneInfo.Utc);
        var now = time.GetUtcNow();
        return cron.GetNextValidTimeAfter(now) is { } a && cron.GetNextValidTimeAfter(a) is { } b ? b - a : TimeSpan.FromMinutes(1);
    }

    private static EvaluationCommit ToCommit(Policy policy, PolicyEvaluation e) => new(
        policy.Name,
        e.At,
        e.Step.State,
        e.Triggers.SelectMany(t => t.Verdicts.Select(v => new EvaluationRow(t.Trigger.Name, v.Labels, v.Kind, v.Reason, v.Value, v.Threshold, v.Baseline, v.Summary))).ToArray(),
        e.Step.Decisions,
        d => TargetIdentity.For(policy, d.Labels),
        policy.Confirm?.Timeout,
        policy.Cooldown);

    private void Record(PolicyEvaluation evaluation, string rulesVersion, TimeSpan elapsed)
    {
        metrics.RecordPolicyEvaluation(evaluation.Policy.Name, elapsed, evaluation.Triggers);
        foreach (var (trigger, verdicts) in evaluation.Triggers)
        {
            var key = (evaluation.Policy.Name, trigger.Name);
            if (verdicts.FirstOrDefault(v => v.Kind == VerdictKind.Error) is { } error)
            {
                var now = time.GetUtcNow();
                if (!_loggedErrors.TryGetValue(key, out var last) || last.Summary != error.Summary || now - last.At >= RepeatErrorLogEvery)
                {
                    _loggedErrors[key] = (error.Summary, now);
                    LogVerdictError(evaluation.Policy.Name, trigger.Name, error.Summary);
                }
            }
            else if (_loggedErrors.TryRemove(key, out _))
            {
                LogVerdictRecovered(evaluation.Policy.Name, trigger.Name);
            }
        }

        foreach (var d in evaluation.Step.Decisions)
        {
            metrics.RecordDecision(d);
            var evidence = string.Join("; ", d.Verdict.Queries.Select(q => $"{q.Role} {q.Query} @ {q.EvaluatedAt} = {(q.Value is { } x ? TriggerEvaluator.Num(x) : q.Note ?? "-")}"));
            var change = d.Blamed is { } c ? $"{c.Id} ({c.Source.ToString().ToLowerInvariant()}) {c.Describe(d.At)}" : "no change known";
            LogDecision(d.Policy, d.Trigger, d.Labels.ToString(), d.Kind, d.Action, d.DryRun, d.Disarmed, d.Message, change, d.Verdict.Value, d.Verdict.Threshold, d.Verdict.Baseline, evidence, rulesVersion);
        }
    }

    [LoggerMessage(EventId = 200, Level = LogLevel.Warning,
        Message = "Decision {Policy}/{Trigger} {Labels}: {Kind} {Action} (dryRun={DryRun}, disarmed={Disarmed}): {Message}; change: {Change}; value={Value} threshold={Threshold} baseline={Baseline}; evidence: {Evidence}; rules: {RulesVersion}")]
    private partial void LogDecision(string policy, string trigger, string labels, DecisionKind kind, TriggerAction action, bool dryRun, bool disarmed, string message, string change, double? value, double? threshold, double? baseline, string evidence, string rulesVersion);

    [LoggerMessage(EventId = 201, Level = LogLevel.Warning, Message = "Evaluation of {Policy}/{Trigger} failed, counted as an error verdict (never a pass): {Summary}")]
    private partial void LogVerdictError(string policy, string trigger, string summary);

    [LoggerMessage(EventId = 206, Level = LogLevel.Information, Message = "Evaluation of {Policy}/{Trigger} works again")]
    private partial void LogVerdictRecovered(string policy, string trigger);

    [LoggerMessage(EventId = 202, Level = LogLevel.Error, Message = "The {Kind} action of {Policy} (incident {Incident}) could not be started; it stays recorded and is retried by the next sweep")]
    private partial void LogActionNotStarted(Exception exception, string kind, string policy, long incident);

    [LoggerMessage(EventId = 203, Level = LogLevel.Error, Message = "Evaluation of {Policy} failed before anything was committed; its state was not advanced and the next slot tries again")]
    private partial void LogFailed(Exception exception, string policy);

    [LoggerMessage(EventId = 204, Level = LogLevel.Information, Message = "Evaluation of {Policy} cancelled: the daemon is stopping")]
    private partial void LogCancelled(string policy);

    [LoggerMessage(EventId = 205, Level = LogLevel.Warning, Message = "Evaluation of {Policy} skipped: the previous one is still running")]
    private partial void LogSkippedOverlap(string policy);

    [LoggerMessage(EventId = 1040, Level = LogLevel.Warning, Message = "Another writer committed the state of {Policy} first: this sentinel was fenced; reloading (this evaluation committed nothing and ran no action)")]
    private partial void LogStateConflict(string policy);
}
