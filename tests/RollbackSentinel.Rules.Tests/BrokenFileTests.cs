using RollbackSentinel.Core.Policies;
using RollbackSentinel.Rules.Tests.Support;

namespace RollbackSentinel.Rules.Tests;

/// <summary>
/// One file under Broken/ per kind of problem. Each test asserts the complete list of diagnostics of its file,
/// exactly as <c>validate</c> prints them, so a missing, extra, moved or reworded message fails.
/// </summary>
public sealed class BrokenFileTests
{
    /// <summary>Parses Broken/<paramref name="name"/> and asserts its diagnostics are exactly <paramref name="expected"/>
    /// (each given without the leading "path:"), in line and column order.</summary>
    private static FileParseResult AssertDiagnostics(string name, params string[] expected)
    {
        var path = TestPaths.Broken(name);
        var result = PolicyParser.Parse(path, File.ReadAllText(path));

        Assert.Equal(
            expected.Select(e => $"{path}:{e}"),
            result.Diagnostics.OrderBy(d => d.Line).ThenBy(d => d.Column).Select(d => d.ToString()));
        return result;
    }

    [Fact]
    public void Parse_UnknownFields_AreEachReportedWithASuggestionOrTheAllowedFields()
    {
        var result = AssertDiagnostics(
            "unknown-field.yaml",
            "9:7: spec.target.kubectl.namepsace: unknown field 'namepsace' (did you mean 'namespace'?)",
            "10:3: spec.schedul: unknown field 'schedul' (did you mean 'schedule'?)",
            "18:7: spec.triggers[0].severity: unknown field 'severity'; allowed here: action, availability, burnRate, errorRate, for, inconclusiveLimit, latency, name, noData, threshold");

        Assert.Empty(result.Policies);
    }

    [Fact]
    public void Parse_MissingRequiredFields_PointAtTheMappingThatLacksThem()
    {
        AssertDiagnostics(
            "missing-field.yaml",
            "3:1: metadata.name: missing required field 'name'",
            "8:5: spec.target.helm.release: missing required field 'release'",
            "11:7: spec.triggers[0].action: missing required field 'action' (one of rollback, page, notify)",
            "12:7: spec.triggers[0].errorRate.minTotal: missing required field 'minTotal' (the total below which the ratio means nothing and the verdict is inconclusive, e.g. 0.5)",
            "16:7: spec.triggers[1].action: missing required field 'action' (one of rollback, page, notify)",
            "17:7: spec.triggers[1].threshold.value: missing required field 'value'");
    }

    [Fact]
    public void Parse_WrongTypes_SayWhatWasExpectedAndWhatWasFound()
    {
        AssertDiagnostics(
            "wrong-type.yaml",
            "5:11: metadata.labels: must be a mapping, got 'payments'",
            "10:19: spec.target.kubectl.toRevision: must be a whole number, got 'two'",
            "11:11: spec.dryRun: must be true or false, got 'yes'",
            "12:13: spec.schedule: must be a mapping, got '15s'",
            "18:11: spec.triggers[0].errorRate.total: must be a string, got a list",
            "19:14: spec.triggers[0].errorRate.max: must be a number, got the quoted string \"0.05\" (remove the quotes)",
            "22:26: spec.triggers[0].inconclusiveLimit: must be a whole number, got '2.5'",
            "23:7: spec.triggers[1]: a trigger must be a mapping, got 'just a string'");
    }

    [Fact]
    public void Parse_DurationsThatDoNotParse_AreEachReportedWithTheReason()
    {
        AssertDiagnostics(
            "bad-duration.yaml",
            "10:13: spec.cooldown: '1m1h' is not a duration: units must go from largest to smallest, each once (e.g. 1h30m)",
            "12:15: spec.schedule.interval: '15x' is not a duration: unknown unit 'x' (use ms, s, m, h, d, w, y)",
            "20:12: spec.triggers[0].for: '2 minutes' is not a duration: the number 2 has no unit (ms, s, m, h, d, w, y)",
            "26:19: spec.triggers[1].latency.baseline.offset: '1D' is not a duration: units are lower-case (d, not D)");
    }

