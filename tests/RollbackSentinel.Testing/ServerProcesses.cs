using System.Diagnostics;
using System.Net;

namespace RollbackSentinel.Testing;

/// <summary>How one attempt to start a server process ended (the fixtures retry on another port when it was taken).</summary>
internal enum StartOutcome
{
    Ready,
    PortTaken,
    Exited,
    TimedOut,
}

/// <summary>What the server fixtures (Prometheus, HAProxy, PostgreSQL) share: running their tools, waiting for their processes, stopping them.</summary>
internal static class ServerProcesses
{
    /// <summary>
    /// Runs a fixture's tool (initdb, pg_ctl, promtool) to its end and returns its exit code and its output (standard error,
    /// then standard output, trimmed); past <paramref name="timeout"/> it is killed and the wait throws.
    /// </summary>
    public static async Task<(int ExitCode, string Output)> RunToExitAsync(ProcessStartInfo info, TimeSpan timeout, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(info);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        using var process = Process.Start(info) ?? throw new InvalidOperationException($"Could not start {info.FileName}.");
        var stdout = process.StandardOutput.ReadToEndAsync(deadline.Token);
        var stderr = process.StandardError.ReadToEndAsync(deadline.Token);
        try
        {
            await process.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }

        return (process.ExitCode, $"{(await stderr).Trim()} {(await stdout).Trim()}".Trim());
    }

    /// <summary>Kills a fixture's process (and its children), waits for it to exit, and disposes it; notes in the log if it would not exit.</summary>
    public static async Task StopAsync(Process? process, TimeSpan exitTimeout, Prometheus.BoundedLog log, string name)
    {
        ArgumentNullException.ThrowIfNull(log);
        if (process is null)
        {
            return;
        }

        try
        {
            process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // Already exited.
        }

        using (var timeout = new CancellationTokenSource(exitTimeout))
        {
            try
            {
                await process.WaitForExitAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                log.Add($"--- {name} (pid {process.Id}) did not exit within {exitTimeout}");
            }
        }

        process.Dispose();
    }

    /// <summary>
    /// Waits until a just-started fixture process is up: <paramref name="isUp"/> says it answers (and is ours, not
    /// another process that won the race for the port). An exit is <see cref="StartOutcome.PortTaken"/> when the
    /// output says so (<paramref name="portTaken"/>), else <see cref="StartOutcome.Exited"/>.
    /// </summary>
    public static async Task<StartOutcome> WaitUntilUpAsync(
        Process process, Prometheus.BoundedLog log, string name, TimeSpan timeout, TimeSpan poll, Func<CancellationToken, Task<StartOutcome?>> isUp, Func<bool> portTaken, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(process);
        ArgumentNullException.ThrowIfNull(log);
        ArgumentNullException.ThrowIfNull(isUp);
        ArgumentNullException.ThrowIfNull(portTaken);
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < timeout)
        {
            if (process.HasExited)
            {
                // The exit event fires before the last output lines are delivered; wait for them.
                await process.WaitForExitAsync(cancellationToken);
                log.Add($"--- {name} exited with code {process.ExitCode}");
                return portTaken() ? StartOutcome.PortTaken : StartOutcome.Exited;
            }

            if (await isUp(cancellationToken) is { } outcome)
            {
                return outcome;
            }

            await Task.Delay(poll, cancellationToken);
        }

        return StartOutcome.TimedOut;
    }

    /// <summary>Whether <paramref name="readyUri"/> answers 200 (a server's readiness endpoint); false while it is not up yet.</summary>
    public static async Task<bool> IsReadyAsync(HttpClient http, Uri readyUri, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(http);
        try
        {
            using var response = await http.GetAsync(readyUri, cancellationToken);
            return response.StatusCode == HttpStatusCode.OK;
        }
        catch (HttpRequestException)
        {
            return false;
        }
        catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return false;
        }
    }

    /// <summary>Deletes a fixture's temporary folder; a just-killed process may still be releasing files, so it tries three times.</summary>
    public static async Task DeleteDirectoryAsync(DirectoryInfo directory)
    {
        ArgumentNullException.ThrowIfNull(directory);
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                directory.Refresh();
                if (directory.Exists)
                {
                    directory.Delete(recursive: true);
                }

                return;
            }
            catch (IOException) when (attempt < 3)
            {
                await Task.Delay(100);
            }
        }
    }
}
