using RollbackSentinel.Core.Backtesting;
using RollbackSentinel.Core.Changes;
using RollbackSentinel.Core.Evaluation;
using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Core.Policies;
using RollbackSentinel.Core.State;
using RollbackSentinel.Core.Tests.Support;
using static RollbackSentinel.Core.Tests.Support.Build;

namespace RollbackSentinel.Core.Tests.Backtesting;

public sealed class BacktesterTests
{
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(15);

    /// <summary>A policy whose rollback triggers act with no change known, on purpose: these tests are not about changes.</summary>
    private static Policy AlwaysArmed(params Trigger[] triggers) => Policy(triggers) with { Watch = new WatchSettings { Outside = OutsideAction.Rollback } };

    private static IEnumerable<DateTimeOffset> NoCron(CronSchedule c, DateTimeOffset f, DateTimeOffset t) => throw new InvalidOperationException("no cron here");

    /// <summary>10 req/s throughout; 10% errors from T0+5m to T0+10m.</summary>
    private static IReadOnlyList<Sample> BadDeploy(string query, DateTimeOffset t) => query switch
    {
        "total_q" => [S(10)],
        "errors_q" => [S(t >= T0.AddMinutes(5) && t < T0.AddMinutes(10) ? 1 : 0.1)],
        _ => [],
    };

    [Fact]
    public async Task Run_BadDeploy_ActsOnceWhenForElapsesWithOneRangeQueryPerExpression()
    {
        var source = new FunctionMetricsSource(BadDeploy);
        var policy = AlwaysArmed(ErrorRate(@for: TimeSpan.FromMinutes(2)));

        var result = await new Backtester(source, NoCron).RunAsync([policy], new BacktestWindow(T0, T0.AddMinutes(20)), CancellationToken.None);

        var act = Assert.Single(result.Decisions, d => d.Kind == DecisionKind.Act);
        Assert.Equal((T0.AddMinutes(7), TriggerAction.Rollback, false), (act.At, act.Action, act.Disarmed));
        Assert.Equal(0.1, act.Verdict.Value!.Value, 9);
        Assert.Equal(DecisionKind.Resolved, Assert.Single(result.Decisions, d => d.Kind != DecisionKind.Act).Kind);
        Assert.Equal(["errors_q", "total_q"], source.RangeCalls.Select(c => c.Query).Order());
        Assert.All(source.RangeCalls, c => Assert.Equal((T0, T0.AddMinutes(20), Step), (c.Start, c.End, c.Step)));
        Assert.Empty(source.InstantCalls);
        var summary = Assert.Single(result.Summaries);
        Assert.Equal((81, 20, 61, 0, 0, 1), (summary.Evaluations, summary.Breaches, summary.Passes, summary.Inconclusive, summary.Errors, summary.Actions));
    }

    /// <summary>
    /// Two pods whose data moves every minute: errors that come and go, a NaN total, low traffic, a canary that slows,
    /// availability that drops and a minute with no series, a threshold counting no data as a breach.
    /// </summary>
    private static IReadOnlyList<Sample> Churning(string query, DateTimeOffset t)
    {
        var minute = (int)(t - T0).TotalMinutes;
        var step = (int)((t - T0).TotalSeconds / 15);
        (string, string) a = ("pod", "a"), b = ("pod", "b");
        return query switch
        {
            "total_q" when minute == 7 => [S(double.NaN, a), S(10, b)],
            "total_q" when minute == 9 => [S(0.2, a), S(10 + step, b)],
            "total_q" => [S(10, a), S(10 + step, b)],
            "errors_q" => [S(minute % 6 < 3 ? 0.1 * step : 0, a), S(minute is >= 12 and < 16 ? 3 : 0.01 * step, b)],
            "canary_q" => [S(minute is >= 4 and < 8 ? 0.9 : 0.1 + (0.001 * step), a), S(0.1, b)],
            "stable_q" => [S(0.1 + (0.001 * step))],
            "up_q" when minute == 11 => [],
            "up_q" => [S(minute is >= 14 and < 17 ? 0.5 : 1, a), S(1, b)],
            "value_q" when minute is 3 or 15 => [],
            "value_q" => [S(step, a)],
            _ => [],
        };
    }

