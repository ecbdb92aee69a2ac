using RollbackSentinel.Core.Evaluation;
using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Core.Policies;
using static RollbackSentinel.Core.Tests.Support.Build;

namespace RollbackSentinel.Core.Tests.Evaluation;

/// <summary>
/// <see cref="TriggerEvaluator"/> on burnRate triggers. 99.9% leaves a budget of 0.1% errors, so an error ratio of
/// 0.02 over a window is a burn rate of 20. The default pairs: 1h/5m above 14.4, 6h/30m above 6.
/// </summary>
public sealed class BurnRateEvaluatorTests
{
    private static readonly TimeSpan H1 = TimeSpan.FromHours(1);
    private static readonly TimeSpan M5 = TimeSpan.FromMinutes(5);

    /// <summary>Outcomes with the given error ratio per window at 10 req/s (total 10), and the period's 30d queries.</summary>
    private static IReadOnlyDictionary<string, QueryOutcome> Ratios(Trigger trigger, double h1, double m5, double h6, double m30, double d30 = 0.0005) =>
        Outcomes(trigger, new Dictionary<string, Sample[]>
        {
            ["errors[1h]"] = [S(h1 * 10)], ["total[1h]"] = [S(10)],
            ["errors[5m]"] = [S(m5 * 10)], ["total[5m]"] = [S(10)],
            ["errors[6h]"] = [S(h6 * 10)], ["total[6h]"] = [S(10)],
            ["errors[30m]"] = [S(m30 * 10)], ["total[30m]"] = [S(10)],
            ["errors[30d]"] = [S(d30 * 10)], ["total[30d]"] = [S(10)],
        });

    private static Verdict Single(Trigger trigger, IReadOnlyDictionary<string, QueryOutcome> outcomes) =>
        Assert.Single(TriggerEvaluator.Evaluate(trigger, outcomes));

    [Fact]
    public void ADecidingQueryNotMade_IsInconclusiveNoData_NamingIt_WithEveryQueryInTheEvidence()
    {
        var trigger = BurnRate();
        var outcomes = Outcomes(trigger, spec => spec.Role == "total[5m]"
            ? QueryOutcome.NotAvailable(spec, "no deploy time known")
            : QueryOutcome.Success(spec, "2026-11-20T10:00:00Z", [S(10)]));

        var v = Single(trigger, outcomes);

        Assert.Equal((VerdictKind.Inconclusive, VerdictReason.NoData), (v.Kind, v.Reason));
        Assert.Equal("total[5m] query not made: no deploy time known", v.Summary);
        Assert.Equal(QuerySpec.For(trigger.Condition).Select(s => s.Role), v.Queries.Select(q => q.Role));
        Assert.Equal("no deploy time known", Assert.Single(v.Queries, q => q.Role == "total[5m]").Note);
    }

    [Fact]
    public void QuerySpecs_OneErrorsAndTotalPerDistinctWindow_ThenThePeriodAsInformational()
    {
        var specs = QuerySpec.For(BurnRate().Condition);

        Assert.Equal(
            [
                ("errors[1h]", "errors_q[1h]", false), ("total[1h]", "total_q[1h]", false),
                ("errors[5m]", "errors_q[5m]", false), ("total[5m]", "total_q[5m]", false),
                ("errors[6h]", "errors_q[6h]", false), ("total[6h]", "total_q[6h]", false),
                ("errors[30m]", "errors_q[30m]", false), ("total[30m]", "total_q[30m]", false),
                ("errors[30d]", "errors_q[30d]", true), ("total[30d]", "total_q[30d]", true),
            ],
            specs.Select(s => (s.Role, s.Expression, s.Informational)));
        Assert.All(specs, s => Assert.Equal(QueryTime.AtEvaluation, s.Time));
    }

