using RollbackSentinel.Core.Evaluation;
using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Core.Policies;
using static RollbackSentinel.Core.Tests.Support.Build;

namespace RollbackSentinel.Core.Tests.Evaluation;

public sealed class TriggerEvaluatorTests
{
    private static Verdict Single(Trigger trigger, Dictionary<string, Sample[]> byRole) =>
        Assert.Single(TriggerEvaluator.Evaluate(trigger, Outcomes(trigger, byRole)));

    [Fact]
    public void ErrorRate_AboveMax_IsBreachWithRatioThresholdAndEvidence()
    {
        var v = Single(ErrorRate(max: 0.05), new() { ["errors"] = [S(0.81)], ["total"] = [S(10)] });

        Assert.Equal(VerdictKind.Breach, v.Kind);
        Assert.Equal(VerdictReason.ThresholdExceeded, v.Reason);
        Assert.Equal(0.081, v.Value!.Value, 9);
        Assert.Equal(0.05, v.Threshold);
        Assert.Equal("error ratio 0.081 (0.81/10) > max 0.05", v.Summary);
        Assert.Collection(
            v.Queries,
            q => Assert.Equal(("errors", "errors_q", 0.81), (q.Role, q.Query, q.Value!.Value)),
            q => Assert.Equal(("total", "total_q", 10.0), (q.Role, q.Query, q.Value!.Value)));
    }

    [Fact]
    public void ErrorRate_ExactlyAtMax_IsPass()
    {
        var v = Single(ErrorRate(max: 0.05), new() { ["errors"] = [S(0.5)], ["total"] = [S(10)] });

        Assert.Equal(VerdictKind.Pass, v.Kind);
        Assert.Equal("error ratio 0.05 (0.5/10) <= max 0.05", v.Summary);
    }

    [Fact]
    public void ErrorRate_TotalBelowMinTotal_IsInconclusiveLowTrafficEvenIfEveryRequestFailed()
    {
        var v = Single(ErrorRate(minTotal: 0.5), new() { ["errors"] = [S(0.2)], ["total"] = [S(0.2)] });

        Assert.Equal(VerdictKind.Inconclusive, v.Kind);
        Assert.Equal(VerdictReason.LowTraffic, v.Reason);
        Assert.Equal("low traffic: total 0.2 < minTotal 0.5", v.Summary);
    }

    [Fact]
    public void ErrorRate_ZeroOverZero_IsInconclusiveNotNaNBreach()
    {
        var v = Single(ErrorRate(minTotal: 0), new() { ["errors"] = [S(0)], ["total"] = [S(0)] });

        Assert.Equal(VerdictKind.Inconclusive, v.Kind);
        Assert.Equal(VerdictReason.LowTraffic, v.Reason);
        Assert.Equal("no traffic: total is 0 (0/0)", v.Summary);
    }

    [Theory]
    [InlineData(double.NaN, VerdictReason.NotANumber, "total is NaN")]
    [InlineData(double.PositiveInfinity, VerdictReason.Infinite, "total is +Inf")]
    public void ErrorRate_TotalNotFinite_IsInconclusive(double total, VerdictReason reason, string summary)
    {
        var v = Single(ErrorRate(), new() { ["errors"] = [S(1)], ["total"] = [S(total)] });

        Assert.Equal((VerdictKind.Inconclusive, reason, summary), (v.Kind, v.Reason, v.Summary));
    }

    [Fact]
    public void ErrorRate_ErrorsNaN_IsInconclusive()
    {
        var v = Single(ErrorRate(), new() { ["errors"] = [S(double.NaN)], ["total"] = [S(10)] });

        Assert.Equal((VerdictKind.Inconclusive, VerdictReason.NotANumber, "errors is NaN"), (v.Kind, v.Reason, v.Summary));
    }

    [Fact]
    public void ErrorRate_TotalQueryEmpty_IsInconclusiveNoData()
    {
        var v = Single(ErrorRate(), new() { ["errors"] = [], ["total"] = [] });

        Assert.Equal((VerdictKind.Inconclusive, VerdictReason.NoData), (v.Kind, v.Reason));
        Assert.Equal(LabelSet.Empty, v.Labels);
        Assert.Equal("total query returned no series", v.Summary);
    }