    [Fact]
    public async Task Run_Unobserved_WritesVerdictsAgainEachEvaluation_YetDecidesWithTheSameVerdictsAndEvidenceAsObserved()
    {
        // Unobserved, a replay writes one evaluation's verdicts over the last one's (nothing keeps them); observed, each
        // evaluation has its own. Every decision, with its verdict and evidence, and every count must be the same.
        var source = new FunctionMetricsSource(Churning);
        var policy = AlwaysArmed(
            ErrorRate(@for: TimeSpan.FromMinutes(1)),
            Latency(),
            Availability(),
            Threshold(ComparisonOperator.GreaterThan, 50, noData: NoDataPolicy.Breach, action: TriggerAction.Notify));
        var window = new BacktestWindow(T0, T0.AddMinutes(20));

        var reused = await new Backtester(source, NoCron).RunAsync([policy], window, CancellationToken.None);
        var own = await new Backtester(source, NoCron).RunAsync([policy], window, CancellationToken.None, observe: _ => { });

        static object Described(Decision d) => new
        {
            d.At,
            d.Trigger,
            d.Labels,
            d.Kind,
            d.Message,
            d.Since,
            VerdictKind = d.Verdict.Kind,
            d.Verdict.Reason,
            d.Verdict.Value,
            d.Verdict.Threshold,
            d.Verdict.Baseline,
            d.Verdict.Summary,
            d.Verdict.NoDataCountedAsBreach,
            Queries = string.Join(" | ", d.Verdict.Queries),
        };

        Assert.Equal(own.Decisions.Select(Described), reused.Decisions.Select(Described));
        Assert.Equal(own.Summaries, reused.Summaries);
        // The data made every kind of decision, and verdicts of every kind.
        Assert.Equal(
            [DecisionKind.Act, DecisionKind.SuppressedByCooldown, DecisionKind.InconclusiveRun, DecisionKind.Resolved],
            reused.Decisions.Select(d => d.Kind).Distinct().Order());
        var summary = Assert.Single(reused.Summaries);
        Assert.All(new[] { summary.Passes, summary.Breaches, summary.Inconclusive }, n => Assert.True(n > 0));
        Assert.Contains(reused.Decisions, d => d.Verdict.NoDataCountedAsBreach);
        Assert.Contains(reused.Decisions, d => d.Verdict.Queries.Any(q => q.Note is not null));
    }

