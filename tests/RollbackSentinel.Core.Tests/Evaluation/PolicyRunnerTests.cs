using RollbackSentinel.Core.Evaluation;
using RollbackSentinel.Core.Policies;
using RollbackSentinel.Core.State;
using RollbackSentinel.Core.Tests.Support;
using RollbackSentinel.Testing.Time;
using static RollbackSentinel.Core.Tests.Support.Build;

namespace RollbackSentinel.Core.Tests.Evaluation;

public sealed class PolicyRunnerTests
{
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(15);

    /// <summary>10 req/s; 20% errors from T0+1m on.</summary>
    private static readonly FunctionMetricsSource Source = new((q, t) => q switch
    {
        "total_q" => [S(10)],
        "errors_q" => [S(t >= T0.AddMinutes(1) ? 2 : 0)],
        _ => [],
    });

    [Fact]
    public async Task Evaluate_AsTheClockAdvances_FiresWhenForHasElapsedOnTheProvidersClock()
    {
        var time = new ManualTimeProvider(T0);
        var runner = new PolicyRunner(Policy(ErrorRate(@for: TimeSpan.FromMinutes(1))), time);
        var resolver = new InstantQueryResolver(Source, RollbackSentinel.Core.Changes.ChangeHistory.Empty);
        var acted = new List<DateTimeOffset>();

        for (var i = 0; i <= 12; i++)
        {
            var evaluation = await runner.EvaluateAsync(resolver, CancellationToken.None);
            acted.AddRange(evaluation.Step.Decisions.Where(d => d.Kind == DecisionKind.Act).Select(d => d.At));
            time.Advance(Interval);
        }

        Assert.Equal([T0.AddMinutes(2)], acted);
        Assert.Equal(T0.AddMinutes(3), runner.Last!.At);
    }

    [Fact]
    public async Task Update_UnchangedTriggerKeepsItsPendingState_ChangedTriggerStartsAfresh()
    {
        var time = new ManualTimeProvider(T0.AddMinutes(1));
        var keep = ErrorRate(name: "keep", @for: TimeSpan.FromMinutes(1));
        var change = ErrorRate(name: "change", @for: TimeSpan.FromMinutes(1));
        var runner = new PolicyRunner(Policy(keep, change), time);
        await runner.EvaluateAsync(new InstantQueryResolver(Source, RollbackSentinel.Core.Changes.ChangeHistory.Empty), CancellationToken.None);
        Assert.Equal(2, runner.State.Series.Count);

        runner.Update(Policy(keep with { Source = new SourceLocation("moved.yaml", 40, 7) }, change with { For = TimeSpan.FromMinutes(5) }));

        var pending = Assert.Single(runner.State.Series);
        Assert.Equal(("keep", TriggerPhase.Pending), (pending.Key.Trigger, pending.Value.Phase));
        Assert.Equal(TimeSpan.FromMinutes(5), runner.Policy.Triggers[1].For);
    }

    [Fact]
    public async Task Evaluate_RunningLateEachTime_MeasuresForBetweenScheduledSlots()
    {
        // Each run starts a few milliseconds after its slot, the first breaching one later than the others: 'for'
        // still elapses at the slot 1m after the first breach, not one interval later.
        var time = new ManualTimeProvider(T0);
        var runner = new PolicyRunner(Policy(ErrorRate(@for: TimeSpan.FromMinutes(1))), time);
        var resolver = new InstantQueryResolver(Source, RollbackSentinel.Core.Changes.ChangeHistory.Empty);
        var acted = new List<DateTimeOffset>();

        for (var i = 0; i <= 12; i++)
        {
            var slot = T0 + (Interval * i);
            time.Advance(slot + TimeSpan.FromMilliseconds(i == 4 ? 44 : 3) - time.GetUtcNow());
            var evaluation = await runner.EvaluateAsync(resolver, static (_, _) => ValueTask.CompletedTask, slot, CancellationToken.None);
            Assert.Equal(slot, evaluation.At);
            acted.AddRange(evaluation.Step.Decisions.Where(d => d.Kind == DecisionKind.Act).Select(d => d.At));
        }

        Assert.Equal([T0.AddMinutes(2)], acted);
    }

    [Fact]
    public async Task Evaluate_SlotInTheFutureOrNotAfterTheLastEvaluation_FallsBackToNow()
    {
        var time = new ManualTimeProvider(T0);
        var runner = new PolicyRunner(Policy(ErrorRate()), time);
        var resolver = new InstantQueryResolver(Source, RollbackSentinel.Core.Changes.ChangeHistory.Empty);
        static ValueTask NoCommit(PolicyEvaluation e, CancellationToken ct) => ValueTask.CompletedTask;

        var future = await runner.EvaluateAsync(resolver, NoCommit, T0.AddSeconds(5), CancellationToken.None);
        time.Advance(Interval);
        var stale = await runner.EvaluateAsync(resolver, NoCommit, T0, CancellationToken.None);

        Assert.Equal(T0, future.At);
        Assert.Equal(T0 + Interval, stale.At);
    }

    [Theory]
    [InlineData(true, TriggerAction.Rollback, false)]
    [InlineData(false, TriggerAction.Page, true)]
    public async Task Evaluate_WithTheChangesOfThePolicy_ArmsRollbackOnlyAfterAChange(bool changed, TriggerAction action, bool disarmed)
    {
        var time = new ManualTimeProvider(T0);
        var runner = new PolicyRunner(Policy(ErrorRate()), time);
        var deploy = Support.Changes.Deploy(T0.AddSeconds(30));
        var changes = changed ? Support.Changes.History(deploy) : RollbackSentinel.Core.Changes.ChangeHistory.Empty;
        var resolver = new InstantQueryResolver(Source, changes);
        var fired = new List<Decision>();

        for (var i = 0; i <= 4; i++)
        {
            var evaluation = await runner.EvaluateAsync(resolver, changes, static (_, _) => ValueTask.CompletedTask, slot: null, CancellationToken.None);
            fired.AddRange(evaluation.Step.Decisions.Where(d => d.Kind == DecisionKind.Act));
            time.Advance(Interval);
        }

        var d = Assert.Single(fired);
        Assert.Equal((T0.AddMinutes(1), action, disarmed, changed ? deploy : null), (d.At, d.Action, d.Disarmed, d.Blamed));
        var progress = runner.State.Progress.Values.Single();
        Assert.Equal((VerdictKind.Breach, 0, changed ? 1 : (long?)null), (progress.LastVerdict, progress.Passes, progress.ChangeId));
    }
}
