using System.Reflection;
using RollbackSentinel.Core.Cluster;
using RollbackSentinel.Core.Evaluation;
using RollbackSentinel.Core.Policies;
using RollbackSentinel.Core.Secrets;
using RollbackSentinel.Hosting;

namespace RollbackSentinel.Daemon;

/// <summary>
/// Policy evaluations this node ran in the last minute (a sliding window of 60 one-second buckets): what it reports at
/// every check-in, so <c>/api/v1/cluster</c> shows how the work is spread.
/// </summary>
internal sealed class EvaluationCounter(TimeProvider time)
{
    private const int Seconds = 60;
    private readonly object _gate = new();
    private readonly long[] _second = new long[Seconds];
    private readonly int[] _count = new int[Seconds];

    /// <summary>Counts one evaluation, now.</summary>
    public void Record()
    {
        var now = time.GetUtcNow().ToUnixTimeSeconds();
        var slot = (int)(now % Seconds);
        lock (_gate)
        {
            if (_second[slot] != now)
            {
                _second[slot] = now;
                _count[slot] = 0;
            }

            _count[slot]++;
        }
    }

    /// <summary>Evaluations counted in the 60 seconds up to now (this second included).</summary>
    public int LastMinute()
    {
        var now = time.GetUtcNow().ToUnixTimeSeconds();
        var total = 0;
        lock (_gate)
        {
            for (var i = 0; i < Seconds; i++)
            {
                if (_count[i] > 0 && _second[i] > now - Seconds && _second[i] <= now)
                {
                    total += _count[i];
                }
            }
        }

        return total;
    }
}

/// <summary>
/// Whether the store answers, as the check-ins find it: unreachable while the last check failed, or when none has
/// succeeded within two check-in intervals (a check that hangs). Before the check-ins start it says nothing (the store
/// is then being opened, which readiness covers on its own).
/// </summary>
internal sealed class StoreReachability(TimeProvider time, SentinelOptions options)
{
    private readonly object _gate = new();
    private readonly TimeSpan _interval = options.CheckinIntervalValue;
    private DateTimeOffset? _watchingSince;
    private DateTimeOffset? _lastSuccess;
    private (DateTimeOffset At, string Why)? _lastFailure;

    /// <summary>The check-ins began: from now on, one must succeed at least every two intervals.</summary>
    public void Start()
    {
        lock (_gate)
        {
            _watchingSince ??= time.GetUtcNow();
        }
    }

    public void Succeeded(DateTimeOffset at)
    {
        lock (_gate)
        {
            _lastSuccess = at;
            _lastFailure = null;
        }
    }

    public void Failed(DateTimeOffset at, string why)
    {
        lock (_gate)
        {
            _lastFailure = (at, why);
        }
    }

    /// <summary>Why the store counts as unreachable now; null while it answers (or before the check-ins start).</summary>
    public string? Problem()
    {
        lock (_gate)
        {
            if (_watchingSince is not { } since)
            {
                return null;
            }

            if (_lastFailure is { } failure)
            {
                return $"the store is unreachable: the check-in at {Rfc3339.Format(failure.At)} failed: {failure.Why}";
            }

            var last = _lastSuccess ?? since;
            var silent = time.GetUtcNow() - last;
            return silent > 2 * _interval
                ? $"the store is unreachable: no check-in has succeeded for {PromDuration.Format(TimeSpan.FromSeconds(Math.Floor(silent.TotalSeconds)))} (more than two check-in intervals of {PromDuration.Format(_interval)})"
                : null;
        }
    }

    /// <summary>1 while the store answers, 0 while not, null before the check-ins start (<c>rollback_sentinel_store_up</c>).</summary>
    public int? Up()
    {
        lock (_gate)
        {
            if (_watchingSince is null)
            {
                return null;
            }
        }

        return Problem() is null ? 1 : 0;
    }
}

