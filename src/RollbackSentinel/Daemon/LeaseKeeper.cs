namespace RollbackSentinel.Daemon;

/// <summary>
/// Keeps a lease alive while a side effect runs (an adapter's rollback, a channel's publish): renews it every
/// <c>every</c> (a third of the lease) until stopped, so a long run is never taken over by another sentinel while this
/// one is alive. A renewal refused means another sentinel has superseded this one (it was paused or cut off past the
/// lease): reported once and renewing stops; what is running cannot be taken back. A renewal that fails (the store) is
/// reported and tried again a period later: if the store stays away, the lease ends and the next renewal is refused.
/// </summary>
internal sealed class LeaseKeeper : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly Task<bool> _loop;

    private LeaseKeeper(Func<CancellationToken, Task<bool>> renew, TimeSpan every, TimeProvider time, Action onFenced, Action<Exception> onFailure)
    {
        _loop = RunAsync(renew, every, time, onFenced, onFailure, _stop.Token);
    }

    /// <summary>Starts renewing: the first renewal is <paramref name="every"/> from now.</summary>
    public static LeaseKeeper Start(Func<CancellationToken, Task<bool>> renew, TimeSpan every, TimeProvider time, Action onFenced, Action<Exception> onFailure)
    {
        ArgumentNullException.ThrowIfNull(renew);
        ArgumentNullException.ThrowIfNull(time);
        ArgumentNullException.ThrowIfNull(onFenced);
        ArgumentNullException.ThrowIfNull(onFailure);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(every, TimeSpan.Zero);
        return new LeaseKeeper(renew, every, time, onFenced, onFailure);
    }

    /// <summary>Stops renewing (a renewal under way is cancelled); true when a renewal was refused (this sentinel was fenced).</summary>
    public async Task<bool> StopAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        return await _loop.ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        _stop.Dispose();
    }

    private static async Task<bool> RunAsync(Func<CancellationToken, Task<bool>> renew, TimeSpan every, TimeProvider time, Action onFenced, Action<Exception> onFailure, CancellationToken stop)
    {
        // Created before the first await: the periods count from the start of the side effect, which starts at once.
        using var timer = new PeriodicTimer(every, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stop).ConfigureAwait(false))
            {
                try
                {
                    if (!await renew(stop).ConfigureAwait(false))
                    {
                        onFenced();
                        return true;
                    }
                }
                catch (Exception e) when (e is not OperationCanceledException || !stop.IsCancellationRequested)
                {
                    // The loop never dies of a failed renewal: the next one tries again.
                    onFailure(e);
                }
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }

        return false;
    }
}
