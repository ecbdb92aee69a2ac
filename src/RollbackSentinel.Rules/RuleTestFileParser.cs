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

    /// <summary>
    /// The policies of its <c>rule_files</c>, as the loader given to the parser found them (null when none was given or
    /// the list itself is wrong). When they have errors the tests cannot run, but the test file is not malformed.
    /// </summary>
    public RuleSet? Rules { get; init; }
}

/// <summary>
/// Reads rule test files (<c>rollback-sentinel test</c>, docs/rule-tests.md) into <see cref="RuleTestFile"/>, reporting
/// every problem as <c>file:line:column: field: message</c>, as policies are: unknown fields, bad durations, values in
/// bad notation (at the term), expectations no run could meet (an <c>at</c> off the evaluation grid or after the last
/// evaluation). Given a loader for its <c>rule_files</c>, it also reports in the same pass a rule file it cannot find (at
/// its entry) and every policy or trigger name the rule files do not have (at the name, with its full field path).
/// </summary>
public static class RuleTestFileParser
{
    /// <summary>A rule test's whole run may not need more evaluations than this per policy (a typo in a duration, not a test).</summary>
    public const int MaxEvaluations = 100_000;

    /// <summary>The keys of a rule test file, and nothing else: a file with all of its required ones and no other is one.</summary>
    private static readonly string[] Keys = ["rule_files", "evaluation_interval", "tests"];

    /// <summary>Reads and parses one test file (within <see cref="RuleLimits"/>; never throws).</summary>
    /// <param name="file">The test file.</param>
    /// <param name="loadRules">Loads the rule files it names (resolved against its folder), to check the names it uses.</param>
    public static RuleTestFileParseResult Read(string file, Func<IReadOnlyList<string>, RuleSet>? loadRules = null) => Read(file, loadRules, onlyRuleTests: false)!;

    /// <summary>
    /// Reads a file found in a folder of tests: null when it is not a rule test file (<see cref="IsRuleTestFile"/>: a
    /// policy file kept beside the tests, left to <c>validate</c>). A file that cannot be read or is not YAML is reported.
    /// </summary>
    public static RuleTestFileParseResult? ReadIfRuleTest(string file, Func<IReadOnlyList<string>, RuleSet>? loadRules = null) => Read(file, loadRules, onlyRuleTests: true);

    /// <param name="file">The test file's name, for diagnostics and to resolve its rule files.</param>
    /// <param name="text">Its text.</param>
    /// <param name="loadRules">Loads the rule files it names, to check the names it uses; null: names are not checked.</param>
    public static RuleTestFileParseResult Parse(string file, string text, Func<IReadOnlyList<string>, RuleSet>? loadRules = null) => Parse(file, text, loadRules, onlyRuleTests: false)!;

    private static RuleTestFileParseResult? Read(string file, Func<IReadOnlyList<string>, RuleSet>? loadRules, bool onlyRuleTests)
    {
        ArgumentNullException.ThrowIfNull(file);
        var bytes = RuleFileSystem.ReadRegularFile(file, RuleLimits.MaxFileBytes, out var error);
        if (bytes is null)
        {
            return new RuleTestFileParseResult(null, [new RuleDiagnostic(file, 1, 1, string.Empty, error!)]);
        }

        return RuleSetLoader.TryDecode(file, bytes, out var text, out var bad) ? Parse(file, text, loadRules, onlyRuleTests) : new RuleTestFileParseResult(null, [bad]);
    }

    private static RuleTestFileParseResult? Parse(string file, string text, Func<IReadOnlyList<string>, RuleSet>? loadRules, bool onlyRuleTests)
    {
        ArgumentNullException.ThrowIfNull(file);
        ArgumentNullException.ThrowIfNull(text);
        var ctx = new ParseContext(file);
        if (YamlDocuments.Load(ctx, text) is not { } stream)
        {
            return new RuleTestFileParseResult(null, ctx.Diagnostics);
        }

        if (onlyRuleTests && !IsRuleTestFile(stream))
        {
            return null;
        }

        var documents = stream.Documents.Where(d => d.RootNode is not YamlScalarNode { Value: null or "" or "~" or "null" }).ToArray();
        if (documents.Length != 1 || documents[0].RootNode is not YamlMappingNode root)
        {
            ctx.Error(documents.Length > 1 ? documents[1].RootNode.Start : new Mark(0, 1, 1), string.Empty,
                documents.Length == 0 ? "an empty file: a rule test file holds rule_files and tests" : documents.Length > 1 ? "one document per rule test file" : "a rule test file must be a mapping of rule_files, evaluation_interval and tests");
            return new RuleTestFileParseResult(null, ctx.Diagnostics);
        }

        var (tests, rules) = ParseFile(file, new MapReader(ctx, root, string.Empty), loadRules);
        return new RuleTestFileParseResult(ctx.HasErrors ? null : tests, ctx.Diagnostics) { Rules = rules };
    }

