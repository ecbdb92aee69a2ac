using System.Collections.Concurrent;
using RollbackSentinel.Core.Changes;
using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Core.Policies;
using RollbackSentinel.Telemetry;

namespace RollbackSentinel.Daemon;

/// <summary>
/// What a policy's detect query returned when it last ran: <see cref="Samples"/> at <see cref="At"/>. Null samples with
/// a time: nothing is in memory (the daemon restarted), so what the query returned at <see cref="At"/> (the last
/// committed evaluation) is read back from the metrics backend's history.
/// </summary>
internal sealed record DetectMemory(string Query, IReadOnlyList<Sample>? Samples, DateTimeOffset? At);

/// <summary>
/// <c>spec.watch.detect.query</c>, live: at each evaluation, one instant query at the evaluation's time, compared
/// with the previous result (<see cref="QueryChangeDetection.Compare"/>); each change found is recorded before the
/// evaluation loads its change history, so the same evaluation is judged against it.
/// </summary>
/// <remarks>
/// The previous result is kept in memory only. After a restart, or when the query failed for longer than the gap
/// the policy tolerates, the query is evaluated over the gap instead (one range query from the last time it was
/// known: the last committed evaluation after a restart), so a change made meanwhile is neither missed nor dated
/// at the restart, and a change recorded just before a crash is not recorded twice (the store keeps one change per
/// query revision). Only a policy that was never evaluated learns at its first evaluation.
/// </remarks>
internal sealed partial class QueryChangeDetector(IChangeStore store, SentinelMetrics metrics, TimeProvider time, ILogger<QueryChangeDetector> logger)
{
    /// <summary>A catch-up over a gap samples it at the policy's period, or coarser so it takes at most this many steps.</summary>
    public const int MaxCatchUpSteps = 1000;

    private readonly ConcurrentDictionary<string, (string Summary, DateTimeOffset At)> _loggedErrors = new(StringComparer.Ordinal);

    /// <summary>
    /// Runs the detect query of <paramref name="policy"/> at <paramref name="at"/> and records what changed. A failing
    /// query is logged (at most every <see cref="PolicyEvaluationService.RepeatErrorLogEvery"/> while it keeps failing
    /// alike) and counted, never a change, and the evaluation goes on. A store failure is thrown: the evaluation
    /// fails as it does for any store failure, and the next one compares with the same previous result again.
    /// </summary>
    /// <param name="entry">The policy's entry, which keeps the previous result.</param>
    /// <param name="policy">The version being evaluated.</param>
    /// <param name="source">The metrics backend, within the evaluation's budget.</param>
    /// <param name="at">The evaluation's time: the time of the changes it finds.</param>
    /// <param name="period">The policy's period: the catch-up's step.</param>
    /// <param name="maxGap">A longer time since the previous result is caught up with a range query.</param>
    /// <param name="cancellationToken">The daemon stopping.</param>
    public async Task DetectAsync(PolicyEntry entry, Policy policy, IMetricsSource source, DateTimeOffset at, TimeSpan period, TimeSpan maxGap, CancellationToken cancellationToken)
    {
        if (policy.Watch.Detect.Query is not { } query)
        {
            entry.Detected = null;
            return;
        }

        // A new or edited query starts from the last committed evaluation, as after a restart.
        var memory = entry.Detected is { } kept && kept.Query == query ? kept : new DetectMemory(query, null, entry.Runner.State.LastEvaluatedAt);
        entry.Detected = memory;
        IReadOnlyList<Sample> current;
        IReadOnlyList<Change> found;
        try
        {
            current = await source.QueryAsync(query, at, cancellationToken).ConfigureAwait(false);
            found = memory switch
            {
                { Samples: { } previous, At: { } known } when at - known <= maxGap => QueryChangeDetection.Compare(policy.Name, previous, current, at),
                { At: { } known } when known < at => await CatchUpAsync(policy.Name, source, query, known, current, at, period, cancellationToken).ConfigureAwait(false),
                _ => [],
            };
        }
        catch (MetricsQueryException e)
        {
            metrics.RecordChangeDetectionError(policy.Name);
            var now = time.GetUtcNow();
            if (!_loggedErrors.TryGetValue(policy.Name, out var last) || last.Summary != e.Message || now - last.At >= PolicyEvaluationService.RepeatErrorLogEvery)
            {
                _loggedErrors[policy.Name] = (e.Message, now);
                LogDetectFailed(policy.Name, e.Message);
            }

            return;
        }

        foreach (var change in found)
        {
            var recorded = await store.RecordChangeAsync(change, cancellationToken).ConfigureAwait(false);
            if (recorded.Created)
            {
                metrics.RecordChange(policy.Name, ChangeSource.Query);
                LogChangeDetected(policy.Name, recorded.Change.Id, recorded.Change.Labels.ToString(), recorded.Change.What, recorded.Change.At);
            }
        }

        entry.Detected = new DetectMemory(query, current, at);
        if (_loggedErrors.TryRemove(policy.Name, out _))
        {
            LogDetectRecovered(policy.Name);
        }
    }

