using Quartz;
using RollbackSentinel.Core.Cluster;
using ClusterNode = RollbackSentinel.Core.Cluster.ClusterNode;
using RollbackSentinel.Core.Policies;
using RollbackSentinel.Hosting;

namespace RollbackSentinel.Daemon;

/// <summary>
/// Jobs in the cluster that no node's rules have any more, and jobs missing for policies this node has. A policy removed
/// from the rules while its nodes were down (or on all of them before any reloaded) leaves its job behind: no reload of
/// any node removes it, and every node skips its slots as foreign, forever. A node that gets such a slot deletes the job
/// when no rollout is in progress: every alive node (checked in within <see cref="ClusterView.AliveIntervals"/>
/// intervals, this one included) reports this node's rules version, so none has the policy. Never while versions are
/// mixed, and never on the first slot of a job (one just scheduled by a node whose check-in does not show its new rules
/// yet).
/// <para>
/// A node's report of its rules lags its reload by up to one check-in, so a node that has just added a policy may lose
/// its fresh job to such a deletion. So each node, at the check-in after the one that first reported a new rules version
/// (its start included), schedules whichever of its policies has no job (<see cref="RepairAsync"/>): by then every other
/// node sees its version and deletes nothing of it.
/// </para>
/// </summary>
internal sealed partial class OrphanedJobs(
    IClusterStore cluster,
    PolicyRegistry registry,
    PolicyScheduler scheduler,
    SentinelOptions options,
    TimeProvider time,
    ILogger<OrphanedJobs> logger)
{
    private readonly TimeSpan _aliveWindow = ClusterView.AliveIntervals * options.CheckinIntervalValue;

    /// <summary>
    /// Why a job of a policy this node lacks must be kept (another node may have it); null when no alive node can have it:
    /// every alive node, <paramref name="self"/> among them, reports <paramref name="rulesVersion"/>.
    /// </summary>
    internal static string? WhyKeep(IReadOnlyList<ClusterNode> nodes, string self, string rulesVersion, DateTimeOffset now, TimeSpan aliveWindow)
    {
        var alive = nodes.Where(n => now - n.LastCheckIn <= aliveWindow).ToList();
        if (!alive.Any(n => n.NodeId == self && n.RulesVersion == rulesVersion))
        {
            return "this node's check-in does not show its rules version yet";
        }

        var others = alive.Where(n => n.RulesVersion != rulesVersion).Select(n => $"{n.NodeId} runs {n.RulesVersion}").ToList();
        return others.Count > 0 ? $"the rules versions are mixed ({string.Join(", ", others)})" : null;
    }

    /// <summary>
    /// A slot of <paramref name="policy"/> fired here although this node's rules lack it: deletes its job if no alive node
    /// can have it. True if deleted. Only on a cluster (on SQLite the jobs are this process's own, removed by its reloads).
    /// </summary>
    public async Task<bool> DeleteIfOrphanedAsync(string policy, bool firstSlot, CancellationToken cancellationToken)
    {
        if (!options.Storage.UsesPostgres || firstSlot)
        {
            return false;
        }

        try
        {
            var version = registry.RulesVersion;
            var nodes = await cluster.ListNodesAsync(cancellationToken).ConfigureAwait(false);
            var now = time.GetUtcNow();
            if (WhyKeep(nodes, options.Node.Id, version, now, _aliveWindow) is not null || registry.Find(policy) is not null || registry.RulesVersion != version)
            {
                return false;
            }

            if (!await scheduler.DeleteAsync(policy, cancellationToken).ConfigureAwait(false))
            {
                return false;
            }

            // The nodes the decision counted as alive (at its time, not after the delete, which may take a while).
            LogDeleted(policy, nodes.Count(n => now - n.LastCheckIn <= _aliveWindow), version);
            return true;
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            // The slot comes back: the next one tries again.
            LogDeleteFailed(e, policy);
            return false;
        }
    }

    /// <summary>Schedules every policy of this node that has no job in the cluster (deleted by a node that did not see its rules yet).</summary>
    public async Task RepairAsync(CancellationToken cancellationToken)
    {
        if (!options.Storage.UsesPostgres)
        {
            return;
        }

        var missing = await scheduler.ScheduleMissingAsync([.. registry.Entries.Select(e => e.Policy)], cancellationToken).ConfigureAwait(false);
        foreach (var policy in missing)
        {
            LogRescheduled(policy.Name);
        }
    }

    [LoggerMessage(EventId = 1152, Level = LogLevel.Warning,
        Message = "Deleted the cluster's job of policy {Policy}: no node has it any more (all {Alive} alive nodes run rules {RulesVersion}, which lack it); it was left by a policy removed while its nodes were down")]
    private partial void LogDeleted(string policy, int alive, string rulesVersion);

    [LoggerMessage(EventId = 1153, Level = LogLevel.Warning, Message = "Could not check or delete the cluster's job of policy {Policy}, which this node's rules lack; its next slot tries again")]
    private partial void LogDeleteFailed(Exception exception, string policy);

    [LoggerMessage(EventId = 1154, Level = LogLevel.Warning,
        Message = "Policy {Policy} had no job in the cluster (deleted by a node that did not see this node's rules yet): scheduled it again")]
    private partial void LogRescheduled(string policy);
}
