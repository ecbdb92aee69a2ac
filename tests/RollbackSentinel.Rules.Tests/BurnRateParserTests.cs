using RollbackSentinel.Core.Policies;
using static RollbackSentinel.Rules.Tests.Support.PolicyYaml;

namespace RollbackSentinel.Rules.Tests;

/// <summary>burnRate triggers: what the parser builds, and every error and warning at file:line:column.</summary>
public sealed class BurnRateParserTests
{
    private const string Errors = "sum(rate(http_requests_total{app=\"checkout\",code=~\"5..\"}[{{window}}]))";
    private const string Total = "sum(rate(http_requests_total{app=\"checkout\"}[{{window}}]))";

    /// <summary>A burnRate block with the required fields and minTotal, then <paramref name="extra"/> lines.</summary>
    private static string Block(string extra = "", string objective = "99.9", string errors = Errors, string total = Total) =>
        $"burnRate:\n  objective: {objective}\n  errors: '{errors}'\n  total: '{total}'\n  minTotal: 0.5\n" + Indent(extra, 2);

    private static string[] Diagnostics(string document) => [.. PolicyParser.Parse("p.yaml", document).Diagnostics.Select(d => d.ToString())];

    [Fact]
    public void Parse_TheContractsExample_BuildsTheCondition()
    {
        var document = Document(triggers: """
            - name: checkout-slo
              burnRate:
                objective: 99.9            # percent
                period: 30d                # the SLO period the factors refer to
                errors: sum(rate(http_requests_total{app="checkout",code=~"5.."}[{{window}}]))
                total: sum(rate(http_requests_total{app="checkout"}[{{window}}]))
                windows:                   # optional; this is the default (the SRE workbook's pages)
                  - {long: 1h, short: 5m, factor: 14.4}
                  - {long: 6h, short: 30m, factor: 6}
                minTotal: 0.5              # below this (over the short window), inconclusive
              action: rollback
            """);

        var result = PolicyParser.Parse("p.yaml", document);

        Assert.Empty(result.Diagnostics.Select(d => d.ToString()));
        var trigger = Assert.Single(Assert.Single(result.Policies).Triggers);
        Assert.Equal(
            new BurnRateCondition(99.9, TimeSpan.FromDays(30), Errors, Total, [new(TimeSpan.FromHours(1), TimeSpan.FromMinutes(5), 14.4), new(TimeSpan.FromHours(6), TimeSpan.FromMinutes(30), 6)], 0.5),
            trigger.Condition);
        Assert.Equal("burnRate", trigger.Condition.Kind);

        // The backend checks see each query as it is sent, with the first pair's short window in place.
        Assert.Equal(
            [
                ("spec.triggers[0].burnRate.errors", 14, 17, "sum(rate(http_requests_total{app=\"checkout\",code=~\"5..\"}[5m]))"),
                ("spec.triggers[0].burnRate.total", 15, 16, "sum(rate(http_requests_total{app=\"checkout\"}[5m]))"),
            ],
            result.Queries.Select(q => (q.Field, q.Line, q.Column, q.Query)));
    }

    [Fact]
    public void Parse_OnlyTheRequiredFields_TakesThePeriodAndWindowDefaults_AndWarnsThatMinTotalIsMissing()
    {
        var result = PolicyParser.Parse("p.yaml", WithTrigger($"burnRate:\n  objective: 99.5\n  errors: '{Errors}'\n  total: '{Total}'"));

        var warning = Assert.Single(result.Diagnostics);
        Assert.Equal(DiagnosticSeverity.Warning, warning.Severity);
        Assert.Equal(
            "p.yaml:11:7: warning: spec.triggers[0].burnRate.minTotal: not set, so even one request is enough traffic: with little traffic a single failed request over the short window is a huge burn rate and fires; set the total (e.g. requests per second) below which the verdict is inconclusive, e.g. minTotal: 0.5",
            warning.ToString());
        var condition = Assert.IsType<BurnRateCondition>(Assert.Single(Assert.Single(result.Policies).Triggers).Condition);
        Assert.Equal((99.5, TimeSpan.FromDays(30), 0.0), (condition.Objective, condition.Period, condition.MinTotal));
        Assert.Equal(BurnRateCondition.DefaultWindows, condition.Windows);
    }

