using AngleSharp.Dom;
using AngleSharp.Html.Parser;
using RollbackSentinel.Core.Backtesting;
using RollbackSentinel.Core.Changes;
using RollbackSentinel.Core.Evaluation;
using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Core.Policies;
using RollbackSentinel.Core.State;
using RollbackSentinel.Web.History;
using RollbackSentinel.Web.Reports;

namespace RollbackSentinel.Web.Tests.Reports;

/// <summary>
/// The backtest report from a hand-built backtest: two policies, "checkout" with two triggers (errors breaches from
/// T0+2m to T0+4m and rolls back at T0+3m; latency never breaches) and "search" with one, evaluated every minute from
/// T0 to T0+5m, and a deploy at T0+1m.
/// </summary>
public sealed class BacktestReportTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 20, 10, 0, 0, TimeSpan.Zero);
    private static readonly DateTimeOffset Generated = new(2026, 11, 21, 8, 30, 0, TimeSpan.Zero);
    private static readonly BacktestWindow Window = new(T0, T0.AddMinutes(5), TimeSpan.FromMinutes(1), DeployedAt: T0.AddMinutes(1));

    private static Trigger ErrorTrigger(string name) =>
        new() { Name = name, Condition = new ErrorRateCondition("sum(rate(errors[1m]))", "sum(rate(total[1m]))", 0.05, 0.5), For = TimeSpan.FromMinutes(1) };

    private static Policy PolicyOf(string name, params Trigger[] triggers) => new()
    {
        Name = name,
        Target = new WebhookTarget(Template.Parse("http://127.0.0.1:9/rollback")),
        Schedule = new IntervalSchedule(TimeSpan.FromMinutes(1)),
        Triggers = triggers,
    };

    private static Verdict VerdictOf(LabelSet labels, double value, double threshold = 0.05) => new()
    {
        Kind = value > threshold ? VerdictKind.Breach : VerdictKind.Pass,
        Reason = value > threshold ? VerdictReason.ThresholdExceeded : VerdictReason.WithinThreshold,
        Labels = labels,
        Value = value,
        Threshold = threshold,
        Summary = value > threshold ? $"error ratio {value} > max {threshold}" : $"error ratio {value} <= max {threshold}",
    };

    /// <summary>Replays the given values (one per minute from T0) into a recorder, as the backtester's observe would.</summary>
    private static void Observe(ReplayRecorder recorder, Policy policy, LabelSet labels, params double[][] valuesPerTrigger)
    {
        for (var i = 0; i < valuesPerTrigger[0].Length; i++)
        {
            var at = T0.AddMinutes(i);
            recorder.Observe(new BacktestEvaluation(policy, at, PolicyState.Empty, ChangeHistory.Empty)
            {
                Triggers = policy.Triggers.Select((t, j) => new TriggerVerdicts(t, [VerdictOf(labels, valuesPerTrigger[j][i])])).ToArray(),
            });
        }
    }

    private sealed record Built(string Html, IDocument Document, Policy Checkout, Policy Search);

    private static Built Build(string checkoutName = "checkout", string triggerName = "errors", string cart = "cart", string? description = "release v42")
    {
        var checkout = PolicyOf(checkoutName, ErrorTrigger(triggerName), ErrorTrigger("latency"));
        var search = PolicyOf("search", ErrorTrigger("errors"));
        var labels = LabelSet.Of(("deployment", cart));
        var recorder = new ReplayRecorder();
        Observe(recorder, checkout, labels, [0.01, 0.01, 0.2, 0.2, 0.01, 0.01], [0.01, 0.01, 0.01, 0.01, 0.01, 0.01]);
        Observe(recorder, search, LabelSet.Empty, [0.01, 0.01, 0.01, 0.01, 0.01, 0.01]);

        var deploy = new Change { Policy = checkoutName, At = T0.AddMinutes(1), Source = ChangeSource.Api, Revision = "v42", PreviousRevision = "v41", By = "ci", Description = description };
        var rollback = new Decision
        {
            Policy = checkoutName,
            Trigger = triggerName,
            Labels = labels,
            At = T0.AddMinutes(3),
            Kind = DecisionKind.Act,
            Action = TriggerAction.Rollback,
            Verdict = VerdictOf(labels, 0.2),
            Since = T0.AddMinutes(2),
            Blamed = deploy,
            Message = "error ratio 0.2 > max 0.05 for 1m",
        };
        var result = new BacktestResult(
            [rollback],
            [
                new BacktestSummary { Policy = checkoutName, Evaluations = 6, Passes = 10, Breaches = 2, Actions = 1 },
                new BacktestSummary { Policy = "search", Evaluations = 6, Passes = 5, Inconclusive = 1, InconclusiveRuns = 0, Suppressed = 0 },
            ])
        {
            Changes = [deploy],
            Warnings = ["policy 'search': spec.watch.detect.query failed"],
        };

        var html = BacktestReport.Render(result, Window, [checkout, search], recorder, new BacktestReportInfo { GeneratedAt = Generated, Rules = ["rules/"] });
        return new Built(html, new HtmlParser().ParseDocument(html), checkout, search);
    }

    private static string Cell(IElement row, string column) => row.QuerySelector($"td[data-column='{column}']")!.TextContent;

    [Fact]
    public void Render_SummaryTable_HasEveryPolicysCountsInTheTableWritersColumns()
    {
        var doc = Build().Document;

        var table = doc.QuerySelector("#summary-table")!;
        Assert.Equal(
            ["Policy", "Evaluations", "Verdicts", "Pass", "Breach", "Inconclusive", "Error", "Actions", "Suppressed", "Inconclusive runs"],
            table.QuerySelectorAll("thead th").Select(th => th.TextContent));
        var rows = table.QuerySelectorAll("tbody tr").ToArray();
        Assert.Equal(["checkout", "search"], rows.Select(r => r.GetAttribute("data-policy")));
        Assert.Equal(["6", "12", "10", "2", "0", "0", "1", "0", "0"], rows[0].QuerySelectorAll("td").Select(td => td.TextContent));
        Assert.Equal("6", Cell(rows[1], "verdicts"));
        Assert.Equal("1", Cell(rows[1], "inconclusive"));
    }

    [Fact]
    public void Render_DecisionsTable_OneRowPerDecisionWithItsEvidence()
    {
        var doc = Build().Document;

        var row = Assert.Single(doc.QuerySelectorAll("#decisions-table tbody tr"));
        Assert.Equal("decision-1", row.Id);
        Assert.Equal("2026-11-20T10:03:00Z", row.GetAttribute("data-at"));
        Assert.Equal("act", row.GetAttribute("data-kind"));
        Assert.Equal(
            ["2026-11-20T10:03:00Z", "checkout", "errors", "{deployment=\"cart\"}", "rollback", "0.2", "0.05",
             "error ratio 0.2 > max 0.05 for 1m; change: since v42, deployed 2m ago by ci"],
            row.QuerySelectorAll("td").Select(td => td.TextContent));
        Assert.Equal("#policy-checkout", row.QuerySelector("a")!.GetAttribute("href"));
    }

    [Fact]
    public void Render_ChangesTable_ListsTheChangesJudgedAgainst()
    {
        var doc = Build().Document;

        var row = Assert.Single(doc.QuerySelectorAll("#changes-table tbody tr"));
        Assert.Equal(
            ["2026-11-20T10:01:00Z", "checkout", "all", "api", "v41 -> v42", "ci", "release v42"],
            row.QuerySelectorAll("td").Select(td => td.TextContent));
    }

    [Fact]
    public void Render_HeaderFacts_SayWindowStepDeployAndWarnings()
    {
        var doc = Build().Document;

        var facts = doc.QuerySelectorAll("dl.facts dt").Zip(doc.QuerySelectorAll("dl.facts dd")).ToDictionary(p => p.First.TextContent, p => p.Second.TextContent);
        Assert.Equal("2026-11-20T10:00:00Z..2026-11-20T10:05:00Z (5m)", facts["Window"]);
        Assert.Equal("1m", facts["Step"]);
        Assert.Equal("rules/", facts["Rules"]);
        Assert.StartsWith("2026-11-20T10:01:00Z", facts["Deployed at"]);
        Assert.Equal("2026-11-21T08:30:00Z", facts["Generated"]);
        Assert.Equal("Warning: policy 'search': spec.watch.detect.query failed", doc.QuerySelector(".notice")!.TextContent);
    }

    [Fact]
    public void Render_EachPolicy_HasASectionWithOneFigurePerTriggerAndTheContentsLinkToIt()
    {
        var doc = Build().Document;

        var sections = doc.QuerySelectorAll("section.policy").ToArray();
        Assert.Equal(["policy-checkout", "policy-search"], sections.Select(s => s.Id));
        Assert.Equal("Policy checkout", sections[0].QuerySelector("h2")!.TextContent);
        Assert.Equal(
            [("checkout", "errors"), ("checkout", "latency")],
            sections[0].QuerySelectorAll("figure.plotbox").Select(f => (f.GetAttribute("data-policy"), f.GetAttribute("data-trigger"))));
        Assert.Single(sections[1].QuerySelectorAll("figure.plotbox"));
        Assert.All(doc.QuerySelectorAll("figure.plotbox"), f => Assert.Single(f.QuerySelectorAll("svg.plot")));
        Assert.Equal(
            ["#summary", "#changes", "#decisions", "#policy-checkout", "#policy-search"],
            doc.QuerySelectorAll("nav.toc a").Select(a => a.GetAttribute("href")));
        var ids = doc.QuerySelectorAll("[id]").Select(e => e.Id).ToArray();
        Assert.Equal(ids.Length, ids.Distinct(StringComparer.Ordinal).Count());
    }

    [Fact]
    public void Render_BreachingTrigger_ListsItsBreachAsTextAndItsDecision()
    {
        var doc = Build().Document;

        var errors = doc.QuerySelector("#policy-checkout-trigger-errors")!;
        var breach = Assert.Single(errors.QuerySelectorAll("table.breaches tbody tr"));
        Assert.Equal(["{deployment=\"cart\"}", "2026-11-20T10:02:00Z", "2026-11-20T10:03:00Z", "2", "0.2", "0.05"], breach.QuerySelectorAll("td").Select(td => td.TextContent));
        var decision = Assert.Single(errors.QuerySelectorAll("ul.timeline li"));
        Assert.Equal("#decision-1", decision.QuerySelector("a")!.GetAttribute("href"));
        Assert.Equal("No breach in the window.", doc.QuerySelector("#policy-checkout-trigger-latency p.breaches-none")!.TextContent);
    }

    [Fact]
    public void Render_Plots_CarryTheMarkersOfTheirPolicysChangesAndTriggersDecisions()
    {
        var doc = Build().Document;

        string[] Markers(string figure, string kind) =>
            doc.QuerySelectorAll($"#{figure} g.marker-{kind}").Select(g => g.GetAttribute("data-at")!).ToArray();
        Assert.Equal(["2026-11-20T10:01:00Z"], Markers("policy-checkout-trigger-errors", "change"));
        Assert.Equal(["2026-11-20T10:03:00Z"], Markers("policy-checkout-trigger-errors", "decision"));
        Assert.Equal(["2026-11-20T10:01:00Z"], Markers("policy-checkout-trigger-latency", "change"));
        Assert.Empty(Markers("policy-checkout-trigger-latency", "decision"));
        Assert.Empty(Markers("policy-search-trigger-errors", "change"));
    }

    [Fact]
    public void Render_HostileNames_AreEncodedEverywhere()
    {
        const string Evil = "<img src=x onerror=alert(1)>";
        var built = Build(checkoutName: $"shop{Evil}", triggerName: $"errors\"{Evil}", cart: $"cart'{Evil}", description: $"</td><script>alert(2)</script>{Evil}");

        Assert.DoesNotContain("<img", built.Html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("<script", built.Html, StringComparison.OrdinalIgnoreCase);
        Assert.Empty(built.Document.QuerySelectorAll("img, script"));
        Assert.Equal($"Policy shop{Evil}", built.Document.QuerySelector("section.policy h2")!.TextContent);
        Assert.Equal($"errors\"{Evil}", built.Document.QuerySelector("figure.plotbox")!.GetAttribute("data-trigger"));
        Assert.Equal($"</td><script>alert(2)</script>{Evil}", built.Document.QuerySelectorAll("#changes-table td").Last().TextContent);
        Assert.Equal("policy-shop-img-src-x-onerror-alert-1", built.Document.QuerySelector("section.policy")!.Id);
    }

    [Fact]
    public void Render_ReferencesNothingOutsideTheFile()
    {
        // The SVG namespace is a name, never fetched (an inline SVG carries it); nothing else may name a URL.
        var html = Build().Html.Replace(" xmlns=\"http://www.w3.org/2000/svg\"", string.Empty, StringComparison.Ordinal);

        foreach (var forbidden in new[] { "http://", "https://", "src=", "<script", "<link", "url(", "@import" })
        {
            Assert.DoesNotContain(forbidden, html, StringComparison.OrdinalIgnoreCase);
        }
    }

    [Fact]
    public void Render_NoDecisionsNoChanges_SaysSoInWords()
    {
        var policy = PolicyOf("quiet", ErrorTrigger("errors"));
        var recorder = new ReplayRecorder();
        var html = BacktestReport.Render(
            new BacktestResult([], [new BacktestSummary { Policy = "quiet" }]), Window with { DeployedAt = null }, [policy], recorder, new BacktestReportInfo { GeneratedAt = Generated });
        var doc = new HtmlParser().ParseDocument(html);

        Assert.StartsWith("No decisions", doc.QuerySelector("#decisions p")!.TextContent);
        Assert.StartsWith("None known", doc.QuerySelector("#changes p")!.TextContent);
        Assert.Equal("No evaluation of this trigger in the window.", doc.QuerySelector("figure.plotbox p.breaches-none")!.TextContent);
    }

    [Fact]
    public void Slugs_CollidingNames_GetNumbered()
    {
        var slugs = new BacktestReport.Slugs();

        Assert.Equal(["checkout-api", "checkout-api-2", "x", "a-b"], new[] { "Checkout API", "checkout.api", "ü", "a--b" }.Select(slugs.Of));
    }
}
