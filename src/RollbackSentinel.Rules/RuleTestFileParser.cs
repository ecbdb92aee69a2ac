using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Core.Policies;
using RollbackSentinel.Core.RuleTests;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace RollbackSentinel.Rules;

/// <summary>A rule test file as read: the tests, or every error (then <see cref="File"/> is null).</summary>
public sealed record RuleTestFileParseResult(RuleTestFile? File, IReadOnlyList<RuleDiagnostic> Diagnostics)
{
    public bool HasErrors => Diagnostics.Any(d => d.Severity == DiagnosticSeverity.Error);
}

/// <summary>
/// Reads rule test files (<c>rollback-sentinel test</c>, docs/rule-tests.md) into <see cref="RuleTestFile"/>, reporting
/// every problem as <c>file:line:column: field: message</c>, as policies are: unknown fields, bad durations, values in
/// bad notation (at the term), expectations no run could meet (an <c>at</c> off the evaluation grid or after the last
/// evaluation). <see cref="Check"/> then holds the names to the policies the file's rules hold.
/// </summary>
public static class RuleTestFileParser
{
    /// <summary>A rule test's whole run may not need more evaluations than this per policy (a typo in a duration, not a test).</summary>
    public const int MaxEvaluations = 100_000;

    /// <summary>Reads and parses one test file (within <see cref="RuleLimits"/>; never throws).</summary>
    public static RuleTestFileParseResult Read(string file)
    {
        ArgumentNullException.ThrowIfNull(file);
        var bytes = RuleFileSystem.ReadRegularFile(file, RuleLimits.MaxFileBytes, out var error);
        if (bytes is null)
        {
            return new RuleTestFileParseResult(null, [new RuleDiagnostic(file, 1, 1, string.Empty, error!)]);
        }

        return RuleSetLoader.TryDecode(file, bytes, out var text, out var bad) ? Parse(file, text) : new RuleTestFileParseResult(null, [bad]);
    }

    public static RuleTestFileParseResult Parse(string file, string text)
    {
        ArgumentNullException.ThrowIfNull(file);
        ArgumentNullException.ThrowIfNull(text);
        var ctx = new ParseContext(file);
        if (YamlDocuments.Load(ctx, text) is not { } stream)
        {
            return new RuleTestFileParseResult(null, ctx.Diagnostics);
        }

        var documents = stream.Documents.Where(d => d.RootNode is not YamlScalarNode { Value: null or "" or "~" or "null" }).ToArray();
        if (documents.Length != 1 || documents[0].RootNode is not YamlMappingNode root)
        {
            ctx.Error(documents.Length > 1 ? documents[1].RootNode.Start : new Mark(0, 1, 1), string.Empty,
                documents.Length == 0 ? "an empty file: a rule test file holds rule_files and tests" : documents.Length > 1 ? "one document per rule test file" : "a rule test file must be a mapping of rule_files, evaluation_interval and tests");
            return new RuleTestFileParseResult(null, ctx.Diagnostics);
        }

        var tests = ParseFile(file, new MapReader(ctx, root, string.Empty));
        return new RuleTestFileParseResult(ctx.HasErrors ? null : tests, ctx.Diagnostics);
    }

    /// <summary>Whether a YAML file is a rule test (a mapping with <c>tests</c> or <c>rule_files</c> and no policy fields), not policies.</summary>
    internal static bool IsRuleTestFile(YamlStream stream) =>
        stream.Documents.Count == 1 && stream.Documents[0].RootNode is YamlMappingNode m
        && m.Children.Keys.OfType<YamlScalarNode>().Select(k => k.Value).ToArray() is var keys
        && (keys.Contains("tests") || keys.Contains("rule_files"))
        && !keys.Any(k => k is "apiVersion" or "kind" or "metadata" or "spec");

    /// <summary>Every name in <paramref name="tests"/> that the loaded <paramref name="policies"/> do not have: a policy, or a trigger of it.</summary>
    public static IReadOnlyList<RuleDiagnostic> Check(RuleTestFile tests, IReadOnlyList<Policy> policies)
    {
        ArgumentNullException.ThrowIfNull(tests);
        ArgumentNullException.ThrowIfNull(policies);
        var byName = policies.ToDictionary(p => p.Name, StringComparer.Ordinal);
        var known = string.Join(", ", byName.Keys.Order(StringComparer.Ordinal));
        var problems = new List<RuleDiagnostic>();
        void Policy(string name, SourceLocation? at, string field)
        {
            if (!byName.ContainsKey(name))
            {
                problems.Add(At(at!, field, $"no policy '{name}' in the rule files (they have: {(known.Length == 0 ? "none" : known)})"));
            }
        }

        foreach (var test in tests.Tests)
        {
            foreach (var c in test.Changes)
            {
                Policy(c.Policy, c.PolicySource, "changes.policy");
            }

            foreach (var g in test.Gates)
            {
                Policy(g.Policy, g.PolicySource, "gates.policy");
            }

            foreach (var e in test.Expect)
            {
                Policy(e.Policy, e.PolicySource, "expect.policy");
                if (byName.TryGetValue(e.Policy, out var p) && !p.Triggers.Any(t => t.Name == e.Trigger))
                {
                    problems.Add(At(e.TriggerSource!, "expect.trigger", $"policy '{e.Policy}' has no trigger '{e.Trigger}' (it has: {string.Join(", ", p.Triggers.Select(t => t.Name))})"));
                }
            }
        }

        return problems;
    }