    [Fact]
    public void Parse_ValuesOutOfRange_AreEachReportedWithTheLimit()
    {
        AssertDiagnostics(
            "out-of-range.yaml",
            "9:16: spec.target.webhook.timeout: must be at least 100ms, got 10ms",
            "11:15: spec.schedule.interval: must be at least 1s, got 500ms",
            "17:14: spec.triggers[0].errorRate.max: must be at most 1, got 5",
            "18:19: spec.triggers[0].errorRate.minTotal: must be at least 0, got -1",
            "20:26: spec.triggers[0].inconclusiveLimit: must be between 1 and 10000, got 0",
            "25:19: spec.triggers[1].latency.baseline.offset: must be at least 1s, got 0",
            "26:19: spec.triggers[1].latency.maxRatio: must be greater than 0, got 0",
            "27:22: spec.triggers[1].latency.maxIncrease: must be a finite number that is not negative, got -0.05");
    }

    [Fact]
    public void Parse_InvalidNamesAndUrl_AreReported()
    {
        AssertDiagnostics(
            "bad-names.yaml",
            "4:9: metadata.name: 'Checkout_API' is not a valid name: use lower-case letters, digits, '-' and '.', starting and ending with a letter or digit, at most 63 characters",
            "8:12: spec.target.webhook.url: 'ftp://hooks.example.com/rollback' is not an absolute http:// or https:// URL",
            "10:13: spec.triggers[0].name: 'p95 latency' is not a valid trigger name: use letters, digits, '-' and '_'");
    }

    [Fact]
    public void Parse_TwoBaselineKinds_IsReportedAtTheSecond()
    {
        AssertDiagnostics(
            "two-baselines.yaml",
            "15:11: spec.triggers[0].latency.baseline.beforeDeploy: only one of query, offset, beforeDeploy may be set, found offset and beforeDeploy");
    }

    [Fact]
    public void Parse_TwoTargets_IsReportedAtTheSecond()
    {
        AssertDiagnostics(
            "two-targets.yaml",
            "9:5: spec.target.helm: only one of webhook, kubectl, helm, haproxy may be set, found kubectl and helm");
    }

    [Fact]
    public void Parse_TriggerWithoutAKind_ListsTheKinds()
    {
        AssertDiagnostics(
            "no-trigger-kind.yaml",
            "10:7: spec.triggers[0]: needs exactly one of errorRate, burnRate, latency, availability, threshold");
    }

    [Fact]
    public void Parse_TriggersWithoutAThreshold_AreReported()
    {
        AssertDiagnostics(
            "trigger-without-threshold.yaml",
            "11:7: spec.triggers[0].latency: a latency trigger needs a threshold: maxRatio, maxIncrease or both",
            "17:7: spec.triggers[1].errorRate.max: missing required field 'max' (the error ratio above which it breaches, e.g. 0.05)");
    }

    [Fact]
    public void Parse_UnknownComparisonOperators_ListTheValidOnes()
    {
        AssertDiagnostics(
            "bad-op.yaml",
            "13:13: spec.triggers[0].threshold.op: must be one of >, >=, <, <=, got '=='",
            "19:13: spec.triggers[1].threshold.op: must be one of >, >=, <, <=, got 'gt'");
    }

    [Fact]
    public void Parse_UnixCronExpression_IsRejectedWithAdviceAPolicyAuthorCanFollow()
    {
        AssertDiagnostics(
            "bad-cron.yaml",
            "10:11: spec.schedule.cron: '*/15 * * * *' is not a valid Quartz cron expression (seconds first, e.g. \"0/15 * * * * ?\"): " +
            "Cron expression '*/15 * * * *' has 5 fields, which is the Unix/crontab form; Quartz cron has 6 or 7 fields with seconds first. " +
            "Prepend a seconds field: \"0 */15 * * * *\". Note that Quartz numbers days of week 1-7 starting at Sunday where Unix cron uses 0-6, " +
            "so respell numeric day-of-week values or use names (SUN, MON, ...).");
    }

    [Fact]
    public void Parse_InvalidYamlSyntax_IsOneLocatedError()
    {
        var result = AssertDiagnostics(
            "invalid-yaml.yaml",
            "9:4: YAML syntax error: While parsing a block mapping, did not find expected key.");

        Assert.Empty(result.Policies);
    }

    [Fact]
    public void Parse_WrongApiVersionAndKind_AreBothReported()
    {
        AssertDiagnostics(
            "wrong-api-version-and-kind.yaml",
            "1:13: apiVersion: must be 'rollback-sentinel/v1', got 'rollback-sentinel/v2'",
            "2:7: kind: must be 'RollbackPolicy', got 'AlertRule'");
    }

    [Fact]
    public void Parse_DuplicateTriggerNames_PointAtTheSecondAndNameTheFirstLine()
    {
        AssertDiagnostics(
            "duplicate-trigger-names.yaml",
            "15:13: spec.triggers[1].name: trigger name 'availability' is used twice in this policy (first at line 10)");
    }