    [Fact]
    public void QuerySpecs_PairsSharingAWindow_QueryItOnce_AndAPeriodThatIsAWindowIsNotQueriedAgain()
    {
        var trigger = BurnRate(period: TimeSpan.FromHours(6), windows: [new(H1, M5, 3), new(TimeSpan.FromHours(6), H1, 2)]);

        Assert.Equal(["errors[1h]", "total[1h]", "errors[5m]", "total[5m]", "errors[6h]", "total[6h]"], QuerySpec.For(trigger.Condition).Select(s => s.Role));
    }

    [Fact]
    public void Evaluate_BothWindowsOfThe1h5mPairAboveFactor_IsBreachNamingThePairWithEveryBurnRate()
    {
        var v = Single(BurnRate(), Ratios(BurnRate(), h1: 0.02, m5: 0.05, h6: 0.002, m30: 0.003));

        Assert.Equal((VerdictKind.Breach, VerdictReason.ThresholdExceeded), (v.Kind, v.Reason));
        Assert.Equal(20, v.Value!.Value, 6);
        Assert.Equal(14.4, v.Threshold);
        Assert.Equal(
            "1h/5m fired: burn rate 1h 20, 5m 50, both > 14.4; 6h/30m: burn rate 6h 2, 30m 3, not both > 6; error budget left over 30d: 50%",
            v.Summary);
        var burns = v.Queries.Where(q => q.Role.StartsWith("burnRate[", StringComparison.Ordinal)).ToArray();
        Assert.Equal(["burnRate[1h]", "burnRate[5m]", "burnRate[6h]", "burnRate[30m]"], burns.Select(q => q.Role));
        Assert.Equal([20.0, 50, 2, 3], burns.Select(q => Math.Round(q.Value!.Value, 6)));
        Assert.Equal("errors[1h] / total[1h] / 0.001", burns[0].Query);
        var budget = Assert.Single(v.Queries, q => q.Role == "budgetLeft[30d]");
        Assert.Equal(0.5, budget.Value!.Value, 6);
        Assert.Equal(
            [("pair[1h/5m]", "fired"), ("pair[6h/30m]", "did not fire")],
            v.Queries.Where(q => q.Role.StartsWith("pair[", StringComparison.Ordinal)).Select(q => (q.Role, q.Note)));
        Assert.Equal(("errors[1h]", "errors_q[1h]", 0.2), (v.Queries[0].Role, v.Queries[0].Query, v.Queries[0].Value));
    }

    [Fact]
    public void Evaluate_OnlyTheLongWindowAboveFactor_IsPassWithThePairClosestToFiring()
    {
        // A burst that has ended: the hour still shows it, the last 5 minutes do not.
        var v = Single(BurnRate(), Ratios(BurnRate(), h1: 0.02, m5: 0.001, h6: 0.004, m30: 0.004));

        Assert.Equal(VerdictKind.Pass, v.Kind);
        Assert.Equal(
            "no pair fired: 1h/5m: burn rate 1h 20, 5m 1, not both > 14.4; 6h/30m: burn rate 6h 4, 30m 4, not both > 6; error budget left over 30d: 50%",
            v.Summary);

        // 6h/30m's slower rate 4 is 4/6 of its factor; 1h/5m's is 1/14.4.
        Assert.Equal((4, 6.0), (Math.Round(v.Value!.Value, 6), v.Threshold!.Value));
    }

    [Fact]
    public void Evaluate_BurnRateExactlyAtFactor_IsPass()
    {
        // 50% leaves a budget of exactly 0.5: an error ratio of 0.75 is a burn rate of exactly 1.5.
        var trigger = BurnRate(objective: 50, windows: [new(H1, M5, 1.5)]);
        var v = Single(trigger, Outcomes(trigger, new Dictionary<string, Sample[]>
        {
            ["errors[1h]"] = [S(7.5)], ["total[1h]"] = [S(10)], ["errors[5m]"] = [S(7.5)], ["total[5m]"] = [S(10)],
        }));

        Assert.Equal(VerdictKind.Pass, v.Kind);
        Assert.Equal(1.5, v.Value);
    }

