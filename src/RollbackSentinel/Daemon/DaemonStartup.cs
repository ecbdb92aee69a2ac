using RollbackSentinel.Core.Evaluation;
using RollbackSentinel.Core.Incidents;
using RollbackSentinel.Core.Policies;
using RollbackSentinel.Core.State;

namespace RollbackSentinel.Daemon;

/// <summary>
/// Runs before the scheduler starts: opens (and migrates) the store, settles what a crash left behind, and
/// loads the rules. An action found started is marked interrupted and reported, never re-run by itself (on a shared
/// store: those of this <c>node.id</c>, and others' whose lease ended; the rest are the <see cref="LeaseSweeper"/>'s once
/// their lease ends); an action recorded but never started is left to <see cref="PendingActions"/>.
/// </summary>
internal sealed partial class DaemonStartup(
    IIncidentStore store,
    IncidentService incidents,
    RulesWatcher rules,
    PolicyRegistry registry,
    DaemonState state,
    IHumanPager pager,
    Telemetry.SentinelMetrics metrics,
    TimeProvider time,
    Microsoft.Extensions.Options.IOptions<Hosting.SentinelOptions> options,
    NodeInstance instance,
    ILogger<DaemonStartup> logger) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        metrics.SetTriggerSnapshotProvider(() => Snapshots(registry));

        try
        {
            await store.InitializeAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is InvalidDataException or InvalidOperationException or System.Data.Common.DbException or IOException or UnauthorizedAccessException)
        {
            // The process stops with this one line (RunCommand): never start on a store that would fail every evaluation.
            // PostgreSQL: unreachable, login refused, or a database newer than this build; the line names the setting and
            // where it points, never the password (Npgsql's messages do not carry it, and StartFailure redacts known secrets).
            throw new Hosting.DaemonStartException($"the store {options.Value.DescribeStore()} cannot be used: {e.Message}", e);
        }

        // Before anything of this node.id is touched (its leases below, Quartz's instance later): no other live process may
        // have it. Refused with one line (RunCommand), like any other start-up refusal.
        await instance.EnsureAloneAsync(cancellationToken).ConfigureAwait(false);
        state.StoreOpen = true;

        // This sentinel's own started actions (and any whose lease ended) are interrupted; another's under a live lease are
        // left alone. A store only this process uses (SQLite's lock) has no other live owner: every started action is a
        // dead process's, even one leased under another name (node.id defaults to the host name, new in every pod).
        var (interrupted, _) = await incidents.RecoverAsync(time.GetUtcNow(), store.ExclusiveToOneProcess, cancellationToken).ConfigureAwait(false);
        await ReportInterruptedAsync(interrupted, AfterRestart, cancellationToken).ConfigureAwait(false);
        if (store.ExclusiveToOneProcess)
        {
            // Claims of a dead process: without this its incidents would not be told for up to a lease.
            await store.ReleaseAllNotificationLeasesAsync(cancellationToken).ConfigureAwait(false);
        }

        await rules.LoadAsync(cancellationToken).ConfigureAwait(false);
        if (registry.Entries.Count == 0)
        {
            LogNoPolicy(Path.GetFullPath(options.Value.Rules));
        }

        // Actions recorded but never started are run by PendingActions once the server is up.
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>What the page says of an action this sentinel's start found left started by its previous process.</summary>
    internal const string AfterRestart = "was interrupted by a restart";

    /// <summary>What the page says of an action a lease sweep found past its lease: no restart need have happened.</summary>
    internal const string AfterLeaseEnded = "was interrupted: the sentinel running it crashed, stopped or lost the store before recording how it ended";

    /// <summary>Logs, counts and pages each interrupted action: its effect is unknown, humans must look.</summary>
    /// <param name="why">How it came to be interrupted: <see cref="AfterRestart"/> or <see cref="AfterLeaseEnded"/>.</param>
    internal async Task ReportInterruptedAsync(IReadOnlyList<ActionRecord> interrupted, string why, CancellationToken cancellationToken)
    {
        foreach (var a in interrupted)
        {
            LogInterrupted(a.Kind, a.IncidentId, a.Target);
            if (await store.GetIncidentAsync(a.IncidentId, cancellationToken).ConfigureAwait(false) is { } timeline)
            {
                // Its effect is unknown: humans must look, as for any failed action (the channels show "rollback failed").
                metrics.RecordAction(timeline.Incident.Policy, a.Kind, ActionStatus.Interrupted);
                await pager.PageAsync(timeline.Incident, $"{a.Kind} of {a.Target} {why}; its effect is unknown and it is not run again", cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>What each trigger last saw, per series, for the per-trigger gauges on /metrics.</summary>
    private static IEnumerable<Telemetry.TriggerSnapshot> Snapshots(PolicyRegistry registry)
    {
        foreach (var entry in registry.Entries)
        {
            var last = entry.Runner.Last;
            if (last is null)
            {
                continue;
            }

            foreach (var (trigger, verdicts) in last.Triggers)
            {
                foreach (var v in verdicts)
                {
                    var phase = entry.Runner.State.Get(new SeriesKey(trigger.Name, v.Labels)).Phase;
                    yield return new Telemetry.TriggerSnapshot(entry.Policy.Name, trigger.Name, v.Labels, phase)
                    {
                        Value = v.Value,
                        Threshold = v.Threshold,
                        Baseline = v.Baseline,
                    };
                }
            }
        }
    }

    [LoggerMessage(EventId = 400, Level = LogLevel.Error,
        Message = "The daemon stopped while a {Kind} action ran for incident {Incident} ({Target}); its effect is unknown and it is NOT retried: check the target and the incident")]
    private partial void LogInterrupted(string kind, long incident, string target);

    [LoggerMessage(EventId = 530, Level = LogLevel.Error,
        Message = "No policy is loaded from {Rules}: nothing is guarded, and /readyz answers 503 until a valid policy is there (mount your rules in that folder)")]
    private partial void LogNoPolicy(string rules);

}

/// <summary>What readiness depends on: the store open, working and answering the check-ins, no other process checking in as this node.id, the rules loaded with at least one policy.</summary>
internal sealed class DaemonState(IIncidentStore store, PolicyRegistry registry, StoreReachability reachability, NodeInstance instance)
{
    public bool StoreOpen { get; set; }

    /// <summary>Why the daemon is not guarding anything right now; null when it is ready.</summary>
    public string? NotReadyReason()
    {
        if (!StoreOpen)
        {
            return "the store is not open yet";
        }

        if (store is Storage.SqliteIncidentStore { Failure: { } failure })
        {
            return $"the store is failing: {failure}";
        }

        // The cluster check-ins (every cluster.checkinInterval) find out whether the store answers.
        if (reachability.Problem() is { } unreachable)
        {
            return unreachable;
        }

        if (instance.Problem() is { } duplicate)
        {
            return duplicate;
        }

        if (!registry.Loaded)
        {
            return "the rules have not been loaded yet";
        }

        if (registry.Entries.Count == 0)
        {
            var errors = registry.Files.Count(f => !f.Valid);
            return errors > 0
                ? $"no policy is loaded: {errors} rule file(s) have errors (GET /api/v1/rules lists them)"
                : "no policy is loaded: the rules folder has no policy (mount your rules there)";
        }

        return null;
    }
}

/// <summary>Keeps evaluation history bounded.</summary>
internal sealed partial class RetentionService(IIncidentStore store, Microsoft.Extensions.Options.IOptions<Hosting.SentinelOptions> options, TimeProvider time, ILogger<RetentionService> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromHours(1), time);
        do
        {
            try
            {
                var removed = await store.PruneEvaluationsAsync(time.GetUtcNow() - options.Value.RetentionValue, stoppingToken).ConfigureAwait(false);
                LogPruned(removed, PromDuration.Format(options.Value.RetentionValue));
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                LogPruneFailed(e);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
    }

    [LoggerMessage(EventId = 500, Level = LogLevel.Debug, Message = "Pruned {Removed} evaluation rows older than {Retention}")]
    private partial void LogPruned(int removed, string retention);

    [LoggerMessage(EventId = 501, Level = LogLevel.Error, Message = "Pruning evaluation history failed")]
    private partial void LogPruneFailed(Exception exception);
}

/// <summary>
/// While running, interrupts started actions whose lease has ended and reports them as <see cref="DaemonStartup"/> does
/// at start: another sentinel's (one sharing the store died mid-action), and this sentinel's own that this process is
/// not executing (<see cref="RunningActions"/>: left behind when recording their end failed until the daemon stopped
/// trying, or when the check before acting failed). Runs on every store, SQLite too: there nobody else would. This
/// process's running actions are left to their executor.
/// </summary>
internal sealed partial class LeaseSweeper(IncidentService incidents, DaemonStartup startup, RunningActions running, TimeProvider time, ILogger<LeaseSweeper> logger) : BackgroundService
{
    public static readonly TimeSpan Every = TimeSpan.FromSeconds(20);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Every, time);
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
        {
            try
            {
                await SweepAsync(stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                LogSweepFailed(e);
            }
        }
    }

    /// <summary>One sweep: returns the actions it interrupted.</summary>
    public async Task<IReadOnlyList<ActionRecord>> SweepAsync(CancellationToken cancellationToken)
    {
        var interrupted = await incidents.InterruptExpiredAsync(time.GetUtcNow(), running.Contains, cancellationToken).ConfigureAwait(false);
        await startup.ReportInterruptedAsync(interrupted, DaemonStartup.AfterLeaseEnded, cancellationToken).ConfigureAwait(false);
        return interrupted;
    }

    [LoggerMessage(EventId = 1057, Level = LogLevel.Error, Message = "Sweeping started actions whose lease ended failed")]
    private partial void LogSweepFailed(Exception exception);
}
