using Quartz;

namespace RollbackSentinel.Hosting;

/// <summary>
/// Starts Quartz once the whole daemon is up (the HTTP server listening), so a daemon that fails to start never
/// evaluates or acts; stops it waiting for running evaluations. Quartz's own hosted service does the first too, but
/// after a failed start its stop waits for a start that never comes until the stop timeout runs out.
/// </summary>
internal sealed class SchedulerHost(ISchedulerFactory factory, IHostApplicationLifetime lifetime) : IHostedService
{
    private IScheduler? _scheduler;
    private Task? _starting;
    private CancellationTokenRegistration _onStarted;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var scheduler = await factory.GetScheduler(cancellationToken).ConfigureAwait(false);
        _scheduler = scheduler;
        _onStarted = lifetime.ApplicationStarted.Register(() => _starting = scheduler.Start(CancellationToken.None).AsTask());
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _onStarted.DisposeAsync().ConfigureAwait(false);
        if (_scheduler is null)
        {
            return;
        }

        if (_starting is { } starting)
        {
            await starting.WaitAsync(cancellationToken).ConfigureAwait(false);
        }

        // Quartz's scheduler thread retries a store call that failed (the database went away) without looking at the token,
        // and Shutdown waits for that thread: bound the wait by the shutdown timeout ourselves.
        await _scheduler.Shutdown(waitForJobsToComplete: _starting is not null, cancellationToken).AsTask().WaitAsync(cancellationToken).ConfigureAwait(false);
    }
}