    [Fact]
    public void Evaluate_ShortWindowTotalBelowMinTotal_IsInconclusiveLowTrafficEvenIfEveryRequestFailed()
    {
        var trigger = BurnRate(minTotal: 0.5);
        var v = Single(trigger, Outcomes(trigger, new Dictionary<string, Sample[]>
        {
            ["errors[1h]"] = [S(0.1)], ["total[1h]"] = [S(0.2)], ["errors[5m]"] = [S(0.2)], ["total[5m]"] = [S(0.2)],
            ["errors[6h]"] = [S(0.1)], ["total[6h]"] = [S(0.2)], ["errors[30m]"] = [S(0.1)], ["total[30m]"] = [S(0.2)],
        }));

        Assert.Equal((VerdictKind.Inconclusive, VerdictReason.LowTraffic), (v.Kind, v.Reason));
        Assert.Null(v.Value);
        Assert.Equal(14.4, v.Threshold);
        Assert.StartsWith("1h/5m inconclusive: low traffic: total over 5m 0.2 < minTotal 0.5; 6h/30m inconclusive: low traffic: total over 30m 0.2 < minTotal 0.5; error budget over 30d unknown: no total series over the period", v.Summary);
    }

    [Fact]
    public void Evaluate_ZeroOverZero_IsInconclusiveNeverABreachOrAPass()
    {
        var trigger = BurnRate(minTotal: 0);
        var v = Single(trigger, Outcomes(trigger, spec => QueryOutcome.Success(spec, "2026-11-20T10:00:00Z", [S(0)])));

        Assert.Equal((VerdictKind.Inconclusive, VerdictReason.LowTraffic), (v.Kind, v.Reason));
        Assert.Equal(
            "1h/5m inconclusive: no traffic over 5m: total is 0 (0/0); 6h/30m inconclusive: no traffic over 30m: total is 0 (0/0); error budget over 30d unknown: total over the period is 0",
            v.Summary);
        Assert.Equal("no traffic over 1h: total is 0 (0/0)", Assert.Single(v.Queries, q => q.Role == "burnRate[1h]").Note);
    }

    [Fact]
    public void Evaluate_ErrorsNaN_IsInconclusive_AndNoDataBreachCountsIt()
    {
        Dictionary<string, Sample[]> NaNIn1h() => new()
        {
            ["errors[1h]"] = [S(double.NaN)], ["total[1h]"] = [S(10)], ["errors[5m]"] = [S(0)], ["total[5m]"] = [S(10)],
            ["errors[6h]"] = [S(0)], ["total[6h]"] = [S(10)], ["errors[30m]"] = [S(0)], ["total[30m]"] = [S(10)],
        };

        var v = Single(BurnRate(), Outcomes(BurnRate(), NaNIn1h()));
        var breach = Single(BurnRate(noData: NoDataPolicy.Breach), Outcomes(BurnRate(), NaNIn1h()));

        Assert.Equal((VerdictKind.Inconclusive, VerdictReason.NotANumber), (v.Kind, v.Reason));
        Assert.StartsWith("1h/5m inconclusive: errors[1h] is NaN; 6h/30m: burn rate 6h 0, 30m 0, not both > 6", v.Summary);
        Assert.Equal((VerdictKind.Breach, true), (breach.Kind, breach.NoDataCountedAsBreach));
    }

    [Fact]
    public void Evaluate_OnePairBreachingAndTheOtherInconclusive_IsBreach()
    {
        var trigger = BurnRate();
        var v = Single(trigger, Outcomes(trigger, new Dictionary<string, Sample[]>
        {
            ["errors[1h]"] = [S(1)], ["total[1h]"] = [S(10)], ["errors[5m]"] = [S(1)], ["total[5m]"] = [S(10)],
            ["errors[6h]"] = [S(1)], ["total[6h]"] = [S(10)],
        }));

        Assert.Equal(VerdictKind.Breach, v.Kind);
        Assert.Equal("1h/5m fired: burn rate 1h 100, 5m 100, both > 14.4; 6h/30m inconclusive: no traffic over 30m: total[30m] has no series with labels {}; error budget over 30d unknown: no total series over the period", v.Summary);
    }

