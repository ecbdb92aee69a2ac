using RollbackSentinel.Core.Policies;
using RollbackSentinel.Rules.Tests.Support;
using static RollbackSentinel.Rules.Tests.Support.PolicyYaml;

namespace RollbackSentinel.Rules.Tests;

/// <summary><c>spec.watch</c> and <c>spec.gate</c>: what the parser reads, and every bad value located as file:line:column.</summary>
public sealed class WatchAndGateParserTests
{
    private const string Webhook = "webhook:\n  url: https://deploy.example.com/rollback";
    private const string HAProxy = "haproxy:\n  runtimeApi: tcp://127.0.0.1:9999\n  backend: web\n  weights:\n    blue: 100";

    private static string[] Diagnostics(string text) => [.. PolicyParser.Parse("p.yaml", text).Diagnostics.Select(d => d.ToString())];

    private static Policy ParseOne(string text)
    {
        var result = PolicyParser.Parse("p.yaml", text);
        Assert.Empty(result.Diagnostics.Select(d => d.ToString()));
        return Assert.Single(result.Policies);
    }

    [Fact]
    public void Parse_NoWatchOrGate_TakesTheDefaults()
    {
        var policy = ParseOne(Document());

        Assert.Equal(TimeSpan.FromHours(1), policy.Watch.For);
        Assert.Equal(OutsideAction.Page, policy.Watch.Outside);
        Assert.Null(policy.Watch.Detect.Target);
        Assert.True(policy.Watch.Detect.ReadsTarget(policy.Target));
        Assert.Equal(TimeSpan.FromSeconds(30), policy.Watch.Detect.Interval);
        Assert.Null(policy.Watch.Detect.Query);
        Assert.Equal(3, policy.Gate.MinPasses);
    }

    [Fact]
    public void Parse_EveryWatchAndGateField_IsRead()
    {
        var policy = ParseOne(Document(spec: """
            watch:
              for: 2h30m
              outside: notify
              detect:
                target: false
                interval: 1m
                query: count by (deployment, version) (app_build_info{namespace="shop"})
            gate:
              minPasses: 5
            """));

        Assert.Equal(TimeSpan.FromMinutes(150), policy.Watch.For);
        Assert.Equal(OutsideAction.Notify, policy.Watch.Outside);
        Assert.False(policy.Watch.Detect.Target);
        Assert.False(policy.Watch.Detect.ReadsTarget(policy.Target));
        Assert.Equal(TimeSpan.FromMinutes(1), policy.Watch.Detect.Interval);
        Assert.Equal("count by (deployment, version) (app_build_info{namespace=\"shop\"})", policy.Watch.Detect.Query);
        Assert.Equal(new SourceLocation("p.yaml", 10, 5), policy.Watch.Source);
        Assert.Equal(5, policy.Gate.MinPasses);
        Assert.Equal(new SourceLocation("p.yaml", 17, 5), policy.Gate.Source);
    }

    [Theory]
    [InlineData("rollback", OutsideAction.Rollback)]
    [InlineData("page", OutsideAction.Page)]
    [InlineData("notify", OutsideAction.Notify)]
    public void Parse_EachOutsideWord_IsRead(string word, OutsideAction expected) =>
        Assert.Equal(expected, ParseOne(Document(spec: $"watch:\n  outside: {word}")).Watch.Outside);

    [Fact]
    public void Parse_DetectQuery_IsCheckedByPrometheusInValidateLikeEveryQuery()
    {
        var result = PolicyParser.Parse("p.yaml", Document(spec: "watch:\n  detect:\n    query: max by (deployment) (kube_deployment_status_observed_generation)"));

        var q = Assert.Single(result.Queries, q => q.Field == "spec.watch.detect.query");
        Assert.Equal(("p.yaml", 11, 14, "max by (deployment) (kube_deployment_status_observed_generation)"), (q.File, q.Line, q.Column, q.Query));
    }

