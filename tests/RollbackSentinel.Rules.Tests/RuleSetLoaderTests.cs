using RollbackSentinel.Rules.Tests.Support;
using static RollbackSentinel.Rules.Tests.Support.PolicyYaml;

namespace RollbackSentinel.Rules.Tests;

public sealed class RuleSetLoaderTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private string Rel(string path) => Path.GetRelativePath(_dir.Path, path);

    [Fact]
    public void Load_Folder_RecursesAndReadsYamlAndYmlOnly()
    {
        _dir.Write("a.yaml", Document(name: "a"));
        _dir.Write("team/b.yml", Document(name: "b"));
        _dir.Write("team/deeper/c.YAML", Document(name: "c"));
        _dir.Write("notes.txt", "not: a policy");
        _dir.Write("team/README.md", "# not a policy");
        _dir.Write("team/a.yaml.bak", Document(name: "backup"));

        var rules = RuleSetLoader.Load([_dir.Path]);

        Assert.Empty(rules.Diagnostics);
        Assert.Equal(["a.yaml", "team/b.yml", "team/deeper/c.YAML"], rules.Files.Select(f => Rel(f.File)));
        Assert.Equal(["a", "b", "c"], rules.Policies.Select(p => p.Name));
    }

    [Fact]
    public void Load_HiddenFilesAndFolders_AreSkipped()
    {
        _dir.Write("visible.yaml", Document(name: "visible"));
        _dir.Write(".hidden.yaml", Document(name: "hidden-file"));
        _dir.Write(".git/config.yaml", Document(name: "in-git"));
        _dir.Write("team/.cache/old.yaml", Document(name: "in-cache"));

        var rules = RuleSetLoader.Load([_dir.Path]);

        Assert.Equal(["visible.yaml"], rules.Files.Select(f => Rel(f.File)));
        Assert.Equal(["visible"], rules.Policies.Select(p => p.Name));
    }

    [Fact]
    public void Load_KubernetesConfigMapMount_ReadsEachFileOnceThroughItsVisibleName()
    {
        // What kubelet mounts for a ConfigMap: a timestamped folder, a ..data link to it, and a link per key.
        _dir.Write("..2026_01_01_00_00_00.000000001/checkout.yaml", Document(name: "checkout"));
        _dir.Write("..2026_01_01_00_00_00.000000001/search.yml", Document(name: "search"));
        Directory.CreateSymbolicLink(Path.Combine(_dir.Path, "..data"), "..2026_01_01_00_00_00.000000001");
        File.CreateSymbolicLink(Path.Combine(_dir.Path, "checkout.yaml"), "..data/checkout.yaml");
        File.CreateSymbolicLink(Path.Combine(_dir.Path, "search.yml"), "..data/search.yml");

        var rules = RuleSetLoader.Load([_dir.Path]);

        Assert.Empty(rules.Diagnostics);
        Assert.Equal(["checkout.yaml", "search.yml"], rules.Files.Select(f => Rel(f.File)));
        Assert.Equal(["checkout", "search"], rules.Policies.Select(p => p.Name));
    }

    [Fact]
    public void Load_FilesCreatedInAnyOrder_AreReadInOrdinalPathOrder()
    {
        foreach (var name in new[] { "z.yaml", "B.yaml", "a/z.yaml", "a.yaml", "b.yaml", "a-b.yaml" })
        {
            _dir.Write(name, Document(name: "p" + name.Replace("/", "-", StringComparison.Ordinal).Replace(".yaml", string.Empty, StringComparison.Ordinal).ToLowerInvariant()));
        }

        var first = RuleSetLoader.Load([_dir.Path]);
        var second = RuleSetLoader.Load([_dir.Path]);

        var expected = new[] { "B.yaml", "a-b.yaml", "a.yaml", "a/z.yaml", "b.yaml", "z.yaml" };
        Assert.Equal(expected, first.Files.Select(f => Rel(f.File)));
        Assert.Equal(expected, second.Files.Select(f => Rel(f.File)));
        Assert.Equal(first.Policies.Select(p => p.Name), second.Policies.Select(p => p.Name));
    }

    [Fact]
    public void Load_SeveralPaths_AreMergedAndSortedTogether()
    {
        var b = _dir.Write("two/b.yaml", Document(name: "b"));
        _dir.Write("one/a.yaml", Document(name: "a"));

        var rules = RuleSetLoader.Load([b, Path.Combine(_dir.Path, "one")]);

        Assert.Equal(["one/a.yaml", "two/b.yaml"], rules.Files.Select(f => Rel(f.File)));
    }

    [Fact]
    public void Load_ExplicitFile_IsReadWhateverItsExtensionOrName()
    {
        var file = _dir.Write(".policy.txt", Document(name: "explicit"));

        var rules = RuleSetLoader.Load([file]);

        Assert.Equal(["explicit"], rules.Policies.Select(p => p.Name));
    }

    [Fact]
    public void Load_FolderAndAFileInIt_ReadsTheFileOnce()
    {
        var file = _dir.Write("a.yaml", Document(name: "a"));

        var rules = RuleSetLoader.Load([_dir.Path, file]);

        Assert.Empty(rules.Diagnostics);
        Assert.Single(rules.Files);
    }

    // Bug: files are deduplicated by their spelling, so the same file reached as "dir/a.yaml" and "dir/./a.yaml"
    // is read twice and its policy reported as a duplicate of itself. Suggested: dedupe on Path.GetFullPath.
    [Fact]
    public void Load_SameFileSpelledTwoWays_ReadsItOnce()
    {
        _dir.Write("a.yaml", Document(name: "a"));

        var rules = RuleSetLoader.Load([_dir.Path, Path.Combine(_dir.Path, ".", "a.yaml")]);

        Assert.Empty(rules.Diagnostics.Select(d => d.ToString()));
        Assert.Single(rules.Files);
    }

    [Fact]
    public void Load_MissingPath_IsAnErrorAndTheOtherPathsStillLoad()
    {
        _dir.Write("a.yaml", Document(name: "a"));
        var missing = Path.Combine(_dir.Path, "no-such-folder");

        var rules = RuleSetLoader.Load([missing, _dir.Path]);

        Assert.Equal([$"{missing}:1:1: no such file or folder"], rules.Diagnostics.Select(d => d.ToString()));
        Assert.True(rules.HasErrors);
        Assert.Equal(["a"], rules.Policies.Select(p => p.Name));
    }

    [Fact]
    public void Load_EmptyFolder_HasNothingAndNoErrors()
    {
        var rules = RuleSetLoader.Load([_dir.Path]);

        Assert.Equal((0, 0, 0), (rules.Files.Count, rules.Policies.Count, rules.Diagnostics.Count));
    }

    [Fact]
    public void Load_BrokenFileBesideGoodOnes_KeepsTheGoodPolicies()
    {
        _dir.Write("a.yaml", Document(name: "a"));
        var broken = _dir.Write("b.yaml", Document(name: "b", spec: "cooldown: later"));
        _dir.Write("c.yaml", Document(name: "c"));

        var rules = RuleSetLoader.Load([_dir.Path]);

        Assert.Equal(["a", "c"], rules.Policies.Select(p => p.Name));
        Assert.Equal([$"{broken}:9:13: spec.cooldown: 'later' is not a duration: expected a number at position 1 (use e.g. 30s, 2m, 1h30m)"], rules.Errors.Select(d => d.ToString()));
    }

    [Fact]
    public void Load_SamePolicyNameTwiceInOneFile_ReportsTheSecondDocument()
    {
        var file = _dir.Write("a.yaml", Document(name: "dup") + "---\n" + Document(name: "dup"));

        var rules = RuleSetLoader.Load([file]);

        Assert.Equal([$"{file}:19:9: metadata.name: policy name 'dup' is already used at {file}:4:9; names must be unique across the rules folder"], rules.Diagnostics.Select(d => d.ToString()));
        Assert.Single(rules.Policies);
    }

    [Fact]
    public void Load_WithCache_ParsesOnlyFilesWhoseBytesChanged_AndForgetsDeletedFiles()
    {
        _dir.Write("a.yaml", Document(name: "a"));
        _dir.Write("b.yaml", Document(name: "b"));
        _dir.Write("broken.yaml", "apiVersion: [");
        var cache = new RuleParseCache();

        var first = RuleSetLoader.Load([_dir.Path], null, cache);
        Assert.Equal(0, cache.LastReused);
        Assert.Equal(["a", "b"], first.Policies.Select(p => p.Name));

        // Nothing changed: every file is the earlier parse, the very same objects, diagnostics included.
        var second = RuleSetLoader.Load([_dir.Path], null, cache);
        Assert.Equal(3, cache.LastReused);
        Assert.Same(first.Policies[0], second.Policies[0]);
        Assert.Same(first.Policies[1], second.Policies[1]);
        Assert.Equal(first.Diagnostics.Select(d => d.ToString()), second.Diagnostics.Select(d => d.ToString()));
        Assert.NotEmpty(second.Errors);

        // b changes (same length would do as well: bytes are compared, not sizes or times), a is deleted.
        _dir.Write("b.yaml", Document(name: "b2"));
        File.Delete(Path.Combine(_dir.Path, "a.yaml"));
        var third = RuleSetLoader.Load([_dir.Path], null, cache);
        Assert.Equal(1, cache.LastReused); // broken.yaml only
        Assert.Equal(["b2"], third.Policies.Select(p => p.Name));

        // a comes back with its old bytes: parsed again, not taken from a cache that should have forgotten it.
        _dir.Write("a.yaml", Document(name: "a"));
        var fourth = RuleSetLoader.Load([_dir.Path], null, cache);
        Assert.Equal(2, cache.LastReused);
        Assert.Equal(["a", "b2"], fourth.Policies.Select(p => p.Name));
        Assert.NotSame(first.Policies[0], fourth.Policies[0]);
    }

    [Fact]
    public void Load_WithCache_SameLengthEdit_IsParsedAgain()
    {
        _dir.Write("a.yaml", Document(name: "aaa"));
        var cache = new RuleParseCache();
        Assert.Equal(["aaa"], RuleSetLoader.Load([_dir.Path], null, cache).Policies.Select(p => p.Name));

        _dir.Write("a.yaml", Document(name: "bbb"));

        Assert.Equal(["bbb"], RuleSetLoader.Load([_dir.Path], null, cache).Policies.Select(p => p.Name));
        Assert.Equal(0, cache.LastReused);
    }

    [Fact]
    public void Load_WithCache_SettledUnchangedFile_IsNotReadAgain_UntilReadAgainAfter()
    {
        _dir.Write("a.yaml", Document(name: "a"));
        _dir.Write("b.yaml", Document(name: "b"));

        var cache = SettledCache(out var clock);
        var first = RuleSetLoader.Load([_dir.Path], null, cache);
        Assert.Equal((0, 0), (cache.LastReused, cache.LastUnread));

        var second = RuleSetLoader.Load([_dir.Path], null, cache);
        Assert.Equal((2, 2), (cache.LastReused, cache.LastUnread));
        Assert.Same(first.Policies[0], second.Policies[0]);

        // Past ReadAgainAfter the bytes are read and compared again (and found the same), then trusted again.
        clock.Shift += RuleParseCache.ReadAgainAfter;
        var third = RuleSetLoader.Load([_dir.Path], null, cache);
        Assert.Equal((2, 0), (cache.LastReused, cache.LastUnread));
        Assert.Same(first.Policies[1], third.Policies[1]);
        RuleSetLoader.Load([_dir.Path], null, cache);
        Assert.Equal((2, 2), (cache.LastReused, cache.LastUnread));
    }

    [Fact]
    public void Load_WithCache_SettledFileEditedInPlace_SameLength_IsReadAndParsedAgain()
    {
        _dir.Write("a.yaml", Document(name: "aaa"));
        var cache = SettledCache(out _);
        RuleSetLoader.Load([_dir.Path], null, cache);
        RuleSetLoader.Load([_dir.Path], null, cache);
        Assert.Equal(1, cache.LastUnread);

        // Same inode, same size: only the times moved.
        File.WriteAllText(Path.Combine(_dir.Path, "a.yaml"), Document(name: "bbb"));

        Assert.Equal(["bbb"], RuleSetLoader.Load([_dir.Path], null, cache).Policies.Select(p => p.Name));
        Assert.Equal((0, 0), (cache.LastReused, cache.LastUnread));
    }

    [Fact]
    public void Load_WithCache_FileChangedJustBeforeItsRead_IsReadAgainNextTime()
    {
        // Read in the same moment it was written: its times cannot vouch for a second write in the same tick.
        _dir.Write("a.yaml", Document(name: "a"));
        var cache = new RuleParseCache(TimeProvider.System);
        RuleSetLoader.Load([_dir.Path], null, cache);

        RuleSetLoader.Load([_dir.Path], null, cache);

        Assert.Equal((1, 0), (cache.LastReused, cache.LastUnread));
    }

    [Fact]
    public void Load_WithCache_FileReplacedByRename_IsReadAtOnce()
    {
        // How git-sync and ConfigMaps update: a new file moved over the old name (a new inode), older times kept.
        _dir.Write("a.yaml", Document(name: "a"));
        var cache = SettledCache(out _);
        RuleSetLoader.Load([_dir.Path], null, cache);
        var staged = Path.Combine(_dir.Path, "a.yaml.tmp");
        File.WriteAllText(staged, Document(name: "z"));
        File.SetLastWriteTimeUtc(staged, File.GetLastWriteTimeUtc(Path.Combine(_dir.Path, "a.yaml")));
        File.Move(staged, Path.Combine(_dir.Path, "a.yaml"), overwrite: true);

        Assert.Equal(["z"], RuleSetLoader.Load([_dir.Path], null, cache).Policies.Select(p => p.Name));
        Assert.Equal(0, cache.LastUnread);
    }

    /// <summary>A cache whose clock runs 10 s ahead of the files' times: a file written just now counts as settled.</summary>
    private static RuleParseCache SettledCache(out ShiftedClock clock)
    {
        clock = new ShiftedClock(TimeSpan.FromSeconds(10));
        return new RuleParseCache(clock);
    }

    /// <summary>The system's clock moved by <see cref="Shift"/>.</summary>
    private sealed class ShiftedClock(TimeSpan shift) : TimeProvider
    {
        public TimeSpan Shift { get; set; } = shift;

        public override DateTimeOffset GetUtcNow() => base.GetUtcNow() + Shift;
    }
}