    /// <summary>
    /// Whether a YAML file is a rule test, not policies: one mapping with both <c>rule_files</c> and <c>tests</c> and no
    /// other key than <c>evaluation_interval</c>. Anything else is read as policies, so a broken policy that happens to
    /// have a <c>tests</c> field still has its errors reported.
    /// </summary>
    internal static bool IsRuleTestFile(YamlStream stream) =>
        stream.Documents.Count == 1 && stream.Documents[0].RootNode is YamlMappingNode m
        && m.Children.Keys.Select(k => (k as YamlScalarNode)?.Value).ToArray() is var keys
        && keys.Contains("tests") && keys.Contains("rule_files") && keys.All(k => k is not null && Keys.Contains(k));

    private static (RuleTestFile File, RuleSet? Rules) ParseFile(string file, MapReader r, Func<IReadOnlyList<string>, RuleSet>? loadRules)
    {
        var ctx = r.Context;
        var ruleFiles = new List<(string Path, YamlNode Node)>();
        var errors = ctx.Diagnostics.Count;
        var list = r.Sequence("rule_files", required: true);
        if (list is not null)
        {
            for (var i = 0; i < list.Children.Count; i++)
            {
                var node = list.Children[i];
                if (node is not YamlScalarNode { Value: { Length: > 0 } path } || node is YamlScalarNode { Style: ScalarStyle.Plain, Value: "null" or "~" })
                {
                    ctx.Error(node.Start, $"rule_files[{i}]", $"must be a path to a rule file or folder, got {MapReader.Describe(node)}");
                    continue;
                }

                ruleFiles.Add((Path.IsPathRooted(path) ? path : Path.Combine(Path.GetDirectoryName(file) ?? string.Empty, path), node));
            }

            if (list.Children.Count == 0)
            {
                ctx.Error(list.Start, "rule_files", "no rule files: name the policies' files, relative to this file");
            }
        }

        var rules = list is not null && ctx.Diagnostics.Count == errors && loadRules is not null ? LoadRules(ctx, list, ruleFiles, loadRules) : null;
        var names = rules is { HasErrors: false, Policies.Count: > 0 } ? rules.Policies.ToDictionary(p => p.Name, StringComparer.Ordinal) : null;
        var interval = r.Duration("evaluation_interval", min: TimeSpan.FromSeconds(1)) ?? RuleTestFile.DefaultEvaluationInterval;
        var tests = new List<RuleTestCase>();
        if (r.Sequence("tests", required: true) is { } items)
        {
            if (items.Children.Count == 0)
            {
                ctx.Error(items.Start, "tests", "no tests");
            }

            for (var i = 0; i < items.Children.Count; i++)
            {
                if (Map(ctx, items.Children[i], $"tests[{i}]") is { } t && ParseTest(t, interval, names) is { } test)
                {
                    tests.Add(test);
                }
            }
        }

        r.ReportUnknown();
        return (new RuleTestFile(file, ruleFiles.Select(f => f.Path).ToArray(), interval, tests), rules);
    }

    /// <summary>
    /// The rule files' policies; a file or folder that cannot be found or listed is an error at its entry, and rule files
    /// without a policy one at <c>rule_files</c>. Errors inside the rule files are not this file's: they stay in the set.
    /// </summary>
    private static RuleSet LoadRules(ParseContext ctx, YamlSequenceNode list, IReadOnlyList<(string Path, YamlNode Node)> ruleFiles, Func<IReadOnlyList<string>, RuleSet> loadRules)
    {
        var rules = loadRules([.. ruleFiles.Select(f => f.Path)]);
        foreach (var d in rules.ListingErrors)
        {
            // The entry it is, or is under (a subfolder that cannot be listed).
            var full = Path.GetFullPath(d.File);
            var entry = ruleFiles.Select((f, i) => (Full: Path.GetFullPath(f.Path), f.Node, Index: i))
                .FirstOrDefault(f => full == f.Full || full.StartsWith(f.Full.TrimEnd(Path.DirectorySeparatorChar) + Path.DirectorySeparatorChar, StringComparison.Ordinal));
            ctx.Error(entry.Node?.Start ?? list.Start, entry.Node is null ? "rule_files" : $"rule_files[{entry.Index}]", $"{d.File}: {d.Message}");
        }

        if (rules.ListingErrors.Count == 0 && !rules.HasErrors && rules.Policies.Count == 0)
        {
            ctx.Error(list.Start, "rule_files", $"no policy in {string.Join(", ", rules.Files.Select(f => f.File).DefaultIfEmpty(string.Join(", ", ruleFiles.Select(f => f.Path))))}");
        }

        return rules;
    }