    [Fact]
    public void ErrorRate_NoErrorsSeriesButTraffic_CountsAsZeroErrorsAndPasses()
    {
        var v = Single(ErrorRate(), new() { ["errors"] = [], ["total"] = [S(12)] });

        Assert.Equal(VerdictKind.Pass, v.Kind);
        Assert.Equal(0, v.Value);
    }

    [Fact]
    public void ErrorRate_SeveralLabelSets_OneVerdictPerSeriesMatchedByLabels()
    {
        var trigger = ErrorRate(max: 0.05);
        var verdicts = TriggerEvaluator.Evaluate(trigger, Outcomes(trigger, new Dictionary<string, Sample[]>
        {
            ["errors"] = [S(2, ("deployment", "cart")), S(0.1, ("deployment", "search"))],
            ["total"] = [S(10, ("deployment", "cart")), S(10, ("deployment", "search")), S(0.1, ("deployment", "idle"))],
        }));

        Assert.Collection(
            verdicts,
            v => Assert.Equal(("{deployment=\"cart\"}", VerdictKind.Breach), (v.Labels.ToString(), v.Kind)),
            v => Assert.Equal(("{deployment=\"search\"}", VerdictKind.Pass), (v.Labels.ToString(), v.Kind)),
            v => Assert.Equal(("{deployment=\"idle\"}", VerdictKind.Inconclusive), (v.Labels.ToString(), v.Kind)));
    }

    [Fact]
    public void ErrorRate_ErrorsLabelledDifferentlyFromTotal_IsAnErrorNeverAPassOfZeroErrors()
    {
        // A forgotten sum on the errors side: {code="500"} matches no total series.
        var v = Single(ErrorRate(), new() { ["errors"] = [S(5, ("code", "500"))], ["total"] = [S(10)] });

        Assert.Equal((VerdictKind.Error, VerdictReason.IncompatibleSeries), (v.Kind, v.Reason));
        Assert.StartsWith("errors series {code=\"500\"} has no total series with the same labels (total has {})", v.Summary);
    }

    [Fact]
    public void ErrorRate_EvidenceNeverShowsAnotherSeriesValue()
    {
        var trigger = ErrorRate();
        var verdicts = TriggerEvaluator.Evaluate(trigger, Outcomes(trigger, new Dictionary<string, Sample[]>
        {
            ["errors"] = [S(2, ("deployment", "cart"))],
            ["total"] = [S(10, ("deployment", "cart")), S(10, ("deployment", "search"))],
        }));

        var search = verdicts.Single(v => v.Labels["deployment"] == "search");
        Assert.Equal(0, search.Value);
        Assert.Null(search.Queries.Single(q => q.Role == "errors").Value);
    }

    [Fact]
    public void AnyQuery_TwoSeriesWithTheSameLabelsOnceTheNameIsDropped_IsAnError()
    {
        var v = Single(Availability(), new() { ["value"] = [S(0.5, ("app", "x")), S(1, ("app", "x"))] });

        Assert.Equal((VerdictKind.Error, VerdictReason.IncompatibleSeries), (v.Kind, v.Reason));
        Assert.Equal("value query returns several series with labels {app=\"x\"} once the metric name is dropped; aggregate them (e.g. sum by (...))", v.Summary);
    }

    [Fact]
    public void AnyTrigger_QueryFailed_IsErrorNeverPass()
    {
        var trigger = ErrorRate();
        var outcomes = Outcomes(trigger, spec => spec.Role == "total"
            ? QueryOutcome.Failure(spec, "2026-11-20T10:00:00Z", "connection refused")
            : QueryOutcome.Success(spec, "2026-11-20T10:00:00Z", [S(0)]));

        var v = Assert.Single(TriggerEvaluator.Evaluate(trigger, outcomes));

        Assert.Equal((VerdictKind.Error, VerdictReason.QueryFailed), (v.Kind, v.Reason));
        Assert.Equal("total query failed: connection refused", v.Summary);
        Assert.Contains(v.Queries, q => q.Role == "total" && q.Note == "connection refused");
    }

