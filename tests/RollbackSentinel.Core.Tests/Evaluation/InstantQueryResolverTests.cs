using RollbackSentinel.Core.Evaluation;
using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Core.Tests.Support;
using static RollbackSentinel.Core.Tests.Support.Build;

namespace RollbackSentinel.Core.Tests.Evaluation;

public sealed class InstantQueryResolverTests
{
    [Fact]
    public async Task Resolve_OffsetQuery_EvaluatesAtTheShiftedTime()
    {
        var seen = new List<DateTimeOffset>();
        var source = new FunctionMetricsSource((q, t) => { seen.Add(t); return [S(1)]; });

        var outcome = await new InstantQueryResolver(source, RollbackSentinel.Core.Changes.ChangeHistory.Empty)
            .ResolveAsync(new QuerySpec("baseline", "q", new OffsetQueryTime(TimeSpan.FromDays(1))), T0, CancellationToken.None);

        Assert.Equal([T0.AddDays(-1)], seen);
        Assert.Equal("2026-11-19T10:00:00Z", outcome.ResolvedAt);
    }

    [Fact]
    public async Task Resolve_BeforeDeployBaselineBeforeTheDeploy_IsNotAvailableAndQueriesNothing()
    {
        var source = new FunctionMetricsSource((q, t) => [S(1)]);

        var changes = new RollbackSentinel.Core.Changes.ChangeHistory([new RollbackSentinel.Core.Changes.Change { Policy = "p", At = T0.AddMinutes(5), Source = RollbackSentinel.Core.Changes.ChangeSource.Api }]);
        var outcome = await new InstantQueryResolver(source, changes)
            .ResolveAsync(new QuerySpec("baseline", "q", new BeforeDeployQueryTime(TimeSpan.FromMinutes(10))), T0, CancellationToken.None);

        Assert.Equal(ChangeBaselines.NoChangeKnown, outcome.Unavailable);
        Assert.Empty(source.RangeCalls);
    }

    [Fact]
    public async Task Resolve_BackendFailure_IsAFailureOutcomeWithTheMessage()
    {
        var source = new FunctionMetricsSource((q, t) => []) { Fail = q => new MetricsQueryException(MetricsErrorKind.Timeout, q, "timed out after 5s") };

        var outcome = await new InstantQueryResolver(source, RollbackSentinel.Core.Changes.ChangeHistory.Empty).ResolveAsync(new QuerySpec("value", "q", QueryTime.AtEvaluation), T0, CancellationToken.None);

        Assert.Equal(("timed out after 5s", null), (outcome.Error, outcome.Samples));
    }

    [Fact]
    public void AverageEachSeries_IgnoresNaNAndDropsSeriesWithoutFinitePoints()
    {
        var a = LabelSet.Of(("pod", "a"));
        var b = LabelSet.Of(("pod", "b"));

        var averaged = InstantQueryResolver.AverageEachSeries(
        [
            new RangeSeries(a, [new(T0, 1), new(T0.AddSeconds(1), double.NaN), new(T0.AddSeconds(2), 3)]),
            new RangeSeries(b, [new(T0, double.NaN)]),
        ]);

        Assert.Equal([new Sample(a, 2)], averaged);
    }
}