    /// <summary>Each bad value, alone in an otherwise valid document (helm target), with the exact diagnostic.</summary>
    public static TheoryData<string, string> BadValues => new()
    {
        { "watch:\n  for: 1x", "p.yaml:10:10: spec.watch.for: '1x' is not a duration: unknown unit 'x' (use ms, s, m, h, d, w, y)" },
        { "watch:\n  for: 0s", "p.yaml:10:10: spec.watch.for: must be at least 1s, got 0s" },
        { "watch:\n  for: 32d", "p.yaml:10:10: spec.watch.for: must be at most 31d, got 32d" },
        { "watch:\n  for: [1h]", "p.yaml:10:10: spec.watch.for: must be a duration such as 30s, 2m or 1h30m, got a list" },
        { "watch:\n  outside: pager", "p.yaml:10:14: spec.watch.outside: must be one of page, notify, rollback, got 'pager'" },
        { "watch:\n  outside: Rollback", "p.yaml:10:14: spec.watch.outside: must be one of page, notify, rollback, got 'Rollback'" },
        { "watch: 1h", "p.yaml:9:10: spec.watch: must be a mapping, got '1h'" },
        { "watch:\n  detect:\n    interval: 2h", "p.yaml:11:17: spec.watch.detect.interval: must be at most 1h, got 2h" },
        { "watch:\n  detect:\n    interval: 500ms", "p.yaml:11:17: spec.watch.detect.interval: must be at least 1s, got 500ms" },
        { "watch:\n  detect:\n    interval: soon", "p.yaml:11:17: spec.watch.detect.interval: 'soon' is not a duration: expected a number at position 1 (use e.g. 30s, 2m, 1h30m)" },
        { "watch:\n  detect:\n    target: yes", "p.yaml:11:15: spec.watch.detect.target: must be true or false, got 'yes'" },
        { "watch:\n  detect:\n    query: sum(rate(x[1m])", "p.yaml:11:14: spec.watch.detect.query: invalid PromQL: '(' at position 4 is not closed" },
        { "watch:\n  detect:\n    query: \"\"", "p.yaml:11:14: spec.watch.detect.query: must not be empty" },
        { "gate:\n  minPasses: 0", "p.yaml:10:16: spec.gate.minPasses: must be between 1 and 1000, got 0" },
        { "gate:\n  minPasses: 1001", "p.yaml:10:16: spec.gate.minPasses: must be between 1 and 1000, got 1001" },
        { "gate:\n  minPasses: \"3\"", "p.yaml:10:16: spec.gate.minPasses: must be a whole number, got the quoted string \"3\" (remove the quotes)" },
        { "gate:\n  minPasses: 2.5", "p.yaml:10:16: spec.gate.minPasses: must be a whole number, got '2.5'" },
        { "watch:\n  fro: 1h", "p.yaml:10:5: spec.watch.fro: unknown field 'fro' (did you mean 'for'?)" },
        { "watch:\n  outsde: page", "p.yaml:10:5: spec.watch.outsde: unknown field 'outsde' (did you mean 'outside'?)" },
        { "watch:\n  detect:\n    qurey: up", "p.yaml:11:7: spec.watch.detect.qurey: unknown field 'qurey' (did you mean 'query'?)" },
        { "watch:\n  window: 1h", "p.yaml:10:5: spec.watch.window: unknown field 'window'; allowed here: detect, for, outside" },
        { "gate:\n  minPass: 3", "p.yaml:10:5: spec.gate.minPass: unknown field 'minPass' (did you mean 'minPasses'?)" },
        { "gates:\n  minPasses: 3", "p.yaml:9:3: spec.gates: unknown field 'gates' (did you mean 'gate'?)" },
        { "wacth:\n  for: 1h", "p.yaml:9:3: spec.wacth: unknown field 'wacth' (did you mean 'watch'?)" },
    };

