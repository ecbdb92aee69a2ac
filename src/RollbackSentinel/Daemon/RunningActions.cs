using System.Collections.Concurrent;

namespace RollbackSentinel.Daemon;

/// <summary>
/// The actions this process is executing right now (from marking one started until its end is recorded, retries
/// included). The <see cref="LeaseSweeper"/> leaves these alone; an action of this sentinel's own that is started, past
/// its lease and not here was left behind (its end could not be recorded, or the lease check failed) and is interrupted
/// and paged like a crashed sentinel's.
/// </summary>
internal sealed class RunningActions
{
    private readonly ConcurrentDictionary<long, byte> _ids = new();

    /// <summary>Marks <paramref name="actionId"/> as running here until the returned handle is disposed.</summary>
    public IDisposable Enter(long actionId)
    {
        _ids[actionId] = 0;
        return new Exit(this, actionId);
    }

    public bool Contains(long actionId) => _ids.ContainsKey(actionId);

    private sealed class Exit(RunningActions owner, long actionId) : IDisposable
    {
        private int _done;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _done, 1) == 0)
            {
                owner._ids.TryRemove(actionId, out _);
            }
        }
    }
}