    [Fact]
    public async Task Run_BurnRate_FetchesEachWindowOnce_AndARefusedBudgetQueryChangesNoDecision()
    {
        // 10 req/s, every request failing from T0+5m; the server refuses the 30d budget queries (too many samples).
        var source = new FunctionMetricsSource((q, t) => q.StartsWith("total_q", StringComparison.Ordinal) ? [S(10)] : [S(t >= T0.AddMinutes(5) ? 10 : 0)])
        {
            Fail = q => q.EndsWith("[30d]", StringComparison.Ordinal) ? new MetricsQueryException(MetricsErrorKind.BadQuery, q, "query processing would load too many samples") : null,
        };
        var policy = AlwaysArmed(BurnRate(), BurnRate() with { Name = "slo-again", Action = TriggerAction.Notify });

        var result = await new Backtester(source, NoCron).RunAsync([policy], new BacktestWindow(T0, T0.AddMinutes(10)), CancellationToken.None);

        Assert.Equal(
            [(T0.AddMinutes(5), "slo", "1h/5m fired"), (T0.AddMinutes(5), "slo-again", "1h/5m fired")],
            result.Decisions.Where(d => d.Kind == DecisionKind.Act).Select(d => (d.At, d.Trigger, d.Verdict.Summary[..11])));
        Assert.EndsWith("error budget over 30d unknown: its query failed", result.Decisions[0].Verdict.Summary);
        string[] windows = ["1h", "5m", "6h", "30m", "30d"];
        Assert.Equal(
            windows.SelectMany(w => (string[])[$"errors_q[{w}]", $"total_q[{w}]"]).Order(StringComparer.Ordinal),
            source.RangeCalls.Select(c => c.Query).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task Evaluate_InformationalQueries_AreResolvedAfterEveryDecidingQueryOfEveryTrigger()
    {
        var source = new FunctionMetricsSource((_, _) => [S(1)]);
        var policy = Policy(BurnRate(windows: [new(TimeSpan.FromHours(1), TimeSpan.FromMinutes(5), 14.4)]), ErrorRate());

        await PolicyEvaluator.EvaluateAsync(policy, PolicyState.Empty, T0, new InstantQueryResolver(source, ChangeHistory.Empty), CancellationToken.None);

        Assert.Equal(
            ["errors_q[1h]", "total_q[1h]", "errors_q[5m]", "total_q[5m]", "errors_q", "total_q", "errors_q[30d]", "total_q[30d]"],
            source.InstantCalls);
    }

    [Fact]
    public async Task Evaluate_BurnRatePasses_DoesNotQueryTheBudgetOverThePeriod()
    {
        // Errors 0 of 1 request/s: every pair passes. The 30-day budget query is heavy for the backend, and only read on a breach.
        var source = new FunctionMetricsSource((q, _) => [S(q.StartsWith("errors_q", StringComparison.Ordinal) ? 0 : 1)]);
        var policy = Policy(BurnRate(windows: [new(TimeSpan.FromHours(1), TimeSpan.FromMinutes(5), 14.4)]));

        var evaluation = await PolicyEvaluator.EvaluateAsync(policy, PolicyState.Empty, T0, new InstantQueryResolver(source, ChangeHistory.Empty), CancellationToken.None);

        Assert.Equal(["errors_q[1h]", "total_q[1h]", "errors_q[5m]", "total_q[5m]"], source.InstantCalls);
        var verdict = Assert.Single(Assert.Single(evaluation.Triggers).Verdicts);
        Assert.Equal(VerdictKind.Pass, verdict.Kind);
        Assert.EndsWith($"error budget over 30d unknown: {PolicyEvaluator.NotQueriedWhilePassing}", verdict.Summary);
    }

    [Fact]
    public async Task Run_DecidesExactlyLikeTheDaemonsInstantEvaluation()
    {
        var source = new FunctionMetricsSource(BadDeploy);
        var policy = AlwaysArmed(ErrorRate(@for: TimeSpan.FromMinutes(1)), Latency(baseline: new OffsetBaseline(TimeSpan.FromDays(1))));
        var window = new BacktestWindow(T0, T0.AddMinutes(20));

        var backtest = await new Backtester(source, NoCron).RunAsync([policy], window, CancellationToken.None);

        var resolver = new InstantQueryResolver(source, RollbackSentinel.Core.Changes.ChangeHistory.Empty);
        var state = PolicyState.Empty;
        var live = new List<Decision>();
        for (var t = T0; t <= window.To; t += Step)
        {
            var evaluation = await PolicyEvaluator.EvaluateAsync(policy, state, t, resolver, CancellationToken.None);
            state = evaluation.Step.State;
            live.AddRange(evaluation.Step.Decisions);
        }

        Assert.Contains(live, d => d.Action == TriggerAction.Rollback);
        Assert.Equal(live.Select(d => (d.At, d.Trigger, d.Kind, d.Action, d.Verdict.Summary)), backtest.Decisions.Select(d => (d.At, d.Trigger, d.Kind, d.Action, d.Verdict.Summary)));
    }

    [Fact]
    public async Task Run_OffsetBaseline_QueriesTheSameExpressionShiftedBack()
    {
        var yesterday = T0.AddDays(-1);
        var source = new FunctionMetricsSource((q, t) => q == "canary_q" ? [S(t >= T0 ? 0.5 : 0.2)] : []);
        var policy = Policy(Latency(baseline: new OffsetBaseline(TimeSpan.FromDays(1)), maxRatio: 2));

        var result = await new Backtester(source, NoCron).RunAsync([policy], new BacktestWindow(T0, T0.AddMinutes(1)), CancellationToken.None);

        Assert.Contains(source.RangeCalls, c => c.Query == "canary_q" && c.Start == yesterday && c.End == yesterday.AddMinutes(1));
        var act = Assert.Single(result.Decisions);
        Assert.Equal((0.5, 0.2, 0.4), (act.Verdict.Value, act.Verdict.Baseline, act.Verdict.Threshold));
        Assert.Equal("2026-11-19T10:00:00Z", act.Verdict.Queries.Single(q => q.Role == "baseline").EvaluatedAt);
    }

    [Fact]
    public async Task Run_BeforeDeployBaseline_AveragesTheWindowBeforeTheDeploy()
    {
        var deploy = T0.AddMinutes(10);
        var source = new FunctionMetricsSource((q, t) => q == "canary_q" ? [S(t <= deploy ? 0.1 : 0.3)] : []);
        var policy = Policy(Latency(baseline: new BeforeDeployBaseline(TimeSpan.FromMinutes(10)), maxRatio: null, maxIncrease: 0.1));

        var result = await new Backtester(source, NoCron).RunAsync([policy], new BacktestWindow(T0, T0.AddMinutes(12), DeployedAt: deploy), CancellationToken.None);

        var act = Assert.Single(result.Decisions, d => d.Kind == DecisionKind.Act);
        Assert.Equal(deploy + Step, act.At);
        Assert.Equal(0.1, act.Verdict.Baseline!.Value, 9);
        Assert.Contains(source.RangeCalls, c => c.Start == T0 && c.End == deploy && c.Step == TimeSpan.FromSeconds(20));
    }

    [Fact]
    public async Task Run_BeforeDeployBaseline_IsNotUsedBeforeTheDeploy()
    {
        // The value jumps at T0+5m, five minutes before the deploy: no evaluation before the deploy may use a
        // "before the deploy" baseline (it would be computed from the future).
        var deploy = T0.AddMinutes(10);
        var source = new FunctionMetricsSource((q, t) => q == "canary_q" ? [S(t >= T0.AddMinutes(5) ? 1.0 : 0.1)] : []);
        var policy = Policy(Latency(baseline: new BeforeDeployBaseline(TimeSpan.FromMinutes(10)), maxRatio: 1.5));

        var result = await new Backtester(source, NoCron).RunAsync([policy], new BacktestWindow(T0, T0.AddMinutes(12), DeployedAt: deploy), CancellationToken.None);

        Assert.DoesNotContain(result.Decisions, d => d.Kind == DecisionKind.Act && d.At < deploy);
    }

    [Fact]
    public async Task Run_BackendPointsOffTheRequestedGrid_FailsInsteadOfReadingAsNoData()
    {
        var shifted = new ShiftingSource(TimeSpan.FromSeconds(5));

        var e = await Assert.ThrowsAsync<MetricsQueryException>(() =>
            new Backtester(shifted, NoCron).RunAsync([Policy(ErrorRate())], new BacktestWindow(T0, T0.AddMinutes(1)), CancellationToken.None));

        Assert.Equal(MetricsErrorKind.InvalidResponse, e.Kind);
        Assert.Contains("off the requested grid", e.Message);
    }

    [Fact]
    public void CountEvaluations_HugeWindow_IsCountedWithoutListingTheTimes()
    {
        var policy = Policy(ErrorRate()) with { Schedule = new IntervalSchedule(TimeSpan.FromSeconds(1)) };

        var count = new Backtester(new FunctionMetricsSource(BadDeploy), NoCron)
            .CountEvaluations(policy, new BacktestWindow(T0.AddYears(-100), T0), limit: 200_000);

        Assert.Equal(200_001, count);
    }

    [Fact]
    public async Task Run_SecondPolicysQueryStillFetching_FirstPolicyIsReplayedMeanwhile_AndTheResultIsAsOneAfterTheOther()
    {
        // The second policy's only query is held open until the first policy's whole replay has been observed: a run that
        // fetched everything before replaying anything would never finish (the test's budget cancels it).
        var inner = new FunctionMetricsSource((q, t) => q == "value_q" ? [S(3)] : BadDeploy(q, t));
        var held = new HeldRangeQuery(inner, "value_q");
        var first = AlwaysArmed(ErrorRate(@for: TimeSpan.FromMinutes(2)));
        var second = AlwaysArmed(Threshold(ComparisonOperator.GreaterThan, 2)) with { Name = "second" };
        var window = new BacktestWindow(T0, T0.AddMinutes(20));
        var observed = new List<(string Policy, bool SecondStillFetching)>();
        using var budget = new CancellationTokenSource(TimeSpan.FromSeconds(30));

        var result = await new Backtester(held, NoCron).RunAsync(
            [first, second],
            window,
            budget.Token,
            observe: e =>
            {
                observed.Add((e.Policy.Name, !held.Released));
                if (e.Policy.Name == first.Name && e.At == window.To)
                {
                    held.Release();
                }
            });

        Assert.Equal(81, observed.Count(o => o.Policy == first.Name && o.SecondStillFetching));
        Assert.Equal(81, observed.Count(o => o.Policy == "second" && !o.SecondStillFetching));
        var alone = await new Backtester(inner, NoCron).RunAsync([first, second], window, CancellationToken.None);
        Assert.Equal(alone.Decisions.Select(d => (d.At, d.Policy, d.Trigger, d.Kind)), result.Decisions.Select(d => (d.At, d.Policy, d.Trigger, d.Kind)));
        Assert.Equal(alone.Summaries, result.Summaries);
    }

    [Fact]
    public async Task Run_TwoLanes_ReplayPoliciesSideBySide_AndDecideAsOneAfterTheOther()
    {
        // The first replayed evaluation waits until an evaluation is replayed on another thread: only a second lane
        // replaying the other policy meanwhile can let it go on before the wait runs out.
        var source = new FunctionMetricsSource(BadDeploy);
        Policy[] policies = [.. Enumerable.Range(0, 6).Select(i => AlwaysArmed(ErrorRate(max: 0.02 * (i + 1), @for: TimeSpan.FromMinutes(i % 3))) with { Name = $"p{i}" })];
        var window = new BacktestWindow(T0, T0.AddMinutes(20));
        var firstThread = -1;
        var sideBySide = false;
        using var otherLane = new ManualResetEventSlim();
        var progress = new SynchronousProgress(p =>
        {
            if (p.Phase != BacktestPhase.Replaying)
            {
                return;
            }

            var thread = Environment.CurrentManagedThreadId;
            if (Interlocked.CompareExchange(ref firstThread, thread, -1) == -1)
            {
                sideBySide = otherLane.Wait(TimeSpan.FromSeconds(20));
            }
            else if (thread != Volatile.Read(ref firstThread))
            {
                otherLane.Set();
            }
        });

        var lanes = await new Backtester(source, NoCron) { ReplayLanes = 2 }.RunAsync(policies, window, CancellationToken.None, progress);
        var one = await new Backtester(source, NoCron).RunAsync(policies, window, CancellationToken.None, observe: _ => { });

        Assert.True(sideBySide, "no evaluation was replayed on another thread while the first one waited");
        Assert.Equal(one.Decisions.Select(d => (d.At, d.Policy, d.Trigger, d.Kind, d.Verdict.Summary)), lanes.Decisions.Select(d => (d.At, d.Policy, d.Trigger, d.Kind, d.Verdict.Summary)));
        Assert.Equal(one.Summaries, lanes.Summaries);
        Assert.Equal(policies.Select(p => p.Name), lanes.Summaries.Select(s => s.Policy));
    }

    [Fact]
    public async Task Run_OneOfManyPoliciesQueriesFails_TheFailureIsThrownNotTheOtherLanesCancellation_AndTheFetchStops()
    {
        // The second policy's query is refused while the later policies' query is held open: the other lane is waiting for
        // it (or replaying the first policy) when the failure comes. The run must throw the refusal, not the cancellation
        // the other lane sees, and stop the held fetch rather than wait for it (the budget would end a run that waited).
        var inner = new FunctionMetricsSource((q, t) => q is "value_q" or "held_q" ? [S(3)] : BadDeploy(q, t))
        {
            Fail = q => q == "value_q" ? new MetricsQueryException(MetricsErrorKind.Unauthorized, q, "HTTP 401") : null,
        };
        var held = new HeldRangeQuery(inner, "held_q");
        Policy[] policies =
        [
            Policy(ErrorRate()) with { Name = "first" },
            Policy(Threshold(ComparisonOperator.GreaterThan, 2)) with { Name = "failing" },
            .. Enumerable.Range(0, 3).Select(i => Policy(Threshold(ComparisonOperator.GreaterThan, 2) with
            {
                Condition = new ThresholdCondition("held_q", ComparisonOperator.GreaterThan, 2 + i),
            }) with { Name = $"held{i}" }),
        ];
        using var budget = new CancellationTokenSource(TimeSpan.FromSeconds(30));

        var e = await Assert.ThrowsAsync<MetricsQueryException>(() =>
            new Backtester(held, NoCron) { ReplayLanes = 2 }.RunAsync(policies, new BacktestWindow(T0, T0.AddMinutes(30)), budget.Token));

        Assert.Equal(MetricsErrorKind.Unauthorized, e.Kind);
        Assert.False(budget.IsCancellationRequested, "the run waited for the held query until the test's budget ran out");
        Assert.True(held.SawCancellation, "the held range query was never cancelled");
        Assert.False(held.Released);
    }

    /// <summary>An <see cref="IProgress{T}"/> that reports on the reporting thread (<see cref="Progress{T}"/> would post).</summary>
    private sealed class SynchronousProgress(Action<BacktestProgress> report) : IProgress<BacktestProgress>
    {
        public void Report(BacktestProgress value) => report(value);
    }

    /// <summary>A backend whose range query of one expression answers only once <see cref="Release"/> is called.</summary>
    private sealed class HeldRangeQuery(IMetricsSource inner, string expression) : IMetricsSource
    {
        private readonly TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public bool Released => _release.Task.IsCompleted;

        public void Release() => _release.TrySetResult();

        public Task<IReadOnlyList<Sample>> QueryAsync(string query, DateTimeOffset time, CancellationToken cancellationToken) => inner.QueryAsync(query, time, cancellationToken);

        public bool SawCancellation { get; private set; }

        public async Task<IReadOnlyList<RangeSeries>> QueryRangeAsync(string query, DateTimeOffset start, DateTimeOffset end, TimeSpan step, CancellationToken cancellationToken)
        {
            if (query == expression)
            {
                try
                {
                    await _release.Task.WaitAsync(cancellationToken);
                }
                catch (OperationCanceledException)
                {
                    SawCancellation = true;
                    throw;
                }
            }

            return await inner.QueryRangeAsync(query, start, end, step, cancellationToken);
        }
    }

    /// <summary>A backend whose range points are all shifted: what a step-aligning query frontend does.</summary>
    private sealed class ShiftingSource(TimeSpan shift) : IMetricsSource
    {
        public Task<IReadOnlyList<Sample>> QueryAsync(string query, DateTimeOffset time, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task<IReadOnlyList<RangeSeries>> QueryRangeAsync(string query, DateTimeOffset start, DateTimeOffset end, TimeSpan step, CancellationToken cancellationToken) =>
            Task.FromResult<IReadOnlyList<RangeSeries>>([new RangeSeries(LabelSet.Empty, [new Point(start + shift, 1)])]);
    }

    [Fact]
    public async Task Run_BeforeDeployBaselineWithoutDeployTime_IsInconclusiveNeverAnAction()
    {
        var source = new FunctionMetricsSource((q, t) => [S(5)]);
        var policy = Policy(Latency(baseline: new BeforeDeployBaseline(TimeSpan.FromMinutes(10))));

        var result = await new Backtester(source, NoCron).RunAsync([policy], new BacktestWindow(T0, T0.AddMinutes(2)), CancellationToken.None);

        Assert.DoesNotContain(result.Decisions, d => d.Kind == DecisionKind.Act);
        Assert.Equal(9, result.Summaries[0].Inconclusive);
        Assert.Equal(DecisionKind.InconclusiveRun, Assert.Single(result.Decisions).Kind);
    }

    [Fact]
    public async Task Run_SameExpressionInTwoPolicies_IsFetchedOnce()
    {
        var source = new FunctionMetricsSource(BadDeploy);
        var a = Policy(ErrorRate());
        var b = Policy(ErrorRate(max: 0.5)) with { Name = "other" };

        await new Backtester(source, NoCron).RunAsync([a, b], new BacktestWindow(T0, T0.AddMinutes(1)), CancellationToken.None);

        Assert.Equal(2, source.RangeCalls.Count);
    }

    [Fact]
    public async Task Run_CronSchedule_QueriesOnTheGridOfItsOccurrencesAndEvaluatesOnlyThere()
    {
        var source = new FunctionMetricsSource(BadDeploy);
        var policy = AlwaysArmed(ErrorRate()) with { Schedule = new CronSchedule("0 0/5 * * * ?") };
        DateTimeOffset[] fires = [T0, T0.AddMinutes(5), T0.AddMinutes(15)];

        var result = await new Backtester(source, (c, f, t) => fires).RunAsync([policy], new BacktestWindow(T0, T0.AddMinutes(20)), CancellationToken.None);

        Assert.All(source.RangeCalls, c => Assert.Equal((T0, T0.AddMinutes(15), TimeSpan.FromMinutes(5)), (c.Start, c.End, c.Step)));
        Assert.Equal(3, result.Summaries[0].Evaluations);
        Assert.Equal(T0.AddMinutes(5), Assert.Single(result.Decisions, d => d.Kind == DecisionKind.Act).At);
    }

    [Fact]
    public async Task Run_StepOverride_ReplacesThePolicyInterval()
    {
        var source = new FunctionMetricsSource(BadDeploy);

        var result = await new Backtester(source, NoCron).RunAsync([Policy(ErrorRate())], new BacktestWindow(T0, T0.AddMinutes(10), Step: TimeSpan.FromMinutes(1)), CancellationToken.None);

        Assert.Equal(11, result.Summaries[0].Evaluations);
        Assert.All(source.RangeCalls, c => Assert.Equal(TimeSpan.FromMinutes(1), c.Step));
    }

    [Fact]
    public async Task Run_ServerErrorOnOneQuery_BecomesErrorVerdictsNotPasses()
    {
        var source = new FunctionMetricsSource(BadDeploy)
        {
            Fail = q => q == "total_q" ? new MetricsQueryException(MetricsErrorKind.ServerError, q, "HTTP 503: overloaded") : null,
        };

        var result = await new Backtester(source, NoCron).RunAsync([Policy(ErrorRate())], new BacktestWindow(T0, T0.AddMinutes(1)), CancellationToken.None);

        var summary = Assert.Single(result.Summaries);
        Assert.Equal((5, 0, 0), (summary.Errors, summary.Passes, summary.Actions));
        Assert.Contains("total query failed: HTTP 503: overloaded", Assert.Single(result.Decisions).Verdict.Summary);
    }

    [Theory]
    [InlineData(MetricsErrorKind.Unreachable)]
    [InlineData(MetricsErrorKind.BadQuery)]
    [InlineData(MetricsErrorKind.Unauthorized)]
    public async Task Run_FailureThatMakesTheRunMeaningless_Throws(MetricsErrorKind kind)
    {
        var source = new FunctionMetricsSource(BadDeploy) { Fail = q => new MetricsQueryException(kind, q, "nope") };

        var e = await Assert.ThrowsAsync<MetricsQueryException>(() =>
            new Backtester(source, NoCron).RunAsync([Policy(ErrorRate())], new BacktestWindow(T0, T0.AddMinutes(1)), CancellationToken.None));

        Assert.Equal(kind, e.Kind);
    }

    [Fact]
    public async Task Run_WindowEndingBeforeItStarts_IsRejected()
    {
        var e = await Assert.ThrowsAsync<ArgumentException>(() =>
            new Backtester(new FunctionMetricsSource(BadDeploy), NoCron).RunAsync([Policy(ErrorRate())], new BacktestWindow(T0, T0.AddMinutes(-1)), CancellationToken.None));

        Assert.Contains("the window ends before it starts", e.Message);
    }
}