    [Fact]
    public void Latency_AboveBaselineTimesRatio_IsBreachWithBaselineAndEffectiveThreshold()
    {
        var v = Single(Latency(maxRatio: 1.5), new() { ["value"] = [S(0.4)], ["baseline"] = [S(0.2)] });

        Assert.Equal(VerdictKind.Breach, v.Kind);
        Assert.Equal(0.2, v.Baseline);
        Assert.Equal(0.3, v.Threshold!.Value, 9);
        Assert.Equal("value 0.4 > 0.3 (baseline 0.2 x maxRatio 1.5)", v.Summary);
    }

    [Fact]
    public void Latency_ExactlyAtBaselineTimesRatio_IsPass()
    {
        var v = Single(Latency(maxRatio: 2), new() { ["value"] = [S(0.5)], ["baseline"] = [S(0.25)] });

        Assert.Equal(VerdictKind.Pass, v.Kind);
    }

    [Fact]
    public void Latency_RatioExceededButIncreaseBelowMaxIncrease_IsPass()
    {
        // 10 ms -> 20 ms doubles, but 10 ms more is noise to a user: both limits must be exceeded.
        var v = Single(Latency(maxRatio: 1.5, maxIncrease: 0.05), new() { ["value"] = [S(0.020)], ["baseline"] = [S(0.010)] });

        Assert.Equal(VerdictKind.Pass, v.Kind);
        Assert.Equal(0.06, v.Threshold!.Value, 9);
        Assert.Equal("value 0.02 <= 0.06 (baseline 0.01 + maxIncrease 0.05)", v.Summary);
    }

    [Fact]
    public void Latency_SlowdownSharedByBaseline_IsPass()
    {
        var v = Single(Latency(maxRatio: 1.5), new() { ["value"] = [S(0.9)], ["baseline"] = [S(0.8)] });

        Assert.Equal(VerdictKind.Pass, v.Kind);
    }

    [Fact]
    public void Latency_BaselineEmpty_IsInconclusiveBaselineMissingWithValueKept()
    {
        var v = Single(Latency(), new() { ["value"] = [S(0.4)], ["baseline"] = [] });

        Assert.Equal((VerdictKind.Inconclusive, VerdictReason.BaselineMissing), (v.Kind, v.Reason));
        Assert.Equal(0.4, v.Value);
        Assert.Equal("baseline missing: the baseline query returned no series", v.Summary);
    }

    [Fact]
    public void Latency_BaselineNaN_IsInconclusiveBaselineMissing()
    {
        var v = Single(Latency(), new() { ["value"] = [S(0.4)], ["baseline"] = [S(double.NaN)] });

        Assert.Equal((VerdictKind.Inconclusive, VerdictReason.BaselineMissing, "baseline missing: the baseline is NaN"), (v.Kind, v.Reason, v.Summary));
    }

    [Fact]
    public void Latency_ValuePositiveInfinity_IsInconclusive()
    {
        var v = Single(Latency(), new() { ["value"] = [S(double.PositiveInfinity)], ["baseline"] = [S(0.2)] });

        Assert.Equal((VerdictKind.Inconclusive, VerdictReason.Infinite), (v.Kind, v.Reason));
    }

    [Fact]
    public void Latency_OneBaselineSeries_AppliesToEverySeriesOtherwiseMatchedByLabels()
    {
        var trigger = Latency(maxRatio: 1.5);
        var single = TriggerEvaluator.Evaluate(trigger, Outcomes(trigger, new Dictionary<string, Sample[]>
        {
            ["value"] = [S(0.4, ("pod", "a")), S(0.2, ("pod", "b"))],
            ["baseline"] = [S(0.2, ("track", "stable"))],
        }));
        var matched = TriggerEvaluator.Evaluate(trigger, Outcomes(trigger, new Dictionary<string, Sample[]>
        {
            ["value"] = [S(0.4, ("pod", "a")), S(0.4, ("pod", "c"))],
            ["baseline"] = [S(0.1, ("pod", "a")), S(0.5, ("pod", "b"))],
        }));

        Assert.Equal([VerdictKind.Breach, VerdictKind.Pass], single.Select(v => v.Kind));
        Assert.Equal([VerdictKind.Breach, VerdictKind.Inconclusive], matched.Select(v => v.Kind));
        Assert.Equal("baseline missing: no baseline series with labels {pod=\"c\"}", matched[1].Summary);
    }

