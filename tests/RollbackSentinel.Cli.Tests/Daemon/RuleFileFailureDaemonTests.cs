using System.Diagnostics;
using System.Text.Json;

namespace RollbackSentinel.Cli.Tests.Daemon;

/// <summary>
/// A running daemon (a real process) whose rules folder goes away, becomes unreadable or gets files that used to
/// crash or freeze it (issue 11, items 9 and 10): the last good policies keep running, the problem is reported in
/// the log, <c>/api/v1/rules</c> and <c>/metrics</c>, and reloads go on.
/// </summary>
[Collection(StartupDaemonCollection.Name)]
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class RuleFileFailureDaemonTests
{
    private static readonly TimeSpan Generous = TimeSpan.FromSeconds(45);

    // Rule loading needs no metrics backend; evaluations against this one fail, which is not what these tests look at.
    private static readonly Uri NoPrometheus = new("http://127.0.0.1:9/");

    private static string Rule(string name) => PolicyYaml.WithWebhook(name, """
        - name: errors
          errorRate:
            errors: sum(rate(errors_total[1m]))
            total: sum(rate(requests_total[1m]))
            max: 0.05
            minTotal: 1
          action: rollback
        """);

    private static async Task<string[]> PolicyNamesAsync(SentinelApi api) =>
        [.. (await api.GetJsonAsync("api/v1/policies")).EnumerateArray().Select(p => p.GetProperty("name").GetString()!).Order(StringComparer.Ordinal)];

    /// <summary>Waits for /api/v1/rules to list <paramref name="file"/> as failed, and returns its errors.</summary>
    private static async Task<string[]> WaitForRuleErrorAsync(SentinelApi api, string file, SentinelProcess sentinel)
    {
        var entry = await Eventually.WaitAsync(
            async () => (await api.GetJsonAsync("api/v1/rules")).EnumerateArray()
                .FirstOrDefault(f => f.GetProperty("file").GetString() == file && !f.GetProperty("valid").GetBoolean()) is { ValueKind: JsonValueKind.Object } f ? (object)f : null,
            Generous,
            $"{file} to be reported as failed" + Environment.NewLine + sentinel.Log);
        return [.. ((JsonElement)entry).GetProperty("errors").EnumerateArray().Select(e => e.GetString()!)];
    }

    [Fact]
    public async Task Reload_RulesFolderRemovedThenReplacedByAFile_KeepsEveryPolicyAndReportsTheFolder()
    {
        using var workspace = new SentinelWorkspace(NoPrometheus);
        workspace.WriteRule("a.yaml", Rule("a"));
        workspace.WriteRule("b.yaml", Rule("b"));
        await using var sentinel = await SentinelProcess.StartAsync(workspace);
        using var api = new SentinelApi(workspace.BaseAddress);
        Assert.Equal(["a", "b"], await PolicyNamesAsync(api));

        Directory.Move(workspace.RulesPath, workspace.RulesPath + ".moved");
        var gone = await WaitForRuleErrorAsync(api, workspace.RulesPath, sentinel);

        Assert.Equal([$"{workspace.RulesPath}:1:1: no such file or folder"], gone);
        Assert.Equal(["a", "b"], await PolicyNamesAsync(api));
        Assert.Contains($"rollback_sentinel_rules_valid{{file=\"{workspace.RulesPath}\"}} 0", await api.Http.GetStringAsync("metrics"));
        Assert.Contains("Cannot list the rules (every policy keeps its last good version", sentinel.Log);
        Assert.DoesNotContain("removed; 0 policies running", sentinel.Log);

        await File.WriteAllTextAsync(workspace.RulesPath, "not a folder\n");
        await Eventually.WaitAsync(
            async () => (await WaitForRuleErrorAsync(api, workspace.RulesPath, sentinel)) is [var e] && e.Contains("it is a file now", StringComparison.Ordinal),
            Generous,
            "the file in place of the folder to be reported");
        Assert.Equal(["a", "b"], await PolicyNamesAsync(api));

        // Back as it was: the error goes, nothing was lost.
        File.Delete(workspace.RulesPath);
        Directory.Move(workspace.RulesPath + ".moved", workspace.RulesPath);
        await Eventually.WaitAsync(
            async () => (await api.GetJsonAsync("api/v1/rules")).EnumerateArray().All(f => f.GetProperty("valid").GetBoolean()),
            Generous,
            "the folder's error to clear");
        Assert.Equal(["a", "b"], await PolicyNamesAsync(api));
    }

    [Fact]
    public async Task Reload_RulesFolderUnreadableToTheDaemonsUser_KeepsEveryPolicyAndReportsIt()
    {
        // As root, chmod 000 changes nothing; the daemon runs as nobody, like in a container with a non-root user.
        using var workspace = new SentinelWorkspace(NoPrometheus);
        workspace.WriteRule("a.yaml", Rule("a"));
        workspace.WriteRule("b.yaml", Rule("b"));
        OpenToEveryone(workspace.Root);
        await using var sentinel = await SentinelProcess.StartAsync(
            workspace,
            ["run", "--config", workspace.ConfigPath],
            new Dictionary<string, string> { ["HOME"] = workspace.Root, ["DOTNET_CLI_HOME"] = workspace.Root },
            launcher: ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]);
        using var api = new SentinelApi(workspace.BaseAddress);
        Assert.Equal(["a", "b"], await PolicyNamesAsync(api));

        File.SetUnixFileMode(workspace.RulesPath, UnixFileMode.None);
        try
        {
            var errors = await WaitForRuleErrorAsync(api, workspace.RulesPath, sentinel);

            Assert.Equal([$"{workspace.RulesPath}:1:1: cannot list the folder: Access to the path '{workspace.RulesPath}' is denied."], errors);
            Assert.Equal(["a", "b"], await PolicyNamesAsync(api));
            Assert.Contains($"rollback_sentinel_rule_load_errors_total{{file=\"{workspace.RulesPath}\"}} 1", await api.Http.GetStringAsync("metrics"));
            Assert.True(await api.IsReadyAsync());
        }
        finally
        {
            File.SetUnixFileMode(workspace.RulesPath, (UnixFileMode)0b111_111_111);
        }
    }

    [Fact]
    public async Task Reload_FilesThatUsedToCrashOrFreezeTheDaemon_AreLocatedErrorsAndReloadsGoOn()
    {
        using var workspace = new SentinelWorkspace(NoPrometheus);
        workspace.WriteRule("a.yaml", Rule("a"));
        await using var sentinel = await SentinelProcess.StartAsync(workspace);
        using var api = new SentinelApi(workspace.BaseAddress);

        workspace.WriteRule("deep.yaml", new string('[', 40_000));
        workspace.WriteRule("braces.yaml", string.Concat(Enumerable.Repeat("{a: ", 20_000)));
        workspace.WriteRule("bomb.yaml", "a0: &a0 [x]\n" +
            string.Concat(Enumerable.Range(1, 11).Select(i => $"a{i}: &a{i} [{string.Join(", ", Enumerable.Repeat($"*a{i - 1}", 10))}]\n")) + "? *a11\n: v\n");
        workspace.WriteRule("tagged.yaml", Rule("tagged").Replace("  name: tagged", "  !!str name: tagged", StringComparison.Ordinal));
        Run("mkfifo", Path.Combine(workspace.RulesPath, "pipe.yaml"));
        File.CreateSymbolicLink(Path.Combine(workspace.RulesPath, "zero.yaml"), "/dev/zero");
        var rules = workspace.RulesPath + "/";

        Assert.Equal([$"{rules}deep.yaml:1:65: mappings and lists nest deeper than 64 levels (the limit of the rules loader)"], await WaitForRuleErrorAsync(api, rules + "deep.yaml", sentinel));
        Assert.Equal([$"{rules}braces.yaml:1:257: mappings and lists nest deeper than 64 levels (the limit of the rules loader)"], await WaitForRuleErrorAsync(api, rules + "braces.yaml", sentinel));
        Assert.Equal([$"{rules}bomb.yaml:5:25: aliases expand to more than 10000 nodes (the limit of the rules loader; an alias bomb?)"], await WaitForRuleErrorAsync(api, rules + "bomb.yaml", sentinel));
        Assert.Equal([$"{rules}pipe.yaml:1:1: is a named pipe, not a regular file: not read"], await WaitForRuleErrorAsync(api, rules + "pipe.yaml", sentinel));
        Assert.Equal([$"{rules}zero.yaml:1:1: is a character device, not a regular file: not read"], await WaitForRuleErrorAsync(api, rules + "zero.yaml", sentinel));
        await Eventually.WaitAsync(async () => (await PolicyNamesAsync(api)).SequenceEqual(["a", "tagged"]), Generous, "the tagged-key policy to load" + Environment.NewLine + sentinel.Log);

        // Reloads are not frozen: a new file is picked up next to all of them.
        workspace.WriteRule("c.yaml", Rule("c"));
        await Eventually.WaitAsync(async () => (await PolicyNamesAsync(api)).SequenceEqual(["a", "c", "tagged"]), Generous, "c.yaml to load" + Environment.NewLine + sentinel.Log);
        Assert.Equal(0, await sentinel.TerminateAsync());
    }

    [Fact]
    public async Task Start_WithFilesThatUsedToStopItStarting_BecomesReadyWithTheGoodPolicyAndStopsOnSigterm()
    {
        using var workspace = new SentinelWorkspace(NoPrometheus);
        workspace.WriteRule("a.yaml", Rule("a"));
        workspace.WriteRule("deep.yaml", new string('[', 40_000));
        workspace.WriteRule("bomb.yaml", "a0: &a0 [x]\n" +
            string.Concat(Enumerable.Range(1, 11).Select(i => $"a{i}: &a{i} [{string.Join(", ", Enumerable.Repeat($"*a{i - 1}", 10))}]\n")) + "? *a11\n: v\n");
        Run("mkfifo", Path.Combine(workspace.RulesPath, "pipe.yaml"));

        await using var sentinel = await SentinelProcess.StartAsync(workspace);
        using var api = new SentinelApi(workspace.BaseAddress);

        Assert.Equal(["a"], await PolicyNamesAsync(api));
        var failed = (await api.GetJsonAsync("api/v1/rules")).EnumerateArray().Where(f => !f.GetProperty("valid").GetBoolean())
            .Select(f => Path.GetFileName(f.GetProperty("file").GetString())).Order(StringComparer.Ordinal);
        Assert.Equal(["bomb.yaml", "deep.yaml", "pipe.yaml"], failed);
        Assert.Equal(0, await sentinel.TerminateAsync());
    }

    [Fact]
    public async Task Run_SettingsNestedTooDeep_ExitsTwoInsteadOfOverflowingTheStack()
    {
        using var dir = new RulesFolder();
        var config = Path.Combine(dir.Path, "sentinel.yaml");
        await File.WriteAllTextAsync(config, "prometheus: " + new string('[', 40_000));

        var run = await CliRun.RunAsync("run", "--config", config);

        Assert.Equal(ExitCodes.Usage, run.ExitCode);
        Assert.Equal($"error: {config}:1:76: mappings and lists nest deeper than 64 levels (the limit of the rules loader)", run.Error.Split('\n')[0]);
    }

    private static void OpenToEveryone(string root)
    {
        File.SetUnixFileMode(root, (UnixFileMode)0b111_111_111);
        foreach (var dir in Directory.GetDirectories(root, "*", SearchOption.AllDirectories))
        {
            File.SetUnixFileMode(dir, (UnixFileMode)0b111_111_111);
        }

        foreach (var file in Directory.GetFiles(root, "*", SearchOption.AllDirectories))
        {
            File.SetUnixFileMode(file, (UnixFileMode)0b110_110_110);
        }
    }

    private static void Run(string file, params string[] args)
    {
        using var p = Process.Start(file, args);
        p.WaitForExit();
        Assert.Equal(0, p.ExitCode);
    }
}