    /// <summary>Each bad value, alone in an otherwise valid burnRate block, with the exact diagnostic.</summary>
    public static TheoryData<string, string> BadBlocks => new()
    {
        { $"burnRate:\n  errors: '{Errors}'\n  total: '{Total}'\n  minTotal: 0.5", "p.yaml:11:7: spec.triggers[0].burnRate.objective: missing required field 'objective' (the SLO in percent, e.g. 99.9)" },
        { Block(objective: "100"), "p.yaml:12:20: spec.triggers[0].burnRate.objective: must be less than 100: a 100% objective leaves no error budget to burn" },
        { Block(objective: "100.5"), "p.yaml:12:20: spec.triggers[0].burnRate.objective: must be at most 100, got 100.5" },
        { Block(objective: "0"), "p.yaml:12:20: spec.triggers[0].burnRate.objective: must be greater than 0, got 0" },
        { Block(objective: "'99.9'"), "p.yaml:12:20: spec.triggers[0].burnRate.objective: must be a number, got the quoted string \"99.9\" (remove the quotes)" },
        { Block(errors: "sum(rate(http_requests_total{code=~\"5..\"}[5m]))"), "p.yaml:13:17: spec.triggers[0].burnRate.errors: must contain {{window}} where each window goes, e.g. sum(rate(http_requests_total[{{window}}]))" },
        { Block(total: "sum(rate(http_requests_total[1h]))"), "p.yaml:14:16: spec.triggers[0].burnRate.total: must contain {{window}} where each window goes, e.g. sum(rate(http_requests_total[{{window}}]))" },
        { Block(total: "sum(rate(http_requests_total[{{ window }}]))"), "p.yaml:14:16: spec.triggers[0].burnRate.total: must contain {{window}} where each window goes, e.g. sum(rate(http_requests_total[{{window}}]))" },
        { Block(errors: "sum(rate(x[{{window}}])"), "p.yaml:13:17: spec.triggers[0].burnRate.errors: invalid PromQL: '(' at position 4 is not closed" },
        { Block("period: 30x"), "p.yaml:16:17: spec.triggers[0].burnRate.period: '30x' is not a duration: unknown unit 'x' (use ms, s, m, h, d, w, y)" },
        { Block("period: 30s"), "p.yaml:16:17: spec.triggers[0].burnRate.period: must be at least 1m, got 30s" },
        { Block("minTotal2: 1"), "p.yaml:16:9: spec.triggers[0].burnRate.minTotal2: unknown field 'minTotal2' (did you mean 'minTotal'?)" },
        { Block("windows: []"), "p.yaml:16:18: spec.triggers[0].burnRate.windows: must list at least one pair, e.g. {long: 1h, short: 5m, factor: 14.4}; leave it out for the SRE workbook's two pairs" },
        { Block("windows: 1h"), "p.yaml:16:18: spec.triggers[0].burnRate.windows: must be a list, got '1h'" },
        { Block("windows: [1h]"), "p.yaml:16:19: spec.triggers[0].burnRate.windows[0]: a pair must be a mapping such as {long: 1h, short: 5m, factor: 14.4}, got '1h'" },
        { Block("windows:\n  - {long: 5m, short: 5m, factor: 14.4}"), "p.yaml:17:20: spec.triggers[0].burnRate.windows[0].long: must be longer than short (5m): the long window is the one that shows the burn is significant" },
        { Block("windows:\n  - {long: 1h, short: 0s, factor: 14.4}"), "p.yaml:17:31: spec.triggers[0].burnRate.windows[0].short: must be at least 1s, got 0s" },
        { Block("windows:\n  - {long: 1h, factor: 14.4}"), "p.yaml:17:13: spec.triggers[0].burnRate.windows[0].short: missing required field 'short'" },
        { Block("windows:\n  - {long: 1h, short: 5m, factor: 0}"), "p.yaml:17:43: spec.triggers[0].burnRate.windows[0].factor: must be greater than 0, got 0" },
        { Block("windows:\n  - {long: 1h, short: 5m, factor: 1000}"), "p.yaml:17:43: spec.triggers[0].burnRate.windows[0].factor: can never be exceeded: with objective 99.9 the burn rate is at most 1000 (every request failing)" },
        { Block("minTotal: -1").Replace("  minTotal: 0.5\n", string.Empty, StringComparison.Ordinal), "p.yaml:15:19: spec.triggers[0].burnRate.minTotal: must be at least 0, got -1" },

        // The default windows are checked as written ones are, at the objective.
        { Block(objective: "90"), "p.yaml:12:20: spec.triggers[0].burnRate.objective: leaves the default windows' pair 1h/5m (factor 14.4) unreachable: with objective 90 the burn rate is at most 10 (every request failing); write windows: with factors below it, or check the objective" },
        { Block(objective: "80"), "p.yaml:12:20: spec.triggers[0].burnRate.objective: leaves the default windows' pairs 1h/5m (factor 14.4) and 6h/30m (factor 6) unreachable: with objective 80 the burn rate is at most 5 (every request failing); write windows: with factors below it, or check the objective" },
        { Block(objective: "83.333"), "p.yaml:12:20: spec.triggers[0].burnRate.objective: leaves the default windows' pairs 1h/5m (factor 14.4) and 6h/30m (factor 6) unreachable: with objective 83.333 the burn rate is at most 5.99988 (every request failing); write windows: with factors below it, or check the objective" },
    };

