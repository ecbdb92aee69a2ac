namespace RollbackSentinel.Hosting;

/// <summary>
/// Gives back what only the start used, once, <see cref="Settle"/> after the daemon is up (the HTTP server listening, the
/// scheduler running): one full, compacting, blocking GC in <see cref="GCCollectionMode.Aggressive"/> mode frees the
/// configuration, the container's build, the rules' YAML and the store's migration and returns their memory to the system;
/// then the pages the start touched in the executable's code and read-only data are dropped from the process's page tables
/// (<see cref="MappedFilePages"/>), and what running uses faults back in. The wait lets the first evaluations do their
/// one-off work (the first connection to the backend, the store's first statements, the first decisions) before, so that
/// is given back too. A sidecar that then sits mostly idle keeps what running takes (bench/README.md, "Sidecar
/// footprint"). It costs a few milliseconds of one core, on the thread pool. Registered for the Native AOT executable
/// only (<see cref="System.Runtime.CompilerServices.RuntimeFeature.IsDynamicCodeSupported"/> false): a daemon hosted in a
/// bigger process (the tests host many) leaves that process's memory alone.
/// </summary>
internal sealed partial class StartupMemoryRelease(IHostApplicationLifetime lifetime, TimeProvider time, ILogger<StartupMemoryRelease> logger)
    : IHostedService
{
    /// <summary>How long after start the release waits: every policy evaluated every 15 s or more often (the usual cadence of
    /// a sidecar's rules) has had its first run, whose first slot is spread over its interval.</summary>
    public static readonly TimeSpan Settle = TimeSpan.FromSeconds(15);

    private readonly CancellationTokenSource _stopping = new();
    private CancellationTokenRegistration _onStarted;
    private Task? _releasing;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _onStarted = lifetime.ApplicationStarted.Register(() => _releasing = Task.Run(ReleaseAsync));
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _onStarted.DisposeAsync().ConfigureAwait(false);
        await _stopping.CancelAsync().ConfigureAwait(false);
        if (_releasing is { } releasing)
        {
            await releasing.WaitAsync(cancellationToken).ConfigureAwait(false);
        }

        _stopping.Dispose();
    }

    private async Task ReleaseAsync()
    {
        try
        {
            await Task.Delay(Settle, time, _stopping.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return;
        }

        // Only memory is at stake: whatever goes wrong is logged and the daemon runs on, its stop unaffected.
        try
        {
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
            var released = MappedFilePages.Release();
            LogReleased(released / 1024);
        }
        catch (Exception e)
        {
            LogFailed(e);
        }
    }

    [LoggerMessage(EventId = 1600, Level = LogLevel.Information, Message = "Start-up memory released: the heap compacted, {Kilobytes} KB of the executable's pages dropped")]
    private partial void LogReleased(long kilobytes);

    [LoggerMessage(EventId = 1601, Level = LogLevel.Warning, Message = "Giving back the start-up memory failed (the daemon runs on; only its resident memory is larger)")]
    private partial void LogFailed(Exception exception);
}
