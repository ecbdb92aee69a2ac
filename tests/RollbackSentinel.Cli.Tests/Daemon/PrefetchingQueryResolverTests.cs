using RollbackSentinel.Core.Evaluation;
using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Core.Policies;
using RollbackSentinel.Core.State;
using RollbackSentinel.Daemon;

namespace RollbackSentinel.Cli.Tests.Daemon;

/// <summary>
/// An evaluation's deciding queries start together and the engine is handed them as they are under way: it waits for
/// the slowest, not for their sum. Queries are held open by hand (no timing).
/// </summary>
public sealed class PrefetchingQueryResolverTests
{
    private static readonly DateTimeOffset At = new(2026, 12, 6, 12, 0, 1, TimeSpan.Zero);

    private static Policy Policy(params Trigger[] triggers) => new()
    {
        Name = "shop",
        Target = new WebhookTarget(Template.Parse("http://127.0.0.1:9/rollback")),
        Schedule = new IntervalSchedule(TimeSpan.FromSeconds(1)),
        Triggers = triggers,
    };

    private static Trigger ErrorRate(string name, string total = "total_q") =>
        new() { Name = name, Condition = new ErrorRateCondition($"errors_q_{name}", total, 0.05, 1) };

    private static Trigger Threshold(string name, string query) =>
        new() { Name = name, Condition = new ThresholdCondition(query, ComparisonOperator.GreaterThan, 1) };

    [Fact]
    public void Start_StartsEveryDecidingQueryOfEveryTriggerBeforeAnyAnswers()
    {
        var inner = new HeldResolver();

        var queries = PrefetchingQueryResolver.Start(Policy(ErrorRate("a"), Threshold("b", "latency_q")), inner, At, CancellationToken.None);

        Assert.Equal(["errors_q_a", "total_q", "latency_q"], inner.Asked.Select(a => a.Spec.Expression));
        Assert.All(inner.Asked, a => Assert.Equal(At, a.At));
        Assert.Equal(3, queries.Started);
    }

    [Fact]
    public async Task ResolveAsync_SpecStartedAhead_IsHandedTheRunningQueryWithoutAskingAgain()
    {
        var inner = new HeldResolver();
        var policy = Policy(ErrorRate("a"));
        var queries = PrefetchingQueryResolver.Start(policy, inner, At, CancellationToken.None);
        var errors = QuerySpec.For(policy.Triggers[0].Condition)[0];

        var pending = queries.ResolveAsync(errors, At, CancellationToken.None);
        Assert.False(pending.IsCompleted);
        inner.Answer("errors_q_a", 7);

        var outcome = await pending;
        Assert.Equal(7, Assert.Single(outcome.Samples!).Value);
        Assert.Equal(2, inner.Asked.Count);
    }

    [Fact]
    public async Task EvaluateAsync_AnswersArrivingInAnyOrder_GiveTheSameVerdictAsOneAtATime()
    {
        var policy = Policy(ErrorRate("a"), Threshold("b", "latency_q"));
        var inner = new HeldResolver();
        var queries = PrefetchingQueryResolver.Start(policy, inner, At, CancellationToken.None);

        // The last query answers first: with one query at a time the engine would still be waiting for the first.
        inner.Answer("latency_q", 0.5);
        var evaluating = PolicyEvaluator.EvaluateAsync(policy, PolicyState.Empty, At, queries, CancellationToken.None).AsTask();
        Assert.False(evaluating.IsCompleted);
        inner.Answer("total_q", 100);
        inner.Answer("errors_q_a", 20);
        var evaluation = await evaluating;

        var direct = await PolicyEvaluator.EvaluateAsync(policy, PolicyState.Empty, At, new AnsweringResolver(inner.Answers), CancellationToken.None);
        Assert.Equal(
            direct.Triggers.Select(t => (t.Trigger.Name, string.Join(",", t.Verdicts.Select(v => $"{v.Kind} {v.Value}")))),
            evaluation.Triggers.Select(t => (t.Trigger.Name, string.Join(",", t.Verdicts.Select(v => $"{v.Kind} {v.Value}")))));
        Assert.Equal(VerdictKind.Breach, evaluation.Triggers[0].Verdicts.Single().Kind);
        Assert.Equal(3, inner.Asked.Count);
    }

    [Fact]
    public void Start_SameQueryInTwoTriggers_IsAskedOnce()
    {
        var inner = new HeldResolver();

        var queries = PrefetchingQueryResolver.Start(Policy(ErrorRate("a"), ErrorRate("b")), inner, At, CancellationToken.None);

        Assert.Equal(["errors_q_a", "total_q", "errors_q_b"], inner.Asked.Select(a => a.Spec.Expression));
        Assert.Equal(3, queries.Started);
    }

