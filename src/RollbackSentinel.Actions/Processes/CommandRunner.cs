using System.ComponentModel;
using System.Diagnostics;
using System.Text;

namespace RollbackSentinel.Actions.Processes;

/// <summary>A program and its arguments, passed as an argument vector (never through a shell).</summary>
public sealed record CommandLine(string FileName, IReadOnlyList<string> Arguments)
{
    /// <summary>The command as a human would type it, quoted where needed (for logs, dry-run and outcomes).</summary>
    public override string ToString() => string.Join(' ', new[] { FileName }.Concat(Arguments).Select(Quote));

    private static string Quote(string s) =>
        s.Length > 0 && s.All(c => char.IsAsciiLetterOrDigit(c) || "-_./=:,@%+".Contains(c, StringComparison.Ordinal))
            ? s
            : "'" + s.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
}

/// <summary>How a command ended.</summary>
public sealed record CommandOutput(int ExitCode, string StandardOutput, string StandardError)
{
    public bool Succeeded => ExitCode == 0;

    /// <summary>The last line of stderr (or stdout), for an outcome a human reads.</summary>
    public string Reason
    {
        get
        {
            var text = (StandardError.Trim().Length > 0 ? StandardError : StandardOutput).Trim();
            var last = text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault() ?? "";
            return last.Length == 0 ? $"exit code {ExitCode}" : $"exit code {ExitCode}: {(last.Length > 300 ? last[..300] + "..." : last)}";
        }
    }
}

/// <summary>Runs external programs (kubectl, helm). One seam, so adapters are tested against stand-ins and emulators.</summary>
public interface ICommandRunner
{
    /// <summary>
    /// Runs the command to its end. Past <paramref name="timeout"/> the process tree is killed and an
    /// <see cref="ActionFailedException"/> says so; on cancellation it is killed too. A missing program is an
    /// <see cref="ActionFailedException"/> naming it.
    /// </summary>
    Task<CommandOutput> RunAsync(CommandLine command, TimeSpan timeout, CancellationToken cancellationToken);
}

/// <summary>Runs commands as child processes, capturing stdout and stderr (each capped), with extra environment variables.</summary>
public sealed class ProcessCommandRunner(IReadOnlyDictionary<string, string?>? environment = null, TimeSpan? stopGrace = null) : ICommandRunner
{
    /// <summary>How long a stopped program gets between SIGTERM and SIGKILL by default (helm and kubectl clean up on SIGTERM).</summary>
    public static readonly TimeSpan DefaultStopGrace = TimeSpan.FromSeconds(5);

    private readonly TimeSpan _stopGrace = stopGrace ?? DefaultStopGrace;

    /// <summary>Output past this many characters per stream is dropped (a runaway program must not exhaust memory).</summary>
    public const int MaxOutputChars = 4 * 1024 * 1024;

    public async Task<CommandOutput> RunAsync(CommandLine command, TimeSpan timeout, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(command);
        var info = new ProcessStartInfo(Resolve(command.FileName))
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        foreach (var argument in command.Arguments)
        {
            info.ArgumentList.Add(argument);
        }

        foreach (var (name, value) in environment ?? new Dictionary<string, string?>())
        {
            info.Environment[name] = value;
        }

        using var process = new Process { StartInfo = info };
        try
        {
            process.Start();
        }
        catch (Win32Exception e)
        {
            throw new ActionFailedException($"cannot run '{command.FileName}': {e.Message} (is it installed and on PATH?)", e);
        }

        process.StandardInput.Close(); // never wait for a prompt
        var outText = new StringBuilder();
        var errText = new StringBuilder();
        var stdout = ReadCappedAsync(process.StandardOutput, outText);
        var stderr = ReadCappedAsync(process.StandardError, errText);

        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        try
        {
            await process.WaitForExitAsync(deadline.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            await StopAsync(process).ConfigureAwait(false);
            await DrainAsync(stdout, stderr).ConfigureAwait(false);
            cancellationToken.ThrowIfCancellationRequested();
            throw new ActionFailedException($"'{command}' did not finish within {Core.Policies.PromDuration.Format(timeout)} and was stopped");
        }

        // A grandchild that inherited the pipes can keep them open after the program exits: wait a little, not forever.
        await DrainAsync(stdout, stderr).ConfigureAwait(false);
        return new CommandOutput(process.ExitCode, Snapshot(outText), Snapshot(errText));
    }

    private static readonly TimeSpan DrainLimit = TimeSpan.FromSeconds(5);

    private static async Task DrainAsync(Task stdout, Task stderr)
    {
        try
        {
            await Task.WhenAll(stdout, stderr).WaitAsync(DrainLimit).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // Keep what was read; the pipes are abandoned.
        }
    }

    private static string Snapshot(StringBuilder text)
    {
        lock (text)
        {
            return text.ToString();
        }
    }

    /// <summary>SIGTERM first, so the program can release what it holds (a Helm release lock); SIGKILL to the tree after the grace period.</summary>
    private async Task StopAsync(Process process)
    {
        try
        {
            if (!process.HasExited && !OperatingSystem.IsWindows())
            {
                using var term = Process.Start(new ProcessStartInfo("kill", ["-TERM", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]) { UseShellExecute = false });
                if (term is not null)
                {
                    await term.WaitForExitAsync().ConfigureAwait(false);
                }

                using var grace = new CancellationTokenSource(_stopGrace);
                await process.WaitForExitAsync(grace.Token).ConfigureAwait(false);
                return;
            }
        }
        catch (Exception e) when (e is OperationCanceledException or InvalidOperationException or Win32Exception)
        {
            // Still running after the grace period, or kill(1) unavailable: kill the tree.
        }

        Kill(process);
    }

    /// <summary>
    /// A bare program name is looked up on the PATH the child will get (when this runner overrides it), not
    /// only on this process's own: .NET resolves names against the parent's PATH.
    /// </summary>
    private string Resolve(string fileName)
    {
        if (fileName.Contains('/', StringComparison.Ordinal) || environment is null || !environment.TryGetValue("PATH", out var path) || path is null)
        {
            return fileName;
        }

        foreach (var dir in path.Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = System.IO.Path.Combine(dir, fileName);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return fileName;
    }

    private static void Kill(Process process)
    {
        try
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit(5000);
        }
        catch (Exception e) when (e is InvalidOperationException or Win32Exception or NotSupportedException)
        {
            // exited meanwhile, or not ours to kill any more
        }
    }

    private static async Task ReadCappedAsync(StreamReader reader, StringBuilder text)
    {
        var buffer = new char[8192];
        int read;
        while ((read = await reader.ReadAsync(buffer).ConfigureAwait(false)) > 0)
        {
            lock (text)
            {
                if (text.Length < MaxOutputChars)
                {
                    text.Append(buffer, 0, Math.Min(read, MaxOutputChars - text.Length));
                }
            }
        }
    }
}
