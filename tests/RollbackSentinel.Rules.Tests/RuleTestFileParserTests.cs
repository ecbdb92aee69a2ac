using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Core.RuleTests;

namespace RollbackSentinel.Rules.Tests;

/// <summary>Rule test files: what the parser reads, the defaults, and every problem as file:line:column.</summary>
public sealed class RuleTestFileParserTests
{
    private const string Complete = """
        rule_files: [../checkout-api.yaml, /etc/rules/other.yaml]
        evaluation_interval: 30s
        tests:
          - name: a bad release rolls back
            interval: 15s
            input_series:
              - series: 'http_requests_total{app="checkout",code="500"}'
                values: '0+0x4 1+1x3'
              - series: up
                values: 1 _ stale
            changes:
              - {at: 1m, policy: checkout-api, labels: {deployment: cart}, revision: v42, previousRevision: v41, by: ci, description: canary}
            expect:
              - {policy: checkout-api, trigger: error-rate-spike, action: rollback, at: 1m30s, labels: {deployment: cart}}
              - {policy: checkout-api, trigger: p95-vs-stable, action: none}
            gates:
              - {at: 1m45s, policy: checkout-api, labels: {deployment: cart}, open: false}
          - name: defaults
            input_series:
              - {series: up, values: '1x2'}
        """;

    private static string[] Errors(string text) => [.. RuleTestFileParser.Parse("t.yaml", text).Diagnostics.Select(d => d.ToString())];

    [Fact]
    public void Parse_CompleteFile_ReadsEveryField()
    {
        var result = RuleTestFileParser.Parse("rules/tests/t.yaml", Complete);

        Assert.Empty(result.Diagnostics);
        var file = result.File!;
        Assert.Equal(["rules/tests/../checkout-api.yaml", "/etc/rules/other.yaml"], file.RuleFiles);
        Assert.Equal(TimeSpan.FromSeconds(30), file.EvaluationInterval);
        var test = file.Tests[0];
        Assert.Equal(("a bad release rolls back", 4, 11, TimeSpan.FromSeconds(15), TimeSpan.FromMinutes(2)), (test.Name, test.Source.Line, test.Source.Column, test.Interval, test.Span));
        Assert.Equal(["http_requests_total{app=\"checkout\", code=\"500\"}", "up"], test.Series.Select(s => s.Name.ToString()));
        Assert.Equal([SeriesPointKind.Value, SeriesPointKind.Missing, SeriesPointKind.Stale], test.Series[1].Values.Select(v => v.Kind));
        var change = Assert.Single(test.Changes);
        Assert.Equal((TimeSpan.FromMinutes(1), "checkout-api", LabelSet.Of(("deployment", "cart")), "v42", "v41", "ci", "canary"),
            (change.At, change.Policy, change.Labels, change.Revision, change.PreviousRevision, change.By, change.Description));
        Assert.Equal(DateTimeOffset.UnixEpoch.AddMinutes(1), change.ToChange(DateTimeOffset.UnixEpoch).At);
        Assert.Equal(
            [("error-rate-spike", "rollback", (TimeSpan?)TimeSpan.FromSeconds(90), LabelSet.Of(("deployment", "cart"))), ("p95-vs-stable", "none", null, null)],
            test.Expect.Select(e => (e.Trigger, e.Action, e.At, e.Labels)));
        var gate = Assert.Single(test.Gates);
        Assert.Equal((TimeSpan.FromSeconds(105), false, LabelSet.Of(("deployment", "cart"))), (gate.At, gate.Open, gate.Filter));
    }

    [Fact]
    public void Parse_NoIntervals_TakesTheEvaluationIntervalAndPromtoolsOneMinute()
    {
        var file = RuleTestFileParser.Parse("t.yaml", "rule_files: [p.yaml]\ntests:\n  - name: t\n    input_series: [{series: up, values: '1x3'}]\n").File!;

        Assert.Equal((TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(3)), (file.EvaluationInterval, file.Tests[0].Interval, file.Tests[0].Span));
    }