    [Fact]
    public void Evaluate_OnePairPassingAndTheOtherInconclusive_IsInconclusive()
    {
        // The inconclusive pair might be the one that would fire: never a pass.
        var trigger = BurnRate();
        var v = Single(trigger, Outcomes(trigger, new Dictionary<string, Sample[]>
        {
            ["errors[1h]"] = [S(0)], ["total[1h]"] = [S(10)], ["errors[5m]"] = [S(0)], ["total[5m]"] = [S(10)],
            ["errors[6h]"] = [S(1)], ["total[6h]"] = [S(10)], ["errors[30m]"] = [S(double.PositiveInfinity)], ["total[30m]"] = [S(10)],
        }));

        Assert.Equal((VerdictKind.Inconclusive, VerdictReason.Infinite, 6.0), (v.Kind, v.Reason, v.Threshold));
    }

    [Fact]
    public void Evaluate_NoTotalSeriesInAnyWindow_IsInconclusiveNoData()
    {
        var v = Single(BurnRate(), Outcomes(BurnRate(), new Dictionary<string, Sample[]>()));

        Assert.Equal((VerdictKind.Inconclusive, VerdictReason.NoData, "total query returned no series over any short window (5m, 30m)"), (v.Kind, v.Reason, v.Summary));
    }

    [Fact]
    public void Evaluate_SeriesOnlyInTheLongWindows_IsNotJudged_SoNoDataBreachDoesNotRollBackOnIt()
    {
        // by (version): v1 was drained over half an hour ago. The hour and six hours still hold it (and its errors);
        // the current traffic, over 5m and 30m, is v2's alone. Judged, v1 would be "no data", and with
        // noData: breach a breach: a rollback on a stale series.
        var v1 = ("version", "v1");
        var v2 = ("version", "v2");
        Dictionary<string, Sample[]> Drained() => new()
        {
            ["errors[1h]"] = [S(1, v1)], ["total[1h]"] = [S(5, v1), S(10, v2)],
            ["errors[5m]"] = [], ["total[5m]"] = [S(10, v2)],
            ["errors[6h]"] = [S(1, v1)], ["total[6h]"] = [S(9, v1), S(10, v2)],
            ["errors[30m]"] = [], ["total[30m]"] = [S(10, v2)],
        };

        foreach (var noData in (NoDataPolicy[])[NoDataPolicy.Inconclusive, NoDataPolicy.Breach])
        {
            var trigger = BurnRate(noData: noData);
            var v = Single(trigger, Outcomes(trigger, Drained()));

            Assert.Equal((LabelSet.Of(v2), VerdictKind.Pass), (v.Labels, v.Kind));
        }
    }

    [Fact]
    public void Evaluate_SeriesWithTrafficOver30mButNotOver5m_Has1h5mLowTraffic_AndNoDataBreachDoesNotCountIt()
    {
        // v1 stopped serving ten minutes ago: still in the 30m total, gone from the 5m one. For 1h/5m that is no
        // traffic, not missing data.
        var v1 = ("version", "v1");
        Dictionary<string, Sample[]> Draining() => new()
        {
            ["errors[1h]"] = [S(1, v1)], ["total[1h]"] = [S(5, v1)],
            ["errors[5m]"] = [], ["total[5m]"] = [],
            ["errors[6h]"] = [S(1, v1)], ["total[6h]"] = [S(9, v1)],
            ["errors[30m]"] = [], ["total[30m]"] = [S(2, v1)],
        };

        foreach (var noData in (NoDataPolicy[])[NoDataPolicy.Inconclusive, NoDataPolicy.Breach])
        {
            var trigger = BurnRate(noData: noData);
            var v = Single(trigger, Outcomes(trigger, Draining()));

            Assert.Equal((LabelSet.Of(v1), VerdictKind.Inconclusive, VerdictReason.LowTraffic, false), (v.Labels, v.Kind, v.Reason, v.NoDataCountedAsBreach));
            Assert.StartsWith("1h/5m inconclusive: no traffic over 5m: total[5m] has no series with labels {version=\"v1\"}; 6h/30m: burn rate 6h ", v.Summary);
        }
    }

