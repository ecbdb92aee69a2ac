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

    private static string[] Lines(StringWriter w) => w.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);

    [Fact]
    public async Task Validate_ExampleRules_ExitsZeroWithTheSummary()
    {
        var (exit, stdout, stderr) = await Validate(TestPaths.ExampleRules);

        Assert.Equal(ExitCodes.Ok, exit);
        Assert.Equal(["5 file(s), 6 valid policies with 12 trigger(s): 0 error(s), 0 warning(s)"], stdout);
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
        Assert.Equal(["5 file(s), 6 valid policies with 12 trigger(s): 1 error(s), 0 warning(s)"], stdout);
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

    [Fact]
    public async Task Validate_EmptyFolder_ExitsOneSoAMistypedCIPathCannotPass()
    {
        using var dir = new TempDir();

        var (exit, stdout, stderr) = await Validate(dir.Path);

        Assert.Equal(ExitCodes.InvalidRules, exit);
        Assert.Equal(["0 file(s), 0 valid policies with 0 trigger(s): 0 error(s), 0 warning(s)"], stdout);
        Assert.Equal(["error: no rule files (*.yaml, *.yml) found in the given paths"], stderr);
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
