using System.Collections.Concurrent;
using RollbackSentinel.Core.Changes;
using RollbackSentinel.Core.Evaluation;
using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Core.Policies;
using RollbackSentinel.Core.State;

namespace RollbackSentinel.Core.Backtesting;

/// <summary>The window a backtest replays.</summary>
/// <param name="From">First evaluation time.</param>
/// <param name="To">Last possible evaluation time (inclusive).</param>
/// <param name="Step">Evaluate every step instead of each policy's own schedule.</param>
/// <param name="DeployedAt">A change of every label set of every policy at this time (<c>--deployed-at</c>).</param>
/// <param name="Changes">Known changes (<c>--changes FILE</c>), of any policy: each policy is judged against its own.</param>
public sealed record BacktestWindow(
    DateTimeOffset From, DateTimeOffset To, TimeSpan? Step = null, DateTimeOffset? DeployedAt = null, IReadOnlyList<Change>? Changes = null)
{
    /// <summary>The <c>by</c> of the change <see cref="DeployedAt"/> stands for.</summary>
    public const string DeployedAtActor = "--deployed-at";

    /// <summary>The changes given for <paramref name="policy"/>: its own from <see cref="Changes"/>, and one for <see cref="DeployedAt"/>.</summary>
    public ChangeHistory GivenChanges(string policy)
    {
        var given = (Changes ?? []).Where(c => c.Policy == policy);
        if (DeployedAt is { } d)
        {
            given = given.Append(new Change { Policy = policy, At = d, Source = ChangeSource.Api, By = DeployedAtActor, Description = "backtest --deployed-at" });
        }

        return new ChangeHistory(given);
    }
}

/// <summary>Counts for one policy over a backtest.</summary>
public sealed record BacktestSummary
{
    public required string Policy { get; init; }

    /// <summary>How many times the policy was evaluated.</summary>
    public int Evaluations { get; init; }

    /// <summary>Verdicts by kind, over all triggers and series.</summary>
    public int Passes { get; init; }

    public int Breaches { get; init; }

    public int Inconclusive { get; init; }

    public int Errors { get; init; }

    /// <summary>Actions taken (or, in dry-run, that would have been).</summary>
    public int Actions { get; init; }

    public int Suppressed { get; init; }

    public int InconclusiveRuns { get; init; }
}

/// <summary>What a backtest found: every decision in time order, and a summary per policy.</summary>
public sealed record BacktestResult(IReadOnlyList<Decision> Decisions, IReadOnlyList<BacktestSummary> Summaries);

/// <summary>How far a backtest is: range queries fetched, then evaluations replayed.</summary>
public sealed record BacktestProgress(BacktestPhase Phase, int Done, int Total);

public enum BacktestPhase
{
    Fetching,
    Replaying,
}

/// <summary>
/// Replays policies over a window of history exactly as the daemon would decide: the same evaluator and
/// state machine, fed from one range query per distinct expression instead of one instant query per step.
/// </summary>
public sealed class Backtester
{
    private const int MaxConcurrentQueries = 4;

    private readonly IMetricsSource _source;
    private readonly Func<CronSchedule, DateTimeOffset, DateTimeOffset, IEnumerable<DateTimeOffset>> _cronOccurrences;

    /// <param name="source">The metrics backend holding the history.</param>
    /// <param name="cronOccurrences">Fire times of a cron schedule within [from, to] (Core does not parse cron itself).</param>
    public Backtester(IMetricsSource source, Func<CronSchedule, DateTimeOffset, DateTimeOffset, IEnumerable<DateTimeOffset>> cronOccurrences)
    {
        _source = source;
        _cronOccurrences = cronOccurrences;
    }

    /// <summary>The evaluation times of a policy within the window.</summary>
    public IReadOnlyList<DateTimeOffset> EvaluationTimes(Policy policy, BacktestWindow window) => Times(policy, window).ToArray();

    /// <summary>How many times a policy would be evaluated, counting no further than <paramref name="limit"/> + 1 (cheap for any window).</summary>
    public long CountEvaluations(Policy policy, BacktestWindow window, long limit)
    {
        ArgumentNullException.ThrowIfNull(policy);
        ArgumentNullException.ThrowIfNull(window);
        return Step(policy, window) is { } s
            ? window.To < window.From ? 0 : Math.Min(limit + 1, ((window.To - window.From).Ticks / s.Ticks) + 1)
            : Times(policy, window).Take((int)Math.Min(int.MaxValue, limit + 1)).LongCount();
    }