    [Theory]
    [MemberData(nameof(BadValues))]
    public void Parse_BadWatchOrGateValue_IsOneLocatedErrorAndNoPolicy(string spec, string expected)
    {
        var result = PolicyParser.Parse("p.yaml", Document(spec: spec));

        Assert.Equal([expected], result.Diagnostics.Select(d => d.ToString()));
        Assert.Equal(DiagnosticSeverity.Error, result.Diagnostics[0].Severity);
        Assert.Empty(result.Policies);
    }

    [Fact]
    public void Parse_SeveralBadValues_ReportsEveryOneOfThem()
    {
        var text = Document(spec: "watch:\n  for: 1x\n  outside: never\n  detect:\n    interval: 0s\n    query: rate(x[1m]\n    targte: true\ngate:\n  minPasses: -1");

        Assert.Equal(
            [
                "p.yaml:10:10: spec.watch.for: '1x' is not a duration: unknown unit 'x' (use ms, s, m, h, d, w, y)",
                "p.yaml:11:14: spec.watch.outside: must be one of page, notify, rollback, got 'never'",
                "p.yaml:13:17: spec.watch.detect.interval: must be at least 1s, got 0s",
                "p.yaml:14:14: spec.watch.detect.query: invalid PromQL: '(' at position 5 is not closed",
                "p.yaml:15:7: spec.watch.detect.targte: unknown field 'targte' (did you mean 'target'?)",
                "p.yaml:17:16: spec.gate.minPasses: must be between 1 and 1000, got -1",
            ],
            Diagnostics(text).Order(StringComparer.Ordinal));
    }

    [Theory]
    [InlineData(Webhook, "webhook")]
    [InlineData(HAProxy, "haproxy")]
    public void Parse_DetectTargetTrueOnATargetWithoutRevisions_IsAnError(string target, string kind)
    {
        var text = Document(target: target, spec: "watch:\n  detect:\n    target: true");
        var line = 10 + target.Count(c => c == '\n');

        Assert.Equal(
            [$"p.yaml:{line}:15: spec.watch.detect.target: a {kind} target has no revisions to read (only kubectl and helm targets have): record changes with `rollback-sentinel mark` or POST /api/v1/changes, or find them with watch.detect.query"],
            Diagnostics(text));
    }

    [Theory]
    [InlineData("helm:\n  release: checkout")]
    [InlineData("kubectl:\n  name: checkout")]
    public void Parse_DetectTargetOnKubectlOrHelm_IsAccepted(string target)
    {
        var on = ParseOne(Document(target: target, spec: "watch:\n  detect:\n    target: true"));
        var off = ParseOne(Document(target: target, spec: "watch:\n  detect:\n    target: false"));

        Assert.True(on.Watch.Detect.ReadsTarget(on.Target));
        Assert.False(off.Watch.Detect.ReadsTarget(off.Target));
    }

    [Fact]
    public void Parse_DetectTargetFalseOnAWebhook_IsAccepted() =>
        Assert.False(ParseOne(Document(target: Webhook, spec: "watch:\n  detect:\n    target: false")).Watch.Detect.ReadsTarget(new WebhookTarget(Template.Parse("https://x.example/"))));

    [Theory]
    [InlineData(Webhook, "webhook", "watch:\n  for: 2h")]
    [InlineData(HAProxy, "haproxy", "watch:\n  outside: page\n  detect:\n    interval: 1m")]
    [InlineData(Webhook, "webhook", "watch: {}")]
    public void Parse_WatchBlockThatNothingCanArm_WarnsAtTheBlockButKeepsThePolicy(string target, string kind, string spec)
    {
        var text = Document(target: target, spec: spec, triggers: AvailabilityTrigger.Replace("action: rollback", "action: page", StringComparison.Ordinal) + "\n" +
            AvailabilityTrigger.Replace("name: availability", "name: second", StringComparison.Ordinal));
        var line = 8 + target.Count(c => c == '\n');

        var result = PolicyParser.Parse("p.yaml", text);

        var d = Assert.Single(result.Diagnostics);
        Assert.Equal(DiagnosticSeverity.Warning, d.Severity);
        Assert.Equal(
            $"p.yaml:{line}:3: warning: spec.watch: nothing detects changes for this policy (a {kind} target has no revisions to read, and there is no detect.query): "
            + "its rollback triggers stay disarmed and page until a change is marked with `rollback-sentinel mark` or POST /api/v1/changes; "
            + "set detect.query to find changes in metrics, or detect.target: false to say that your pipeline marks every deploy",
            d.ToString());
        Assert.Single(result.Policies);
    }

