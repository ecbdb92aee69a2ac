using System.Text.RegularExpressions;
using RollbackSentinel.Cli;
using RollbackSentinel.Rules.Tests.Support;
using static RollbackSentinel.Rules.Tests.Support.PolicyYaml;

namespace RollbackSentinel.Rules.Tests;

/// <summary>The <c>validate</c> verb run in-process, as a user or CI job would run it.</summary>
public sealed partial class ValidateCommandTests
{
    private static async Task<(int Exit, string[] Out, string[] Err)> Validate(params string[] paths)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();

        var exit = await CliApp.RunAsync(["validate", .. paths], output, error);

        return (exit, Lines(output), Lines(error));
    }

    /// <summary>validate's summary of rules/: its policies, and the example rules' tests in rules/tests/, recognised and skipped.</summary>
    private static string ExampleRulesSummary(int errors) =>
        $"6 file(s), 7 valid policies with 13 trigger(s): {errors} error(s), 0 warning(s); skipped {Directory.GetFiles(Path.Combine(TestPaths.ExampleRules, "tests"), "*.yaml").Length} rule test file(s)";

    private static string[] Lines(StringWriter w) => w.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);

    [Fact]
    public async Task Validate_ExampleRules_ExitsZeroWithTheSummary()
    {
        var (exit, stdout, stderr) = await Validate(TestPaths.ExampleRules);

        Assert.Equal(ExitCodes.Ok, exit);
        Assert.Equal([ExampleRulesSummary(errors: 0)], stdout);
        Assert.Empty(stderr);
    }

    [Fact]
    public async Task Validate_BrokenFolder_ExitsOneAndListsEveryErrorAsFileLineColumnInOrder()
    {
        var (exit, stdout, stderr) = await Validate(TestPaths.BrokenDir);

        Assert.Equal(ExitCodes.InvalidRules, exit);
        var prefix = TestPaths.BrokenDir + Path.DirectorySeparatorChar;
        Assert.All(stderr, line => Assert.Matches(LocatedLine(), line.StartsWith(prefix, StringComparison.Ordinal) ? line[prefix.Length..] : line));
        Assert.Contains($"{prefix}bad-duration.yaml:12:15: spec.schedule.interval: '15x' is not a duration: unknown unit 'x' (use ms, s, m, h, d, w, y)", stderr);
        Assert.Contains($"{prefix}unknown-field.yaml:10:3: spec.schedul: unknown field 'schedul' (did you mean 'schedule'?)", stderr);
        Assert.Contains($"{prefix}duplicate-policy-name{Path.DirectorySeparatorChar}second.yaml:5:9: metadata.name: policy name 'checkout' is already used at {prefix}duplicate-policy-name{Path.DirectorySeparatorChar}first.yaml:4:9; names must be unique across the rules folder", stderr);

        // Sorted by file, then line, then column: the order an editor's problem list uses.
        var keys = stderr.Select(l => LocatedLine().Match(l[prefix.Length..])).Select(m => (File: m.Groups["file"].Value, Line: int.Parse(m.Groups["line"].Value, System.Globalization.CultureInfo.InvariantCulture), Column: int.Parse(m.Groups["col"].Value, System.Globalization.CultureInfo.InvariantCulture))).ToArray();
        Assert.Equal(keys.OrderBy(k => k.File, StringComparer.Ordinal).ThenBy(k => k.Line).ThenBy(k => k.Column), keys);

        var files = Directory.GetFiles(TestPaths.BrokenDir, "*.yaml", SearchOption.AllDirectories).Length;
        Assert.Equal([$"{files} file(s), 2 valid policies with 2 trigger(s): {stderr.Length} error(s), 0 warning(s)"], stdout);
        Assert.Equal(59, stderr.Length);
    }

    [Fact]
    public async Task Validate_OneBrokenFile_PrintsExactlyItsErrors()
    {
        var file = TestPaths.Broken("wrong-api-version-and-kind.yaml");

        var (exit, stdout, stderr) = await Validate(file);

        Assert.Equal(ExitCodes.InvalidRules, exit);
        Assert.Equal(
            [
                $"{file}:1:13: apiVersion: must be 'rollback-sentinel/v1', got 'rollback-sentinel/v2'",
                $"{file}:2:7: kind: must be 'RollbackPolicy', got 'AlertRule'",
            ],
            stderr);
        Assert.Equal(["1 file(s), 0 valid policies with 0 trigger(s): 2 error(s), 0 warning(s)"], stdout);
    }

    [Fact]
    public async Task Validate_NonexistentPath_ExitsOneAndNamesThePath()
    {
        var missing = Path.Combine(Path.GetTempPath(), "rs-no-such-rules-" + Guid.NewGuid().ToString("N"));

        var (exit, stdout, stderr) = await Validate(missing);

        Assert.Equal(ExitCodes.InvalidRules, exit);
        Assert.Equal([$"{missing}:1:1: no such file or folder"], stderr);
        Assert.Equal(["0 file(s), 0 valid policies with 0 trigger(s): 1 error(s), 0 warning(s)"], stdout);
    }

    [Fact]
    public async Task Validate_ValidRulesAndANonexistentPath_StillExitsOne()
    {
        var missing = Path.Combine(TestPaths.ExampleRules, "no-such-file.yaml");

        var (exit, stdout, _) = await Validate(TestPaths.ExampleRules, missing);

        Assert.Equal(ExitCodes.InvalidRules, exit);
        Assert.Equal([ExampleRulesSummary(errors: 1)], stdout);
    }

    [Fact]
    public async Task Validate_BurnRateWithoutMinTotal_ExitsZeroAndWarnsAboutLowTraffic()
    {
        using var dir = new TempDir();
        var file = dir.Write("slo.yaml", WithTrigger("burnRate:\n  objective: 99.9\n  errors: sum(rate(e[{{window}}]))\n  total: sum(rate(t[{{window}}]))"));

        var (exit, stdout, stderr) = await Validate(file);

        Assert.Equal(ExitCodes.Ok, exit);
        Assert.StartsWith($"{file}:11:7: warning: spec.triggers[0].burnRate.minTotal: not set, so even one request is enough traffic", Assert.Single(stderr), StringComparison.Ordinal);
        Assert.Equal(["1 file(s), 1 valid policy with 1 trigger(s): 0 error(s), 1 warning(s)"], stdout);
    }

    [Fact]
    public async Task Validate_BurnRateQueryWithoutTheWindow_FailsAtTheField()
    {
        using var dir = new TempDir();
        var file = dir.Write("slo.yaml", WithTrigger("burnRate:\n  objective: 99.9\n  errors: sum(rate(e[5m]))\n  total: sum(rate(t[{{window}}]))\n  minTotal: 1"));

        var (exit, stdout, stderr) = await Validate(file);

        Assert.Equal(ExitCodes.InvalidRules, exit);
        Assert.Equal([$"{file}:13:17: spec.triggers[0].burnRate.errors: must contain {{{{window}}}} where each window goes, e.g. sum(rate(http_requests_total[{{{{window}}}}]))"], stderr);
        Assert.Equal(["1 file(s), 0 valid policies with 0 trigger(s): 1 error(s), 0 warning(s)"], stdout);
    }

    [Fact]
    public async Task Validate_WarningsOnly_ExitsZeroAndPrintsTheWarning()
    {
        using var dir = new TempDir();
        var file = dir.Write("slow.yaml", Document(spec: "schedule:\n  interval: 1m", triggers: AvailabilityTrigger + "\n  for: 30s"));

        var (exit, stdout, stderr) = await Validate(file);

        Assert.Equal(ExitCodes.Ok, exit);
        Assert.Equal([$"{file}:17:12: warning: spec.triggers[0].for: 'for' (30s) is shorter than the interval (1m): the trigger fires on its second breaching evaluation"], stderr);
        Assert.Equal(["1 file(s), 1 valid policy with 1 trigger(s): 0 error(s), 1 warning(s)"], stdout);
    }

    [Theory]
    [InlineData(false, "no rule files (*.yaml, *.yml) in this folder", "")]
    [InlineData(true, "no rule files (*.yaml, *.yml) in this folder, only rule test files (1 skipped)", "; skipped 1 rule test file(s)")]
    public async Task Validate_EmptyFolderOrOnlyRuleTests_ExitsOneSoAMistypedCIPathCannotPass(bool ruleTest, string error, string skipped)
    {
        using var dir = new TempDir();
        if (ruleTest)
        {
            dir.Write("t.yaml", "rule_files: [../p.yaml]\ntests: []\n");
        }

        var (exit, stdout, stderr) = await Validate(dir.Path);

        // One error naming the folder, counted in the summary: "0 error(s)" with exit 1 contradicted itself.
        Assert.Equal(ExitCodes.InvalidRules, exit);
        Assert.Equal([$"{dir.Path}:1:1: {error}"], stderr);
        Assert.Equal([$"0 file(s), 0 valid policies with 0 trigger(s): 1 error(s), 0 warning(s){skipped}"], stdout);
    }

    [Fact]
    public async Task Validate_FolderWithoutRuleFilesNextToValidRules_IsAnErrorNamingIt()
    {
        using var dir = new TempDir();
        dir.Write("README.md", "# docs, not rules");

        var (exit, stdout, stderr) = await Validate(TestPaths.ExampleRules, dir.Path);

        Assert.Equal(ExitCodes.InvalidRules, exit);
        Assert.Equal([$"{dir.Path}:1:1: no rule files (*.yaml, *.yml) in this folder"], stderr);
        Assert.Equal([ExampleRulesSummary(errors: 1)], stdout);
    }

    [Fact]
    public async Task Validate_EmptyFileAndFileOfNuls_WarnsAndErrsWithPositions()
    {
        using var dir = new TempDir();
        dir.Write("empty.yaml", string.Empty);
        File.WriteAllBytes(System.IO.Path.Combine(dir.Path, "nul.yaml"), [.. "a: b\n"u8, 0, 0, 0]);

        var (exit, stdout, stderr) = await Validate(dir.Path);

        Assert.Equal(ExitCodes.InvalidRules, exit);
        Assert.Equal(
            [
                $"{dir.Path}/empty.yaml:1:1: warning: no policy in this file",
                $"{dir.Path}/nul.yaml:2:1: binary content: a NUL byte is not allowed in a YAML file",
            ],
            stderr);
        Assert.Equal(["2 file(s), 0 valid policies with 0 trigger(s): 1 error(s), 1 warning(s)"], stdout);
    }

    [Fact]
    public async Task Validate_ValueWithNewlines_PrintsOneLinePerDiagnostic()
    {
        using var dir = new TempDir();
        var file = dir.Write("p.yaml", Document(name: "\"a\\nb.yaml:1:1: fake\""));

        var (exit, _, stderr) = await Validate(file);

        Assert.Equal(ExitCodes.InvalidRules, exit);
        var line = Assert.Single(stderr);
        Assert.StartsWith($"{file}:4:9: metadata.name: 'a\\nb.yaml:1:1: fake' is not a valid name", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Validate_FormatJson_PrintsOneDocumentWithFilesPoliciesAndLocatedDiagnostics()
    {
        using var dir = new TempDir();
        var good = dir.Write("good.yaml", Document(name: "good"));
        var bad = dir.Write("bad.yaml", Document(name: "bad", spec: "cooldown: \"soon\\nnow\""));

        using var output = new StringWriter();
        using var error = new StringWriter();
        var exit = await CliApp.RunAsync(["validate", "--format", "json", dir.Path], output, error);

        Assert.Equal(ExitCodes.InvalidRules, exit);
        Assert.Empty(error.ToString());
        using var json = System.Text.Json.JsonDocument.Parse(output.ToString());
        var root = json.RootElement;
        Assert.Equal([bad, good], root.GetProperty("files").EnumerateArray().Select(f => f.GetProperty("file").GetString()));
        var policy = Assert.Single(root.GetProperty("policies").EnumerateArray());
        Assert.Equal(("good", good, 4, 9), (policy.GetProperty("name").GetString(), policy.GetProperty("file").GetString(), policy.GetProperty("line").GetInt32(), policy.GetProperty("column").GetInt32()));
        var d = Assert.Single(root.GetProperty("diagnostics").EnumerateArray());
        Assert.Equal(
            (bad, 9, 13, "spec.cooldown", "error", "'soon\nnow' is not a duration: expected a number at position 1 (use e.g. 30s, 2m, 1h30m)"),
            (d.GetProperty("file").GetString(), d.GetProperty("line").GetInt32(), d.GetProperty("column").GetInt32(), d.GetProperty("field").GetString(), d.GetProperty("severity").GetString(), d.GetProperty("message").GetString()));
        Assert.Equal((1, 0), (root.GetProperty("errors").GetInt32(), root.GetProperty("warnings").GetInt32()));
    }

    [Fact]
    public async Task Validate_FormatJson_ListsRuleTestFilesAsSkippedNotAsFiles()
    {
        using var dir = new TempDir();
        var good = dir.Write("good.yaml", Document(name: "good"));
        var test = dir.Write("t.yaml", "rule_files: [good.yaml]\ntests: []\n");

        using var output = new StringWriter();
        using var error = new StringWriter();
        var exit = await CliApp.RunAsync(["validate", "--format", "json", dir.Path], output, error);

        Assert.Equal((ExitCodes.Ok, string.Empty), (exit, error.ToString()));
        using var json = System.Text.Json.JsonDocument.Parse(output.ToString());
        Assert.Equal([good], json.RootElement.GetProperty("files").EnumerateArray().Select(f => f.GetProperty("file").GetString()));
        Assert.Equal([test], json.RootElement.GetProperty("skippedRuleTests").EnumerateArray().Select(f => f.GetString()));
    }

    [Fact]
    public async Task Validate_NoPaths_IsRejectedBeforeReadingAnything()
    {
        var (exit, stdout, stderr) = await Validate();

        // A wrong command line is a usage error (2), told apart from "the rules have errors" (1).
        Assert.Equal(ExitCodes.Usage, exit);
        Assert.Equal(["error: Required argument missing for command: 'validate'.", "Run 'rollback-sentinel --help' for usage."], stderr);
        Assert.DoesNotContain(stdout, l => l.Contains("file(s)", StringComparison.Ordinal));
    }

    [GeneratedRegex(@"^(?<file>[^:]+\.yaml):(?<line>[0-9]+):(?<col>[0-9]+): (warning: )?\S.*$")]
    private static partial Regex LocatedLine();
}