    [Fact]
    public void Start_InformationalQuery_IsNotStarted()
    {
        var inner = new HeldResolver();
        var burn = new Trigger
        {
            Name = "burn",
            Condition = new BurnRateCondition(99.9, TimeSpan.FromDays(30), "errors_q[{{window}}]", "total_q[{{window}}]", BurnRateCondition.DefaultWindows, 0.5),
        };

        PrefetchingQueryResolver.Start(Policy(burn), inner, At, CancellationToken.None);

        var specs = QuerySpec.For(burn.Condition);
        Assert.Contains(specs, s => s.Informational);
        Assert.Equal(specs.Where(s => !s.Informational).Select(s => s.Expression), inner.Asked.Select(a => a.Spec.Expression));
    }

    [Fact]
    public void ResolveAsync_AnotherTime_GoesToTheInnerResolver()
    {
        var inner = new HeldResolver();
        var policy = Policy(Threshold("b", "latency_q"));
        var queries = PrefetchingQueryResolver.Start(policy, inner, At, CancellationToken.None);

        _ = queries.ResolveAsync(QuerySpec.For(policy.Triggers[0].Condition)[0], At.AddSeconds(1), CancellationToken.None);

        Assert.Equal([At, At.AddSeconds(1)], inner.Asked.Select(a => a.At));
    }

    [Fact]
    public void Start_BeforeDeployBaseline_IsLeftToTheResolverGivenToThen()
    {
        var early = new HeldResolver();
        var later = new HeldResolver();
        var latency = new Trigger
        {
            Name = "latency",
            Condition = new LatencyCondition("latency_q", new BeforeDeployBaseline(TimeSpan.FromMinutes(10)), MaxRatio: 1.5, MaxIncrease: null),
        };
        var specs = QuerySpec.For(latency.Condition);

        var queries = PrefetchingQueryResolver.Start(Policy(latency), early, At, CancellationToken.None);
        _ = queries.Then(later).ResolveAsync(specs[1], At, CancellationToken.None);
        _ = queries.Then(later).ResolveAsync(specs[0], At, CancellationToken.None);

        Assert.IsType<BeforeDeployQueryTime>(specs[1].Time);
        Assert.Equal(["latency_q"], early.Asked.Select(a => a.Spec.Expression));
        Assert.Equal([specs[1]], later.Asked.Select(a => a.Spec));
    }

    [Fact]
    public void Dispose_QueriesStillRunning_AreCancelled()
    {
        var inner = new HeldResolver();
        var queries = PrefetchingQueryResolver.Start(Policy(ErrorRate("a")), inner, At, CancellationToken.None);
        Assert.All(inner.Tokens, t => Assert.False(t.IsCancellationRequested));

        queries.Dispose();

        Assert.Equal(2, inner.Tokens.Count);
        Assert.All(inner.Tokens, t => Assert.True(t.IsCancellationRequested));
    }

    /// <summary>Records what is asked and answers each expression when the test says so.</summary>
    private sealed class HeldResolver : IQueryResolver
    {
        private readonly Dictionary<string, List<(QuerySpec Spec, TaskCompletionSource<QueryOutcome> Answer)>> _waiting = [];

        public List<(QuerySpec Spec, DateTimeOffset At)> Asked { get; } = [];

        public Dictionary<string, double> Answers { get; } = [];

        public List<CancellationToken> Tokens { get; } = [];

        public ValueTask<QueryOutcome> ResolveAsync(QuerySpec spec, DateTimeOffset at, CancellationToken cancellationToken)
        {
            Asked.Add((spec, at));
            Tokens.Add(cancellationToken);
            if (Answers.TryGetValue(spec.Expression, out var known))
            {
                return ValueTask.FromResult(Outcome(spec, at, known));
            }

            var answer = new TaskCompletionSource<QueryOutcome>(TaskCreationOptions.RunContinuationsAsynchronously);
            if (!_waiting.TryGetValue(spec.Expression, out var list))
            {
                _waiting[spec.Expression] = list = [];
            }

            list.Add((spec, answer));
            return new ValueTask<QueryOutcome>(answer.Task);
        }

        public void Answer(string expression, double value)
        {
            Answers[expression] = value;
            foreach (var (spec, answer) in _waiting.GetValueOrDefault(expression) ?? [])
            {
                answer.SetResult(Outcome(spec, At, value));
            }
        }

        public static QueryOutcome Outcome(QuerySpec spec, DateTimeOffset at, double value) =>
            QueryOutcome.Success(spec, Rfc3339.Format(at), [new Sample(LabelSet.Empty, value)]);
    }

    private sealed class AnsweringResolver(IReadOnlyDictionary<string, double> answers) : IQueryResolver
    {
        public ValueTask<QueryOutcome> ResolveAsync(QuerySpec spec, DateTimeOffset at, CancellationToken cancellationToken) =>
            ValueTask.FromResult(HeldResolver.Outcome(spec, at, answers[spec.Expression]));
    }
}