    [Theory]
    [InlineData(Webhook, "")]
    [InlineData(Webhook, "watch:\n  for: 1h\n  detect:\n    target: false")]
    [InlineData(Webhook, "watch:\n  outside: rollback")]
    [InlineData(Webhook, "watch:\n  detect:\n    query: count by (version) (app_build_info)")]
    [InlineData(HAProxy, "")]
    [InlineData("kubectl:\n  name: checkout", "watch:\n  for: 1h")]
    [InlineData("helm:\n  release: checkout", "watch:\n  for: 1h")]
    public void Parse_PolicyWhoseChangesHaveASourceOrThatSaysNothingOfWatching_DoesNotWarn(string target, string spec) =>
        Assert.Empty(Diagnostics(Document(target: target, spec: spec)));

    [Fact]
    public void Parse_WatchOnAWebhookPolicyWithoutRollbackTriggers_DoesNotWarn() =>
        Assert.Empty(Diagnostics(Document(target: Webhook, spec: "watch:\n  for: 1h", triggers: AvailabilityTrigger.Replace("action: rollback", "action: page", StringComparison.Ordinal))));

    [Fact]
    public async Task Validate_BadWatchBlock_ExitsOneWithEachErrorAsFileLineColumn()
    {
        using var dir = new TempDir();
        var file = dir.Write("p.yaml", Document(target: Webhook, spec: "watch:\n  for: 45x\n  outside: pager\n  detect:\n    target: true\ngate:\n  minPasses: 0"));
        using var output = new StringWriter();
        using var error = new StringWriter();

        var exit = await RollbackSentinel.Cli.CliApp.RunAsync(["validate", file], output, error);

        Assert.Equal(RollbackSentinel.Cli.ExitCodes.InvalidRules, exit);
        Assert.Equal(
            [
                $"{file}:10:10: spec.watch.for: '45x' is not a duration: unknown unit 'x' (use ms, s, m, h, d, w, y)",
                $"{file}:11:14: spec.watch.outside: must be one of page, notify, rollback, got 'pager'",
                $"{file}:13:15: spec.watch.detect.target: a webhook target has no revisions to read (only kubectl and helm targets have): record changes with `rollback-sentinel mark` or POST /api/v1/changes, or find them with watch.detect.query",
                $"{file}:15:16: spec.gate.minPasses: must be between 1 and 1000, got 0",
            ],
            error.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Equal("1 file(s), 0 valid policies with 0 trigger(s): 4 error(s), 0 warning(s)", output.ToString().Trim());
    }

    [Fact]
    public async Task Validate_GoodWatchAndGateBlocks_ExitsZeroWithoutAWord()
    {
        using var dir = new TempDir();
        var file = dir.Write("p.yaml", Document(target: Webhook, spec: "watch:\n  for: 30m\n  outside: page\n  detect:\n    target: false\n    query: count by (version) (app_build_info)\ngate:\n  minPasses: 2"));
        using var output = new StringWriter();
        using var error = new StringWriter();

        var exit = await RollbackSentinel.Cli.CliApp.RunAsync(["validate", file], output, error);

        Assert.Equal(RollbackSentinel.Cli.ExitCodes.Ok, exit);
        Assert.Empty(error.ToString());
        Assert.Equal("1 file(s), 1 valid policy with 1 trigger(s): 0 error(s), 0 warning(s)", output.ToString().Trim());
    }
}
