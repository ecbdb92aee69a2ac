using RollbackSentinel.Core.Policies;
using RollbackSentinel.Rules.Tests.Support;
using static RollbackSentinel.Rules.Tests.Support.PolicyYaml;

namespace RollbackSentinel.Rules.Tests;

/// <summary>Valid documents: what the parser builds from them.</summary>
public sealed class PolicyParserTests
{
    private static FileParseResult ParseFile(string text, string file = "policy.yaml") => PolicyParser.Parse(file, text);

    /// <summary>Parses a document that must be valid and returns its single policy.</summary>
    private static Policy ParseOne(string text)
    {
        var result = ParseFile(text);
        Assert.Empty(result.Diagnostics.Select(d => d.ToString()));
        return Assert.Single(result.Policies);
    }

    private static Trigger OnlyTrigger(string kindBlock, string extra = "action: rollback") =>
        Assert.Single(ParseOne(WithTrigger(kindBlock, extra)).Triggers);

    [Fact]
    public void Parse_MinimalPolicy_AppliesEveryDefault()
    {
        var policy = ParseOne(Document());

        Assert.Equal("checkout", policy.Name);
        Assert.Equal(new IntervalSchedule(TimeSpan.FromSeconds(30)), policy.Schedule);
        Assert.Equal(TimeSpan.FromMinutes(30), policy.Cooldown);
        Assert.False(policy.DryRun);
        Assert.Empty(policy.Labels);
        var trigger = Assert.Single(policy.Triggers);
        Assert.Equal(TimeSpan.Zero, trigger.For);
        Assert.Equal(NoDataPolicy.Inconclusive, trigger.NoData);
        Assert.Equal(4, trigger.InconclusiveLimit);
    }

    [Fact]
    public void Parse_Policy_RecordsWhereThePolicyAndEachTriggerStart()
    {
        var policy = ParseOne(Document(triggers: AvailabilityTrigger + "\n" + AvailabilityTrigger.Replace("name: availability", "name: second", StringComparison.Ordinal)));

        // A policy is located at its name's value (line 4, column 9); each trigger at its first key after "- ".
        Assert.Equal(new SourceLocation("policy.yaml", 4, 9), policy.Source);
        Assert.Equal([new SourceLocation("policy.yaml", 10, 7), new SourceLocation("policy.yaml", 15, 7)], policy.Triggers.Select(t => t.Source));
    }

    [Fact]
    public void Parse_EveryOptionalSpecField_IsRead()
    {
        var policy = ParseOne(Document(
            metadata: "labels:\n  team: payments\n  tier: \"1\"",
            spec: "schedule:\n  interval: 1h30m\ncooldown: 2h\ndryRun: true"));

        Assert.Equal(new IntervalSchedule(TimeSpan.FromMinutes(90)), policy.Schedule);
        Assert.Equal(TimeSpan.FromHours(2), policy.Cooldown);
        Assert.True(policy.DryRun);
        Assert.Equal(new Dictionary<string, string> { ["team"] = "payments", ["tier"] = "1" }, policy.Labels);
    }

    [Theory]
    [InlineData("true", true)]
    [InlineData("True", true)]
    [InlineData("TRUE", true)]
    [InlineData("false", false)]
    [InlineData("False", false)]
    public void Parse_DryRunSpellings_AreYamlBooleans(string text, bool expected) =>
        Assert.Equal(expected, ParseOne(Document(spec: "dryRun: " + text)).DryRun);

    [Theory]
    [InlineData("0/15 * * * * ?")]
    [InlineData("0 0/5 * * * ?")]
    [InlineData("0 0 12 ? * MON-FRI")]
    [InlineData("0 15 10 * * ? 2030")]
    public void Parse_QuartzCronSchedule_KeepsTheExpression(string cron) =>
        Assert.Equal(new CronSchedule(cron), ParseOne(Document(spec: $"schedule:\n  cron: \"{cron}\"")).Schedule);

    [Fact]
    public void Parse_CooldownZero_DisablesTheCooldown() =>
        Assert.Equal(TimeSpan.Zero, ParseOne(Document(spec: "cooldown: 0")).Cooldown);

    [Fact]
    public void Parse_ErrorRateTrigger_BuildsTheCondition()
    {
        var trigger = OnlyTrigger("""
            errorRate:
              errors: sum(rate(http_requests_total{code=~"5.."}[1m]))
              total: sum(rate(http_requests_total[1m]))
              max: 0.05
              minTotal: 0.5
            """);

        Assert.Equal(new ErrorRateCondition("sum(rate(http_requests_total{code=~\"5..\"}[1m]))", "sum(rate(http_requests_total[1m]))", 0.05, 0.5), trigger.Condition);
        Assert.Equal("errorRate", trigger.Condition.Kind);
    }