    private static RuleDiagnostic At(SourceLocation at, string field, string message) => new(at.File, at.Line, at.Column, field, message);

    private static RuleTestFile? ParseFile(string file, MapReader r)
    {
        var ctx = r.Context;
        var ruleFiles = new List<string>();
        if (r.Sequence("rule_files", required: true) is { } files)
        {
            foreach (var node in files)
            {
                if (node is not YamlScalarNode { Value: { Length: > 0 } path } || node is YamlScalarNode { Style: ScalarStyle.Plain, Value: "null" or "~" })
                {
                    ctx.Error(node.Start, "rule_files", $"must be a path to a rule file or folder, got {MapReader.Describe(node)}");
                    continue;
                }

                ruleFiles.Add(Path.IsPathRooted(path) ? path : Path.Combine(Path.GetDirectoryName(file) ?? string.Empty, path));
            }

            if (files.Children.Count == 0)
            {
                ctx.Error(files.Start, "rule_files", "no rule files: name the policies' files, relative to this file");
            }
        }

        var interval = r.Duration("evaluation_interval", min: TimeSpan.FromSeconds(1)) ?? RuleTestFile.DefaultEvaluationInterval;
        var tests = new List<RuleTestCase>();
        if (r.Sequence("tests", required: true) is { } list)
        {
            if (list.Children.Count == 0)
            {
                ctx.Error(list.Start, "tests", "no tests");
            }

            for (var i = 0; i < list.Children.Count; i++)
            {
                if (Map(ctx, list.Children[i], $"tests[{i}]") is { } t && ParseTest(t, interval) is { } test)
                {
                    tests.Add(test);
                }
            }
        }

        r.ReportUnknown();
        return new RuleTestFile(file, ruleFiles, interval, tests);
    }

    private static RuleTestCase? ParseTest(MapReader r, TimeSpan evaluationInterval)
    {
        var ctx = r.Context;
        var name = r.String("name", required: true);
        var interval = r.Duration("interval", min: TimeSpan.FromMilliseconds(1)) ?? evaluationInterval;
        var errors = ctx.Diagnostics.Count;
        var series = Items(r, "input_series", m => ParseSeries(m)).ToList();

        // When a series is wrong, how long the test runs is unknown: its times are not checked against it.
        var steps = series.Count == 0 ? 0 : series.Max(s => s.Values.Count) - 1;
        var span = ctx.Diagnostics.Count > errors ? TimeSpan.MaxValue : steps > TimeSpan.MaxValue.Ticks / interval.Ticks / 2 ? TimeSpan.MaxValue / 2 : interval * steps;
        foreach (var duplicate in series.GroupBy(s => s.Name).Where(g => g.Count() > 1).Select(g => g.Skip(1).First()))
        {
            ctx.Error(Mark(duplicate.Source), r.Field("input_series.series"), $"the series {duplicate.Name} is given twice (merge the values into one entry)");
        }

        if (span != TimeSpan.MaxValue && span.Ticks / evaluationInterval.Ticks >= MaxEvaluations)
        {
            ctx.Error(r.Start, r.Path, $"the input series last {PromDuration.Format(span)}: more than {MaxEvaluations} evaluations at the evaluation_interval of {PromDuration.Format(evaluationInterval)}");
        }

        var changes = Items(r, "changes", m => ParseChange(m)).ToList();
        var expect = Items(r, "expect", m => ParseExpectation(m, evaluationInterval, span)).ToList();
        var gates = Items(r, "gates", m => ParseGate(m, span)).ToList();
        r.ReportUnknown();
        return name is null ? null : new RuleTestCase(name, ctx.Location(r.Node("name")!), interval, series, changes, expect, gates);
    }

    private static InputSeries? ParseSeries(MapReader r)
    {
        var ctx = r.Context;
        var text = r.String("series", required: true, hint: "metric{label=\"value\"}");
        var values = r.String("values", required: true, hint: SeriesNotation.Forms);
        r.ReportUnknown();
        SeriesName? name = null;
        if (text is not null && !SeriesName.TryParse(text, out name, out var bad))
        {
            ctx.Error(Within((YamlScalarNode)r.Node("series")!, bad!.Offset), r.Field("series"), $"'{text}' is not a series: {bad.Message}");
        }

        IReadOnlyList<SeriesPoint>? points = null;
        if (values is not null && !SeriesNotation.TryExpand(values, out points, out var wrong))
        {
            ctx.Error(Within((YamlScalarNode)r.Node("values")!, wrong!.Offset), r.Field("values"), wrong.Message);
            points = null;
        }

        return name is null || points is null ? null : new InputSeries(name, points, ctx.Location(r.Node("series")!));
    }

