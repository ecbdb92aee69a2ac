using RollbackSentinel.Core.Evaluation;
using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Core.Policies;
using static RollbackSentinel.Core.Tests.Support.Build;

namespace RollbackSentinel.Core.Tests.Evaluation;

/// <summary>
/// A backtest's sinks write one evaluation's verdicts over the last one's; what is kept of them (a decision's verdict,
/// a copy) must not move when they are written again.
/// </summary>
public sealed class VerdictSinkTests
{
    private static readonly Trigger Errors = ErrorRate();

    private static IReadOnlyDictionary<string, QueryOutcome> At(string time, double errors, double total) =>
        Outcomes(Errors, spec => QueryOutcome.Success(spec, time, spec.Role == QuerySpec.ErrorsRole ? [S(errors)] : [S(total)]));

    [Fact]
    public void Reusing_WritesTheSameVerdictAgain_AndADetachedCopyKeepsWhatItSaidAndItsEvidence()
    {
        var sink = new VerdictSink(reuse: true);
        TriggerEvaluator.Evaluate(Errors, At("t1", 1, 10), sink);
        var first = Assert.Single(sink.Verdicts);
        var kept = first.Detached();

        TriggerEvaluator.Evaluate(Errors, At("t2", 0, 10), sink);

        Assert.Same(first, Assert.Single(sink.Verdicts));
        Assert.NotSame(first, kept);
        Assert.Equal((VerdictKind.Pass, 0.0, "error ratio 0 (0/10) <= max 0.05"), (first.Kind, first.Value, first.Summary));
        Assert.Equal((VerdictKind.Breach, 0.1, "error ratio 0.1 (1/10) > max 0.05"), (kept.Kind, kept.Value, kept.Summary));
        Assert.Equal(["t1", "t1"], kept.Queries.Select(q => q.EvaluatedAt));
        Assert.Equal([1.0, 10.0], kept.Queries.Select(q => q.Value));
        Assert.Equal(["t2", "t2"], first.Queries.Select(q => q.EvaluatedAt));
    }

    [Fact]
    public void Reusing_ACopyMadeWithWith_IsItsOwn()
    {
        var sink = new VerdictSink(reuse: true);
        TriggerEvaluator.Evaluate(Errors, At("t1", 1, 10), sink);
        var copy = sink.Verdicts[0] with { Labels = LabelSet.Of(("pod", "a")) };

        TriggerEvaluator.Evaluate(Errors, At("t2", 0, 10), sink);

        Assert.Equal((VerdictKind.Breach, "t1"), (copy.Kind, copy.Queries[0].EvaluatedAt));
        Assert.Same(copy, copy.Detached());
    }

    [Fact]
    public void NotReusing_EachEvaluationHasItsOwnVerdicts_AndTheyAreKeptAsTheyAre()
    {
        var first = TriggerEvaluator.Evaluate(Errors, At("t1", 1, 10));
        var second = TriggerEvaluator.Evaluate(Errors, At("t2", 0, 10));

        Assert.NotSame(first[0], second[0]);
        Assert.Same(first[0], first[0].Detached());
        Assert.Equal(VerdictKind.Breach, first[0].Kind);
        Assert.Throws<InvalidOperationException>(() => first[0].Rewrite(new VerdictData(VerdictKind.Pass, VerdictReason.WithinThreshold, LabelSet.Empty), null));
    }

    [Fact]
    public void Reusing_NoDataCountedAsBreach_IsSaidOnceAtEachEvaluation()
    {
        var trigger = Threshold(ComparisonOperator.GreaterThan, 5, noData: NoDataPolicy.Breach);
        var sink = new VerdictSink(reuse: true);
        var empty = Outcomes(trigger, new Dictionary<string, Sample[]>());

        TriggerEvaluator.Evaluate(trigger, empty, sink);
        TriggerEvaluator.Evaluate(trigger, empty, sink);

        var verdict = Assert.Single(sink.Verdicts);
        Assert.Equal((VerdictKind.Breach, true), (verdict.Kind, verdict.NoDataCountedAsBreach));
        Assert.Equal("query returned no series (counted as a breach: noData: breach)", verdict.Summary);
    }

    [Fact]
    public void Outcome_OfASlice_ReadsAsTheSamplesItHolds_AndEqualsOneOfTheSameSamplesAsAList()
    {
        var spec = QuerySpec.For(Errors.Condition)[0];
        Sample[] all = [S(1), S(2, ("pod", "a")), S(3, ("pod", "b")), S(4)];

        var slice = QueryOutcome.SuccessSlice(spec, "t", new ArraySegment<Sample>(all, 1, 2));
        var list = QueryOutcome.Success(spec, "t", [all[1], all[2]]);

        Assert.True(slice.Succeeded);
        Assert.Equal([2.0, 3.0], slice.Samples!.Select(s => s.Value));
        Assert.Equal(list, slice);
        Assert.NotEqual(list, QueryOutcome.SuccessSlice(spec, "t", new ArraySegment<Sample>(all, 1, 3)));
        Assert.Empty(QueryOutcome.SuccessSlice(spec, "t", default(ArraySegment<Sample>)).Samples!);
        Assert.Null(QueryOutcome.Failure(spec, "t", "HTTP 503").Samples);
    }
}