    [Theory]
    [InlineData("0", 0.0)]
    [InlineData("1", 1.0)]
    [InlineData(".5", 0.5)]
    [InlineData("5e-2", 0.05)]
    public void Parse_ErrorRateMax_AcceptsEveryRatioFromZeroToOne(string text, double expected) =>
        Assert.Equal(expected, ((ErrorRateCondition)OnlyTrigger($"errorRate:\n  errors: e\n  total: t\n  max: {text}\n  minTotal: 0").Condition).Max);

    [Fact]
    public void Parse_LatencyAgainstAQueryBaseline_UsesBothThresholds()
    {
        var trigger = OnlyTrigger("""
            latency:
              query: p95{track="canary"}
              baseline:
                query: p95{track="stable"}
              maxRatio: 1.5
              maxIncrease: 50ms
            """);

        Assert.Equal(new LatencyCondition("p95{track=\"canary\"}", new QueryBaseline("p95{track=\"stable\"}"), 1.5, 0.05), trigger.Condition);
    }

    [Fact]
    public void Parse_LatencyAgainstAnOffset_UsesTheTriggerQueryEarlier()
    {
        var trigger = OnlyTrigger("latency:\n  query: p99\n  baseline:\n    offset: 1d\n  maxRatio: 2");

        Assert.Equal(new LatencyCondition("p99", new OffsetBaseline(TimeSpan.FromDays(1)), 2, null), trigger.Condition);
    }

    [Fact]
    public void Parse_LatencyAgainstBeforeDeploy_KeepsTheWindow()
    {
        var trigger = OnlyTrigger("latency:\n  query: p99\n  baseline:\n    beforeDeploy: 10m\n  maxIncrease: 100ms");

        Assert.Equal(new LatencyCondition("p99", new BeforeDeployBaseline(TimeSpan.FromMinutes(10)), null, 0.1), trigger.Condition);
    }

    [Theory]
    [InlineData("50ms", 0.05)]
    [InlineData("0.05", 0.05)]
    [InlineData("2", 2.0)]
    [InlineData("1s500ms", 1.5)]
    [InlineData("0", 0.0)]
    [InlineData("\"250ms\"", 0.25)]
    public void Parse_LatencyMaxIncrease_IsADurationOrPlainSeconds(string text, double expectedSeconds)
    {
        var condition = (LatencyCondition)OnlyTrigger($"latency:\n  query: p99\n  baseline:\n    offset: 1w\n  maxIncrease: {text}").Condition;

        Assert.Equal(expectedSeconds, condition.MaxIncrease!.Value, precision: 9);
        Assert.Null(condition.MaxRatio);
    }

    [Fact]
    public void Parse_AvailabilityTrigger_BuildsTheCondition() =>
        Assert.Equal(new AvailabilityCondition("avg(up{job=\"checkout\"})", 0.95), ParseOne(Document()).Triggers[0].Condition);

    [Theory]
    [InlineData("\">\"", ComparisonOperator.GreaterThan)]
    [InlineData("\">=\"", ComparisonOperator.GreaterOrEqual)]
    [InlineData("\"<\"", ComparisonOperator.LessThan)]
    [InlineData("'<='", ComparisonOperator.LessOrEqual)]
    public void Parse_ThresholdTrigger_ReadsEveryOperator(string op, ComparisonOperator expected) =>
        Assert.Equal(new ThresholdCondition("max(queue_depth)", expected, -2.5), OnlyTrigger($"threshold:\n  query: max(queue_depth)\n  op: {op}\n  value: -2.5").Condition);

    [Theory]
    [InlineData("rollback", TriggerAction.Rollback)]
    [InlineData("page", TriggerAction.Page)]
    [InlineData("notify", TriggerAction.Notify)]
    public void Parse_Action_ReadsEveryAction(string action, TriggerAction expected) =>
        Assert.Equal(expected, OnlyTrigger("availability:\n  query: up\n  min: 1", "action: " + action).Action);

    [Fact]
    public void Parse_TriggerOptions_AreRead()
    {
        var trigger = OnlyTrigger("availability:\n  query: up\n  min: 1", "for: 2m\naction: page\nnoData: breach\ninconclusiveLimit: 10");

        Assert.Equal(("t", TimeSpan.FromMinutes(2), TriggerAction.Page, NoDataPolicy.Breach, 10), (trigger.Name, trigger.For, trigger.Action, trigger.NoData, trigger.InconclusiveLimit));
    }