/// <summary>
/// This node's membership: every <c>cluster.checkinInterval</c> it records its check-in (<see cref="NodeCheckIn"/>: node.id,
/// now, when the process started, its rules version, evaluations in the last minute, its version) and reads every node's;
/// on a graceful stop it leaves. The check-ins are also the store's reachability signal (<see cref="StoreReachability"/>):
/// an outage and the recovery are logged once each, and so are the start and end of mixed rules versions among alive nodes.
/// Never throws: every failure is a failed check.
/// </summary>
internal sealed partial class ClusterCheckIn(
    IClusterStore cluster,
    PolicyRegistry registry,
    EvaluationCounter evaluations,
    StoreReachability reachability,
    Telemetry.SentinelMetrics metrics,
    SentinelOptions options,
    TimeProvider time,
    ILogger<ClusterCheckIn> logger,
    ClockSkew? clockSkew = null,
    NodeInstance? instance = null,
    OrphanedJobs? jobs = null) : BackgroundService
{
    /// <summary>How long leaving may take on the way out.</summary>
    private static readonly TimeSpan LeaveBudget = TimeSpan.FromSeconds(5);

    private readonly TimeSpan _interval = options.CheckinIntervalValue;
    private readonly string _nodeId = options.Node.Id;
    private readonly DateTimeOffset _startedAt = ProcessStart(time);
    private readonly ClockSkew _skew = clockSkew ?? new ClockSkew(options, Microsoft.Extensions.Logging.Abstractions.NullLogger<ClockSkew>.Instance);
    private readonly NodeInstance _instance = instance
        ?? new NodeInstance(cluster, clockSkew ?? new ClockSkew(options, Microsoft.Extensions.Logging.Abstractions.NullLogger<ClockSkew>.Instance), options, time, Microsoft.Extensions.Logging.Abstractions.NullLogger<NodeInstance>.Instance);
    private IReadOnlyList<ClusterNode>? _nodes;
    private bool _outage;
    private bool _mixed;
    private volatile bool _checkedIn;
    private DateTimeOffset? _lastCheckIn;
    private string? _reportedRules;
    private volatile bool _repairDue;
    private Task? _repair;

    /// <summary>
    /// Check-in intervals of silence after which Quartz's clustered job store takes a node for dead and the others take over
    /// its policies (<c>/api/v1/cluster</c> says dead after <see cref="ClusterView.AliveIntervals"/>).
    /// </summary>
    public const int DeadAfterIntervals = 2;

    /// <summary>The program's version, as each node reports it (without the build metadata after '+').</summary>
    public static string SentinelVersion { get; } =
        (typeof(ClusterCheckIn).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown").Split('+')[0];

    /// <summary>The nodes as the last successful check-in listed them; null before the first.</summary>
    public IReadOnlyList<ClusterNode>? LastListed => Volatile.Read(ref _nodes);

    /// <summary>The check-in interval (<c>cluster.checkinInterval</c>).</summary>
    public TimeSpan Interval => _interval;

    /// <summary>The cluster as the last listing showed it, judged now.</summary>
    public ClusterView? View() =>
        LastListed is { } nodes ? ClusterView.Of(nodes, _nodeId, registry.RulesVersion, options.Storage.UsesPostgres, _interval, time.GetUtcNow()) : null;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        metrics.SetClusterSnapshotProvider(Snapshot);
        reachability.Start();
        using var timer = new PeriodicTimer(_interval, time);
        try
        {
            do
            {
                await CheckInOnceAsync(stoppingToken).ConfigureAwait(false);
            }
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopping: StopAsync leaves.
        }
    }

    /// <summary>Stops checking in, then leaves the cluster (its row goes), so the others do not wait for it to time out.</summary>
    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
        if (!_checkedIn)
        {
            // Never in the cluster (the store could not be used at start): there is no row to remove.
            return;
        }

        using var budget = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        budget.CancelAfter(LeaveBudget);
        try
        {
            // Only its own row: another process that checks in as this node.id keeps its own.
            await cluster.LeaveAsync(_nodeId, _instance.Token, budget.Token).ConfigureAwait(false);
            LogLeft(_nodeId);
        }
        catch (Exception e)
        {
            // Its row stays with its last check-in: the others see it dead after three intervals.
            LogLeaveFailed(e, _nodeId);
        }
    }

    /// <summary>One check-in and one listing, within two intervals; records the outcome for readiness and the logs.</summary>
    internal async Task CheckInOnceAsync(CancellationToken stoppingToken)
    {
        var at = time.GetUtcNow();
        // Two intervals, as readiness allows: a slow store is not an outage, one that does not answer in that time is.
        using var budget = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        budget.CancelAfter(2 * _interval);
        IReadOnlyList<ClusterNode> nodes;
        var rulesVersion = registry.RulesVersion;
        try
        {
            var checkIn = new NodeCheckIn(_nodeId, at, _startedAt, rulesVersion, evaluations.LastMinute(), SentinelVersion)
            {
                InstanceToken = _instance.Token,
                ClockSkewSeconds = _skew.Seconds,
            };
            var receipt = await cluster.CheckInAsync(checkIn, budget.Token).ConfigureAwait(false);
            _skew.Measure(at, receipt.StoreTime, time.GetUtcNow());
            _checkedIn = true;
            _instance.Noticed(receipt.PreviousToken, at);
            nodes = await cluster.ListNodesAsync(budget.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception e)
        {
            var why = e is OperationCanceledException
                ? $"no answer within {PromDuration.Format(2 * _interval)}"
                : SecretRegistry.Shared.Redact($"{e.GetType().Name}: {e.Message}");
            reachability.Failed(at, why);
            if (!_outage)
            {
                _outage = true;
                LogStoreUnreachable(why);
            }

            return;
        }

        reachability.Succeeded(at);
        NoticeFencing(at);
        Volatile.Write(ref _nodes, nodes);
        if (_outage)
        {
            _outage = false;
            LogStoreReachable();
        }

        RepairJobs(checkedInWith: rulesVersion, stoppingToken);
        var view = View()!;
        if (view.MixedRules != _mixed)
        {
            _mixed = view.MixedRules;
            var versions = string.Join("; ", view.Nodes.Where(n => n.Alive).GroupBy(n => n.RulesVersion).Select(g => $"{g.Key} on {string.Join(", ", g.Select(n => n.Id))}"));
            if (_mixed)
            {
                LogMixedRules(view.RulesVersions, versions);
            }
            else
            {
                LogSameRules(versions);
            }
        }
    }

    /// <summary>
    /// A node whose previous check-in is older than the failover threshold was silent (paused: GC, SIGSTOP, a frozen VM, or
    /// cut off from the store) long enough to be taken for dead: the others took over its policies, and whatever it had in
    /// flight is refused by the policy state versions, action leases and delivery claims. Said once per silence, counted
    /// as <c>rollback_sentinel_fenced_total{what="node"}</c>.
    /// </summary>
    private void NoticeFencing(DateTimeOffset at)
    {
        var previous = _lastCheckIn;
        _lastCheckIn = at;
        if (previous is { } last && at - last > DeadAfterIntervals * _interval)
        {
            metrics.RecordFenced(Telemetry.SentinelMetrics.FencedWhat.Node);
            LogFenced((long)Math.Floor((at - last).TotalSeconds), PromDuration.Format(DeadAfterIntervals * _interval));
        }
    }

    /// <summary>
    /// At the check-in after the one that first reported a rules version (a reload, or the start), schedules whichever
    /// policy of this node lost its job meanwhile to a node that did not see its rules yet (<see cref="OrphanedJobs"/>).
    /// In the background, one at a time: Quartz's calls must never hold up the check-ins. A failed repair is tried again
    /// at the next check-in.
    /// </summary>
    private void RepairJobs(string checkedInWith, CancellationToken stoppingToken)
    {
        if (jobs is null)
        {
            return;
        }

        if (checkedInWith != _reportedRules)
        {
            _reportedRules = checkedInWith;
            _repairDue = true;
            return;
        }

        if (!_repairDue || _repair is { IsCompleted: false })
        {
            return;
        }

        _repairDue = false;
        _repair = Task.Run(
            async () =>
            {
                try
                {
                    await jobs.RepairAsync(stoppingToken).ConfigureAwait(false);
                }
                catch (Exception e) when (!stoppingToken.IsCancellationRequested)
                {
                    _repairDue = true;
                    LogRepairFailed(e);
                }
                catch (OperationCanceledException)
                {
                    // Stopping.
                }
            },
            CancellationToken.None);
    }

    /// <summary>The cluster gauges' values now (<see cref="Telemetry.SentinelMetrics.SetClusterSnapshotProvider"/>).</summary>
    internal Telemetry.ClusterSnapshot Snapshot()
    {
        var view = View();
        var alive = view?.Nodes.Count(n => n.Alive);
        return new Telemetry.ClusterSnapshot(alive, view?.Nodes.Count - alive, view?.RulesVersions, registry.RulesVersion, reachability.Up()) { ClockSkewSeconds = _skew.Seconds };
    }

    private static DateTimeOffset ProcessStart(TimeProvider time)
    {
        try
        {
            using var self = System.Diagnostics.Process.GetCurrentProcess();
            return new DateTimeOffset(self.StartTime.ToUniversalTime(), TimeSpan.Zero);
        }
        catch (Exception e) when (e is InvalidOperationException or NotSupportedException or System.ComponentModel.Win32Exception)
        {
            return time.GetUtcNow();
        }
    }

    [LoggerMessage(EventId = 1170, Level = LogLevel.Warning,
        Message = "This node was silent for {Seconds}s (no check-in; more than the failover threshold of {Threshold}): it was taken for dead and the others took over its policies. It is fenced: anything it had in flight (a policy state commit, an incident move, an action, a channel delivery) is refused by versions and leases, and it carries on with what the schedule gives it now")]
    private partial void LogFenced(long seconds, string threshold);

    [LoggerMessage(EventId = 1155, Level = LogLevel.Warning, Message = "Could not check that every policy of this node has its job in the cluster; tried again at the next check-in")]
    private partial void LogRepairFailed(Exception exception);

    [LoggerMessage(EventId = 1140, Level = LogLevel.Error,
        Message = "The store is unreachable (the cluster check-in failed): {Why}; /readyz answers 503 until a check-in succeeds, and evaluations fail (never pass) meanwhile")]
    private partial void LogStoreUnreachable(string why);

    [LoggerMessage(EventId = 1141, Level = LogLevel.Information, Message = "The store is reachable again (a cluster check-in succeeded)")]
    private partial void LogStoreReachable();

    [LoggerMessage(EventId = 1142, Level = LogLevel.Warning,
        Message = "Nodes run different rules: {Count} rules versions among alive nodes ({Versions}); each evaluates its own and records which in its decisions")]
    private partial void LogMixedRules(int count, string versions);

    [LoggerMessage(EventId = 1143, Level = LogLevel.Information, Message = "Every alive node runs the same rules again: {Versions}")]
    private partial void LogSameRules(string versions);

    [LoggerMessage(EventId = 1144, Level = LogLevel.Information, Message = "Node {Node} left the cluster")]
    private partial void LogLeft(string node);

    [LoggerMessage(EventId = 1145, Level = LogLevel.Warning,
        Message = "Node {Node} could not leave the cluster on its way out; the others count it dead three check-in intervals after its last check-in")]
    private partial void LogLeaveFailed(Exception exception, string node);
}