    private static TimeSpan? Step(Policy policy, BacktestWindow window) => window.Step ?? (policy.Schedule as IntervalSchedule)?.Interval;

    private IEnumerable<DateTimeOffset> Times(Policy policy, BacktestWindow window)
    {
        ArgumentNullException.ThrowIfNull(policy);
        ArgumentNullException.ThrowIfNull(window);
        if (Step(policy, window) is not { } s)
        {
            return _cronOccurrences((CronSchedule)policy.Schedule, window.From, window.To);
        }

        return Interval(window.From, window.To, s);

        static IEnumerable<DateTimeOffset> Interval(DateTimeOffset from, DateTimeOffset to, TimeSpan step)
        {
            for (var t = from; t <= to; t += step)
            {
                yield return t;
            }
        }
    }

    /// <summary>
    /// Runs the backtest. Failures that make the whole run meaningless (server unreachable, unauthorized,
    /// a query the server rejects) throw <see cref="MetricsQueryException"/>; other backend errors become
    /// <c>error</c> verdicts, as they would in the daemon.
    /// </summary>
    /// <param name="progress">Told of each range query fetched and each evaluation replayed (from any thread).</param>
    public async Task<BacktestResult> RunAsync(IReadOnlyList<Policy> policies, BacktestWindow window, CancellationToken cancellationToken, IProgress<BacktestProgress>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(policies);
        ArgumentNullException.ThrowIfNull(window);
        if (window.To < window.From)
        {
            throw new ArgumentException("the window ends before it starts", nameof(window));
        }

        var plans = policies.Select(p => (Policy: p, Times: EvaluationTimes(p, window))).ToArray();
        var fetcher = new RangeFetcher(_source, MaxConcurrentQueries);
        var resolvers = plans
            .Where(p => p.Times.Count > 0)
            .ToDictionary(p => p.Policy.Name, p => new RangeResolver(fetcher, p.Times, window.GivenChanges(p.Policy.Name)));
        var prefetches = plans.Where(p => p.Times.Count > 0).SelectMany(p =>
            p.Policy.Triggers.SelectMany(t => QuerySpec.For(t.Condition)).Select(spec => (Resolver: resolvers[p.Policy.Name], Spec: spec))).ToArray();
        var fetched = 0;
        progress?.Report(new BacktestProgress(BacktestPhase.Fetching, 0, prefetches.Length));
        await Task.WhenAll(prefetches.Select(async p =>
            {
                await p.Resolver.PrefetchAsync(p.Spec, cancellationToken).ConfigureAwait(false);
                progress?.Report(new BacktestProgress(BacktestPhase.Fetching, Interlocked.Increment(ref fetched), prefetches.Length));
            }))
            .ConfigureAwait(false);

        var totalEvaluations = plans.Sum(p => p.Times.Count);
        var replayed = 0;

        var decisions = new List<Decision>();
        var summaries = new List<BacktestSummary>();
        foreach (var (policy, times) in plans)
        {
            var state = PolicyState.Empty;
            var summary = new BacktestSummary { Policy = policy.Name };
            foreach (var at in times)
            {
                var resolver = resolvers[policy.Name];
                var evaluation = await PolicyEvaluator.EvaluateAsync(policy, state, at, resolver, cancellationToken, maxGap: null, resolver.Changes).ConfigureAwait(false);
                state = evaluation.Step.State;
                decisions.AddRange(evaluation.Step.Decisions);
                progress?.Report(new BacktestProgress(BacktestPhase.Replaying, ++replayed, totalEvaluations));
                var verdicts = evaluation.Triggers.SelectMany(t => t.Verdicts).ToArray();
                var step = evaluation.Step.Decisions;
                summary = summary with
                {
                    Evaluations = summary.Evaluations + 1,
                    Passes = summary.Passes + verdicts.Count(v => v.Kind == VerdictKind.Pass),
                    Breaches = summary.Breaches + verdicts.Count(v => v.Kind == VerdictKind.Breach),
                    Inconclusive = summary.Inconclusive + verdicts.Count(v => v.Kind == VerdictKind.Inconclusive),
                    Errors = summary.Errors + verdicts.Count(v => v.Kind == VerdictKind.Error),
                    Actions = summary.Actions + step.Count(d => d.Kind == DecisionKind.Act),
                    Suppressed = summary.Suppressed + step.Count(d => d.Kind == DecisionKind.SuppressedByCooldown),
                    InconclusiveRuns = summary.InconclusiveRuns + step.Count(d => d.Kind == DecisionKind.InconclusiveRun),
                };
            }

            summaries.Add(summary);
        }

        return new BacktestResult(
            decisions.OrderBy(d => d.At).ThenBy(d => d.Policy, StringComparer.Ordinal).ThenBy(d => d.Trigger, StringComparer.Ordinal).ToArray(),
            summaries);
    }

