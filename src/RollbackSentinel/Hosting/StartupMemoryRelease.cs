namespace RollbackSentinel.Hosting;

/// <summary>
/// Once the daemon is up (the HTTP server listening, the scheduler starting), one full, compacting, blocking GC in
/// <see cref="GCCollectionMode.Aggressive"/> mode: what only the start used (the configuration, the container's build, the
/// rules' YAML, the store's migration) is freed and its memory given back to the system, so the resident memory of a
/// sidecar that then sits mostly idle is what running takes (about 3 MB less, bench/README.md, "Sidecar footprint").
/// It runs once, on the thread pool, after <c>/readyz</c> can answer; it costs a few milliseconds of one core. Registered
/// for the Native AOT executable only (<see cref="System.Runtime.CompilerServices.RuntimeFeature.IsDynamicCodeSupported"/> false).
/// </summary>
internal sealed class StartupMemoryRelease(IHostApplicationLifetime lifetime) : IHostedService
{
    private CancellationTokenRegistration _onStarted;
    private Task? _releasing;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _onStarted = lifetime.ApplicationStarted.Register(() => _releasing = Task.Run(Release));
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _onStarted.DisposeAsync().ConfigureAwait(false);
        if (_releasing is { } releasing)
        {
            await releasing.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private static void Release()
    {
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
    }
}