    [Fact]
    public void Evaluate_NoSeriesOverTheShortWindowsButSomeOverTheLongOnes_IsTheOneNoSeriesVerdict()
    {
        var trigger = BurnRate(noData: NoDataPolicy.Breach);
        var v = Single(trigger, Outcomes(trigger, new Dictionary<string, Sample[]> { ["total[1h]"] = [S(10)], ["total[6h]"] = [S(10)] }));

        Assert.Equal((VerdictKind.Breach, VerdictReason.NoData, true), (v.Kind, v.Reason, v.NoDataCountedAsBreach));
        Assert.StartsWith("total query returned no series over any short window (5m, 30m)", v.Summary);
    }

    /// <summary>An error ratio of exactly factor x budget over both windows: the burn rate equals the factor, not above.</summary>
    public static TheoryData<double, double> ObjectivesAndFactors => new()
    {
        { 99.9, 14.4 }, { 99.9, 6 }, { 99.99, 14.4 }, { 99.99, 6 }, { 99.5, 14.4 }, { 99.5, 6 }, { 95, 14.4 }, { 95, 6 }, { 99.95, 14.4 }, { 99, 1 },
    };

    [Theory]
    [MemberData(nameof(ObjectivesAndFactors))]
    public void Evaluate_ErrorRatioExactlyAtTheFactor_IsPass_AndJustAboveIsBreach(double objective, double factor)
    {
        // At 99.9, 1 - 99.9 / 100 is 0.0009999999999998899 in binary floating point: 0.0144 / it is 14.400000000001585.
        var trigger = BurnRate(objective: objective, windows: [new(H1, M5, factor)]);
        var exact = (double)((decimal)factor * ((100m - (decimal)objective) / 100m) * 10);
        Verdict At(double errors) => Single(trigger, Outcomes(trigger, new Dictionary<string, Sample[]>
        {
            ["errors[1h]"] = [S(errors)], ["total[1h]"] = [S(10)], ["errors[5m]"] = [S(errors)], ["total[5m]"] = [S(10)],
        }));

        var tie = At(exact);
        var above = At(exact * 1.000001);

        Assert.Equal(VerdictKind.Pass, tie.Kind);
        Assert.Equal(factor, tie.Value!.Value, 9);
        Assert.Equal(VerdictKind.Breach, above.Kind);
    }

    [Fact]
    public void Evaluate_TheWorkbookPairsAt999_RatiosExactlyAt0Point0144And0Point006_Pass_AndJustAboveBreach()
    {
        var tie = Single(BurnRate(), Ratios(BurnRate(), h1: 0.0144, m5: 0.0144, h6: 0.006, m30: 0.006));
        var fast = Single(BurnRate(), Ratios(BurnRate(), h1: 0.01441, m5: 0.01441, h6: 0, m30: 0));
        var slow = Single(BurnRate(), Ratios(BurnRate(), h1: 0, m5: 0, h6: 0.00601, m30: 0.00601));

        Assert.Equal(VerdictKind.Pass, tie.Kind);
        Assert.Equal("no pair fired: 1h/5m: burn rate 1h 14.4, 5m 14.4, not both > 14.4; 6h/30m: burn rate 6h 6, 30m 6, not both > 6; error budget left over 30d: 50%", tie.Summary);
        Assert.Equal((VerdictKind.Breach, "1h/5m"), (fast.Kind, fast.Summary[..5]));
        Assert.Equal((VerdictKind.Breach, 6.0), (slow.Kind, slow.Threshold));
    }

