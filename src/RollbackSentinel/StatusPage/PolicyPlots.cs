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
internal sealed record PolicyWindow(Policy Policy, DateTimeOffset From, DateTimeOffset To, TimeSpan Step, ReplayRecorder Recorder, string? Error, DateTimeOffset MadeAt);

/// <summary>
/// The plots of a policy page: the policy replayed over the window from the backend by the backtest's own machinery (one
/// range request per expression, the same evaluator), so the plot shows the value, threshold and baseline the daemon
/// compares, and where it breached. Kept for <see cref="CacheFor"/> (a page reloaded, several people looking) and made
/// once for concurrent requests; a reloaded policy is a new key.
/// </summary>
internal sealed class PolicyPlots(IMetricsBackends backends, TimeProvider time)
{
    /// <summary>How long a replayed window is reused.</summary>
    public static readonly TimeSpan CacheFor = TimeSpan.FromSeconds(15);

    /// <summary>At most this many evaluations per plot: a longer window is replayed at a coarser step.</summary>
    public const int MaxPoints = 1440;

    private const int MaxCached = 64;

    private readonly ConcurrentDictionary<(Policy Policy, TimeSpan Window), Lazy<Task<PolicyWindow>>> _cache = new();

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
        foreach (var stale in _cache.Where(e => e.Value.IsValueCreated && e.Value.Value.IsCompleted && now - e.Value.Value.Result.MadeAt > CacheFor).ToArray())
        {
            _cache.TryRemove(stale);
        }

        if (_cache.Count >= MaxCached)
        {
            _cache.Clear();
        }

        var entry = _cache.GetOrAdd((policy, window), key => new Lazy<Task<PolicyWindow>>(() => ReplayAsync(key.Policy, key.Window)));
        return entry.Value.WaitAsync(cancellationToken);
    }

    private async Task<PolicyWindow> ReplayAsync(Policy policy, TimeSpan window)
    {
        var to = time.GetUtcNow();
        var step = StepFor(policy, window);

        // Whole steps, so that plots of the same window line up with each other and with the backend's own steps.
        to = new DateTimeOffset(to.UtcTicks - (to.UtcTicks % step.Ticks), TimeSpan.Zero);
        var from = to - window;
        var recorder = new ReplayRecorder();
        string? error = null;
        try
        {
            // Not the request's token: the replay is shared by every request that waits on it, and bounded by its own.
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
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
            error = "the backend did not answer within 30s";
        }

        return new PolicyWindow(policy, from, to, step, recorder, error, time.GetUtcNow());
    }
}
