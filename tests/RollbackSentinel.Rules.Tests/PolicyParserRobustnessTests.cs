using FsCheck;
using FsCheck.Fluent;
using RollbackSentinel.Rules.Tests.Support;
using static RollbackSentinel.Rules.Tests.Support.PolicyYaml;

namespace RollbackSentinel.Rules.Tests;

/// <summary>Input the parser must survive: it reports, it never throws, and it never drops a policy silently.</summary>
public sealed class PolicyParserRobustnessTests
{
    // Bug: YamlDotNet throws InvalidOperationException or ArgumentException (not YamlException) for some
    // malformed input (aaubry/YamlDotNet#541); PolicyParser.Parse catches only YamlException, so `validate` crashes.
    [Theory]
    [InlineData("metadata:\n  labels: [team, payments\n  name: x\n")]
    [InlineData("a: [1, 2\nb: 3\n")]
    [InlineData("- :")]
    [InlineData("!!:']")]
    public void Parse_MalformedYamlThatCrashesTheYamlLibrary_IsOneSyntaxError(string text)
    {
        var result = PolicyParser.Parse("broken.yaml", text);

        var d = Assert.Single(result.Diagnostics);
        Assert.Equal(("broken.yaml", string.Empty, DiagnosticSeverity.Error), (d.File, d.Field, d.Severity));
        Assert.StartsWith("YAML syntax error: ", d.Message, StringComparison.Ordinal);
        Assert.InRange(d.Line, 1, text.Count(c => c == '\n') + 2);
        Assert.Empty(result.Policies);
    }

    [Fact]
    public void Parse_AnyText_NeverThrows()
    {
        var yamlish = Gen.Elements("a", "b", ":", " ", "  ", "-", "[", "]", "{", "}", ",", "\"", "'", "\n", "#", "&x", "*x", "!!", "|", ">", "?", "0", "1.5", "\t", "~", "---\n", "spec", "triggers");
        Check.One(
            Config.QuickThrowOnFailure.WithMaxTest(2000).WithReplay(new Replay(new Rnd(20_240_601UL, 7UL), Microsoft.FSharp.Core.FSharpOption<int>.None)),
            Prop.ForAll(
                yamlish.ArrayOf().Select(parts => string.Concat(parts)).ToArbitrary(),
                text =>
                {
                    var result = PolicyParser.Parse("fuzz.yaml", text);
                    return result.Diagnostics.All(d => d.Line >= 1 && d.Column >= 1);
                }));
    }

    [Fact]
    public void Parse_HAProxyWithoutWeights_IsReported()
    {
        var result = PolicyParser.Parse("p.yaml", Document(target: "haproxy:\n  runtimeApi: tcp://127.0.0.1:9999\n  backend: web\n  weights: {}"));

        Assert.Equal(["p.yaml:10:7: spec.target.haproxy.weights: must name at least one server"], result.Diagnostics.Select(d => d.ToString()));
        Assert.Empty(result.Policies);
    }

    // Bug: PolicyParser.ParseHAProxy checks `!w.Context.HasErrors`, which counts every error of the file, so after any
    // earlier error an empty weights map is not reported, and the policy is dropped without a word.
    [Fact]
    public void Parse_HAProxyWithoutWeightsAfterAnEarlierError_IsStillReported()
    {
        var text = Document(name: "first", spec: "cooldown: soon") + "---\n" +
                   Document(name: "second", target: "haproxy:\n  runtimeApi: tcp://127.0.0.1:9999\n  backend: web\n  weights: {}");

        var result = PolicyParser.Parse("p.yaml", text);

        Assert.Equal(
            [
                "p.yaml:9:13: spec.cooldown: 'soon' is not a duration: expected a number at position 1 (use e.g. 30s, 2m, 1h30m)",
                "p.yaml:26:7: spec.target.haproxy.weights: must name at least one server",
            ],
            result.Diagnostics.Select(d => d.ToString()));
    }

    [Fact]
    public void Parse_EveryDocumentThatYieldsNoPolicy_HasAnError()
    {
        // Whatever is wrong with a document, it is said: a policy never disappears silently.
        var documents = new[]
        {
            Document(target: "haproxy:\n  runtimeApi: unix:///run/h.sock\n  backend: web\n  weights:\n    blue: x"),
            Document(target: "webhook:\n  url: not a url"),
            Document(spec: "schedule: ~"),
            Document(spec: "schedule:\n  cron: \"\""),
            Document(triggers: "- name: t\n  latency:\n    query: q\n    baseline: {}\n    maxRatio: 2\n  action: page"),
        };

        foreach (var doc in documents)
        {
            var result = PolicyParser.Parse("p.yaml", doc);
            Assert.True(result.Policies.Count == 1 || result.HasErrors, "no policy and no error for:\n" + doc);
            Assert.Empty(result.Policies);
        }
    }
}