    private static TestChange? ParseChange(MapReader r)
    {
        var at = r.Duration("at", required: true);
        var policy = r.String("policy", required: true);
        var labels = Labels(r, "labels");
        var change = new
        {
            Revision = r.String("revision"),
            Previous = r.String("previousRevision"),
            By = r.String("by"),
            Description = r.String("description"),
        };
        r.ReportUnknown();
        return at is null || policy is null
            ? null
            : new TestChange(at.Value, policy, labels ?? LabelSet.Empty, r.Context.Location(r.Node("at")!))
            {
                Revision = change.Revision,
                PreviousRevision = change.Previous,
                By = change.By,
                Description = change.Description,
                PolicySource = r.Context.Location(r.Node("policy")!),
            };
    }

    private static ExpectedAction? ParseExpectation(MapReader r, TimeSpan step, TimeSpan span)
    {
        var policy = r.String("policy", required: true);
        var trigger = r.String("trigger", required: true);
        var action = r.Enum("action", RuleTestActions.All, required: true);
        var at = At(r, span, step);
        var labels = Labels(r, "labels");
        r.ReportUnknown();
        return policy is null || trigger is null || action is null
            ? null
            : new ExpectedAction(policy, trigger, action, r.Context.Location(r.Node("policy")!))
            {
                At = at,
                Labels = labels,
                PolicySource = r.Context.Location(r.Node("policy")!),
                TriggerSource = r.Context.Location(r.Node("trigger")!),
            };
    }

    private static ExpectedGate? ParseGate(MapReader r, TimeSpan span)
    {
        var at = At(r, span, step: null, required: true);
        var policy = r.String("policy", required: true);
        var open = r.Bool("open");
        if (open is null && !r.Has("open"))
        {
            r.Node("open", required: true, hint: "true or false");
        }

        var labels = Labels(r, "labels");
        r.ReportUnknown();
        return at is null || policy is null || open is null
            ? null
            : new ExpectedGate(at.Value, policy, open.Value, labels ?? LabelSet.Empty, r.Context.Location(r.Node("at")!)) { PolicySource = r.Context.Location(r.Node("policy")!) };
    }

    /// <summary>An <c>at</c>: within the run, and (for an expected action) on an evaluation.</summary>
    private static TimeSpan? At(MapReader r, TimeSpan span, TimeSpan? step, bool required = false)
    {
        var at = r.Duration("at", required);
        if (at is not { } t)
        {
            return null;
        }

        if (t > span)
        {
            r.Context.Error(r.Node("at")!.Start, r.Field("at"), $"{PromDuration.Format(t)} is after the test's last evaluation, at {PromDuration.Format(span)} (the end of its longest input series)");
            return null;
        }

        if (step is { } s && t.Ticks % s.Ticks != 0)
        {
            var before = TimeSpan.FromTicks(t.Ticks / s.Ticks * s.Ticks);
            r.Context.Error(r.Node("at")!.Start, r.Field("at"), $"{PromDuration.Format(t)} is not an evaluation: they are every {PromDuration.Format(s)} (evaluation_interval), e.g. {PromDuration.Format(before)} or {PromDuration.Format(before + s)}");
            return null;
        }

        return t;
    }

    private static LabelSet? Labels(MapReader r, string key) => PolicyParser.StringMap(r, key) is { } labels ? LabelSet.From(labels) : null;

    /// <summary>Each item of the list <paramref name="key"/> that is a mapping and parses; the others are errors.</summary>
    private static IEnumerable<T> Items<T>(MapReader r, string key, Func<MapReader, T?> parse)
        where T : class
    {
        if (r.Sequence(key) is not { } list)
        {
            yield break;
        }

        for (var i = 0; i < list.Children.Count; i++)
        {
            if (Map(r.Context, list.Children[i], $"{r.Field(key)}[{i}]") is { } m && parse(m) is { } item)
            {
                yield return item;
            }
        }
    }

    private static MapReader? Map(ParseContext ctx, YamlNode node, string path)
    {
        if (node is YamlMappingNode m)
        {
            return new MapReader(ctx, m, path);
        }

        ctx.Error(node.Start, path, $"must be a mapping, got {MapReader.Describe(node)}");
        return null;
    }

    /// <summary>Where the character at <paramref name="offset"/> of a scalar's value is, when that can be told (one line, no escapes).</summary>
    private static Mark Within(YamlScalarNode node, int offset)
    {
        var quote = node.Style is ScalarStyle.SingleQuoted or ScalarStyle.DoubleQuoted ? 1 : 0;
        var exact = node.Start.Line == node.End.Line && node.Style is ScalarStyle.Plain or ScalarStyle.SingleQuoted or ScalarStyle.DoubleQuoted
            && node.End.Column - node.Start.Column == (node.Value?.Length ?? 0) + (2 * quote);
        return exact ? new Mark(node.Start.Index + quote + offset, node.Start.Line, node.Start.Column + quote + offset) : node.Start;
    }

    private static Mark Mark(SourceLocation at) => new(0, at.Line, at.Column);
}
