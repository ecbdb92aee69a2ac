using Microsoft.Extensions.Hosting;

namespace RollbackSentinel.Testing.Time;

/// <summary>
/// An <see cref="IHostApplicationLifetime"/> whose events happen only when a test says so: nothing has started or stopped
/// until <see cref="Start"/> or <see cref="Stop"/>. <see cref="StopApplication"/> does nothing (the test decides).
/// </summary>
public sealed class ManualLifetime : IHostApplicationLifetime
{
    private readonly CancellationTokenSource _started = new();
    private readonly CancellationTokenSource _stopped = new();

    public CancellationToken ApplicationStarted => _started.Token;

    public CancellationToken ApplicationStopping => _stopped.Token;

    public CancellationToken ApplicationStopped => _stopped.Token;

    /// <summary>The host has started: <see cref="ApplicationStarted"/>'s callbacks run, on this thread.</summary>
    public void Start() => _started.Cancel();

    /// <summary>The host is stopping and has stopped (past its shutdown timeout).</summary>
    public void Stop() => _stopped.Cancel();

    public void StopApplication()
    {
    }
}
