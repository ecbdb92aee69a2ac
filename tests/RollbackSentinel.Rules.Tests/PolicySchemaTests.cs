using System.Text.Json;
using System.Text.RegularExpressions;
using RollbackSentinel.Core.Policies;
using RollbackSentinel.Rules.Tests.Support;
using YamlDotNet.RepresentationModel;
using static RollbackSentinel.Rules.Tests.Support.PolicyYaml;

namespace RollbackSentinel.Rules.Tests;

/// <summary>Keeps docs/policy.schema.json true to the parser: same fields, same enums, same defaults, same verdict on files.</summary>
public sealed partial class PolicySchemaTests
{
    private static readonly Lazy<SchemaValidator> LazySchema = new(() => SchemaValidator.Load(TestPaths.Schema));

    private static SchemaValidator Schema => LazySchema.Value;

    private const string Unknown = "zzzzzzzzzzzz";

    private static IEnumerable<YamlNode> Documents(string text)
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(text));
        return stream.Documents.Select(d => d.RootNode).Where(n => n is not YamlScalarNode { Value: null or "" });
    }

    private static List<string> SchemaErrors(string text) => Documents(text).SelectMany(Schema.Validate).ToList();

    /// <summary>
    /// For every mapping of the format: where it is in the schema, and a valid document with one unknown key
    /// added to that mapping. The parser answers "unknown field ...; allowed here: a, b, c", which is the list of
    /// fields it accepts there.
    /// </summary>
    public static TheoryData<string, string> Mappings => new()
    {
        { "", Document() + Unknown + ": 1\n" },
        { "metadata", Document(metadata: Unknown + ": 1") },
        { "spec", Document(spec: Unknown + ": 1") },
        { "spec/target", Document(target: HelmBlock + "\n" + Unknown + ": 1") },
        { "spec/target/webhook", Document(target: $"webhook:\n  url: https://x.example/\n  {Unknown}: 1") },
        { "spec/target/kubectl", Document(target: $"kubectl:\n  name: x\n  {Unknown}: 1") },
        { "spec/target/helm", Document(target: $"helm:\n  release: x\n  {Unknown}: 1") },
        { "spec/target/haproxy", Document(target: $"haproxy:\n  runtimeApi: tcp://h:1\n  backend: b\n  weights:\n    a: 1\n  {Unknown}: 1") },
        { "spec/schedule", Document(spec: $"schedule:\n  interval: 1m\n  {Unknown}: 1") },
        { "spec/confirm", Document(spec: $"confirm:\n  timeout: 5m\n  {Unknown}: 1") },
        { "spec/notify", Document(spec: $"notify:\n  slackChannel: C0123\n  {Unknown}: 1") },
        { "spec/watch", Document(spec: $"watch:\n  for: 1h\n  {Unknown}: 1") },
        { "spec/watch/detect", Document(spec: $"watch:\n  detect:\n    interval: 1m\n    {Unknown}: 1") },
        { "spec/gate", Document(spec: $"gate:\n  minPasses: 3\n  {Unknown}: 1") },
        { "spec/triggers/[]", Document(triggers: AvailabilityTrigger + $"\n  {Unknown}: 1") },
        { "spec/triggers/[]/errorRate", WithTrigger($"errorRate:\n  errors: e\n  total: t\n  max: 0.1\n  minTotal: 1\n  {Unknown}: 1") },
        { "spec/triggers/[]/burnRate", WithTrigger($"burnRate:\n  objective: 99.9\n  errors: e[{{{{window}}}}]\n  total: t[{{{{window}}}}]\n  minTotal: 1\n  {Unknown}: 1") },
        { "spec/triggers/[]/burnRate/windows/[]", WithTrigger($"burnRate:\n  objective: 99.9\n  errors: e[{{{{window}}}}]\n  total: t[{{{{window}}}}]\n  minTotal: 1\n  windows:\n    - {{long: 1h, short: 5m, factor: 14.4, {Unknown}: 1}}") },
        { "spec/triggers/[]/latency", WithTrigger($"latency:\n  query: q\n  baseline:\n    offset: 1d\n  maxRatio: 2\n  {Unknown}: 1") },
        { "spec/triggers/[]/latency/baseline", WithTrigger($"latency:\n  query: q\n  baseline:\n    offset: 1d\n    {Unknown}: 1\n  maxRatio: 2") },
        { "spec/triggers/[]/availability", WithTrigger($"availability:\n  query: q\n  min: 1\n  {Unknown}: 1") },
        { "spec/triggers/[]/threshold", WithTrigger($"threshold:\n  query: q\n  op: \">\"\n  value: 1\n  {Unknown}: 1") },
    };

    [Theory]
    [MemberData(nameof(Mappings))]
    public void Schema_FieldsOfEachMapping_AreExactlyWhatTheParserAccepts(string schemaPath, string document)
    {
        var diagnostic = Assert.Single(PolicyParser.Parse("p.yaml", document).Diagnostics);
        var match = AllowedHere().Match(diagnostic.Message);
        Assert.True(match.Success, diagnostic.ToString());
        var parserFields = match.Groups[1].Value.Split(", ").Order(StringComparer.Ordinal);

        var schema = Schema.At(schemaPath.Split('/', StringSplitOptions.RemoveEmptyEntries));
        var schemaFields = schema.GetProperty("properties").EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal);

        Assert.Equal(parserFields, schemaFields);
        Assert.False(schema.GetProperty("additionalProperties").GetBoolean());
        Assert.Equal([$"{(schemaPath.Length == 0 ? string.Empty : "/" + schemaPath.Replace("[]", "0", StringComparison.Ordinal))}/{Unknown}: unknown property"], SchemaErrors(document));
    }

    [Fact]
    public void Schema_ExactlyOneBlocks_ListTheParsersKindsAsOneOf()
    {
        static string[] OneOf(JsonElement s) => s.GetProperty("oneOf").EnumerateArray().Select(a => a.GetProperty("required")[0].GetString()!).ToArray();

        Assert.Equal(PolicyParser.TargetKinds, OneOf(Schema.At("spec", "target")));
        Assert.Equal(PolicyParser.TriggerKinds, OneOf(Schema.At("spec", "triggers", "[]")));
        Assert.Equal(PolicyParser.BaselineKinds, OneOf(Schema.At("spec", "triggers", "[]", "latency", "baseline")));
        Assert.Equal(["interval", "cron"], OneOf(Schema.At("spec", "schedule")));
    }

    [Fact]
    public void Schema_Enums_AreThePersersWords()
    {
        static string[] Enum(JsonElement s) => s.GetProperty("enum").EnumerateArray().Select(v => v.GetString()!).ToArray();

        Assert.Equal(PolicyParser.Actions, Enum(Schema.At("spec", "triggers", "[]", "action")));
        Assert.Equal(PolicyParser.Operators, Enum(Schema.At("spec", "triggers", "[]", "threshold", "op")));
        Assert.Equal(PolicyParser.WorkloadKinds, Enum(Schema.At("spec", "target", "kubectl", "kind")));
        Assert.Equal(["inconclusive", "breach"], Enum(Schema.At("spec", "triggers", "[]", "noData")));
        Assert.Equal(PolicyParser.OnTimeoutWords, Enum(Schema.At("spec", "confirm", "onTimeout")));
        Assert.Equal(PolicyParser.OutsideWords, Enum(Schema.At("spec", "watch", "outside")));
        Assert.Equal(Policy.ApiVersion, Schema.At("apiVersion").GetProperty("const").GetString());
        Assert.Equal(Policy.Kind, Schema.At("kind").GetProperty("const").GetString());
    }

    [Fact]
    public void Schema_Defaults_AreTheParsersDefaults()
    {
        var minimal = Assert.Single(PolicyParser.Parse("p.yaml", Document()).Policies);
        var trigger = minimal.Triggers[0];

        Assert.Equal(PromDuration.Format(minimal.Cooldown), Schema.At("spec").GetProperty("properties").GetProperty("cooldown").GetProperty("default").GetString());
        Assert.Equal(minimal.DryRun, Schema.At("spec", "dryRun").GetProperty("default").GetBoolean());
        Assert.Equal(trigger.InconclusiveLimit, Schema.At("spec", "triggers", "[]", "inconclusiveLimit").GetProperty("default").GetInt32());
        Assert.Equal(trigger.NoData.ToString().ToLowerInvariant(), Schema.At("spec", "triggers", "[]", "noData").GetProperty("default").GetString());
        Assert.Equal(trigger.For.TotalSeconds, Schema.At("spec", "triggers", "[]").GetProperty("properties").GetProperty("for").GetProperty("default").GetDouble());
        Assert.Equal("Default: every " + PromDuration.Format(((IntervalSchedule)minimal.Schedule).Interval) + ".", Regex.Match(Schema.At("spec", "schedule").GetProperty("description").GetString()!, @"Default: every \S+$").Value);
        Assert.Equal(PromDuration.Format(minimal.Watch.For), Schema.At("spec", "watch").GetProperty("properties").GetProperty("for").GetProperty("default").GetString());
        Assert.Equal(minimal.Watch.Outside.ToString().ToLowerInvariant(), Schema.At("spec", "watch", "outside").GetProperty("default").GetString());
        Assert.Equal(PromDuration.Format(minimal.Watch.Detect.Interval), Schema.At("spec", "watch", "detect").GetProperty("properties").GetProperty("interval").GetProperty("default").GetString());
        Assert.Equal(minimal.Gate.MinPasses, Schema.At("spec", "gate", "minPasses").GetProperty("default").GetInt32());
        Assert.Equal(RollbackSentinel.Core.State.GateProgress.MaxPasses, Schema.At("spec", "gate", "minPasses").GetProperty("maximum").GetInt32());
        var burnRate = Assert.IsType<BurnRateCondition>(Assert.Single(Assert.Single(PolicyParser.Parse("p.yaml", WithTrigger("burnRate:\n  objective: 99\n  errors: e[{{window}}]\n  total: t[{{window}}]")).Policies).Triggers).Condition);
        Assert.Equal(PromDuration.Format(burnRate.Period), Schema.At("spec", "triggers", "[]", "burnRate").GetProperty("properties").GetProperty("period").GetProperty("default").GetString());
        Assert.Equal(burnRate.MinTotal, Schema.At("spec", "triggers", "[]", "burnRate", "minTotal").GetProperty("default").GetDouble());
        var kubectl = Assert.IsType<KubectlTarget>(Assert.Single(PolicyParser.Parse("p.yaml", Document(target: "kubectl:\n  name: x")).Policies).Target);
        Assert.Equal(kubectl.Workload.ToString(), Schema.At("spec", "target", "kubectl", "kind").GetProperty("default").GetString());
    }

    [Fact]
    public void Schema_EveryProperty_HasADescriptionForEditors()
    {
        var missing = new List<string>();
        void Walk(JsonElement s, string where)
        {
            if (s.ValueKind != JsonValueKind.Object)
            {
                return;
            }

            foreach (var keyword in new[] { "properties", "$defs" })
            {
                if (!s.TryGetProperty(keyword, out var props))
                {
                    continue;
                }

                foreach (var p in props.EnumerateObject())
                {
                    var described = p.Value.TryGetProperty("description", out var d) || Schema.Resolve(p.Value).TryGetProperty("description", out d);
                    if (!described || d.GetString()!.Length < 10)
                    {
                        missing.Add($"{where}/{keyword}/{p.Name}");
                    }

                    Walk(p.Value, $"{where}/{keyword}/{p.Name}");
                }
            }

            if (s.TryGetProperty("additionalProperties", out var additional) && additional.ValueKind == JsonValueKind.Object)
            {
                if (!additional.TryGetProperty("description", out _))
                {
                    missing.Add($"{where}/additionalProperties");
                }

                Walk(additional, where + "/additionalProperties");
            }
        }

        Walk(Schema.Root, "#");

        Assert.Empty(missing);
        Assert.Equal("https://json-schema.org/draft/2020-12/schema", Schema.Root.GetProperty("$schema").GetString());
    }

    [Fact]
    public void Schema_ExampleRules_EveryDocumentConforms()
    {
        var files = Directory.GetFiles(TestPaths.ExampleRules, "*.yaml");

        var errors = files.SelectMany(f => SchemaErrors(File.ReadAllText(f)).Select(e => $"{Path.GetFileName(f)}: {e}")).ToList();

        Assert.NotEmpty(files);
        Assert.Empty(errors);
        Assert.Equal(6, files.Sum(f => Documents(File.ReadAllText(f)).Count()));
    }

    /// <summary>A document using every field the format has, valid for the parser; the schema must accept it too.</summary>
    public static TheoryData<string> EveryFieldDocuments => new()
    {
        Document(
            metadata: "labels:\n  team: payments\n  tier: \"1\"",
            target: "webhook:\n  url: \"https://hooks.example.com/{{ labels.namespace }}/abort\"\n  secretFile: /run/secret\n  timeout: 5s",
            spec: "schedule:\n  cron: \"0/15 * * * * ?\"\ncooldown: 0\ndryRun: true",
            triggers: """
                - name: errors
                  errorRate:
                    errors: sum by (namespace) (rate(e[1m]))
                    total: sum by (namespace) (rate(t[1m]))
                    max: 0.05
                    minTotal: 0
                  for: 0
                  action: rollback
                  noData: breach
                  inconclusiveLimit: 10
                - name: p95_vs_stable
                  latency:
                    query: p95
                    baseline:
                      query: p95_stable
                    maxRatio: 1.5
                    maxIncrease: 50ms
                  for: 2m
                  action: page
                  noData: inconclusive
                - name: p99-vs-yesterday
                  latency:
                    query: p99
                    baseline:
                      offset: 1d
                    maxIncrease: 0.25
                  action: notify
                - name: before
                  latency:
                    query: p99
                    baseline:
                      beforeDeploy: 10m
                    maxRatio: 2
                  action: page
                - name: up
                  availability:
                    query: avg by (namespace) (up)
                    min: 0.95
                  action: rollback
                - name: slo
                  burnRate:
                    objective: 99.9
                    period: 28d
                    errors: sum by (namespace) (rate(e[{{window}}]))
                    total: sum by (namespace) (rate(t[{{window}}]))
                    windows:
                      - {long: 1h, short: 5m, factor: 14.4}
                      - long: 3d
                        short: 6h
                        factor: 1
                    minTotal: 0.5
                  action: page
                - name: queue
                  threshold:
                    query: max(q)
                    op: "<="
                    value: -1.5e3
                  action: notify
                """),
        Document(target: "kubectl:\n  kind: Rollout\n  name: \"{{ labels.rollout }}\"\n  namespace: shop\n  context: prod\n  kubeconfig: /etc/kubeconfig\n  toRevision: 3\n  timeout: 2m", spec: "schedule:\n  interval: 1h30m", triggers: GroupedTrigger("rollout")),
        Document(spec: "confirm:\n  approvers: [U024BE7LH, S0614TZR7]\n  timeout: 10m\n  onTimeout: rollback\nnotify:\n  slackChannel: C0123ABC\n  pagerdutyRoutingKeyFile: /run/secrets/pd"),
        Document(target: "helm:\n  release: \"{{labels.release}}\"\n  namespace: \"{{ labels.namespace }}\"\n  kubeContext: prod\n  timeout: 5m", triggers: GroupedTrigger("release, namespace")),
        Document(target: "haproxy:\n  runtimeApi: unix:///run/haproxy/admin.sock\n  backend: web\n  weights:\n    blue: 256\n    green: 0"),
        Document(
            target: "webhook:\n  url: https://deploy.example.com/rollback",
            spec: "watch:\n  for: 2h\n  outside: notify\n  detect:\n    target: false\n    interval: 1m\n    query: count by (deployment, version) (app_build_info)\ngate:\n  minPasses: 5"),
        Document(target: "kubectl:\n  name: checkout", spec: "watch:\n  for: 30m\n  outside: rollback\n  detect:\n    target: true\n    interval: 15s"),
        Document(target: "haproxy:\n  runtimeApi: tcp://127.0.0.1:9999\n  backend: web\n  weights:\n    a: 1"),
        Document(target: "haproxy:\n  runtimeApi: tcp://127.0.0.1:9999\n  backend: web\n  weights:\n    blue: 100\n    green: 0\n  states:\n    green: drain\n  timeout: 2s"),
        Document(target: "haproxy:\n  runtimeApi: tcp://127.0.0.1:9999\n  backend: web\n  states:\n    green: maint\n    blue: ready"),
    };

    [Theory]
    [MemberData(nameof(EveryFieldDocuments))]
    public void Schema_DocumentUsingEveryField_ConformsAndParses(string document)
    {
        Assert.Empty(PolicyParser.Parse("p.yaml", document).Diagnostics.Select(d => d.ToString()));
        Assert.Empty(SchemaErrors(document));
    }

    /// <summary>Broken files whose problem a schema can express, with the errors the schema gives.</summary>
    public static TheoryData<string, string[]> BrokenFiles => new()
    {
        { "unknown-field.yaml", ["/spec/target/kubectl/namepsace: unknown property", "/spec/schedul: unknown property", "/spec/triggers/0/severity: unknown property"] },
        { "missing-field.yaml", ["/metadata: missing required property 'name'", "/spec/target/helm: missing required property 'release'", "/spec/triggers/0: missing required property 'action'", "/spec/triggers/0/errorRate: missing required property 'minTotal'", "/spec/triggers/1: missing required property 'action'", "/spec/triggers/1/threshold: missing required property 'value'"] },
        { "wrong-type.yaml", ["/metadata/labels: must be object, got string", "/spec/target/kubectl/toRevision: must be integer, got string", "/spec/dryRun: must be boolean, got string", "/spec/schedule: must be object, got string", "/spec/triggers/0/errorRate/total: must be string, got array", "/spec/triggers/0/errorRate/max: must be number, got string", "/spec/triggers/0/inconclusiveLimit: must be integer, got number", "/spec/triggers/1: must be object, got string"] },
        { "bad-duration.yaml", ["/spec/schedule/interval: must match at least one of 2 alternatives", "/spec/triggers/0/for: must match at least one of 2 alternatives", "/spec/triggers/1/latency/baseline/offset: must match at least one of 2 alternatives"] },
        { "two-baselines.yaml", ["/spec/triggers/0/latency/baseline: must match exactly one of 3 alternatives, matches 2"] },
        { "two-targets.yaml", ["/spec/target: must match exactly one of 4 alternatives, matches 2"] },
        { "no-trigger-kind.yaml", ["/spec/triggers/0: must match exactly one of 5 alternatives, matches 0"] },
        { "trigger-without-threshold.yaml", ["/spec/triggers/0/latency: must match at least one of 2 alternatives", "/spec/triggers/1/errorRate: missing required property 'max'"] },
        { "bad-op.yaml", ["/spec/triggers/0/threshold/op: must be one of \">\", \">=\", \"<\", \"<=\"", "/spec/triggers/1/threshold/op: must be one of \">\", \">=\", \"<\", \"<=\""] },
        { "bad-cron.yaml", ["/spec/schedule/cron: '*/15 * * * *' does not match ^\\s*\\S+(\\s+\\S+){5,6}\\s*$"] },
        { "wrong-api-version-and-kind.yaml", ["/apiVersion: must be \"rollback-sentinel/v1\"", "/kind: must be \"RollbackPolicy\""] },
        { "bad-template.yaml", ["/spec/target/kubectl/name: '{{ deployment }}' does not match", "/spec/target/kubectl/namespace: '{{ labels.namespace' does not match"] },
        { "haproxy-bad-runtime-api.yaml", ["/spec/target/haproxy/runtimeApi: 'http://127.0.0.1:9999' does not match", "/spec/target/haproxy/weights/green: must be at most 256"] },
        { "bad-names.yaml", ["/metadata/name: 'Checkout_API' does not match", "/spec/triggers/0/name: 'p95 latency' does not match"] },
        { "out-of-range.yaml", ["/spec/triggers/0/errorRate/max: must be at most 1", "/spec/triggers/0/errorRate/minTotal: must be at least 0", "/spec/triggers/0/inconclusiveLimit: must be at least 1", "/spec/triggers/1/latency/maxRatio: must be greater than 0", "/spec/triggers/1/latency/maxIncrease: must match at least one of 2 alternatives"] },
        { "not-a-policy.yaml", ["/: must be object, got array", "/spec/triggers: must have at least 1 item(s)", "/: missing required property 'spec'"] },
        { "mixed-valid-and-broken.yaml", ["/spec/triggers/0/availability/min: must be number, got string", "/spec/triggers/0/action: must be one of \"rollback\", \"page\", \"notify\""] },
        { "unbalanced-promql.yaml", ["/spec/triggers/1/latency/baseline/query: '  ' does not match \\S"] },
    };

    [Theory]
    [MemberData(nameof(BrokenFiles))]
    public void Schema_BrokenFile_IsRejectedWhereTheParserRejectsIt(string file, string[] expected)
    {
        var errors = SchemaErrors(File.ReadAllText(TestPaths.Broken(file)));

        // Patterns are long; compare pattern errors up to "does not match".
        Assert.Equal(expected, errors.Select(e => expected.Any(x => x.EndsWith("does not match", StringComparison.Ordinal) && e.StartsWith(x, StringComparison.Ordinal)) ? e[..(e.IndexOf("does not match", StringComparison.Ordinal) + "does not match".Length)] : e));
    }

    [Fact]
    public void Schema_BurnRateQueriesWithoutTheWindowPlaceholder_AreRejectedAsTheParserRejectsThem()
    {
        var document = WithTrigger("burnRate:\n  objective: 99.9\n  errors: sum(rate(e[5m]))\n  total: sum(rate(t[{{ window }}]))\n  minTotal: 1");

        Assert.Equal(
            [@"/spec/triggers/0/burnRate/errors: 'sum(rate(e[5m]))' does not match \{\{window\}\}", @"/spec/triggers/0/burnRate/total: 'sum(rate(t[{{ window }}]))' does not match \{\{window\}\}"],
            SchemaErrors(document));
        Assert.Equal(2, PolicyParser.Parse("p.yaml", document).Diagnostics.Count(d => d.Severity == DiagnosticSeverity.Error));
    }

    [Fact]
    public void Docs_PolicyFormatReference_MentionsEveryFieldOfTheSchema()
    {
        var doc = File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "docs", "policy-format.md"));
        var names = new SortedSet<string>(StringComparer.Ordinal);
        void Walk(JsonElement s)
        {
            if (s.ValueKind != JsonValueKind.Object)
            {
                return;
            }

            foreach (var keyword in new[] { "properties", "$defs" })
            {
                if (s.TryGetProperty(keyword, out var props))
                {
                    foreach (var p in props.EnumerateObject())
                    {
                        if (keyword == "properties")
                        {
                            names.Add(p.Name);
                        }

                        Walk(p.Value);
                    }
                }
            }
        }

        Walk(Schema.Root);

        var undocumented = names.Where(n => !doc.Contains($"`{n}`", StringComparison.Ordinal)).ToList();
        Assert.Empty(undocumented);
    }

    [GeneratedRegex("; allowed here: (.+)$")]
    private static partial Regex AllowedHere();
}