    [Theory]
    [MemberData(nameof(BadBlocks))]
    public void Parse_BadBurnRateValue_IsOneLocatedErrorAndNoPolicy(string block, string expected)
    {
        var result = PolicyParser.Parse("p.yaml", WithTrigger(block));

        Assert.Equal(expected, result.Diagnostics.First(d => d.Severity == DiagnosticSeverity.Error).ToString());
        Assert.Single(result.Diagnostics, d => d.Severity == DiagnosticSeverity.Error);
        Assert.Empty(result.Policies);
    }

    [Fact]
    public void Parse_MisspeltFieldInAPair_IsUnknownAtTheKeyAndTheFieldIsMissing()
    {
        Assert.Equal(
            [
                "p.yaml:17:13: spec.triggers[0].burnRate.windows[0].factor: missing required field 'factor' (the burn rate both windows must exceed, e.g. 14.4)",
                "p.yaml:17:35: spec.triggers[0].burnRate.windows[0].facter: unknown field 'facter' (did you mean 'factor'?)",
            ],
            Diagnostics(WithTrigger(Block("windows:\n  - {long: 1h, short: 5m, facter: 14.4}"))));
    }

    [Theory]
    [InlineData("99.9", "999")]
    [InlineData("99", "99.9")]
    [InlineData("50", "1.9")]
    public void Parse_AFactorBelowTheHighestBurnRate_IsAccepted(string objective, string factor) =>
        Assert.Single(PolicyParser.Parse("p.yaml", WithTrigger(Block($"windows:\n  - {{long: 1h, short: 5m, factor: {factor}}}", objective: objective))).Policies);

    [Fact]
    public void Parse_ALongWindowBeyondThePeriod_IsAWarning()
    {
        var result = PolicyParser.Parse("p.yaml", WithTrigger(Block("period: 1d\nwindows:\n  - {long: 2d, short: 1h, factor: 2}")));

        Assert.Equal(
            ["p.yaml:18:20: warning: spec.triggers[0].burnRate.windows[0].long: is longer than the period (1d): the factor is meant relative to the period's budget"],
            result.Diagnostics.Select(d => d.ToString()));
        Assert.Equal(DiagnosticSeverity.Warning, result.Diagnostics[0].Severity);
        Assert.Single(result.Policies);
    }

    [Theory]
    [InlineData("93.06")] // the highest burn rate 14.409..., just above 14.4
    [InlineData("99.9")]
    public void Parse_DefaultWindowsTheObjectiveCanExceed_AreAccepted(string objective) =>
        Assert.Single(PolicyParser.Parse("p.yaml", WithTrigger(Block(objective: objective))).Policies);