    [Fact]
    public void Latency_BeforeDeployBaselineWithNoChangeKnown_IsInconclusiveSayingWhy()
    {
        var trigger = Latency(baseline: new BeforeDeployBaseline(TimeSpan.FromMinutes(10)));
        var outcomes = Outcomes(trigger, spec => spec.Role == "baseline"
            ? QueryOutcome.NotAvailable(spec, ChangeBaselines.NoChangeKnown)
            : QueryOutcome.Success(spec, "2026-11-20T10:00:00Z", [S(0.4)]));

        var v = Assert.Single(TriggerEvaluator.Evaluate(trigger, outcomes));

        Assert.Equal((VerdictKind.Inconclusive, VerdictReason.BaselineMissing), (v.Kind, v.Reason));
        Assert.Equal("baseline missing: no change is known for a before-deploy baseline", v.Summary);
    }

    [Theory]
    [InlineData(0.94, VerdictKind.Breach, "value 0.94 < min 0.95")]
    [InlineData(0.95, VerdictKind.Pass, "value 0.95 >= min 0.95")]
    [InlineData(1.0, VerdictKind.Pass, "value 1 >= min 0.95")]
    public void Availability_ComparesWithMin(double value, VerdictKind kind, string summary)
    {
        var v = Single(Availability(min: 0.95), new() { ["value"] = [S(value)] });

        Assert.Equal((kind, summary), (v.Kind, v.Summary));
    }

    [Theory]
    [InlineData(ComparisonOperator.GreaterThan, 121, VerdictKind.Breach, "value 121 > 120")]
    [InlineData(ComparisonOperator.GreaterThan, 120, VerdictKind.Pass, "value 120 is not > 120")]
    [InlineData(ComparisonOperator.GreaterOrEqual, 120, VerdictKind.Breach, "value 120 >= 120")]
    [InlineData(ComparisonOperator.LessThan, 0.5, VerdictKind.Breach, "value 0.5 < 120")]
    [InlineData(ComparisonOperator.LessOrEqual, 121.25, VerdictKind.Pass, "value 121.25 is not <= 120")]
    public void Threshold_SentenceNamesTheValueTheOperatorAndTheLimit(ComparisonOperator op, double value, VerdictKind kind, string summary)
    {
        var v = Single(Threshold(op, 120), new() { ["value"] = [S(value)] });

        Assert.Equal((kind, summary), (v.Kind, v.Summary));
    }

    [Fact]
    public void Availability_NaN_IsInconclusive()
    {
        var v = Single(Availability(), new() { ["value"] = [S(double.NaN)] });

        Assert.Equal((VerdictKind.Inconclusive, VerdictReason.NotANumber), (v.Kind, v.Reason));
    }

    [Theory]
    [InlineData(ComparisonOperator.GreaterThan, 1000, VerdictKind.Pass)]
    [InlineData(ComparisonOperator.GreaterThan, 1001, VerdictKind.Breach)]
    [InlineData(ComparisonOperator.GreaterOrEqual, 1000, VerdictKind.Breach)]
    [InlineData(ComparisonOperator.GreaterOrEqual, 999, VerdictKind.Pass)]
    [InlineData(ComparisonOperator.LessThan, 1000, VerdictKind.Pass)]
    [InlineData(ComparisonOperator.LessThan, 999, VerdictKind.Breach)]
    [InlineData(ComparisonOperator.LessOrEqual, 1000, VerdictKind.Breach)]
    [InlineData(ComparisonOperator.LessOrEqual, 1001, VerdictKind.Pass)]
    public void Threshold_EachOperatorAtAndAroundTheValue(ComparisonOperator op, double value, VerdictKind kind)
    {
        var v = Single(Threshold(op, 1000), new() { ["value"] = [S(value)] });

        Assert.Equal(kind, v.Kind);
        Assert.Equal(1000, v.Threshold);
    }

