using System.Diagnostics;
using RollbackSentinel.Rules.Tests.Support;
using static RollbackSentinel.Rules.Tests.Support.PolicyYaml;

namespace RollbackSentinel.Rules.Tests;

/// <summary>
/// Small files that used to crash, hang or starve the loader (issue 11, item 10): each is one located error in its
/// own file, and the good file next to it still loads.
/// </summary>
public sealed class RuleFileSafetyTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    public static string AliasBomb() =>
        "a0: &a0 [x]\n" +
        string.Concat(Enumerable.Range(1, 11).Select(i => $"a{i}: &a{i} [{string.Join(", ", Enumerable.Repeat($"*a{i - 1}", 10))}]\n")) +
        "? *a11\n: v\n";

    /// <summary>Loads the folder with one good policy and <paramref name="bad"/>; returns the bad file's diagnostics.</summary>
    private RuleDiagnostic[] LoadNextToAGoodFile(string badName, Action<string> makeBad)
    {
        _dir.Write("good.yaml", Document(name: "good"));
        var bad = Path.Combine(_dir.Path, badName);
        makeBad(bad);

        var load = Task.Run(() => RuleSetLoader.Load([_dir.Path]));
        Assert.True(load.Wait(TimeSpan.FromSeconds(30)), "the loader hung");
        var rules = load.Result;

        Assert.Equal(["good"], rules.Policies.Select(p => p.Name));
        Assert.All(rules.Diagnostics, d => Assert.Equal(bad, d.File));
        return [.. rules.Diagnostics];
    }

    [Theory]
    [InlineData(40_000, "[")]
    [InlineData(20_000, "{a: ")]
    public void Load_DeeplyNestedFlowCollections_IsOneDepthErrorNotAStackOverflow(int count, string opener)
    {
        var d = Assert.Single(LoadNextToAGoodFile("deep.yaml", f => File.WriteAllText(f, string.Concat(Enumerable.Repeat(opener, count)))));

        Assert.Equal((1, DiagnosticSeverity.Error), (d.Line, d.Severity));
        Assert.Equal(RuleLimits.MaxDepth * opener.Length + 1, d.Column);
        Assert.Equal($"mappings and lists nest deeper than {RuleLimits.MaxDepth} levels (the limit of the rules loader)", d.Message);
    }

    [Fact]
    public void Load_AliasBombAsAMappingKey_IsOneExpansionErrorAndReturnsAtOnce()
    {
        var d = Assert.Single(LoadNextToAGoodFile("bomb.yaml", f => File.WriteAllText(f, AliasBomb())));

        Assert.Equal((5, 25), (d.Line, d.Column));
        Assert.Equal($"aliases expand to more than {RuleLimits.MaxAliasExpansion} nodes (the limit of the rules loader; an alias bomb?)", d.Message);
    }

    [Fact]
    public void Parse_SmallAliasOfAListUsedAsAKey_IsReportedAsANonStringKey()
    {
        var result = PolicyParser.Parse("p.yaml", "x: &a [1, 2]\n? *a\n: v\n");

        Assert.Contains("p.yaml:2:3: keys must be plain strings", result.Diagnostics.Select(d => d.ToString()));
    }

    [Fact]
    public void Parse_ExplicitTagOnAKey_ReadsTheKeyLikeAnyOther()
    {
        var text = Document().Replace("  name: checkout", "  !!str name: checkout", StringComparison.Ordinal);

        var result = PolicyParser.Parse("p.yaml", text);

        Assert.Empty(result.Diagnostics);
        var policy = Assert.Single(result.Policies);
        Assert.Equal(("checkout", "p.yaml:4:15"), (policy.Name, policy.Source!.ToString()));
    }

    [Fact]
    public void Load_NamedPipe_IsAnErrorAndIsNeverOpened()
    {
        var d = Assert.Single(LoadNextToAGoodFile("pipe.yaml", f => Run("mkfifo", f)));

        Assert.Equal("1:1: is a named pipe, not a regular file: not read", $"{d.Line}:{d.Column}: {d.Message}");
    }

    [Fact]
    public void Load_LinkToDevZero_IsAnErrorWithoutReadingIt()
    {
        var d = Assert.Single(LoadNextToAGoodFile("zero.yaml", f => File.CreateSymbolicLink(f, "/dev/zero")));

        Assert.Equal("is a character device, not a regular file: not read", d.Message);
    }

    [Fact]
    public void Load_FileLargerThanTheLimit_IsAnErrorAndIsNotParsed()
    {
        var d = Assert.Single(LoadNextToAGoodFile("big.yaml", f => File.WriteAllText(f, "# " + new string('x', (int)RuleLimits.MaxFileBytes) + "\n")));

        Assert.Equal("the file is larger than 1024 KiB (the limit of the rules loader): not read", d.Message);
    }

    [Fact]
    public void Load_FolderLinkBackToAnAncestor_IsReportedOnceAndNotFollowed()
    {
        _dir.Write("team/inner.yaml", Document(name: "inner"));
        Directory.CreateSymbolicLink(Path.Combine(_dir.Path, "team", "up"), _dir.Path);

        var rules = RuleSetLoader.Load([_dir.Path]);

        Assert.Equal(["inner"], rules.Policies.Select(p => p.Name));
        var d = Assert.Single(rules.Diagnostics);
        Assert.Equal($"{_dir.Path}/team/up:1:1: leads back to the folder {_dir.Path} (a link loop): not followed", d.ToString());
    }

    [Fact]
    public void Load_FileLinksInALoop_AreErrorsNamingTheLoop()
    {
        _dir.Write("good.yaml", Document(name: "good"));
        File.CreateSymbolicLink(Path.Combine(_dir.Path, "a.yaml"), "b.yaml");
        File.CreateSymbolicLink(Path.Combine(_dir.Path, "b.yaml"), "a.yaml");

        var rules = RuleSetLoader.Load([_dir.Path]);

        Assert.Equal(["good"], rules.Policies.Select(p => p.Name));
        Assert.Equal(
            [
                $"{_dir.Path}/a.yaml:1:1: too many levels of symbolic links (a link loop)",
                $"{_dir.Path}/b.yaml:1:1: too many levels of symbolic links (a link loop)",
            ],
            rules.Diagnostics.Select(d => d.ToString()).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Load_FileOfNulBytes_IsABinaryContentError()
    {
        var d = Assert.Single(LoadNextToAGoodFile("nul.yaml", f => File.WriteAllBytes(f, new byte[64])));

        Assert.Equal("1:1: binary content: a NUL byte is not allowed in a YAML file", $"{d.Line}:{d.Column}: {d.Message}");
    }

    [Fact]
    public void Load_InvalidUtf8_IsAnErrorAtTheBadByte()
    {
        var d = Assert.Single(LoadNextToAGoodFile("latin1.yaml", f => File.WriteAllBytes(f, [.. "a: b\nc: d"u8, 0xE9, .. "\n"u8])));

        Assert.Equal("2:5: binary content: byte 0xE9 is not UTF-8 text (a rule file must be UTF-8 YAML)", $"{d.Line}:{d.Column}: {d.Message}");
    }

    [Fact]
    public void Load_EmptyFile_WarnsNoPolicyInThisFile()
    {
        var d = Assert.Single(LoadNextToAGoodFile("empty.yaml", f => File.WriteAllText(f, string.Empty)));

        Assert.Equal(DiagnosticSeverity.Warning, d.Severity);
        Assert.Equal($"{_dir.Path}/empty.yaml:1:1: warning: no policy in this file", d.ToString());
    }

    [Fact]
    public void Parse_TooManyDocuments_IsOneError()
    {
        var text = string.Concat(Enumerable.Repeat("---\nx: 1\n", RuleLimits.MaxDocuments + 1));

        var result = PolicyParser.Parse("p.yaml", text);

        var d = Assert.Single(result.Diagnostics, d => d.Message.StartsWith("more than", StringComparison.Ordinal));
        Assert.Equal($"p.yaml:{(2 * RuleLimits.MaxDocuments) + 1}:1: more than {RuleLimits.MaxDocuments} documents in one file (the limit of the rules loader)", d.ToString());
    }

    [Fact]
    public void Load_FolderThatCannotBeListed_IsAListingErrorAndTheOthersStillLoad()
    {
        _dir.Write("good.yaml", Document(name: "good"));
        _dir.Write("team/hidden-by-failure.yaml", Document(name: "team"));
        var team = Path.Combine(_dir.Path, "team");

        var rules = RuleSetLoader.Load([_dir.Path], folder => folder == team
            ? throw new UnauthorizedAccessException($"Access to the path '{team}' is denied.")
            : Directory.EnumerateFileSystemEntries(folder));

        Assert.Equal(["good"], rules.Policies.Select(p => p.Name));
        var error = Assert.Single(rules.ListingErrors);
        Assert.Equal($"{team}:1:1: cannot list the folder: Access to the path '{team}' is denied.", error.ToString());
        Assert.Contains(error, rules.Diagnostics);
    }

    [Fact]
    public void List_NotRecursive_TakesTheFolderOwnRuleFilesAndReportsOneItCannotList()
    {
        var a = _dir.Write("a.yaml", "x");
        _dir.Write("notes.txt", "x");
        _dir.Write("sub/b.yaml", "x");
        var named = _dir.Write("named.txt", "x");
        var locked = Path.Combine(_dir.Path, "locked");
        Directory.CreateDirectory(locked);

        var listing = RuleSetLoader.List([_dir.Path, named, locked], folder => folder == locked
            ? throw new UnauthorizedAccessException($"Access to the path '{locked}' is denied.")
            : Directory.EnumerateFileSystemEntries(folder), recursive: false);

        Assert.Equal($"{named} | {a} | {_dir.Path}, {locked}", $"{string.Join(", ", listing.Named)} | {string.Join(", ", listing.Found)} | {string.Join(", ", listing.Folders)}");
        Assert.Equal($"{locked}:1:1: cannot list the folder: Access to the path '{locked}' is denied.", string.Join('\n', listing.Problems));
    }

    [Theory]
    [InlineData("metadata:\n  name: x\n\tkind: y\n", 3, 1)]
    [InlineData("a: b\nmetadata:\n\tname: x\n", 3, 1)]
    [InlineData("a:\n  b: 1\n  \tc: 2\n", 3, 3)]
    public void Parse_TabUsedAsIndentation_IsReportedAtTheTab(string text, int line, int column)
    {
        var d = Assert.Single(PolicyParser.Parse("p.yaml", text).Diagnostics);

        Assert.Equal($"p.yaml:{line}:{column}: YAML syntax error: a tab is used for indentation; YAML indents with spaces only", d.ToString());
    }

    [Fact]
    public void Diagnostic_ValueWithANewline_StaysOnOneLine()
    {
        var text = Document(spec: "cooldown: \"soon\\nrules/x.yaml:1:1: all good\"");

        var lines = PolicyParser.Parse("p.yaml", text).Diagnostics.Select(d => d.ToString()).ToArray();

        var line = Assert.Single(lines);
        Assert.DoesNotContain('\n', line);
        Assert.Equal(@"p.yaml:9:13: spec.cooldown: 'soon\nrules/x.yaml:1:1: all good' is not a duration: expected a number at position 1 (use e.g. 30s, 2m, 1h30m)", line);
    }

    private static void Run(string file, params string[] args)
    {
        using var p = Process.Start(file, args);
        p.WaitForExit();
        Assert.Equal(0, p.ExitCode);
    }
}