    /// <summary>Forgets what was logged about a removed policy.</summary>
    public void Forget(string policy) => _loggedErrors.TryRemove(policy, out _);

    /// <summary>
    /// The changes between <paramref name="from"/> (what the query returned then, read back from history) and
    /// <paramref name="current"/>, each dated at the step where it appeared. Steps where the backend has no sample
    /// of any series (it was down) are skipped, so its own gaps are not read as series vanishing and reappearing.
    /// </summary>
    private async Task<IReadOnlyList<Change>> CatchUpAsync(
        string policy, IMetricsSource source, string query, DateTimeOffset from, IReadOnlyList<Sample> current, DateTimeOffset at, TimeSpan period, CancellationToken cancellationToken)
    {
        var step = CatchUpStep(at - from, period);
        var series = await source.QueryRangeAsync(query, from, at, step, cancellationToken).ConfigureAwait(false);
        var steps = new SortedDictionary<DateTimeOffset, List<Sample>>();
        foreach (var s in series)
        {
            foreach (var p in s.Points.Where(p => p.Timestamp < at))
            {
                if (!steps.TryGetValue(p.Timestamp, out var samples))
                {
                    steps[p.Timestamp] = samples = [];
                }

                samples.Add(new Sample(s.Labels, p.Value));
            }
        }

        var changes = new List<Change>();
        IReadOnlyList<Sample>? previous = null;
        foreach (var (t, samples) in steps)
        {
            changes.AddRange(QueryChangeDetection.Compare(policy, previous, samples, t));
            previous = samples;
        }

        changes.AddRange(QueryChangeDetection.Compare(policy, previous, current, at));
        LogCaughtUp(policy, from, at, steps.Count, changes.Count);
        return changes;
    }

    /// <summary>The policy's period, or coarser (whole seconds) so a gap takes at most <see cref="MaxCatchUpSteps"/> steps.</summary>
    public static TimeSpan CatchUpStep(TimeSpan gap, TimeSpan period) =>
        TimeSpan.FromSeconds(Math.Max(1, Math.Ceiling(Math.Max(period.TotalSeconds, gap.TotalSeconds / MaxCatchUpSteps))));

    [LoggerMessage(EventId = 940, Level = LogLevel.Information, Message = "Change {Id} of {Policy}{Labels} found by its detect query: {What} at {At}")]
    private partial void LogChangeDetected(string policy, long id, string labels, string what, DateTimeOffset at);

    [LoggerMessage(EventId = 941, Level = LogLevel.Warning, Message = "The detect query of {Policy} failed; no change is recorded from it until it works again: {Summary}")]
    private partial void LogDetectFailed(string policy, string summary);

    [LoggerMessage(EventId = 942, Level = LogLevel.Information, Message = "The detect query of {Policy} works again")]
    private partial void LogDetectRecovered(string policy);

    [LoggerMessage(EventId = 943, Level = LogLevel.Information, Message = "The detect query of {Policy} was caught up from {From} to {To} ({Steps} steps read back from history): {Changes} change(s) found")]
    private partial void LogCaughtUp(string policy, DateTimeOffset from, DateTimeOffset to, int steps, int changes);
}