    /// <summary>Fetches each distinct range query once, however many policies or triggers need it.</summary>
    private sealed class RangeFetcher(IMetricsSource source, int maxConcurrent)
    {
        private readonly ConcurrentDictionary<(string Query, DateTimeOffset Start, DateTimeOffset End, TimeSpan Step), Lazy<Task<IReadOnlyList<RangeSeries>>>> _cache = new();
        private readonly SemaphoreSlim _gate = new(maxConcurrent);

        public Task<IReadOnlyList<RangeSeries>> FetchAsync(string query, DateTimeOffset start, DateTimeOffset end, TimeSpan step, CancellationToken ct) =>
            _cache.GetOrAdd((query, start, end, step), k => new Lazy<Task<IReadOnlyList<RangeSeries>>>(() => FetchCoreAsync(k.Query, k.Start, k.End, k.Step, ct))).Value;

        private async Task<IReadOnlyList<RangeSeries>> FetchCoreAsync(string query, DateTimeOffset start, DateTimeOffset end, TimeSpan step, CancellationToken ct)
        {
            await _gate.WaitAsync(ct).ConfigureAwait(false);
            try
            {
                return await source.QueryRangeAsync(query, start, end, step, ct).ConfigureAwait(false);
            }
            finally
            {
                _gate.Release();
            }
        }
    }

    /// <summary>Serves a policy's queries at its evaluation times from range results fetched up front.</summary>
    private sealed class RangeResolver : IQueryResolver
    {
        private readonly RangeFetcher _fetcher;
        private readonly IReadOnlyList<DateTimeOffset> _times;
        private readonly TimeSpan _grid;
        private readonly ConcurrentDictionary<QuerySpec, Prefetched> _data = new();

        public RangeResolver(RangeFetcher fetcher, IReadOnlyList<DateTimeOffset> times, ChangeHistory changes)
        {
            _fetcher = fetcher;
            _times = times;
            _grid = Grid(times);
            Changes = changes;
        }

        /// <summary>The policy's changes the replay is judged against (and before-deploy baselines are measured before).</summary>
        public ChangeHistory Changes { get; }

        public async Task PrefetchAsync(QuerySpec spec, CancellationToken ct)
        {
            if (_data.ContainsKey(spec))
            {
                return;
            }

            if (spec.Time is BeforeDeployQueryTime b)
            {
                await PrefetchBeforeChangesAsync(spec, b, ct).ConfigureAwait(false);
                return;
            }

            var (start, end, step, shift) = spec.Time switch
            {
                OffsetQueryTime o => (_times[0] - o.Offset, _times[^1] - o.Offset, _grid, o.Offset),
                _ => (_times[0], _times[^1], _grid, TimeSpan.Zero),
            };

            IReadOnlyList<RangeSeries> series;
            try
            {
                series = await _fetcher.FetchAsync(spec.Expression, start, end, step, ct).ConfigureAwait(false);
            }
            catch (MetricsQueryException e) when (e.Kind is MetricsErrorKind.ServerError or MetricsErrorKind.Timeout or MetricsErrorKind.InvalidResponse)
            {
                // As in the daemon, a failed query is an error verdict at each evaluation that needed it.
                _data[spec] = new Prefetched(null, null, e.Message, shift, Rfc3339.Range(start, end)) { Failed = true };
                return;
            }

            _data[spec] = new Prefetched(Index(spec.Expression, series, start, step), null, null, shift, string.Empty);
        }

