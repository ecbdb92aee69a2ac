using System.Collections.Concurrent;
using RollbackSentinel.Cli;
using RollbackSentinel.Core.Backtesting;
using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Core.Policies;
using RollbackSentinel.Web.History;

namespace RollbackSentinel.StatusPage;

/// <summary>A policy's replayed window: what each trigger's plot draws, and whether the replay could read the backend.</summary>
/// <param name="Recorder">Every evaluation's verdicts.</param>
/// <param name="Error">Why the backend could not be read (the plots are then empty), or null.</param>
internal sealed record PolicyWindow(DateTimeOffset From, DateTimeOffset To, TimeSpan Step, ReplayRecorder Recorder, string? Error, DateTimeOffset MadeAt);

/// <summary>
/// The plots of a policy page: the policy replayed over the window from the backend by the backtest's own machinery (one
/// range request per expression, the same evaluator), so the plot shows the value, threshold and baseline the daemon
/// compares, and where it breached. Kept for <see cref="CacheFor"/> (a page reloaded, several people looking) and made
/// once for concurrent requests; a reloaded policy is a new key. At most <see cref="MaxConcurrentReplays"/> replays run
/// at once, whatever windows are asked for: the page must never load the backend more than the daemon does.
/// </summary>
internal sealed partial class PolicyPlots(IMetricsBackends backends, TimeProvider time, IHostApplicationLifetime lifetime, ILogger<PolicyPlots> logger)
{
    /// <summary>How long a replayed window is reused.</summary>
    public static readonly TimeSpan CacheFor = TimeSpan.FromSeconds(15);

    /// <summary>The longest a replay may take before the page says the backend did not answer.</summary>
    public static readonly TimeSpan ReplayTimeout = TimeSpan.FromSeconds(30);

    /// <summary>At most this many evaluations per plot: a longer window is replayed at a coarser step.</summary>
    public const int MaxPoints = 1440;

    public const int MaxConcurrentReplays = 2;

    private const int MaxCached = 64;

    /// <summary>Replays waiting for a slot beyond this are refused at once: a page says so instead of queueing for long.</summary>
    public const int MaxWaiting = 8;

    private int _waiting;

    private readonly ConcurrentDictionary<(Policy Policy, TimeSpan Window), Lazy<Task<PolicyWindow>>> _cache = new();
    private readonly SemaphoreSlim _replays = new(MaxConcurrentReplays, MaxConcurrentReplays);

    /// <summary>The step a window is replayed at: the policy's interval, or coarser so that there are at most <see cref="MaxPoints"/>.</summary>
    public static TimeSpan StepFor(Policy policy, TimeSpan window)
    {
        ArgumentNullException.ThrowIfNull(policy);
        var interval = (policy.Schedule as IntervalSchedule)?.Interval ?? TimeSpan.FromMinutes(1);
        var least = TimeSpan.FromSeconds(Math.Ceiling(window.TotalSeconds / MaxPoints));
        return interval >= least ? interval : least;
    }

    public Task<PolicyWindow> GetAsync(Policy policy, TimeSpan window, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();

        // Only finished replays go: a faulted one never stays (it would answer every later request with its fault), a
        // running one is still awaited by someone (and holds a replay slot until done anyway).
        foreach (var entry in _cache.ToArray())
        {
            if (entry.Value.IsValueCreated && entry.Value.Value.IsCompleted
                && (!entry.Value.Value.IsCompletedSuccessfully || entry.Value.Value.Result.Error is not null
                    || now - entry.Value.Value.Result.MadeAt > CacheFor || _cache.Count > MaxCached))
            {
                _cache.TryRemove(entry);
            }
        }

        var lazy = _cache.GetOrAdd((policy, window), key => new Lazy<Task<PolicyWindow>>(() => ReplayAsync(key.Policy, key.Window)));
        return lazy.Value.WaitAsync(cancellationToken);
    }

    private async Task<PolicyWindow> ReplayAsync(Policy policy, TimeSpan window)
    {
        var step = StepFor(policy, window);
        var recorder = new ReplayRecorder();
        string? error = null;
        DateTimeOffset to;

        // Not a request's token: the replay is shared by every request that waits on it; bounded by its own time and
        // by the daemon's stop. A slot is waited for at most as long, and the replay's own time starts once it has one.
        var busy = "too many plots are being drawn at once: reload in a moment";
        if (Interlocked.Increment(ref _waiting) > MaxWaiting)
        {
            Interlocked.Decrement(ref _waiting);
            to = Aligned(time.GetUtcNow(), step);
            return new PolicyWindow(to - window, to, step, recorder, busy, time.GetUtcNow());
        }

        try
        {
            using var wait = CancellationTokenSource.CreateLinkedTokenSource(lifetime.ApplicationStopping);
            wait.CancelAfter(ReplayTimeout);
            await _replays.WaitAsync(wait.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            to = Aligned(time.GetUtcNow(), step);
            return new PolicyWindow(to - window, to, step, recorder, busy, time.GetUtcNow());
        }
        finally
        {
            Interlocked.Decrement(ref _waiting);
        }

        // Whole steps, so that plots of the same window line up with each other and with the backend's own steps.
        to = Aligned(time.GetUtcNow(), step);
        var from = to - window;
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(lifetime.ApplicationStopping);
            timeout.CancelAfter(ReplayTimeout);
            await new Backtester(backends, CronOccurrences.Between)
                .RunAsync([policy], new BacktestWindow(from, to, step), timeout.Token, observe: recorder.Observe)
                .ConfigureAwait(false);
        }
        catch (MetricsQueryException e)
        {
            error = e.Message;
        }
        catch (OperationCanceledException)
        {
            error = $"the backend did not answer within {ReplayTimeout.TotalSeconds:0}s";
        }
        catch (Exception e)
        {
            // Whatever else went wrong is this page's problem only: it says so, and the next request replays again
            // (a result with an error is not kept).
            LogReplayFailed(logger, e, policy.Name);
            error = $"the plots could not be made ({e.GetType().Name}); the daemon's log has the details";
        }
        finally
        {
            _replays.Release();
        }

        return new PolicyWindow(from, to, step, recorder, error, time.GetUtcNow());
    }

    private static DateTimeOffset Aligned(DateTimeOffset at, TimeSpan step) => new(at.UtcTicks - (at.UtcTicks % step.Ticks), TimeSpan.Zero);

    [LoggerMessage(EventId = 1500, Level = LogLevel.Warning, Message = "The status page could not replay policy {Policy} for its plots")]
    private static partial void LogReplayFailed(ILogger logger, Exception exception, string policy);
}