    [Theory]
    [InlineData("", "t.yaml:1:1: an empty file: a rule test file holds rule_files and tests")]
    [InlineData("- a\n", "t.yaml:1:1: a rule test file must be a mapping of rule_files, evaluation_interval and tests")]
    [InlineData("tests: []\nrule_files: []\n---\ntests: []\n", "t.yaml:4:1: one document per rule test file")]
    [InlineData("rule_files: [p.yaml]\ntests: []\n", "t.yaml:2:8: tests: no tests")]
    [InlineData("rule_files: []\ntests:\n  - name: t\n", "t.yaml:1:13: rule_files: no rule files: name the policies' files, relative to this file")]
    [InlineData("tests:\n  - name: t\n", "t.yaml:1:1: rule_files: missing required field 'rule_files'")]
    [InlineData("rule_files: [p.yaml]\nevaluation_interval: 500ms\ntests:\n  - name: t\n", "t.yaml:2:22: evaluation_interval: must be at least 1s, got 500ms")]
    [InlineData("rule_files: [p.yaml]\ntests:\n  - 7\n", "t.yaml:3:5: tests[0]: must be a mapping, got '7'")]
    [InlineData("rule_files: [p.yaml]\ntests:\n  - name: t\n    input_series:\n      - {series: up, values: '1'}\n      - {series: 'up', values: '2'}\n",
        "t.yaml:6:18: tests[0].input_series[1].series: the series up is given twice (merge the values into one entry)")]
    [InlineData("rule_files: [p.yaml]\ntests:\n  - name: t\n    input_series:\n      - {series: up, values: '1'}\n      - {series: 'up{a=\"\"}', values: '2'}\n",
        "t.yaml:6:18: tests[0].input_series[1].series: the series up{a=\"\"} is up, given twice: a label with an empty value is no label to Prometheus (merge the values into one entry)")]
    [InlineData("rule_files: [p.yaml]\ntests:\n  - name: t\n    input_series:\n      - series: up\n        values: |\n          1 2 x\n",
        "t.yaml:6:17: tests[0].input_series[0].values: 'x' is not a value: expected a number, a+bxn, a-bxn, axn, _, _xn or stale (the count after x must be a whole number)")]
    [InlineData("rule_files: [p.yaml]\ntests:\n  - name: t\n    input_series: [{series: up, values: '1x4'}]\n    expect:\n      - {policy: p, trigger: t, action: page, at: 30s}\n",
        "t.yaml:6:51: tests[0].expect[0].at: 30s is not an evaluation: they are every 1m (evaluation_interval), e.g. 0s or 1m")]
    [InlineData("rule_files: [p.yaml]\ntests:\n  - name: t\n    gates:\n      - {policy: p, at: 0s}\n",
        "t.yaml:5:9: tests[0].gates[0].open: missing required field 'open' (true or false)")]
    public void Parse_Malformed_ReportsTheErrorWhereItIs(string text, string error) =>
        Assert.Equal([error], Errors(text));

    [Fact]
    public void Parse_BadValues_ReportsEveryErrorNotTheFirst()
    {
        var errors = Errors("rule_files: [p.yaml]\ntests:\n  - name: t\n    input_series:\n      - {series: 'up{a=1}', values: '1 y'}\n    expect:\n      - {policy: p, action: maybe}\n");

        Assert.Equal(
            [
                "t.yaml:5:24: tests[0].input_series[0].series: 'up{a=1}' is not a series: expected the quoted value of 'a'",
                "t.yaml:5:40: tests[0].input_series[0].values: 'y' is not a value: expected a number, a+bxn, a-bxn, axn, _, _xn or stale",
                "t.yaml:7:9: tests[0].expect[0].trigger: missing required field 'trigger'",
                "t.yaml:7:29: tests[0].expect[0].action: must be one of rollback, page, notify, would rollback, would page, would notify, suppressed, inconclusive run, resolved, none, got 'maybe'",
            ],
            errors);
    }

    [Fact]
    public void PolicyParser_RuleTestFile_IsSkippedWithoutDiagnostics()
    {
        var result = PolicyParser.Parse("rules/tests/t.yaml", Complete);

        Assert.True(result.IsRuleTest);
        Assert.Empty(result.Policies);
        Assert.Empty(result.Diagnostics);
    }

    [Theory]
    [InlineData("apiversion: rollback-sentinel/v1\nmetdata:\n  name: x\nspecs: {}\ntests: []\n")]
    [InlineData("tests: []\n")]
    [InlineData("rule_files: [p.yaml]\n")]
    [InlineData("rule_files: [p.yaml]\ntests: []\nmetdata: {name: x}\n")]
    public void PolicyParser_NotExactlyARuleTestFile_IsParsedAsAPolicyAndHasErrors(string text)
    {
        var result = PolicyParser.Parse("p.yaml", text);

        Assert.False(result.IsRuleTest);
        Assert.Contains(result.Diagnostics, d => d.Severity == DiagnosticSeverity.Error);
    }

    [Fact]
    public void PolicyParser_RuleTestFileWithOnlyItsOwnKeys_IsSkipped() =>
        Assert.True(PolicyParser.Parse("t.yaml", "rule_files: [p.yaml]\nevaluation_interval: 15s\ntests: []\n").IsRuleTest);

    [Fact]
    public void PolicyParser_PolicyWithATestsField_IsStillAPolicy()
    {
        var result = PolicyParser.Parse("p.yaml", "apiVersion: rollback-sentinel/v1\nkind: RollbackPolicy\ntests: []\n");

        Assert.False(result.IsRuleTest);
        Assert.NotEmpty(result.Diagnostics);
    }
}