    // Bug: YamlDotNet's YamlStream rejects duplicate keys with a YamlException, so the parser reports a bare
    // "YAML syntax error: Duplicate key cooldown" with no field, and MapReader's own duplicate check never runs.
    [Fact]
    public void Parse_DuplicateKeys_AreReportedWithTheirFieldAtTheSecondKey()
    {
        AssertDiagnostics(
            "duplicate-keys.yaml",
            "10:3: spec.cooldown: 'cooldown' is set twice in the same mapping");
    }

    [Fact]
    public void Parse_MalformedTemplates_AreReportedWithThePosition()
    {
        AssertDiagnostics(
            "bad-template.yaml",
            "8:13: spec.target.kubectl.name: '{{ deployment }}' is not a label reference: write '{{ labels.NAME }}'",
            "9:18: spec.target.kubectl.namespace: '{{' at position 1 is not closed with '}}'");
    }

    [Fact]
    public void Parse_HAProxyHttpAddressAndWeightOutOfRange_AreBothReported()
    {
        AssertDiagnostics(
            "haproxy-bad-runtime-api.yaml",
            "8:19: spec.target.haproxy.runtimeApi: 'http://127.0.0.1:9999' is not a runtime API address: use unix:///path/to/socket or tcp://host:port",
            "12:16: spec.target.haproxy.weights.green: must be between 0 and 256, got 300");
    }

    [Fact]
    public void Parse_UnbalancedOrEmptyPromQl_IsReportedForEveryQuery()
    {
        var result = AssertDiagnostics(
            "unbalanced-promql.yaml",
            "12:17: spec.triggers[0].errorRate.errors: invalid PromQL: '(' at position 4 is not closed",
            "13:16: spec.triggers[0].errorRate.total: invalid PromQL: string starting at position 34 is not closed",
            "19:16: spec.triggers[1].latency.query: invalid PromQL: '[' at position 59 is closed by ')' at position 62",
            "21:18: spec.triggers[1].latency.baseline.query: must not be empty");

        Assert.Empty(result.Queries);
    }

    [Fact]
    public void Parse_NonPolicyDocuments_AreEachReported()
    {
        AssertDiagnostics(
            "not-a-policy.yaml",
            "1:1: a policy document must be a mapping, got a list",
            "12:13: spec.triggers: must list at least one trigger",
            "14:1: spec: missing required field 'spec'");
    }

    [Fact]
    public void Parse_OneValidAndOneBrokenDocument_LoadsTheValidPolicyAndReportsTheBrokenOne()
    {
        var result = AssertDiagnostics(
            "mixed-valid-and-broken.yaml",
            "29:14: spec.triggers[0].availability.min: must be a number, got '1.5x'",
            "30:15: spec.triggers[0].action: must be one of rollback, page, notify, got 'restart'");

        var policy = Assert.Single(result.Policies);
        Assert.Equal("mixed-valid", policy.Name);
        Assert.Equal(new AvailabilityCondition("avg(up{job=\"search\"})", 0.95), Assert.Single(policy.Triggers).Condition);
    }

    [Fact]
    public void Load_SamePolicyNameInTwoFiles_KeepsTheFirstInPathOrderAndReportsTheSecond()
    {
        var folder = TestPaths.Broken("duplicate-policy-name");
        var first = Path.Combine(folder, "first.yaml");
        var second = Path.Combine(folder, "second.yaml");

        var rules = RuleSetLoader.Load([folder]);

        Assert.Equal(
            [$"{second}:5:9: metadata.name: policy name 'checkout' is already used at {first}:4:9; names must be unique across the rules folder"],
            rules.Diagnostics.Select(d => d.ToString()));
        var kept = Assert.Single(rules.Policies);
        Assert.IsType<HelmTarget>(kept.Target);
        Assert.Equal(first, kept.Source!.File);
    }

    [Fact]
    public void BrokenFolder_EveryFileHasAnError()
    {
        var rules = RuleSetLoader.Load([TestPaths.BrokenDir]);

        var withErrors = rules.Errors.Select(d => Path.GetFileName(d.File)).ToHashSet();
        Assert.Equal(
            Directory.GetFiles(TestPaths.BrokenDir, "*.yaml", SearchOption.AllDirectories).Select(Path.GetFileName).Where(f => f != "first.yaml").Order(StringComparer.Ordinal),
            withErrors.Order(StringComparer.Ordinal));
    }
}
