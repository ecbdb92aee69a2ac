using System.Security.Cryptography;
using System.Text;
using RollbackSentinel.Rules.Tests.Support;
using static RollbackSentinel.Rules.Tests.Support.PolicyYaml;

namespace RollbackSentinel.Rules.Tests;

/// <summary>The rules version: a digest of the rule files as loaded, the same for the same files wherever they are.</summary>
public sealed class RulesVersionTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Load_KeepsEachFilesBytes_ForTheVersion()
    {
        _dir.Write("a.yaml", Document(name: "a"));
        _dir.Write("team/b.yml", "\uFEFF" + Document(name: "b"));

        var rules = RuleSetLoader.Load([_dir.Path]);

        Assert.Equal(
            [File.ReadAllBytes(Path.Combine(_dir.Path, "a.yaml")), File.ReadAllBytes(Path.Combine(_dir.Path, "team/b.yml"))],
            rules.Files.Select(f => f.Content.ToArray()));
    }

    [Fact]
    public void Of_IsSha256OfPathNulContentByPath_First12HexDigits_WhateverTheOrderGiven()
    {
        var a = Encoding.UTF8.GetBytes("kind: a\n");
        var b = Encoding.UTF8.GetBytes("kind: b\n");
        var expected = "sha256:" + Convert.ToHexStringLower(SHA256.HashData([.. "a.yaml"u8, 0, .. a, .. "team/b.yaml"u8, 0, .. b]))[..12];

        var version = RulesVersion.Of([("team/b.yaml", b), ("a.yaml", a)]);

        Assert.Equal(expected, version);
        Assert.NotEqual(version, RulesVersion.Of([("a.yaml", a), ("team/c.yaml", b)]));
        Assert.NotEqual(version, RulesVersion.Of([("a.yaml", a), ("team/b.yaml", a)]));
        Assert.Equal("sha256:e3b0c44298fc", RulesVersion.Of([]));
    }

    [Theory]
    [InlineData("/rules", "/rules/team/b.yaml", "team/b.yaml")]
    [InlineData("/rules/", "/rules/a.yaml", "a.yaml")]
    [InlineData(null, "/etc/sentinel/shop.yaml", "shop.yaml")]
    public void RelativePath_IsUnderTheRulesFolder_OrTheFileName(string? folder, string file, string expected) =>
        Assert.Equal(expected, RulesVersion.RelativePath(folder, file));
}
