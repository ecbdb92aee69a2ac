namespace RollbackSentinel.Daemon;

/// <summary>
/// A loop's pacing: wakes every <c>every</c>, or at once when poked (work is waiting). One waiter at a time; pokes
/// while nobody waits are kept (at most one).
/// </summary>
internal sealed class Wakeup(TimeSpan every, TimeProvider time) : IDisposable
{
    private readonly PeriodicTimer _timer = new(every, time);
    private readonly SemaphoreSlim _poke = new(0, 1);
    private Task<bool>? _tick;
    private Task? _pokeWait;

    public void Poke()
    {
        try
        {
            _poke.Release();
        }
        catch (SemaphoreFullException)
        {
            // already poked
        }
    }

    /// <summary>
    /// Runs <paramref name="work"/> now, then at every tick or poke, until stopping. A failure is handed to
    /// <paramref name="onFailure"/> and the next round tries again; the loop itself never dies.
    /// </summary>
    public async Task RunAsync(Func<CancellationToken, Task> work, Action<Exception> onFailure, CancellationToken stoppingToken)
    {
        ArgumentNullException.ThrowIfNull(work);
        ArgumentNullException.ThrowIfNull(onFailure);
        do
        {
            try
            {
                await work(stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                onFailure(e);
            }
        }
        while (await WaitAsync(stoppingToken).ConfigureAwait(false));
    }

    /// <summary>The next tick or poke, whichever comes first; false when stopping.</summary>
    public async Task<bool> WaitAsync(CancellationToken stoppingToken)
    {
        // A timer has one waiter at a time, and an abandoned semaphore wait would swallow a poke: a wait still
        // pending from last time is awaited again rather than replaced.
        _tick ??= _timer.WaitForNextTickAsync(stoppingToken).AsTask();
        _pokeWait ??= _poke.WaitAsync(stoppingToken);
        try
        {
            var first = await Task.WhenAny(_tick, _pokeWait).ConfigureAwait(false);
            if (first == _tick)
            {
                var tick = _tick;
                _tick = null;

                // False: the timer was disposed (the host is being torn down, e.g. after a failed start, without a
                // stop). Going round again would spin at full CPU, synchronously, inside the disposal.
                if (!await tick.ConfigureAwait(false))
                {
                    return false;
                }
            }
            else
            {
                _pokeWait = null;
            }
        }
        catch (OperationCanceledException)
        {
            return false;
        }

        return !stoppingToken.IsCancellationRequested;
    }

    public void Dispose()
    {
        _timer.Dispose();
        _poke.Dispose();
    }
}