    /// <summary>A policy name the rule files do not have, or a trigger the policy does not have: an error at the name (when <paramref name="names"/> is known).</summary>
    private static void CheckNames(MapReader r, IReadOnlyDictionary<string, Policy>? names, string? policy, string? trigger = null)
    {
        if (names is null || policy is null)
        {
            return;
        }

        if (!names.TryGetValue(policy, out var p))
        {
            r.Context.Error(r.Node("policy")!.Start, r.Field("policy"), $"no policy '{policy}' in the rule files (they have: {string.Join(", ", names.Keys.Order(StringComparer.Ordinal))})");
        }
        else if (trigger is not null && !p.Triggers.Any(t => t.Name == trigger))
        {
            r.Context.Error(r.Node("trigger")!.Start, r.Field("trigger"), $"policy '{policy}' has no trigger '{trigger}' (it has: {string.Join(", ", p.Triggers.Select(t => t.Name))})");
        }
    }

    private static RuleTestCase? ParseTest(MapReader r, TimeSpan evaluationInterval, IReadOnlyDictionary<string, Policy>? names)
    {
        var ctx = r.Context;
        var name = r.String("name", required: true);
        var interval = r.Duration("interval", min: TimeSpan.FromMilliseconds(1)) ?? evaluationInterval;
        var errors = ctx.Diagnostics.Count;
        var indexed = Items(r, "input_series", m => ParseSeries(m)).ToList();
        var series = indexed.Select(s => s.Item).ToList();

        // When a series is wrong, how long the test runs is unknown: its times are not checked against it.
        var steps = series.Count == 0 ? 0 : series.Max(s => s.Values.Count) - 1;
        var span = ctx.Diagnostics.Count > errors ? TimeSpan.MaxValue : steps > TimeSpan.MaxValue.Ticks / interval.Ticks / 2 ? TimeSpan.MaxValue / 2 : interval * steps;

        // Prometheus drops a label with an empty value: up{a=""} is up.
        foreach (var (index, duplicate) in indexed.GroupBy(s => s.Item.Name.Stored).Where(g => g.Count() > 1).SelectMany(g => g.Skip(1)))
        {
            var stored = duplicate.Name.Stored;
            ctx.Error(Mark(duplicate.Source), $"{r.Field("input_series")}[{index}].series", stored == duplicate.Name
                ? $"the series {duplicate.Name} is given twice (merge the values into one entry)"
                : $"the series {duplicate.Name} is {stored}, given twice: a label with an empty value is no label to Prometheus (merge the values into one entry)");
        }

        if (span != TimeSpan.MaxValue && span.Ticks / evaluationInterval.Ticks >= MaxEvaluations)
        {
            ctx.Error(r.Start, r.Path, $"the input series last {PromDuration.Format(span)}: more than {MaxEvaluations} evaluations at the evaluation_interval of {PromDuration.Format(evaluationInterval)}");
        }

        var changes = Items(r, "changes", m => ParseChange(m, names)).Select(x => x.Item).ToList();
        var expect = Items(r, "expect", m => ParseExpectation(m, evaluationInterval, span, names)).Select(x => x.Item).ToList();
        var gates = Items(r, "gates", m => ParseGate(m, span, names)).Select(x => x.Item).ToList();
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

    private static TestChange? ParseChange(MapReader r, IReadOnlyDictionary<string, Policy>? names)
    {
        var at = r.Duration("at", required: true);
        var policy = r.String("policy", required: true);
        CheckNames(r, names, policy);
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
            };
    }

    private static ExpectedAction? ParseExpectation(MapReader r, TimeSpan step, TimeSpan span, IReadOnlyDictionary<string, Policy>? names)
    {
        var policy = r.String("policy", required: true);
        var trigger = r.String("trigger", required: true);
        CheckNames(r, names, policy, trigger);
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
            };
    }

    private static ExpectedGate? ParseGate(MapReader r, TimeSpan span, IReadOnlyDictionary<string, Policy>? names)
    {
        var at = At(r, span, step: null, required: true);
        var policy = r.String("policy", required: true);
        CheckNames(r, names, policy);
        var open = r.Bool("open");
        if (open is null && !r.Has("open"))
        {
            r.Node("open", required: true, hint: "true or false");
        }

        var labels = Labels(r, "labels");
        r.ReportUnknown();
        return at is null || policy is null || open is null
            ? null
            : new ExpectedGate(at.Value, policy, open.Value, labels ?? LabelSet.Empty, r.Context.Location(r.Node("at")!));
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

    /// <summary>Each item of the list <paramref name="key"/> that is a mapping and parses, with its index; the others are errors.</summary>
    private static IEnumerable<(int Index, T Item)> Items<T>(MapReader r, string key, Func<MapReader, T?> parse)
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
                yield return (i, item);
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
