using RollbackSentinel.Actions.Processes;

namespace RollbackSentinel.Actions.Tests.Processes;

/// <summary>The runner kubectl and helm go through: argument vectors, captured output, timeouts that stop the program (politely first), no hangs.</summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class ProcessCommandRunnerTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("runner-tests-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Script(string name, string body)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, "#!/usr/bin/env bash\n" + body + "\n");
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return path;
    }

    [Fact]
    public async Task Run_CapturesExitCodeOutputAndPassesArgumentsVerbatim()
    {
        var script = Script("echo-args", "printf '%s\\n' \"$@\"; echo oops >&2; exit 3");

        var output = await new ProcessCommandRunner().RunAsync(new CommandLine(script, ["a b", "$HOME", "'; rm -rf /"]), TimeSpan.FromSeconds(10), CancellationToken.None);

        Assert.Equal((3, "a b\n$HOME\n'; rm -rf /\n", "oops\n"), (output.ExitCode, output.StandardOutput, output.StandardError));
        Assert.Equal("exit code 3: oops", output.Reason);
    }

    [Fact]
    public async Task Run_BareName_IsFoundOnThePathGivenToTheChild()
    {
        Script("sentinel-standin", "echo found");
        var runner = new ProcessCommandRunner(new Dictionary<string, string?> { ["PATH"] = _dir + ":" + Environment.GetEnvironmentVariable("PATH") });

        var output = await runner.RunAsync(new CommandLine("sentinel-standin", []), TimeSpan.FromSeconds(10), CancellationToken.None);

        Assert.Equal("found\n", output.StandardOutput);
    }

    [Fact]
    public async Task Run_MissingProgram_FailsNamingIt()
    {
        var e = await Assert.ThrowsAsync<ActionFailedException>(() =>
            new ProcessCommandRunner().RunAsync(new CommandLine("/nonexistent/kubectl", ["version"]), TimeSpan.FromSeconds(10), CancellationToken.None));

        Assert.StartsWith("cannot run '/nonexistent/kubectl': ", e.Message, StringComparison.Ordinal);
        Assert.EndsWith("(is it installed and on PATH?)", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_PastTheTimeout_SendsSigtermFirstSoTheProgramCanCleanUp()
    {
        var marker = Path.Combine(_dir, "cleaned-up");
        var script = Script("slow", $"trap 'echo released > {marker}; exit 143' TERM\necho started\nwhile true; do sleep 0.1; done");

        var e = await Assert.ThrowsAsync<ActionFailedException>(() =>
            new ProcessCommandRunner(stopGrace: TimeSpan.FromSeconds(10)).RunAsync(new CommandLine(script, []), TimeSpan.FromMilliseconds(500), CancellationToken.None));

        Assert.Equal($"'{script}' did not finish within 500ms and was stopped", e.Message);
        Assert.Equal("released\n", await File.ReadAllTextAsync(marker));
    }

    [Fact]
    public async Task Run_ProgramIgnoringSigterm_IsKilledAfterTheGrace()
    {
        var script = Script("stubborn", "trap '' TERM\nwhile true; do sleep 0.1; done");

        var e = await Assert.ThrowsAsync<ActionFailedException>(() =>
            new ProcessCommandRunner(stopGrace: TimeSpan.FromMilliseconds(300)).RunAsync(new CommandLine(script, []), TimeSpan.FromMilliseconds(300), CancellationToken.None));

        Assert.Contains("was stopped", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(System.Diagnostics.Process.GetProcesses(), p => SafeCommandLine(p).Contains(script, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Run_Cancelled_StopsTheProgramAndThrowsCancellation()
    {
        var script = Script("forever", "while true; do sleep 0.1; done");
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
            new ProcessCommandRunner(stopGrace: TimeSpan.FromMilliseconds(300)).RunAsync(new CommandLine(script, []), TimeSpan.FromMinutes(1), cts.Token));

        Assert.DoesNotContain(System.Diagnostics.Process.GetProcesses(), p => SafeCommandLine(p).Contains(script, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Run_GrandchildHoldingThePipesOpen_DoesNotHangTheAction()
    {
        // kubectl plugins or wrappers may leave a background child with our stdout: the answer must still come.
        var script = Script("leaves-a-child", "sleep 60 &\necho done");

        var output = await new ProcessCommandRunner().RunAsync(new CommandLine(script, []), TimeSpan.FromSeconds(30), CancellationToken.None);

        Assert.Equal((0, "done\n"), (output.ExitCode, output.StandardOutput));
    }

    private static string SafeCommandLine(System.Diagnostics.Process p)
    {
        try
        {
            return File.ReadAllText($"/proc/{p.Id}/cmdline").Replace('\0', ' ');
        }
        catch (IOException)
        {
            return "";
        }
        catch (UnauthorizedAccessException)
        {
            return "";
        }
    }
}