    [Fact]
    public void Threshold_NegativeInfinity_IsInconclusive()
    {
        var v = Single(Threshold(ComparisonOperator.LessThan, 0), new() { ["value"] = [S(double.NegativeInfinity)] });

        Assert.Equal((VerdictKind.Inconclusive, VerdictReason.Infinite, "value is -Inf"), (v.Kind, v.Reason, v.Summary));
    }

    [Fact]
    public void NoDataBreach_EmptyResult_IsBreachMarkedAsNoData()
    {
        var v = Single(Threshold(ComparisonOperator.GreaterThan, 120, NoDataPolicy.Breach), new() { ["value"] = [] });

        Assert.Equal(VerdictKind.Breach, v.Kind);
        Assert.True(v.NoDataCountedAsBreach);
        Assert.Equal("query returned no series (counted as a breach: noData: breach)", v.Summary);
    }

    [Fact]
    public void NoDataBreach_LowTraffic_StaysInconclusive()
    {
        var v = Single(ErrorRate(noData: NoDataPolicy.Breach), new() { ["errors"] = [S(0.1)], ["total"] = [S(0.1)] });

        Assert.Equal((VerdictKind.Inconclusive, VerdictReason.LowTraffic), (v.Kind, v.Reason));
    }

    [Fact]
    public void NoDataBreach_BackendError_StaysError()
    {
        var trigger = Threshold(ComparisonOperator.GreaterThan, 1, NoDataPolicy.Breach);
        var v = Assert.Single(TriggerEvaluator.Evaluate(trigger, Outcomes(trigger, spec => QueryOutcome.Failure(spec, "t", "HTTP 503"))));

        Assert.Equal(VerdictKind.Error, v.Kind);
    }

    [Fact]
    public void ErrorRate_ManySeries_EachVerdictCarriesItsOwnSeriesEvidence()
    {
        // 20,000 series (the size that took 13.7 s when evidence scanned every sample per verdict); errors exist
        // for every third series only and come in reverse order, so a lookup by position would be wrong.
        const int count = 20_000;
        var totals = Enumerable.Range(0, count).Select(i => S(100 + i, ("pod", $"p{i}"))).ToArray();
        var errors = Enumerable.Range(0, count).Where(i => i % 3 == 0).Reverse().Select(i => S((100 + i) * (i % 2 == 0 ? 0.5 : 0.01), ("pod", $"p{i}"))).ToArray();
        var trigger = ErrorRate(max: 0.05);

        var verdicts = TriggerEvaluator.Evaluate(trigger, Outcomes(trigger, new Dictionary<string, Sample[]> { ["errors"] = errors, ["total"] = totals }));

        Assert.Equal(count, verdicts.Count);
        for (var i = 0; i < count; i++)
        {
            var v = verdicts[i];
            double total = 100 + i;
            double? err = i % 3 != 0 ? null : total * (i % 2 == 0 ? 0.5 : 0.01);
            Assert.Equal(LabelSet.Of(("pod", $"p{i}")), v.Labels);
            Assert.Equal(i % 6 == 0 ? VerdictKind.Breach : VerdictKind.Pass, v.Kind);
            Assert.Equal((err ?? 0) / total, v.Value!.Value, 12);
            Assert.Collection(
                v.Queries,
                q => Assert.Equal(("errors", err, err is null ? $"{errors.Length} series, none with labels {{pod=\"p{i}\"}}" : null), (q.Role, q.Value, q.Note)),
                q => Assert.Equal(("total", (double?)total, (string?)null), (q.Role, q.Value, q.Note)));
        }
    }

