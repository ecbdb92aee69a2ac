using RollbackSentinel.Testing.Prometheus;

namespace RollbackSentinel.Cli.Tests.Daemon;

/// <summary>
/// The daemon as a process, started from a busy folder: it watches its rules folder and nothing else. A sidecar started
/// from <c>/</c>, or a daemon started from a checkout where builds run, must not put an inotify watch on every folder
/// below its working directory (the web host's default appsettings.json reload did, and its watch list grew with every
/// folder a build created: found by the daemon benchmark's heap dumps).
/// </summary>
[Collection(StartupDaemonCollection.Name)]
public sealed class WorkingDirectoryDaemonTests
{
    [Fact]
    public async Task Run_FromAFolderWithManySubfolders_WatchesOnlyTheRulesFolder()
    {
        await using var prometheus = await PrometheusServer.StartAsync(openMetricsHistory: null, CancellationToken.None);
        using var workspace = new SentinelWorkspace(prometheus.BaseAddress);
        for (var i = 0; i < 40; i++)
        {
            Directory.CreateDirectory(Path.Combine(workspace.Root, "build", $"obj{i:D2}"));
        }

        // The working directory's appsettings.json is some other program's: the daemon's settings are its own file.
        File.WriteAllText(Path.Combine(workspace.Root, "appsettings.json"), """{ "urls": "http://127.0.0.1:1" }""");

        // No rules: up (healthz) but not ready, which is all this needs.
        await using var sentinel = await SentinelProcess.StartAsync(workspace, ["run", "--config", workspace.ConfigPath], new Dictionary<string, string>(), untilReady: false);
        await sentinel.WaitForLogAsync("No policy is loaded", TimeSpan.FromSeconds(30));

        // One watch per folder watched: the rules folder (it has no subfolders here).
        Assert.Equal(1, InotifyWatches(sentinel.Id));
    }

    /// <summary>The inotify watches a process holds, from the "inotify wd:" lines of its descriptors in /proc.</summary>
    private static int InotifyWatches(int pid)
    {
        var count = 0;
        foreach (var info in Directory.EnumerateFiles($"/proc/{pid}/fdinfo"))
        {
            try
            {
                count += File.ReadLines(info).Count(line => line.StartsWith("inotify wd:", StringComparison.Ordinal));
            }
            catch (IOException)
            {
                // The descriptor was closed between the listing and the read.
            }
        }

        return count;
    }
}