    [Fact]
    public void Parse_NoDataInconclusive_IsTheExplicitDefault() =>
        Assert.Equal(NoDataPolicy.Inconclusive, OnlyTrigger("availability:\n  query: up\n  min: 1", "noData: inconclusive\naction: page").NoData);

    [Fact]
    public void Parse_WebhookTarget_ReadsEveryField()
    {
        var target = Assert.IsType<WebhookTarget>(ParseOne(Document(target: """
            webhook:
              url: https://hooks.example.com/abort
              secretFile: /var/run/secrets/webhook
              timeout: 5s
            """)).Target);

        Assert.Equal(("https://hooks.example.com/abort", "/var/run/secrets/webhook", TimeSpan.FromSeconds(5)), (target.Url.Text, target.SecretFile, target.Timeout));
        Assert.Equal("webhook", target.Kind);
    }

    [Fact]
    public void Parse_WebhookUrlWithLabels_IsATemplate()
    {
        var target = Assert.IsType<WebhookTarget>(ParseOne(Document(target: "webhook:\n  url: \"http://runner.{{ labels.namespace }}:8080/abort\"", triggers: GroupedTrigger("namespace"))).Target);

        Assert.Equal(["namespace"], target.Url.LabelNames);
        Assert.Null(target.SecretFile);
        Assert.Null(target.Timeout);
    }

    [Fact]
    public void Parse_KubectlTarget_ReadsEveryField()
    {
        var target = Assert.IsType<KubectlTarget>(ParseOne(Document(target: """
            kubectl:
              kind: StatefulSet
              name: "{{ labels.statefulset }}"
              namespace: "{{ labels.namespace }}"
              context: prod-eu
              kubeconfig: /etc/sentinel/kubeconfig
              toRevision: 7
              timeout: 3m
            """, triggers: GroupedTrigger("statefulset, namespace"))).Target);

        Assert.Equal(WorkloadKind.StatefulSet, target.Workload);
        Assert.Equal(("{{ labels.statefulset }}", "{{ labels.namespace }}"), (target.Name.Text, target.Namespace!.Text));
        Assert.Equal(("prod-eu", "/etc/sentinel/kubeconfig", 7), (target.Context, target.Kubeconfig, target.ToRevision));
        Assert.Equal(TimeSpan.FromMinutes(3), target.Timeout);
    }

    [Theory]
    [InlineData("Deployment", WorkloadKind.Deployment)]
    [InlineData("StatefulSet", WorkloadKind.StatefulSet)]
    [InlineData("DaemonSet", WorkloadKind.DaemonSet)]
    [InlineData("Rollout", WorkloadKind.Rollout)]
    public void Parse_KubectlKind_ReadsEveryWorkloadKind(string kind, WorkloadKind expected) =>
        Assert.Equal(expected, Assert.IsType<KubectlTarget>(ParseOne(Document(target: $"kubectl:\n  kind: {kind}\n  name: checkout")).Target).Workload);

    [Fact]
    public void Parse_KubectlWithoutKind_DefaultsToDeployment()
    {
        var target = Assert.IsType<KubectlTarget>(ParseOne(Document(target: "kubectl:\n  name: checkout")).Target);

        Assert.Equal((WorkloadKind.Deployment, "checkout"), (target.Workload, target.Name.Text));
        Assert.Equal((null, null, null, (int?)null), (target.Namespace, target.Context, target.Kubeconfig, target.ToRevision));
    }

    [Fact]
    public void Parse_HelmTarget_ReadsEveryField()
    {
        var target = Assert.IsType<HelmTarget>(ParseOne(Document(target: "helm:\n  release: search\n  namespace: search-ns\n  kubeContext: prod\n  timeout: 5m")).Target);

        Assert.Equal(("search", "search-ns", "prod", (TimeSpan?)TimeSpan.FromMinutes(5)), (target.Release.Text, target.Namespace!.Text, target.KubeContext, target.Timeout));
    }

