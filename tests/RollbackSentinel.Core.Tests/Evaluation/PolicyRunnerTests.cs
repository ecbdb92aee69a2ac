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
        var resolver = new InstantQueryResolver(Source, () => null);
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
        await runner.EvaluateAsync(new InstantQueryResolver(Source, () => null), CancellationToken.None);
        Assert.Equal(2, runner.State.Series.Count);

        runner.Update(Policy(keep with { Source = new SourceLocation("moved.yaml", 40, 7) }, change with { For = TimeSpan.FromMinutes(5) }));

        var pending = Assert.Single(runner.State.Series);
        Assert.Equal(("keep", TriggerPhase.Pending), (pending.Key.Trigger, pending.Value.Phase));
        Assert.Equal(TimeSpan.FromMinutes(5), runner.Policy.Triggers[1].For);
    }
}
