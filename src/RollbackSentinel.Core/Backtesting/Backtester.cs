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
public sealed record BacktestResult(IReadOnlyList<Decision> Decisions, IReadOnlyList<BacktestSummary> Summaries)
{
    /// <summary>
    /// The changes the replay was judged against, oldest first: given (<c>--deployed-at</c>, <c>--changes</c>) and found
    /// by <c>spec.watch.detect.query</c>; of those before the window, only the latest of each policy and label set.
    /// </summary>
    public IReadOnlyList<Change> Changes { get; init; } = [];

    /// <summary>What the backtest went on without, in a sentence each (a detect query that failed).</summary>
    public IReadOnlyList<string> Warnings { get; init; } = [];
}

/// <summary>
/// One policy after one evaluation of a backtest: its state and the changes it was judged against, for callers that
/// ask more of a replay than its decisions (a rule test's gates, <see cref="Changes.Gate"/>).
/// </summary>
public sealed record BacktestEvaluation(Policy Policy, DateTimeOffset At, PolicyState State, ChangeHistory Changes)
{
    /// <summary>Every trigger's verdicts at <see cref="At"/>, per series: what a plot of the replay draws.</summary>
    public IReadOnlyList<TriggerVerdicts> Triggers { get; init; } = [];
}

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

    /// <summary>How many policies are replayed side by side (one per core by default; 1 whenever an observer is given).</summary>
    public int ReplayLanes { get; init; } = Environment.ProcessorCount;

    private readonly IMetricsBackends _backends;
    private readonly Func<CronSchedule, DateTimeOffset, DateTimeOffset, IEnumerable<DateTimeOffset>> _cronOccurrences;

    /// <param name="source">The metrics backend holding the history, for every policy.</param>
    /// <param name="cronOccurrences">Fire times of a cron schedule within [from, to] (Core does not parse cron itself).</param>
    public Backtester(IMetricsSource source, Func<CronSchedule, DateTimeOffset, DateTimeOffset, IEnumerable<DateTimeOffset>> cronOccurrences)
        : this(new SingleBackend(source), cronOccurrences)
    {
    }

    /// <param name="backends">The metrics backends holding the history: each policy's queries go to its <c>spec.backend</c>.</param>
    /// <param name="cronOccurrences">Fire times of a cron schedule within [from, to] (Core does not parse cron itself).</param>
    public Backtester(IMetricsBackends backends, Func<CronSchedule, DateTimeOffset, DateTimeOffset, IEnumerable<DateTimeOffset>> cronOccurrences)
    {
        _backends = backends;
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
    /// <c>error</c> verdicts, as they would in the daemon. A detect query that fails is a warning: the replay goes
    /// on with the changes it was given.
    /// </summary>
    /// <param name="progress">Told of each range query fetched and each evaluation replayed (from any thread).</param>
    /// <param name="observe">Called after each evaluation, in order, with the policy's state then (nothing is kept for it).</param>
    public async Task<BacktestResult> RunAsync(
        IReadOnlyList<Policy> policies, BacktestWindow window, CancellationToken cancellationToken, IProgress<BacktestProgress>? progress = null, Action<BacktestEvaluation>? observe = null)
    {
        ArgumentNullException.ThrowIfNull(policies);
        ArgumentNullException.ThrowIfNull(window);
        if (window.To < window.From)
        {
            throw new ArgumentException("the window ends before it starts", nameof(window));
        }

        // Policies on the same interval share one list of times (a month at 15 s is 2.8 MB per policy); cron ones have their own.
        var byStep = new Dictionary<TimeSpan, IReadOnlyList<DateTimeOffset>>();
        IReadOnlyList<DateTimeOffset> TimesOf(Policy p) =>
            Step(p, window) is not { } step ? EvaluationTimes(p, window)
            : byStep.TryGetValue(step, out var shared) ? shared
            : byStep[step] = EvaluationTimes(p, window);
        var plans = policies.Select(p => (Policy: p, Times: TimesOf(p))).ToArray();
        var active = plans.Where(p => p.Times.Count > 0).ToArray();
        var fetcher = new RangeFetcher(_backends, MaxConcurrentQueries);
        var detecting = active.Where(p => p.Policy.Watch.Detect.Query is not null).ToArray();
        var specs = active.Sum(p => p.Policy.Triggers.Sum(t => QuerySpec.For(t.Condition).Count));
        var total = detecting.Length + specs;
        var fetched = 0;
        void Fetched() => progress?.Report(new BacktestProgress(BacktestPhase.Fetching, Interlocked.Increment(ref fetched), total));
        progress?.Report(new BacktestProgress(BacktestPhase.Fetching, 0, total));

        // Changes found by each policy's detect query join its given changes before the replay: the replay at t
        // knows a change found at t, as the daemon does once its evaluation at t has run the detect query.
        var detections = await Task.WhenAll(detecting.Select(async p =>
            {
                var detection = await DetectAsync(fetcher, p.Policy, p.Times, cancellationToken).ConfigureAwait(false);
                Fetched();
                return (p.Policy.Name, Detection: detection);
            }))
            .ConfigureAwait(false);
        var detected = detections.ToDictionary(d => d.Name, d => d.Detection);

        var resolvers = active.ToDictionary(
            p => p.Policy.Name,
            p => new RangeResolver(
                fetcher,
                p.Policy.Backend,
                p.Times,
                detected.TryGetValue(p.Policy.Name, out var d) ? new ChangeHistory(window.GivenChanges(p.Policy.Name).All.Concat(d.Changes)) : window.GivenChanges(p.Policy.Name)));
        // Each policy is replayed, in the rules' order, as soon as its own queries are in, while the next ones are still
        // being fetched: the replay of one policy overlaps the backend's work on the others (the fetcher starts them in
        // this order). A failure stops the run: every lane and every fetch still under way is cancelled (`stop`), the fetches
        // are awaited, and the first failure is thrown.
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var ready = active.ToDictionary(p => p.Policy.Name, p => PrefetchAsync(resolvers[p.Policy.Name], p.Policy, Fetched, stop.Token));

        var totalEvaluations = plans.Sum(p => p.Times.Count);
        var replayed = 0;

        // Each policy's replay is a loop over its own state and data, so policies are replayed side by side, one per core,
        // taken in the rules' order as their queries come in. With an observer (told of evaluations in order), one at a time.
        var replays = new (List<Decision> Decisions, BacktestSummary Summary)[plans.Length];
        var next = -1;
        Exception? failure = null;
        async Task Lane()
        {
            try
            {
                for (var index = Interlocked.Increment(ref next); index < plans.Length; index = Interlocked.Increment(ref next))
                {
                    stop.Token.ThrowIfCancellationRequested();
                    replays[index] = await ReplayAsync(plans[index].Policy, plans[index].Times, stop.Token).ConfigureAwait(false);
                }
            }
            catch (Exception e)
            {
                Interlocked.CompareExchange(ref failure, e, null);
                await stop.CancelAsync().ConfigureAwait(false);
                throw;
            }
        }

        async Task<(List<Decision>, BacktestSummary)> ReplayAsync(Policy policy, IReadOnlyList<DateTimeOffset> times, CancellationToken ct)
        {
            var state = PolicyState.Empty;
            var tally = new Tally();
            var decisions = new List<Decision>();
            // Unobserved, the verdicts of one evaluation are written again at the next (nothing here keeps them; a
            // decision's are copies): an evaluation then makes next to nothing. An observer may keep what it is shown.
            var buffer = observe is null ? new PolicyEvaluator.EvaluationBuffer(policy) : null;
            if (ready.TryGetValue(policy.Name, out var queries))
            {
                // Not waiting on once another lane failed: the run stops.
                await queries.WaitAsync(ct).ConfigureAwait(false);
            }

            foreach (var at in times)
            {
                // Nothing below waits (the data is in memory), so this is where a replay hears that the run stopped.
                ct.ThrowIfCancellationRequested();
                var resolver = resolvers[policy.Name];
                var evaluation = await PolicyEvaluator.EvaluateAsync(policy, state, at, resolver, ct, maxGap: null, resolver.Changes, buffer).ConfigureAwait(false);
                state = evaluation.Step.State;
                foreach (var decision in evaluation.Step.Decisions)
                {
                    // Written now, so the result keeps each decision's evidence and not the range data it was read from.
                    _ = decision.Verdict.Queries.Count;
                    decisions.Add(decision);
                }

                observe?.Invoke(new BacktestEvaluation(policy, at, state, resolver.Changes) { Triggers = evaluation.Triggers });
                progress?.Report(new BacktestProgress(BacktestPhase.Replaying, Interlocked.Increment(ref replayed), totalEvaluations));
                tally.Count(evaluation);
            }

            return (decisions, tally.Summary(policy.Name));
        }

        try
        {
            var laneCount = observe is null ? Math.Clamp(ReplayLanes, 1, Math.Max(1, plans.Length)) : 1;
            await Task.WhenAll(Enumerable.Range(0, laneCount).Select(_ => Task.Run(Lane, CancellationToken.None))).ConfigureAwait(false);
        }
        catch (Exception caught)
        {
            await stop.CancelAsync().ConfigureAwait(false);
            try
            {
                await Task.WhenAll(ready.Values).ConfigureAwait(false);
            }
            catch (Exception)
            {
                // Observed: the failure that stopped the run is the one thrown below.
            }

            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failure ?? caught);
        }

        var decisions = replays.SelectMany(r => r.Decisions);
        var summaries = replays.Select(r => r.Summary).ToList();
        return new BacktestResult(
            decisions.OrderBy(d => d.At).ThenBy(d => d.Policy, StringComparer.Ordinal).ThenBy(d => d.Trigger, StringComparer.Ordinal).ToArray(),
            summaries)
        {
            Changes = resolvers.Values
                .SelectMany(r => Used(r.Changes, window))
                .OrderBy(c => c.At).ThenBy(c => c.Policy, StringComparer.Ordinal) // and as each policy's history orders them
                .ToArray(),
            Warnings = detections.Where(d => d.Detection.Warning is not null).Select(d => d.Detection.Warning!).Order(StringComparer.Ordinal).ToArray(),
        };
    }

    /// <summary>Fetches every range query of <paramref name="policy"/>'s triggers into its resolver.</summary>
    /// <remarks>Async, so that whatever goes wrong, even before the first query starts, is in the task the replay awaits.</remarks>
    private static async Task PrefetchAsync(RangeResolver resolver, Policy policy, Action fetched, CancellationToken ct) =>
        await Task.WhenAll(policy.Triggers.SelectMany(t => QuerySpec.For(t.Condition)).Select(async spec =>
        {
            await resolver.PrefetchAsync(spec, ct).ConfigureAwait(false);
            fetched();
        })).ConfigureAwait(false);

    /// <summary>A policy's verdicts and decisions counted as it is replayed (loops, not LINQ: this runs at every evaluation).</summary>
    private sealed class Tally
    {
        private int _evaluations, _passes, _breaches, _inconclusive, _errors, _actions, _suppressed, _inconclusiveRuns;

        public void Count(PolicyEvaluation evaluation)
        {
            _evaluations++;
            for (var triggerIndex = 0; triggerIndex < evaluation.Triggers.Count; triggerIndex++)
            {
                var verdicts = evaluation.Triggers[triggerIndex].Verdicts;
                for (var vIndex = 0; vIndex < verdicts.Count; vIndex++)
                {
                    switch (verdicts[vIndex].Kind)
                    {
                        case VerdictKind.Pass: _passes++; break;
                        case VerdictKind.Breach: _breaches++; break;
                        case VerdictKind.Inconclusive: _inconclusive++; break;
                        case VerdictKind.Error: _errors++; break;
                    }
                }
            }

            var decisions = evaluation.Step.Decisions;
            for (var dIndex = 0; dIndex < decisions.Count; dIndex++)
            {
                switch (decisions[dIndex].Kind)
                {
                    case DecisionKind.Act: _actions++; break;
                    case DecisionKind.SuppressedByCooldown: _suppressed++; break;
                    case DecisionKind.InconclusiveRun: _inconclusiveRuns++; break;
                }
            }
        }

        public BacktestSummary Summary(string policy) => new()
        {
            Policy = policy,
            Evaluations = _evaluations,
            Passes = _passes,
            Breaches = _breaches,
            Inconclusive = _inconclusive,
            Errors = _errors,
            Actions = _actions,
            Suppressed = _suppressed,
            InconclusiveRuns = _inconclusiveRuns,
        };
    }

    /// <summary>The changes that can matter in the window: those in it, and the latest of each label set before it (later ones cannot).</summary>
    private static IEnumerable<Change> Used(ChangeHistory changes, BacktestWindow window) =>
        changes.All.Where(c => c.At < window.From).GroupBy(c => c.Labels).Select(g => g.Last())
            .Concat(changes.All.Where(c => c.At >= window.From && c.At <= window.To));

    /// <summary>Changes found by <c>spec.watch.detect.query</c> over a policy's evaluation times, or why there are none.</summary>
    private sealed record Detection(IReadOnlyList<Change> Changes, string? Warning);

    /// <summary>
    /// One range query of the detect query on the policy's evaluation grid, then <see cref="QueryChangeDetection.Compare"/>
    /// between consecutive evaluation times, as the daemon does at each evaluation (the first one only learns).
    /// </summary>
    private static async Task<Detection> DetectAsync(RangeFetcher fetcher, Policy policy, IReadOnlyList<DateTimeOffset> times, CancellationToken ct)
    {
        var query = policy.Watch.Detect.Query!;
        var grid = Grid(times);
        Slots slots;
        try
        {
            slots = (await fetcher.IndexedAsync(policy.Backend, query, times[0], times[^1], grid, ct).ConfigureAwait(false)).Usable;
        }
        catch (MetricsQueryException e)
        {
            return new Detection([], $"policy '{policy.Name}': spec.watch.detect.query failed, so the backtest went on without the changes it would find: {e.Message}");
        }

        var changes = new List<Change>();
        IReadOnlyList<Sample>? previous = null;
        foreach (var at in times)
        {
            // As live: a step with no series at all is no evidence (a gap in the data), compared with nothing.
            var current = slots.At(at);
            if (current.Count == 0)
            {
                continue;
            }

            changes.AddRange(QueryChangeDetection.Compare(policy.Name, previous, current, at));
            previous = current;
        }

        return new Detection(changes, null);
    }

    /// <summary>
    /// A range result's samples by slot of the requested grid (start + k x step), all in one array with each slot's
    /// offset: two arrays per query instead of a list per evaluation time, and a lookup that is arithmetic.
    /// </summary>
    private sealed class Slots
    {
        private readonly DateTimeOffset _start;
        private readonly long _stepTicks;
        private readonly int[] _offsets;
        private readonly Sample[] _samples;

        /// <summary>Points off the grid throw (<see cref="OffGrid"/>); points outside [start, end] are never asked for.</summary>
        public Slots(string query, IReadOnlyList<RangeSeries> series, DateTimeOffset start, DateTimeOffset end, TimeSpan step)
        {
            _start = start;
            _stepTicks = step.Ticks;
            var count = checked((int)((end - start).Ticks / _stepTicks) + 1);
            _offsets = new int[count + 1];
            foreach (var s in series)
            {
                foreach (var p in s.Points)
                {
                    if (Slot(query, p.Timestamp) is { } k)
                    {
                        _offsets[k + 1]++;
                    }
                }
            }

            for (var k = 0; k < count; k++)
            {
                _offsets[k + 1] += _offsets[k];
            }

            _samples = new Sample[_offsets[count]];
            var next = _offsets[..count];
            foreach (var s in series)
            {
                foreach (var p in s.Points)
                {
                    if (Slot(query, p.Timestamp) is { } k)
                    {
                        _samples[next[k]++] = new Sample(s.Labels, p.Value);
                    }
                }
            }
        }

        /// <summary>The samples at <paramref name="t"/>, in series order; none off the grid or outside the window.</summary>
        public IReadOnlyList<Sample> At(DateTimeOffset t)
        {
            var segment = Segment(t);
            // Not `Count == 0 ? [] : segment`: that `[]` is typed as the segment, a default one with no array, which
            // throws when enumerated (a burn-rate trigger's window with no sample did, in rules/tests).
            return segment.Count == 0 ? Array.Empty<Sample>() : segment;
        }

        /// <summary>As <see cref="At"/>, as a slice of the one array (empty, with that array, off the grid or outside the window).</summary>
        public ArraySegment<Sample> Segment(DateTimeOffset t)
        {
            var ticks = (t - _start).Ticks;
            if (ticks < 0 || ticks % _stepTicks != 0 || ticks / _stepTicks >= _offsets.Length - 1)
            {
                return new ArraySegment<Sample>(_samples, 0, 0);
            }

            var k = (int)(ticks / _stepTicks);
            var from = _offsets[k];
            return new ArraySegment<Sample>(_samples, from, _offsets[k + 1] - from);
        }

        private int? Slot(string query, DateTimeOffset timestamp)
        {
            var ticks = (timestamp - _start).Ticks;
            if (ticks % _stepTicks != 0)
            {
                // Some query frontends (Thanos, Cortex, Mimir) move range queries onto their own step grid.
                // Points that miss the evaluation times would silently read as "no data": refuse instead.
                throw OffGrid(query, timestamp, _start, TimeSpan.FromTicks(_stepTicks));
            }

            var k = ticks / _stepTicks;
            return k >= 0 && k < _offsets.Length - 1 ? (int)k : null;
        }
    }

    private static MetricsQueryException OffGrid(string query, DateTimeOffset timestamp, DateTimeOffset start, TimeSpan step) => new(
        MetricsErrorKind.InvalidResponse,
        query,
        $"the backend returned a point at {Rfc3339.Format(timestamp)}, off the requested grid ({Rfc3339.Format(start)} + k x {PromDuration.Format(step)}); " +
        "a query frontend is aligning range queries to the step: disable that alignment, or start the window on a multiple of the step");

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

    /// <summary>Fetches each distinct range query once, however many policies or triggers need it.</summary>
    private sealed class RangeFetcher(IMetricsBackends backends, int maxConcurrent)
    {
        private readonly ConcurrentDictionary<RangeKey, Lazy<Task<IReadOnlyList<RangeSeries>>>> _series = new();
        private readonly ConcurrentDictionary<RangeKey, Lazy<Task<Indexed>>> _indexed = new();
        private readonly SemaphoreSlim _gate = new(maxConcurrent);

        /// <summary>A range result as it is fetched (kept for the run: before-deploy windows, which are short).</summary>
        public Task<IReadOnlyList<RangeSeries>> FetchAsync(string? backend, string query, DateTimeOffset start, DateTimeOffset end, TimeSpan step, CancellationToken ct) =>
            Once(_series, new(backend, query, start, end, step), k => FetchCoreAsync(k, ct));

        /// <summary>
        /// A range result on the grid of evaluation times, indexed once for every policy that asks for it (a month of a
        /// query shared by 100 policies was 100 copies), and without the series it was made of. A fetch that fails
        /// throws; points off the grid come back as <see cref="Indexed.OffGrid"/>, for the caller to throw.
        /// </summary>
        public Task<Indexed> IndexedAsync(string? backend, string query, DateTimeOffset start, DateTimeOffset end, TimeSpan step, CancellationToken ct) =>
            Once(_indexed, new(backend, query, start, end, step), k => IndexAsync(k, ct));

        /// <summary>The one task for <paramref name="key"/>: started by the first caller, shared by the others.</summary>
        private static Task<T> Once<T>(ConcurrentDictionary<RangeKey, Lazy<Task<T>>> cache, RangeKey key, Func<RangeKey, Task<T>> start) =>
            cache.GetOrAdd(key, k => new Lazy<Task<T>>(() => start(k))).Value;

        private async Task<Indexed> IndexAsync(RangeKey key, CancellationToken ct)
        {
            var series = await FetchCoreAsync(key, ct).ConfigureAwait(false);
            try
            {
                return new Indexed(new Slots(key.Query, series, key.Start, key.End, key.Step), null);
            }
            catch (MetricsQueryException offGrid)
            {
                return new Indexed(null, offGrid);
            }
        }

        private async Task<IReadOnlyList<RangeSeries>> FetchCoreAsync(RangeKey key, CancellationToken ct)
        {
            await _gate.WaitAsync(ct).ConfigureAwait(false);
            try
            {
                return await backends.For(key.Backend).QueryRangeAsync(key.Query, key.Start, key.End, key.Step, ct).ConfigureAwait(false);
            }
            finally
            {
                _gate.Release();
            }
        }
    }

    /// <summary>One range query: an expression on a backend over a window at a step.</summary>
    private readonly record struct RangeKey(string? Backend, string Query, DateTimeOffset Start, DateTimeOffset End, TimeSpan Step);

    /// <summary>A range result indexed on its grid, or the points off the grid that made it unusable (thrown anew by each caller).</summary>
    private sealed record Indexed(Slots? Slots, MetricsQueryException? OffGrid)
    {
        public Slots Usable => Slots ?? throw new MetricsQueryException(OffGrid!.Kind, OffGrid.Query, OffGrid.Message);
    }

    /// <summary>Serves a policy's queries at its evaluation times from range results fetched up front.</summary>
    private sealed class RangeResolver : IQueryResolver
    {
        private readonly RangeFetcher _fetcher;
        private readonly string? _backend;
        private readonly IReadOnlyList<DateTimeOffset> _times;
        private readonly TimeSpan _grid;
        // By reference: the specs prefetched and those resolved are the same objects (QuerySpec.For makes them once per
        // condition), and a record's value hash is a hash of its PromQL at every lookup.
        private readonly ConcurrentDictionary<QuerySpec, Prefetched> _data = new(ReferenceEqualityComparer.Instance);
        private DateTimeOffset _formattedAt;
        private string? _formattedText;

        public RangeResolver(RangeFetcher fetcher, string? backend, IReadOnlyList<DateTimeOffset> times, ChangeHistory changes)
        {
            _fetcher = fetcher;
            _backend = backend;
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

            var (start, end, shift) = spec.Time is OffsetQueryTime o ? (_times[0] - o.Offset, _times[^1] - o.Offset, o.Offset) : (_times[0], _times[^1], TimeSpan.Zero);
            Indexed indexed;
            try
            {
                indexed = await _fetcher.IndexedAsync(_backend, spec.Expression, start, end, _grid, ct).ConfigureAwait(false);
            }
            catch (MetricsQueryException e) when (spec.Informational || e.Kind is MetricsErrorKind.ServerError or MetricsErrorKind.Timeout or MetricsErrorKind.InvalidResponse)
            {
                // As in the daemon, a failed query is an error verdict at each evaluation that needed it; an
                // informational one (a burn-rate budget over 30d the server refuses) changes no verdict, so never the run.
                _data[spec] = new FailedAtTimes(e.Message, shift);
                return;
            }

            // Points off the grid make the whole run meaningless: that throws.
            _data[spec] = new AtTimes(indexed.Usable, shift);
        }

        /// <summary>
        /// A before-deploy baseline: each series' average over the window ending at each change that is its latest at
        /// some evaluation time (never past that change), fetched once each. The candidates change only at a change,
        /// so the first evaluation time and the times of the changes within the evaluations find them all.
        /// </summary>
        private async Task PrefetchBeforeChangesAsync(QuerySpec spec, BeforeDeployQueryTime b, CancellationToken ct)
        {
            var ends = Changes.All.Select(c => c.At).Where(t => t > _times[0] && t <= _times[^1]).Prepend(_times[0])
                .SelectMany(t => ChangeBaselines.WindowEnds(Changes, t))
                .Distinct()
                .ToArray();
            var step = InstantQueryResolver.BeforeDeployStep(b.Window);
            var windows = await Task.WhenAll(ends.Select(async end =>
                {
                    try
                    {
                        return (End: end, Averages: InstantQueryResolver.AverageEachSeries(await _fetcher.FetchAsync(_backend, spec.Expression, end - b.Window, end, step, ct).ConfigureAwait(false)), Error: (string?)null);
                    }
                    catch (MetricsQueryException e) when (e.Kind is MetricsErrorKind.ServerError or MetricsErrorKind.Timeout or MetricsErrorKind.InvalidResponse)
                    {
                        return (End: end, Averages: (IReadOnlyList<Sample>)[], Error: e.Message);
                    }
                }))
                .ConfigureAwait(false);
            _data[spec] = new BeforeChanges(b.Window, windows.ToDictionary(w => w.End, w => (w.Averages, w.Error)));
        }

        public ValueTask<QueryOutcome> ResolveAsync(QuerySpec spec, DateTimeOffset at, CancellationToken cancellationToken) => ValueTask.FromResult(_data[spec] switch
        {
            FailedAtTimes f => QueryOutcome.Failure(spec, Rfc3339.Format(at - f.Shift), f.Error),
            AtTimes a => QueryOutcome.SuccessSlice(spec, Format(at - a.Shift), a.Slots.Segment(at - a.Shift)),
            BeforeChanges b => BeforeChange(spec, b, at),
            var other => throw new InvalidOperationException($"unknown prefetched data {other}"),
        });

        /// <summary>The evaluation time as evidence shows it: formatted once for all of an evaluation's queries.</summary>
        /// <remarks>A resolver serves one policy's replay, one evaluation after the other: the last time is two plain fields.</remarks>
        private string Format(DateTimeOffset at)
        {
            if (_formattedText is { } text && _formattedAt == at)
            {
                return text;
            }

            text = Rfc3339.Format(at);
            _formattedAt = at;
            _formattedText = text;
            return text;
        }

        /// <summary>As <see cref="InstantQueryResolver"/> answers at <paramref name="at"/>: from the windows ending at each series' latest change.</summary>
        private QueryOutcome BeforeChange(QuerySpec spec, BeforeChanges data, DateTimeOffset at)
        {
            var ends = ChangeBaselines.WindowEnds(Changes, at);
            if (ends.Count == 0)
            {
                return QueryOutcome.NotAvailable(spec, ChangeBaselines.NoChangeKnown);
            }

            var windows = string.Join(", ", ends.Select(e => Rfc3339.Range(e - data.Window, e)));
            return ends.Select(e => data.ByEnd[e].Error).FirstOrDefault(e => e is not null) is { } error
                ? QueryOutcome.Failure(spec, windows, error)
                : QueryOutcome.Success(spec, windows, ChangeBaselines.Select(Changes, at, ends.ToDictionary(e => e, e => data.ByEnd[e].Averages)));
        }

        private abstract record Prefetched;

        /// <summary>A query at each evaluation time (minus <see cref="Shift"/> for an offset baseline).</summary>
        private sealed record AtTimes(Slots Slots, TimeSpan Shift) : Prefetched;

        private sealed record FailedAtTimes(string Error, TimeSpan Shift) : Prefetched;

        /// <summary>A before-deploy baseline: each series' average over the window ending at each change (or why that window failed).</summary>
        private sealed record BeforeChanges(TimeSpan Window, IReadOnlyDictionary<DateTimeOffset, (IReadOnlyList<Sample> Averages, string? Error)> ByEnd) : Prefetched;
    }
}