    [Theory]
    [InlineData("unix:///run/haproxy/admin.sock")]
    [InlineData("tcp://127.0.0.1:9999")]
    public void Parse_HAProxyTarget_ReadsAddressBackendAndWeights(string runtimeApi)
    {
        var target = Assert.IsType<HAProxyTarget>(ParseOne(Document(target: $"haproxy:\n  runtimeApi: {runtimeApi}\n  backend: storefront\n  weights:\n    blue: 256\n    green: 0")).Target);

        Assert.Equal(new Uri(runtimeApi), target.RuntimeApi);
        Assert.Equal("storefront", target.Backend);
        Assert.Equal(new Dictionary<string, int> { ["blue"] = 256, ["green"] = 0 }, target.Weights);
        Assert.Empty(target.States);
        Assert.Null(target.Timeout);
    }

    [Fact]
    public void Parse_HAProxyStates_ReadsStatesWithOrWithoutWeights()
    {
        var both = Assert.IsType<HAProxyTarget>(ParseOne(Document(target: "haproxy:\n  runtimeApi: tcp://127.0.0.1:1\n  backend: web\n  weights:\n    blue: 100\n  states:\n    green: drain\n  timeout: 2s")).Target);
        var statesOnly = Assert.IsType<HAProxyTarget>(ParseOne(Document(target: "haproxy:\n  runtimeApi: tcp://127.0.0.1:1\n  backend: web\n  states:\n    green: maint\n    blue: ready")).Target);

        Assert.Equal(new Dictionary<string, HAProxyServerState> { ["green"] = HAProxyServerState.Drain }, both.States);
        Assert.Equal(TimeSpan.FromSeconds(2), both.Timeout);
        Assert.Empty(statesOnly.Weights);
        Assert.Equal(new Dictionary<string, HAProxyServerState> { ["green"] = HAProxyServerState.Maint, ["blue"] = HAProxyServerState.Ready }, statesOnly.States);
    }

