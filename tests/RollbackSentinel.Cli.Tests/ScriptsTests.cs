using System.Diagnostics;

namespace RollbackSentinel.Cli.Tests;

/// <summary>A newcomer's first commands: scripts/install, dotnet run from the repository, and script output in files.</summary>
public sealed class ScriptsTests
{
    private static async Task<(int ExitCode, string Output)> RunAsync(string file, IEnumerable<string> args, string workingDirectory, IReadOnlyDictionary<string, string>? environment = null)
    {
        var info = new ProcessStartInfo(file) { WorkingDirectory = workingDirectory, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        foreach (var (k, v) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[k] = v;
        }

        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(10));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await stdout + await stderr);
    }

    [Fact]
    public async Task Step_OutputToAFile_HasNoEscapeCodes()
    {
        var (_, output) = await RunAsync("bash", ["-c", "source scripts/lib/output.sh && step Building"], RepoRoot.Path);

        Assert.Equal("\n==> Building\n", output);
    }

    [Fact]
    public async Task Step_OnATerminal_IsBoldUnlessNoColorIsSet()
    {
        // script(1) gives the command a terminal and copies what it printed.
        var (_, colour) = await RunAsync("script", ["-qec", "bash -c 'source scripts/lib/output.sh && step Building'", "/dev/null"], RepoRoot.Path);
        var (_, plain) = await RunAsync("script", ["-qec", "bash -c 'source scripts/lib/output.sh && step Building'", "/dev/null"], RepoRoot.Path, new Dictionary<string, string> { ["NO_COLOR"] = "1" });

        Assert.Contains("\u001b[1m==> Building\u001b[0m", colour);
        Assert.DoesNotContain('\u001b', plain);
        Assert.Contains("==> Building", plain);
    }

    [Fact]
    public void Scripts_PrintThroughTheSharedStepAndBuildIntoArtifacts()
    {
        foreach (var name in new[] { "demo", "demo-backtest", "install" })
        {
            var text = File.ReadAllText(Path.Combine(RepoRoot.Path, "scripts", name));
            Assert.Contains("source scripts/lib/output.sh", text);
            Assert.DoesNotContain("\\033", text);
            Assert.DoesNotContain("-o \"$work", text);
        }

        // demo-backtest builds incrementally where scripts/demo does, not into a new temporary folder each time.
        var backtest = File.ReadAllText(Path.Combine(RepoRoot.Path, "scripts", "demo-backtest"));
        Assert.Contains("artifacts=\"$root/artifacts/demo\"", backtest);
        Assert.Equal(2, backtest.Split("--artifacts-path \"$artifacts\"").Length - 1);
    }

    [Fact]
    public async Task DotnetRun_FromAnotherFolder_ResolvesRelativePathsFromThere()
    {
        using var rules = new RulesFolder(("shop.yaml", PolicyYaml.WithWebhook("shop", PolicyYaml.ErrorRateTrigger)));
        var project = Path.Combine(RepoRoot.Path, "src", "RollbackSentinel");
        var configuration = AppContext.BaseDirectory.Contains("/Release/", StringComparison.Ordinal) ? "Release" : "Debug";

        // The README's command, typed in a folder holding rules/ (here: the rules folder's parent, as "<name>/").
        var (exitCode, output) = await RunAsync(
            "dotnet", ["run", "--no-build", "-c", configuration, "--project", project, "--", "validate", Path.GetFileName(rules.Path) + "/"], Path.GetDirectoryName(rules.Path)!);

        Assert.True(exitCode == 0, output);
        Assert.Contains("1 file(s), 1 valid policy", output);
    }

    [Fact]
    public async Task Install_WithAPrefix_PutsAWorkingRollbackSentinelCommandThere()
    {
        var prefix = Directory.CreateTempSubdirectory("sentinel-install-").FullName;
        try
        {
            var (exitCode, output) = await RunAsync(Path.Combine(RepoRoot.Path, "scripts", "install"), [], RepoRoot.Path, new Dictionary<string, string> { ["PREFIX"] = prefix, ["NO_COLOR"] = "1" });
            Assert.True(exitCode == 0, output);
            Assert.Contains($"rollback-sentinel is installed in {prefix}/bin", output);

            // On PATH, from any folder, as a newcomer would type it.
            var path = $"{prefix}/bin:{Environment.GetEnvironmentVariable("PATH")}";
            var (versionExit, version) = await RunAsync("sh", ["-c", "rollback-sentinel --version"], Path.GetTempPath(), new Dictionary<string, string> { ["PATH"] = path });
            var (validateExit, validate) = await RunAsync("sh", ["-c", "rollback-sentinel validate rules/"], RepoRoot.Path, new Dictionary<string, string> { ["PATH"] = path });

            Assert.Equal(0, versionExit);
            Assert.StartsWith(typeof(Cli.CliApp).Assembly.GetName().Version!.ToString(3), version.Trim());
            Assert.True(validateExit == 0, validate);
            Assert.Contains("valid policies", validate);
        }
        finally
        {
            Directory.Delete(prefix, recursive: true);
        }
    }
}