    [Fact]
    public void Latency_ManySeriesWithBaselines_MatchesEachBaselineByLabels()
    {
        const int count = 20_000;
        var values = Enumerable.Range(0, count).Select(i => S(i % 2 == 0 ? 0.5 : 0.1, ("route", $"r{i}"))).ToArray();
        var baselines = Enumerable.Range(0, count).Reverse().Select(i => S(0.1 + (i * 1e-6), ("route", $"r{i}"))).ToArray();
        var trigger = Latency(maxRatio: 2);

        var verdicts = TriggerEvaluator.Evaluate(trigger, Outcomes(trigger, new Dictionary<string, Sample[]> { ["value"] = values, ["baseline"] = baselines }));

        Assert.Equal(count, verdicts.Count);
        for (var i = 0; i < count; i++)
        {
            var v = verdicts[i];
            Assert.Equal(LabelSet.Of(("route", $"r{i}")), v.Labels);
            Assert.Equal(0.1 + (i * 1e-6), v.Baseline!.Value, 12);
            Assert.Equal(i % 2 == 0 ? VerdictKind.Breach : VerdictKind.Pass, v.Kind);
            Assert.Equal([i % 2 == 0 ? 0.5 : 0.1, 0.1 + (i * 1e-6)], v.Queries.Select(q => q.Value!.Value));
        }
    }

    [Fact]
    public void Latency_BothLimitsEqual_SummaryNamesTheRatioWrittenFirst()
    {
        var v = Single(Latency(maxRatio: 1.5, maxIncrease: 1), new() { ["value"] = [S(4)], ["baseline"] = [S(2)] });

        Assert.Equal(3, v.Threshold);
        Assert.Equal("value 4 > 3 (baseline 2 x maxRatio 1.5)", v.Summary);
    }

    [Fact]
    public void Verdict_SentenceMadeFromNumbersAndTheSameSentenceGivenAsText_AreEqual()
    {
        var made = Single(ErrorRate(max: 0.05), new() { ["errors"] = [S(0.81)], ["total"] = [S(10)] });
        var given = made with { Summary = "error ratio 0.081 (0.81/10) > max 0.05" };
        var other = made with { Summary = "error ratio 0.081 (0.81/10) > max 0.06" };

        Assert.Equal(made, given);
        Assert.Equal(made.GetHashCode(), given.GetHashCode());
        Assert.NotEqual(made, other);
    }

    [Fact]
    public async Task Evaluate_EvidenceAndSentenceFirstReadAfterLaterEvaluations_AreThoseOfTheirOwnEvaluation()
    {
        // The evaluator reuses its outcome dictionaries from one evaluation to the next, and a verdict writes its
        // evidence and sentence only when first read: what it shows must still be what it was decided on.
        var trigger = ErrorRate(max: 0.05);
        var policy = Policy(trigger);
        var resolver = new ByTimeResolver();
        var at = new DateTimeOffset(2026, 11, 20, 10, 0, 0, TimeSpan.Zero);

        var first = await PolicyEvaluator.EvaluateAsync(policy, Core.State.PolicyState.Empty, at, resolver, CancellationToken.None);
        var second = await PolicyEvaluator.EvaluateAsync(policy, first.Step.State, at.AddSeconds(15), resolver, CancellationToken.None);

        var late = Assert.Single(Assert.Single(first.Triggers).Verdicts);
        var now = Assert.Single(Assert.Single(second.Triggers).Verdicts);
        Assert.Equal("error ratio 0.1 (1/10) > max 0.05", late.Summary);
        Assert.Equal([1.0, 10.0], late.Queries.Select(q => q.Value!.Value));
        Assert.All(late.Queries, q => Assert.Equal("2026-11-20T10:00:00Z", q.EvaluatedAt));
        Assert.Equal("error ratio 0.02 (0.2/10) <= max 0.05", now.Summary);
        Assert.Equal([0.2, 10.0], now.Queries.Select(q => q.Value!.Value));
    }

    /// <summary>Errors 1 of 10 at the first evaluation time asked, 0.2 of 10 after it.</summary>
    private sealed class ByTimeResolver : IQueryResolver
    {
        private DateTimeOffset? _first;

        public ValueTask<QueryOutcome> ResolveAsync(QuerySpec spec, DateTimeOffset at, CancellationToken cancellationToken)
        {
            _first ??= at;
            var value = spec.Role == QuerySpec.TotalRole ? 10 : at == _first ? 1 : 0.2;
            return ValueTask.FromResult(QueryOutcome.Success(spec, Rfc3339.Format(at), [S(value)]));
        }
    }
}