    [Theory]
    [InlineData("  states:\n    green: off", "11:16: spec.target.haproxy.states.green: must be one of ready, drain, maint, got 'off'")]
    [InlineData("  states: {}", "10:7: spec.target.haproxy.states: must name at least one server")]
    [InlineData("  weights:\n    a: 1\n  timeout: 1ms", "12:16: spec.target.haproxy.timeout: must be at least 100ms, got 1ms")]
    public void Parse_HAProxyBadStates_SaysWhereAndWhy(string block, string expected)
    {
        var result = PolicyParser.Parse("p.yaml", Document(target: "haproxy:\n  runtimeApi: tcp://127.0.0.1:1\n  backend: web\n" + block));

        Assert.Equal(expected, Assert.Single(result.Diagnostics).ToString().Replace("p.yaml:", "", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("  backend: \"web;shutdown frontend fe\"\n  weights:\n    a: 1", "9:16: spec.target.haproxy.backend: 'web;shutdown frontend fe' is not an HAProxy backend name (letters, digits, '-', '_', '.', ':')")]
    [InlineData("  backend: web\n  weights:\n    \"blue 100\": 1", "11:9: spec.target.haproxy.weights.blue 100: 'blue 100' is not an HAProxy server name (letters, digits, '-', '_', '.', ':')")]
    [InlineData("  backend: web\n  states:\n    \"a/b\": drain", "11:9: spec.target.haproxy.states.a/b: 'a/b' is not an HAProxy server name (letters, digits, '-', '_', '.', ':')")]
    public void Parse_HAProxyNamesThatCouldCarryACommand_AreRefused(string block, string expected)
    {
        var result = PolicyParser.Parse("p.yaml", Document(target: "haproxy:\n  runtimeApi: tcp://127.0.0.1:1\n" + block));

        Assert.Equal(expected, Assert.Single(result.Diagnostics).ToString().Replace("p.yaml:", "", StringComparison.Ordinal));
        Assert.Empty(result.Policies);
    }

    [Theory]
    [InlineData("kubectl:\n  name: x\n  timeout: 31m", "9:16: spec.target.kubectl.timeout: must be at most 30m, got 31m")]
    [InlineData("helm:\n  release: x\n  timeout: 2h", "9:16: spec.target.helm.timeout: must be at most 30m, got 2h")]
    public void Parse_RolloutWaitLongerThanTheActionBudgetAllows_IsRefused(string target, string expected) =>
        Assert.Equal(expected, Assert.Single(PolicyParser.Parse("p.yaml", Document(target: target)).Diagnostics).ToString().Replace("p.yaml:", "", StringComparison.Ordinal));

    [Fact]
    public void Parse_ConfirmAndNotify_ReadEveryFieldWithDefaults()
    {
        var full = ParseOne(Document(spec: "confirm:\n  approvers: [U024BE7LH, S0614TZR7]\n  timeout: 10m\n  onTimeout: escalate\nnotify:\n  slackChannel: C0123ABC\n  pagerdutyRoutingKeyFile: /run/pd"));
        var defaults = ParseOne(Document(spec: "confirm: {}"));
        var none = ParseOne(Document());

        Assert.Equal(["U024BE7LH", "S0614TZR7"], full.Confirm!.Approvers);
        Assert.Equal((TimeSpan.FromMinutes(10), OnTimeout.Escalate), (full.Confirm.Timeout, full.Confirm.OnTimeout));
        Assert.Equal(new NotifySettings("C0123ABC", "/run/pd"), full.Notify);
        Assert.Equal((ConfirmSettings.DefaultTimeout, OnTimeout.Hold, 0), (defaults.Confirm!.Timeout, defaults.Confirm.OnTimeout, defaults.Confirm.Approvers.Count));
        Assert.Null(none.Confirm);
        Assert.Equal(NotifySettings.Defaults, none.Notify);
    }

    [Theory]
    [InlineData("confirm:\n  approvers: [alice]", "spec.confirm.approvers: 'alice' is not a Slack user id (U…, W…) or user-group id (S…)")]
    [InlineData("confirm:\n  onTimeout: wait", "spec.confirm.onTimeout: must be one of rollback, hold, escalate, got 'wait'")]
    [InlineData("notify:\n  slackChannel: \"#deploys\"", "spec.notify.slackChannel: '#deploys' is not a Slack channel id (C…, G…)")]
    public void Parse_BadConfirmOrNotify_SaysWhereAndWhy(string block, string expected)
    {
        var diagnostic = Assert.Single(PolicyParser.Parse("p.yaml", Document(spec: block)).Diagnostics).ToString();

        Assert.EndsWith(expected, diagnostic, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_HAProxyWithoutWeightsOrStates_AsksForWeights()
    {
        var result = PolicyParser.Parse("p.yaml", Document(target: "haproxy:\n  runtimeApi: tcp://127.0.0.1:1\n  backend: web"));

        Assert.Contains("spec.target.haproxy.weights: missing required field 'weights'", Assert.Single(result.Diagnostics).ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_QueryAsBlockScalar_IsTrimmed()
    {
        var trigger = OnlyTrigger("threshold:\n  query: |\n    max(\n      queue_depth\n    )\n  op: \">\"\n  value: 1");

        Assert.Equal("max(\n  queue_depth\n)", ((ThresholdCondition)trigger.Condition).Query);
    }

    [Fact]
    public void Parse_EveryQuery_IsListedWithItsLocationForTheServerSideCheck()
    {
        var result = ParseFile(WithTrigger("latency:\n  query: p95\n  baseline:\n    query: p95_stable\n  maxRatio: 2"));

        Assert.Equal(
            [
                new QueryLocation("policy.yaml", 12, 16, "spec.triggers[0].latency.query", "p95") { Policy = "checkout" },
                new QueryLocation("policy.yaml", 14, 18, "spec.triggers[0].latency.baseline.query", "p95_stable") { Policy = "checkout" },
            ],
            result.Queries);
    }

    [Fact]
    public void Parse_MultipleDocuments_YieldsAPolicyPerDocumentInOrder()
    {
        var result = ParseFile(Document(name: "a") + "---\n" + Document(name: "b") + "---\n" + Document(name: "c"));

        Assert.Empty(result.Diagnostics);
        Assert.Equal(["a", "b", "c"], result.Policies.Select(p => p.Name));
        Assert.Equal([4, 19, 34], result.Policies.Select(p => p.Source!.Line));
    }

    [Theory]
    [InlineData("---\n")]
    [InlineData("---\n# nothing here\n")]
    [InlineData("---\n~\n")]
    [InlineData("---\nnull\n")]
    public void Parse_EmptyTrailingDocument_IsIgnored(string trailer)
    {
        var result = ParseFile(Document() + trailer);

        Assert.Empty(result.Diagnostics);
        Assert.Equal(["checkout"], result.Policies.Select(p => p.Name));
    }

    [Fact]
    public void Parse_LeadingSeparatorAndComments_AreIgnored()
    {
        var result = ParseFile("# Team rules\n---\n" + Document());

        Assert.Empty(result.Diagnostics);
        Assert.Single(result.Policies);
    }

    [Theory]
    [InlineData("")]
    [InlineData("# only a comment\n\n")]
    [InlineData("---\n---\n")]
    public void Parse_FileWithoutAnyDocument_WarnsNoPolicyInThisFile(string text)
    {
        var result = ParseFile(text);

        Assert.Empty(result.Policies);
        var d = Assert.Single(result.Diagnostics);
        Assert.Equal((1, 1, DiagnosticSeverity.Warning, "no policy in this file"), (d.Line, d.Column, d.Severity, d.Message));
        Assert.False(result.HasErrors);
    }

    [Fact]
    public void Parse_ForShorterThanTheInterval_WarnsButLoads()
    {
        var result = ParseFile(Document(spec: "schedule:\n  interval: 1m", triggers: AvailabilityTrigger + "\n  for: 30s"));

        Assert.Single(result.Policies);
        Assert.False(result.HasErrors);
        Assert.Equal(
            ["policy.yaml:17:12: warning: spec.triggers[0].for: 'for' (30s) is shorter than the interval (1m): the trigger fires on its second breaching evaluation"],
            result.Diagnostics.Select(d => d.ToString()));
        Assert.Equal(DiagnosticSeverity.Warning, result.Diagnostics[0].Severity);
    }

    [Theory]
    [InlineData("0")]
    [InlineData("1m")]
    [InlineData("5m")]
    public void Parse_ForZeroOrAtLeastTheInterval_DoesNotWarn(string @for) =>
        Assert.Empty(ParseFile(Document(spec: "schedule:\n  interval: 1m", triggers: AvailabilityTrigger + "\n  for: " + @for)).Diagnostics);

    [Theory]
    [InlineData("checkout-api")]
    [InlineData("a")]
    [InlineData("shop.orders-v2")]
    [InlineData("0day")]
    public void Parse_ValidPolicyName_IsKept(string name) => Assert.Equal(name, ParseOne(Document(name: name)).Name);

    [Fact]
    public void Parse_PolicyNameOf63Characters_IsValid() =>
        Assert.Equal(63, ParseOne(Document(name: new string('a', 63))).Name.Length);

    [Theory]
    [InlineData("p95")]
    [InlineData("P95_vs_stable")]
    [InlineData("error-rate")]
    public void Parse_ValidTriggerName_IsKept(string name) =>
        Assert.Equal(name, ParseOne(Document(triggers: AvailabilityTrigger.Replace("availability\n", name + "\n", StringComparison.Ordinal))).Triggers[0].Name);

    [Fact]
    public void Parse_ExampleRules_AllLoadWithoutDiagnostics()
    {
        var files = Directory.GetFiles(TestPaths.ExampleRules, "*.yaml").Order(StringComparer.Ordinal).ToArray();

        var results = files.Select(f => PolicyParser.Parse(f, File.ReadAllText(f))).ToArray();

        Assert.NotEmpty(files);
        Assert.Empty(results.SelectMany(r => r.Diagnostics).Select(d => d.ToString()));
        Assert.Equal(
            ["storefront-blue-green", "checkout-api", "orders-migration", "payments-slo", "shop-deployments", "search-latency-shadow"],
            results.SelectMany(r => r.Policies).Select(p => p.Name));
    }

    [Fact]
    public void Parse_CheckoutExample_HasEveryTriggerKind()
    {
        var file = Path.Combine(TestPaths.ExampleRules, "checkout-api.yaml");

        var policy = Assert.Single(PolicyParser.Parse(file, File.ReadAllText(file)).Policies);

        Assert.Equal(["errorRate", "latency", "availability", "threshold"], policy.Triggers.Select(t => t.Condition.Kind));
        Assert.Equal([TriggerAction.Rollback, TriggerAction.Page, TriggerAction.Rollback, TriggerAction.Notify], policy.Triggers.Select(t => t.Action));
        Assert.Equal(new Dictionary<string, string> { ["team"] = "payments" }, policy.Labels);
    }

    [Fact]
    public void Parse_DurationLongerThanAYear_IsRejectedBeforeItCanOverflowDateArithmetic()
    {
        var result = ParseFile(Document(spec: "cooldown: 8000y"));

        Assert.Equal(["policy.yaml:9:13: spec.cooldown: must be at most 366d, got 8000y"], result.Diagnostics.Select(d => d.ToString()));
    }

    [Fact]
    public void Parse_CronThatNeverFires_IsRejected()
    {
        var result = ParseFile(Document(spec: "schedule:\n  cron: \"0 0 0 30 2 ?\""));

        Assert.Equal(["policy.yaml:10:11: spec.schedule.cron: '0 0 0 30 2 ?' never fires (e.g. February 30th): the policy would never be evaluated"], result.Diagnostics.Select(d => d.ToString()));
    }
}
