using System.Net.Sockets;

namespace BlueGreenDemo;

/// <summary>
/// The demo's HAProxy admin socket lives at a fixed path (the one in rules/demo), so only one demo can run at a
/// time. This guard holds an exclusive lock file next to the socket for the whole run and refuses to start when
/// another live demo (or any live process) answers on the socket; a socket file left by a killed run is removed.
/// HAProxy would otherwise silently take the path over from a live one. Disposing removes the socket file.
/// </summary>
public sealed class DemoSocketGuard : IDisposable
{
    private readonly FileStream _lock;

    private DemoSocketGuard(string socketPath, FileStream lockFile)
    {
        SocketPath = socketPath;
        _lock = lockFile;
    }

    public string SocketPath { get; }

    public static async Task<DemoSocketGuard> AcquireAsync(string socketPath, CancellationToken cancellationToken)
    {
        var directory = Path.GetDirectoryName(socketPath) ?? throw new ArgumentException($"{socketPath} has no folder", nameof(socketPath));
        Directory.CreateDirectory(directory);
        var lockPath = socketPath + ".lock";
        FileStream lockFile;
        try
        {
            lockFile = new FileStream(lockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException e)
        {
            throw new InvalidOperationException(
                $"another blue/green demo is running: it holds {lockPath} (its HAProxy owns {socketPath}, the runtimeApi in rules/demo). "
                + "Wait for it to finish or stop it, then run again.", e);
        }

        try
        {
            if (File.Exists(socketPath))
            {
                if (await AnswersAsync(socketPath, cancellationToken))
                {
                    throw new InvalidOperationException(
                        $"a live process answers on {socketPath} (the runtimeApi in rules/demo): another demo's or someone's HAProxy owns it. "
                        + "Stop it (or remove the socket if you know it is yours), then run again.");
                }

                // Left behind by a run that was killed: nobody listens on it.
                File.Delete(socketPath);
            }

            return new DemoSocketGuard(socketPath, lockFile);
        }
        catch
        {
            await lockFile.DisposeAsync();
            throw;
        }
    }

    public void Dispose()
    {
        try
        {
            File.Delete(SocketPath);
        }
        catch (IOException)
        {
            // Best effort: a later run removes a stale socket anyway.
        }

        _lock.Dispose();
    }

    private static async Task<bool> AnswersAsync(string socketPath, CancellationToken cancellationToken)
    {
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(2));
        try
        {
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), timeout.Token);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            // Connected-but-silent or hung: treat as owned, never steal it.
            return true;
        }
    }
}