/// <summary>One node as <c>GET /api/v1/cluster</c> shows it.</summary>
/// <remarks>
/// <see cref="ClockSkewSeconds"/>: the node's clock minus the store's as it measured it at its check-ins (recorded with
/// the next one); 0 on SQLite (one process, one clock); null when not measured (a node of an older version).
/// </remarks>
internal sealed record ClusterNodeView(string Id, bool Self, bool Alive, string LastCheckIn, string StartedAt, string RulesVersion, int EvaluationsLastMinute, string Version, double? ClockSkewSeconds);

/// <summary>
/// The cluster as <c>GET /api/v1/cluster</c> shows it: a node is alive when its last check-in is within three check-in
/// intervals (the failover bound); <see cref="RulesVersions"/> counts the distinct rules versions among alive nodes.
/// </summary>
internal sealed record ClusterView(
    string Node,
    bool Clustered,
    string CheckinInterval,
    string FailoverWithin,
    string RulesVersion,
    int RulesVersions,
    bool MixedRules,
    IReadOnlyList<ClusterNodeView> Nodes)
{
    /// <summary>Check-in intervals a node may stay silent and still count as alive.</summary>
    public const int AliveIntervals = 3;

    public static ClusterView Of(IReadOnlyList<ClusterNode> nodes, string self, string rulesVersion, bool clustered, TimeSpan interval, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(nodes);
        var within = AliveIntervals * interval;
        var views = nodes.Select(n => new ClusterNodeView(
            n.NodeId,
            n.NodeId == self,
            now - n.LastCheckIn <= within,
            Rfc3339.Format(n.LastCheckIn),
            Rfc3339.Format(n.StartedAt),
            n.RulesVersion,
            n.EvaluationsLastMinute,
            n.SentinelVersion,
            n.ClockSkewSeconds)).ToList();
        var versions = views.Where(n => n.Alive).Select(n => n.RulesVersion).Distinct(StringComparer.Ordinal).Count();
        return new ClusterView(self, clustered, PromDuration.Format(interval), PromDuration.Format(within), rulesVersion, versions, versions > 1, views);
    }
}