    /// <summary>Warnings, each alone in an otherwise valid burnRate block: the policy loads.</summary>
    public static TheoryData<string, string[]> Warnings => new()
    {
        {
            Block("period: 3h"),
            ["p.yaml:16:17: warning: spec.triggers[0].burnRate.period: is shorter than the long window of the default pair 6h/30m (factor 6): the factors are meant relative to the period's budget; write windows: that fit within 3h"]
        },
        {
            Block("period: 30m"),
            ["p.yaml:16:17: warning: spec.triggers[0].burnRate.period: is shorter than the long window of the default pairs 1h/5m (factor 14.4) and 6h/30m (factor 6): the factors are meant relative to the period's budget; write windows: that fit within 30m"]
        },
        {
            Block("windows:\n  - {long: 1h, short: 5m, factor: 14.4}\n  - {long: 6h, short: 30m, factor: 6}\n  - {long: 1h, short: 5m, factor: 14.4}"),
            ["p.yaml:19:13: warning: spec.triggers[0].burnRate.windows[2]: is the same pair as windows[0] (1h/5m, factor 14.4): remove one"]
        },
        {
            Block("windows:\n  - {long: 1h, short: 5m, factor: 14.4}\n  - {long: 1h, short: 5m, factor: 10}"),
            ["p.yaml:18:13: warning: spec.triggers[0].burnRate.windows[1]: has the same windows as windows[0] (1h/5m): the one with the lower factor fires whenever the other would, so the other never decides"]
        },
        {
            Block("windows:\n  - {long: 10m, short: 30s, factor: 14.4}"),
            ["p.yaml:17:32: warning: spec.triggers[0].burnRate.windows[0].short: is under 1m, shorter than most scrape intervals: rate() needs two samples within 30s, so the pair is often inconclusive (no series) or rests on one scrape"]
        },
    };

    [Theory]
    [MemberData(nameof(Warnings))]
    public void Parse_WarnedBurnRateValue_IsLocatedAndThePolicyLoads(string block, string[] expected)
    {
        var result = PolicyParser.Parse("p.yaml", WithTrigger(block));

        Assert.Equal(expected, result.Diagnostics.Select(d => d.ToString()));
        Assert.Single(result.Policies);
    }

    [Fact]
    public void Parse_AnObjectiveUnder1_WarnsItIsAPercent_AndTheDefaultWindowsCannotFire()
    {
        var result = PolicyParser.Parse("p.yaml", WithTrigger(Block(objective: "0.999")));

        Assert.Equal(
            [
                "p.yaml:12:20: warning: spec.triggers[0].burnRate.objective: is a percent: 0.999 asks for 0.999% of requests to succeed; did you mean 99.9?",
                "p.yaml:12:20: spec.triggers[0].burnRate.objective: leaves the default windows' pairs 1h/5m (factor 14.4) and 6h/30m (factor 6) unreachable: with objective 0.999 the burn rate is at most 1.010091 (every request failing); write windows: with factors below it, or check the objective",
            ],
            result.Diagnostics.Select(d => d.ToString()));
        Assert.Empty(result.Policies);
    }

    [Fact]
    public void Parse_AnObjectiveUnder1WithWindowsItCanExceed_IsOnlyTheWarning()
    {
        var result = PolicyParser.Parse("p.yaml", WithTrigger(Block("windows:\n  - {long: 1h, short: 5m, factor: 1.001}", objective: "0.5")));

        Assert.Equal(
            ["p.yaml:12:20: warning: spec.triggers[0].burnRate.objective: is a percent: 0.5 asks for 0.5% of requests to succeed; did you mean 50?"],
            result.Diagnostics.Select(d => d.ToString()));
        Assert.Single(result.Policies);
    }

    [Fact]
    public void Parse_SeveralBadValues_ReportsEveryOneOfThem()
    {
        var diagnostics = Diagnostics(WithTrigger(Block("windows:\n  - {long: 5m, short: 1h, factor: 14.4}\n  - {long: 6h, short: 30m, factor: -1}", objective: "100", errors: "rate(x[5m])")));

        Assert.Equal(
            [
                "p.yaml:12:20: spec.triggers[0].burnRate.objective: must be less than 100: a 100% objective leaves no error budget to burn",
                "p.yaml:17:20: spec.triggers[0].burnRate.windows[0].long: must be longer than short (1h): the long window is the one that shows the burn is significant",
                "p.yaml:18:44: spec.triggers[0].burnRate.windows[1].factor: must be greater than 0, got -1",
                "p.yaml:13:17: spec.triggers[0].burnRate.errors: must contain {{window}} where each window goes, e.g. sum(rate(http_requests_total[{{window}}]))",
            ],
            diagnostics);
    }
}