    [Fact]
    public void Evaluate_NegativeShortTotal_IsInconclusiveLowTraffic_NotABurnRate()
    {
        // A negative total (a delta() of a gauge, say) slipped past minTotal; with negative errors too it was a
        // burn rate of 1000, and a rollback.
        var trigger = BurnRate(windows: [new(H1, M5, 14.4)]);
        var v = Single(trigger, Outcomes(trigger, new Dictionary<string, Sample[]>
        {
            ["errors[1h]"] = [S(1)], ["total[1h]"] = [S(10)], ["errors[5m]"] = [S(-1)], ["total[5m]"] = [S(-1)],
        }));
        var negativeLong = Single(trigger, Outcomes(trigger, new Dictionary<string, Sample[]>
        {
            ["errors[1h]"] = [S(-1)], ["total[1h]"] = [S(-1)], ["errors[5m]"] = [S(1)], ["total[5m]"] = [S(10)],
        }));

        Assert.Equal((VerdictKind.Inconclusive, VerdictReason.LowTraffic), (v.Kind, v.Reason));
        Assert.StartsWith("1h/5m inconclusive: no traffic over 5m: total is -1; ", v.Summary);
        Assert.Equal((VerdictKind.Inconclusive, VerdictReason.LowTraffic), (negativeLong.Kind, negativeLong.Reason));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Evaluate_OnePairLowTrafficAndTheOtherNoData_IsLowTrafficInEitherOrder_SoNoDataBreachNeverCountsIt(bool lowTrafficFirst)
    {
        // 1h/5m: 0.2 req/s over 5m, under minTotal; 6h/30m: NaN errors over 30m. In either order of the pairs the
        // verdict is low traffic (with that pair's factor), and noData: breach leaves it inconclusive.
        BurnRateWindow low = new(H1, M5, 14.4), noData = new(TimeSpan.FromHours(6), TimeSpan.FromMinutes(30), 6);
        var windows = lowTrafficFirst ? new[] { low, noData } : [noData, low];
        var samples = new Dictionary<string, Sample[]>
        {
            ["errors[1h]"] = [S(0)], ["total[1h]"] = [S(10)], ["errors[5m]"] = [S(0.1)], ["total[5m]"] = [S(0.2)],
            ["errors[6h]"] = [S(0)], ["total[6h]"] = [S(10)], ["errors[30m]"] = [S(double.NaN)], ["total[30m]"] = [S(10)],
        };

        var v = Single(BurnRate(windows: windows), Outcomes(BurnRate(windows: windows), samples));
        var breach = Single(BurnRate(windows: windows, noData: NoDataPolicy.Breach), Outcomes(BurnRate(windows: windows), samples));

        Assert.Equal((VerdictKind.Inconclusive, VerdictReason.LowTraffic, 14.4), (v.Kind, v.Reason, v.Threshold));
        Assert.Equal((VerdictKind.Inconclusive, false), (breach.Kind, breach.NoDataCountedAsBreach));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Evaluate_WithinAPair_ZeroOverZeroWinsOverNoData_InEitherWindow(bool zeroInTheShortWindow)
    {
        var trigger = BurnRate(minTotal: 0, windows: [new(H1, M5, 14.4)], noData: NoDataPolicy.Breach);
        var v = Single(trigger, Outcomes(trigger, new Dictionary<string, Sample[]>
        {
            ["errors[1h]"] = [S(zeroInTheShortWindow ? double.NaN : 0)], ["total[1h]"] = [S(zeroInTheShortWindow ? 10 : 0)],
            ["errors[5m]"] = [S(zeroInTheShortWindow ? 0 : double.NaN)], ["total[5m]"] = [S(zeroInTheShortWindow ? 0 : 10)],
        }));

        Assert.Equal((VerdictKind.Inconclusive, VerdictReason.LowTraffic), (v.Kind, v.Reason));
    }

    [Fact]
    public void Evaluate_Evidence_ShowsATinyBudgetExactly_NotRoundedToZero()
    {
        var trigger = BurnRate(objective: 99.99999, windows: [new(H1, M5, 14.4)]);
        var v = Single(trigger, Outcomes(trigger, new Dictionary<string, Sample[]>
        {
            ["errors[1h]"] = [S(0)], ["total[1h]"] = [S(10)], ["errors[5m]"] = [S(0)], ["total[5m]"] = [S(10)],
        }));

        Assert.Equal("errors[1h] / total[1h] / 0.0000001", Assert.Single(v.Queries, q => q.Role == "burnRate[1h]").Query);
        Assert.Equal("1 - errors[30d] / total[30d] / 0.0000001", Assert.Single(v.Queries, q => q.Role == "budgetLeft[30d]").Query);
    }

    [Fact]
    public void Evaluate_BudgetQueryFailed_ChangesNothingButTheBudgetLine()
    {
        var trigger = BurnRate();
        var ok = Ratios(trigger, h1: 0.02, m5: 0.05, h6: 0.002, m30: 0.003);
        var failed = ok.ToDictionary(
            o => o.Key,
            o => o.Value.Spec.Informational ? QueryOutcome.Failure(o.Value.Spec, "2026-11-20T10:00:00Z", "query timed out") : o.Value);

        var v = Single(trigger, failed);

        Assert.Equal((VerdictKind.Breach, 20.0, 14.4), (v.Kind, Math.Round(v.Value!.Value, 6), v.Threshold!.Value));
        Assert.EndsWith("; error budget over 30d unknown: its query failed", v.Summary);
        Assert.Equal("query timed out", Assert.Single(v.Queries, q => q.Role == "errors[30d]").Note);
        Assert.Equal("its query failed", Assert.Single(v.Queries, q => q.Role == "budgetLeft[30d]").Note);
    }

    [Fact]
    public void Evaluate_BudgetOverspent_ShowsANegativeShareLeft()
    {
        var v = Single(BurnRate(), Ratios(BurnRate(), 0, 0, 0, 0, d30: 0.003));

        Assert.EndsWith("error budget left over 30d: -200%", v.Summary);
    }

    [Fact]
    public void Evaluate_AWindowQueryFailed_IsAnError()
    {
        var trigger = BurnRate();
        var v = Single(trigger, Outcomes(trigger, spec => spec.Role == "total[6h]"
            ? QueryOutcome.Failure(spec, "2026-11-20T10:00:00Z", "connection refused")
            : QueryOutcome.Success(spec, "2026-11-20T10:00:00Z", [S(1)])));

        Assert.Equal((VerdictKind.Error, "total[6h] query failed: connection refused"), (v.Kind, v.Summary));
    }

    [Fact]
    public void Evaluate_ErrorsSeriesWithoutATotalSeries_IsAConfigurationError()
    {
        var trigger = BurnRate();
        var v = Single(trigger, Outcomes(trigger, spec => QueryOutcome.Success(spec, "2026-11-20T10:00:00Z",
            spec.Role == "errors[5m]" ? [S(1, ("deployment", "cart"))] : [S(10)])));

        Assert.Equal((VerdictKind.Error, VerdictReason.IncompatibleSeries), (v.Kind, v.Reason));
        Assert.StartsWith("errors[5m] series {deployment=\"cart\"} has no total[5m] series with the same labels", v.Summary);
    }

    [Fact]
    public void Evaluate_SeveralLabelSets_OneVerdictEach()
    {
        var trigger = BurnRate(windows: [new(H1, M5, 14.4)]);
        var cart = ("deployment", "cart");
        var search = ("deployment", "search");
        var verdicts = TriggerEvaluator.Evaluate(trigger, Outcomes(trigger, new Dictionary<string, Sample[]>
        {
            ["errors[1h]"] = [S(1, cart)], ["total[1h]"] = [S(10, cart), S(10, search)],
            ["errors[5m]"] = [S(1, cart)], ["total[5m]"] = [S(10, cart), S(10, search)],
            ["errors[30d]"] = [], ["total[30d]"] = [S(10, cart), S(10, search)],
        }));

        Assert.Equal(
            [(LabelSet.Of(cart), VerdictKind.Breach), (LabelSet.Of(search), VerdictKind.Pass)],
            verdicts.Select(v => (v.Labels, v.Kind)));
        Assert.EndsWith("error budget left over 30d: 100%", verdicts[1].Summary);
    }
}
