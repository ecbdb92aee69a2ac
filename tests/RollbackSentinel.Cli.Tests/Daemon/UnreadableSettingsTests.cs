using System.Diagnostics;

namespace RollbackSentinel.Cli.Tests.Daemon;

/// <summary>
/// Settings or a token file the user cannot read (a non-root user, as in a container) are a usage error (exit 2,
/// one line), for every verb that reads settings: not an unhandled UnauthorizedAccessException with exit 1.
/// As root a file mode changes nothing, so the CLI runs as nobody.
/// </summary>
[Collection(StartupDaemonCollection.Name)]
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class UnreadableSettingsTests
{
    [Theory]
    [InlineData("status")]
    [InlineData("incidents")]
    [InlineData("approve", "1")]
    [InlineData("rollback", "shop", "--reason", "x")]
    [InlineData("validate", "RULES")]
    [InlineData("run")]
    public async Task Verb_SettingsFileUnreadableToItsUser_IsAUsageErrorInOneLine(params string[] verb)
    {
        var root = Directory.CreateTempSubdirectory("sentinel-unreadable-").FullName;
        try
        {
            File.SetUnixFileMode(root, (UnixFileMode)0b111_111_111);
            var rules = Directory.CreateDirectory(Path.Combine(root, "rules")).FullName;
            var config = Path.Combine(root, "sentinel.yaml");
            await File.WriteAllTextAsync(config, "http:\n  listen: http://127.0.0.1:9\n");
            File.SetUnixFileMode(config, UnixFileMode.UserRead | UnixFileMode.UserWrite); // root's, unreadable to nobody

            var run = await RunAsNobodyAsync(root, [.. verb.Select(a => a == "RULES" ? rules : a), "--config", config]);

            Assert.True(run.ExitCode == ExitCodes.Usage, $"{run.ExitCode}\n{run.Error}");
            // run lists it with the other settings problems; the other verbs say what they could not read.
            Assert.Equal(verb[0] == "run" ? $"error: {config}: Access to the path '{config}' is denied.\n" : $"error: cannot read the settings: {config}: Access to the path '{config}' is denied.\n", run.Error);
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    [Fact]
    public async Task Run_ApiTokenFileUnreadableToItsUser_IsASettingsErrorBeforeAnythingStarts()
    {
        var root = Directory.CreateTempSubdirectory("sentinel-unreadable-").FullName;
        try
        {
            File.SetUnixFileMode(root, (UnixFileMode)0b111_111_111);
            Directory.CreateDirectory(Path.Combine(root, "rules"));
            var token = Path.Combine(root, "api-token");
            await File.WriteAllTextAsync(token, "a-token");
            File.SetUnixFileMode(token, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            var config = Path.Combine(root, "sentinel.yaml");
            await File.WriteAllTextAsync(config, $"http:\n  listen: http://127.0.0.1:9\n  apiTokenFile: {token}\nstorage:\n  path: {root}/data/sentinel.db\n");

            var run = await RunAsNobodyAsync(root, ["run", "--config", config]);

            Assert.True(run.ExitCode == ExitCodes.Usage, $"{run.ExitCode}\n{run.Error}");
            Assert.Matches($@"(?m)^error: {System.Text.RegularExpressions.Regex.Escape(config)}:\d+:\d+: http:apiTokenFile: cannot read {System.Text.RegularExpressions.Regex.Escape(token)}: Access to the path '{System.Text.RegularExpressions.Regex.Escape(token)}' is denied\.$", run.Error.Trim());
            Assert.DoesNotContain("   at ", run.Error, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    private static async Task<CliRun> RunAsNobodyAsync(string directory, IReadOnlyList<string> args)
    {
        var info = new ProcessStartInfo("setpriv")
        {
            WorkingDirectory = directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in (string[])["--reuid=65534", "--regid=65534", "--clear-groups", SentinelCommand.Program, .. SentinelCommand.With(args)])
        {
            info.ArgumentList.Add(a);
        }

        foreach (var key in info.Environment.Keys.Where(k => k.StartsWith("SENTINEL", StringComparison.Ordinal)).ToList())
        {
            info.Environment.Remove(key);
        }

        info.Environment["HOME"] = directory;
        info.Environment["DOTNET_CLI_HOME"] = directory;
        using var process = Process.Start(info)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }

        return new CliRun(process.ExitCode, await output, await error);
    }
}