        /// <summary>A before-deploy baseline: the window before each change that could be a series' latest, fetched once each.</summary>
        private async Task PrefetchBeforeChangesAsync(QuerySpec spec, BeforeDeployQueryTime b, CancellationToken ct)
        {
            var ends = _times.Count == 0 ? [] : ChangeBaselines.WindowEnds(Changes, _times[^1]);
            var step = InstantQueryResolver.BeforeDeployStep(b.Window);
            var averages = new Dictionary<DateTimeOffset, IReadOnlyList<Sample>>();
            foreach (var end in ends)
            {
                try
                {
                    averages[end] = InstantQueryResolver.AverageEachSeries(await _fetcher.FetchAsync(spec.Expression, end - b.Window, end, step, ct).ConfigureAwait(false));
                }
                catch (MetricsQueryException e) when (e.Kind is MetricsErrorKind.ServerError or MetricsErrorKind.Timeout or MetricsErrorKind.InvalidResponse)
                {
                    _data[spec] = new Prefetched(null, null, e.Message, TimeSpan.Zero, Rfc3339.Range(end - b.Window, end)) { Failed = true };
                    return;
                }
            }

            _data[spec] = new Prefetched(null, null, null, TimeSpan.Zero, string.Empty) { Window = b.Window, Averages = averages };
        }

        public ValueTask<QueryOutcome> ResolveAsync(QuerySpec spec, DateTimeOffset at, CancellationToken cancellationToken)
        {
            var data = _data[spec];
            if (data.Failed)
            {
                return ValueTask.FromResult(QueryOutcome.Failure(spec, Rfc3339.Format(at - data.Shift), data.Problem!));
            }

            if (data.Problem is not null)
            {
                return ValueTask.FromResult(QueryOutcome.NotAvailable(spec, data.Problem));
            }

            if (data.Averages is not null)
            {
                var ends = ChangeBaselines.WindowEnds(Changes, at);
                return ValueTask.FromResult(ends.Count == 0
                    ? QueryOutcome.NotAvailable(spec, ChangeBaselines.NoChangeKnown)
                    : QueryOutcome.Success(
                        spec,
                        string.Join(", ", ends.Select(e => Rfc3339.Range(e - data.Window, e))),
                        ChangeBaselines.Select(Changes, at, ends.ToDictionary(e => e, e => data.Averages[e]))));
            }

            var t = at - data.Shift;
            var samples = data.ByTime!.TryGetValue(t.ToUnixTimeMilliseconds(), out var s) ? s : [];
            return ValueTask.FromResult(QueryOutcome.Success(spec, Rfc3339.Format(t), samples));
        }

        private static Dictionary<long, List<Sample>> Index(string query, IReadOnlyList<RangeSeries> series, DateTimeOffset start, TimeSpan step)
        {
            var byTime = new Dictionary<long, List<Sample>>();
            foreach (var s in series)
            {
                foreach (var p in s.Points)
                {
                    // Some query frontends (Thanos, Cortex, Mimir) move range queries onto their own step grid.
                    // Points that miss the evaluation times would silently read as "no data": refuse instead.
                    if ((p.Timestamp - start).Ticks % step.Ticks != 0)
                    {
                        throw new MetricsQueryException(
                            MetricsErrorKind.InvalidResponse,
                            query,
                            $"the backend returned a point at {Rfc3339.Format(p.Timestamp)}, off the requested grid ({Rfc3339.Format(start)} + k x {PromDuration.Format(step)}); " +
                            "a query frontend is aligning range queries to the step: disable that alignment, or start the window on a multiple of the step");
                    }

                    var key = p.Timestamp.ToUnixTimeMilliseconds();
                    if (!byTime.TryGetValue(key, out var list))
                    {
                        byTime[key] = list = [];
                    }

                    list.Add(new Sample(s.Labels, p.Value));
                }
            }

            return byTime;
        }

        /// <summary>The coarsest step that hits every evaluation time: the gcd of their distances (cron schedules are irregular).</summary>
        private static TimeSpan Grid(IReadOnlyList<DateTimeOffset> times)
        {
            long gcd = 0;
            for (var i = 1; i < times.Count; i++)
            {
                gcd = Gcd(gcd, (times[i] - times[0]).Ticks);
            }

            // Prometheus steps are whole milliseconds at the least.
            var ms = TimeSpan.TicksPerMillisecond;
            return gcd < ms ? TimeSpan.FromSeconds(1) : TimeSpan.FromTicks(gcd / ms * ms);
        }

        private static long Gcd(long a, long b) => b == 0 ? a : Gcd(b, a % b);

        private sealed record Prefetched(
            Dictionary<long, List<Sample>>? ByTime, IReadOnlyList<Sample>? Constant, string? Problem, TimeSpan Shift, string ResolvedAt)
        {
            public bool Failed { get; init; }

            /// <summary>A before-deploy baseline: each series' average over the window ending at each change.</summary>
            public IReadOnlyDictionary<DateTimeOffset, IReadOnlyList<Sample>>? Averages { get; init; }

            public TimeSpan Window { get; init; }
        }
    }
}
