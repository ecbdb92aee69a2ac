using System.Collections.Concurrent;

namespace RollbackSentinel.Daemon;

/// <summary>
/// Slots of a policy this node's rules do not have, fired here because the cluster's jobs are shared: the nodes are
/// mid-rollout of a rules change (docs/ha.md: mixed rules). Counted each time; logged at most once per
/// <see cref="LogEvery"/> per policy, since such a slot comes back every interval until the rules agree again.
/// </summary>
internal sealed partial class ForeignPolicyRuns(Telemetry.SentinelMetrics metrics, TimeProvider time, ILogger<ForeignPolicyRuns> logger)
{
    public static readonly TimeSpan LogEvery = TimeSpan.FromMinutes(5);

    private readonly ConcurrentDictionary<string, DateTimeOffset> _lastLogged = new(StringComparer.Ordinal);

    public void Record(string policy)
    {
        metrics.RecordForeignPolicyRun(policy);
        var now = time.GetUtcNow();
        var logged = false;
        _lastLogged.AddOrUpdate(
            policy,
            _ =>
            {
                logged = true;
                return now;
            },
            (_, last) =>
            {
                if (now - last < LogEvery)
                {
                    logged = false;
                    return last;
                }

                logged = true;
                return now;
            });
        if (logged)
        {
            LogForeign(policy, (int)LogEvery.TotalMinutes);
        }
    }

    [LoggerMessage(EventId = 1120, Level = LogLevel.Warning,
        Message = "Policy {Policy} is scheduled in the cluster but not in this node's rules: its slot here is skipped and left to the nodes that have it (are the nodes' rules versions mixed? GET /api/v1/cluster); said at most every {Minutes} minutes")]
    private partial void LogForeign(string policy, int minutes);
}
