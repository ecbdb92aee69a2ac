using System.Security.Cryptography;
using RollbackSentinel.Core.Cluster;
using RollbackSentinel.Core.Evaluation;
using RollbackSentinel.Core.Policies;
using RollbackSentinel.Hosting;

namespace RollbackSentinel.Daemon;

/// <summary>
/// This process as one node of the cluster: its <c>node.id</c> and a random token drawn at start, which every check-in
/// records. Two processes started with the same <c>node.id</c> would be one Quartz instance (each recovering the other's
/// slots) and one lease owner (fencing could not tell them apart), so: a process refuses to start while another with its
/// <c>node.id</c> is alive (<see cref="EnsureAloneAsync"/>), and a running one that finds another's token on its row
/// (<see cref="Noticed"/>) logs it and is not ready (<see cref="Problem"/>) while that lasts.
/// </summary>
internal sealed partial class NodeInstance(IClusterStore cluster, ClockSkew skew, SentinelOptions options, TimeProvider time, ILogger<NodeInstance> logger)
{
    private readonly object _gate = new();
    private readonly string _nodeId = options.Node.Id;
    private readonly TimeSpan _interval = options.CheckinIntervalValue;
    private string? _predecessor;
    private bool _checkedIn;
    private DateTimeOffset? _lastConflict;
    private bool _conflicting;

    /// <summary>This process's token: 128 random bits, hex.</summary>
    public string Token { get; } = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));

    /// <summary>How long a node counts as alive after its last check-in (<see cref="ClusterView.AliveIntervals"/> intervals).</summary>
    public TimeSpan AliveWindow => ClusterView.AliveIntervals * _interval;

    /// <summary>
    /// Before this process touches anything of its node's (its leases, Quartz's instance): returns when no other live
    /// process has its <c>node.id</c>, throws <see cref="DaemonStartException"/> when one has. A row another token wrote
    /// more than <see cref="AliveWindow"/> ago is a dead predecessor's (a crash): its place is taken. A fresher one may be a
    /// predecessor that crashed moments ago or a live process: the row is watched until it is written again (alive:
    /// refused) or falls silent past the window (dead: taken), at most one window.
    /// </summary>
    public async Task EnsureAloneAsync(CancellationToken cancellationToken)
    {
        var first = await ReadAsync(cancellationToken).ConfigureAwait(false);
        if (first is not { InstanceToken: { } other } seen || other == Token)
        {
            return;
        }

        if (Silent(seen) > AliveWindow)
        {
            TakeOver(seen);
            return;
        }

        LogWaiting(_nodeId, Seconds(Silent(seen)), PromDuration.Format(AliveWindow));
        var poll = TimeSpan.FromTicks(Math.Max(TimeSpan.TicksPerMillisecond * 100, Math.Min(TimeSpan.TicksPerSecond, _interval.Ticks / 4)));
        while (true)
        {
            await Task.Delay(poll, time, cancellationToken).ConfigureAwait(false);
            var now = await ReadAsync(cancellationToken).ConfigureAwait(false);
            if (now is null || now.InstanceToken is null)
            {
                // It left (a graceful stop): nothing to take over.
                return;
            }

            if (now.InstanceToken != other || now.LastCheckIn != seen.LastCheckIn)
            {
                throw new DaemonStartException(
                    $"node.id '{_nodeId}' is in use: another process with node.id '{_nodeId}' is checked in to the cluster (the last time {Seconds(Silent(now))}s ago, within the {PromDuration.Format(AliveWindow)} a node counts as alive); give every sentinel its own node.id (node.id, SENTINEL__NODE__ID), or stop the other one");
            }

            if (Silent(now) > AliveWindow)
            {
                TakeOver(now);
                return;
            }
        }
    }

    /// <summary>
    /// What a check-in found on this node's row before it wrote its own (<see cref="CheckInReceipt.PreviousToken"/>): another
    /// token means another process checks in as this <c>node.id</c>. Logged once per episode; an episode ends when none has
    /// been seen for <see cref="AliveWindow"/>.
    /// </summary>
    public void Noticed(string? previousToken, DateTimeOffset at)
    {
        lock (_gate)
        {
            var first = !_checkedIn;
            _checkedIn = true;
            var predecessor = first && previousToken is not null && previousToken == _predecessor;
            if (previousToken is not null && previousToken != Token && !predecessor)
            {
                _lastConflict = at;
                if (!_conflicting)
                {
                    _conflicting = true;
                    LogDuplicate(_nodeId, PromDuration.Format(AliveWindow));
                }

                return;
            }

            if (_conflicting && _lastConflict is { } last && at - last > AliveWindow)
            {
                _conflicting = false;
                LogAloneAgain(_nodeId, PromDuration.Format(AliveWindow));
            }
        }
    }

    /// <summary>Why this node is not ready: another process checked in as its <c>node.id</c> within <see cref="AliveWindow"/>; null otherwise.</summary>
    public string? Problem()
    {
        lock (_gate)
        {
            return _lastConflict is { } last && time.GetUtcNow() - last <= AliveWindow
                ? $"another process checks in as node.id '{_nodeId}' (last seen {Rfc3339.Format(last)}): two sentinels share one node.id, so one Quartz instance and one lease owner; give each its own node.id (node.id, SENTINEL__NODE__ID)"
                : null;
        }
    }

    private async Task<ClusterNode?> ReadAsync(CancellationToken cancellationToken)
    {
        var sent = time.GetUtcNow();
        var reading = await cluster.ReadNodeAsync(_nodeId, cancellationToken).ConfigureAwait(false);
        if (options.Storage.UsesPostgres)
        {
            skew.Measure(sent, reading.StoreTime, time.GetUtcNow());
        }

        return reading.Node;
    }

    private void TakeOver(ClusterNode dead)
    {
        lock (_gate)
        {
            _predecessor = dead.InstanceToken;
        }

        LogTakingOver(_nodeId, Rfc3339.Format(dead.LastCheckIn));
    }

    private TimeSpan Silent(ClusterNode node) => time.GetUtcNow() - node.LastCheckIn;

    private static long Seconds(TimeSpan span) => (long)Math.Max(0, Math.Floor(span.TotalSeconds));

    [LoggerMessage(EventId = 1146, Level = LogLevel.Error,
        Message = "Another process checks in as node.id '{Node}' (its row holds another process's token): two sentinels share one node.id, so one Quartz instance and one lease owner, and fencing cannot tell them apart. /readyz answers 503 until none has been seen for {Window}; give every sentinel its own node.id (node.id, SENTINEL__NODE__ID)")]
    private partial void LogDuplicate(string node, string window);

    [LoggerMessage(EventId = 1147, Level = LogLevel.Information, Message = "No other process has checked in as node.id '{Node}' for {Window}: this node is ready again")]
    private partial void LogAloneAgain(string node, string window);

    [LoggerMessage(EventId = 1148, Level = LogLevel.Warning,
        Message = "Another process checked in as node.id '{Node}' {Seconds}s ago (a restart after a crash, or a second sentinel with this node.id): waiting up to {Window} for it to check in again before starting")]
    private partial void LogWaiting(string node, long seconds, string window);

    [LoggerMessage(EventId = 1149, Level = LogLevel.Information,
        Message = "Taking over node.id '{Node}' from a process that last checked in at {LastCheckIn}, longer ago than a node counts as alive (a crash)")]
    private partial void LogTakingOver(string node, string lastCheckIn);
}
