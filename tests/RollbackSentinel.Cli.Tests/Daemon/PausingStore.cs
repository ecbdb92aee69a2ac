using RollbackSentinel.Core.Incidents;
using RollbackSentinel.Core.State;

namespace RollbackSentinel.Cli.Tests.Daemon;

/// <summary>
/// One sentinel's view of a store (in memory or SQLite), with the points where a test pauses it (a GC, SIGSTOP, a frozen
/// VM) while other sentinels act: before a batch is applied, before an action lease is renewed, before a channel
/// delivery is claimed. Everything else passes through.
/// </summary>
internal sealed class PausingStore(IIncidentStore inner) : IIncidentStore
{
    /// <summary>Runs before each batch is applied.</summary>
    public Func<StoreBatch, Task>? BeforeApply { get; set; }

    /// <summary>Runs before each action lease renewal (with the action id).</summary>
    public Func<long, Task>? BeforeRenew { get; set; }

    /// <summary>Runs before each channel delivery claim (with the incident id and channel).</summary>
    public Func<long, string, Task>? BeforeClaimDelivery { get; set; }

    /// <summary>Runs before each renewal (or hand-back) of a channel delivery claim (with the incident id and channel).</summary>
    public Func<long, string, Task>? BeforeRenewDeliveryClaim { get; set; }

    /// <summary>Runs before each notification record is saved (a store that fails right after a channel took a message).</summary>
    public Func<NotificationRecord, Task>? BeforeSaveNotification { get; set; }

    public bool ExclusiveToOneProcess => inner.ExclusiveToOneProcess;

    public async Task<IReadOnlyList<IncidentRecord>> ApplyAsync(StoreBatch batch, CancellationToken cancellationToken)
    {
        if (BeforeApply is { } before)
        {
            await before(batch);
        }

        return await inner.ApplyAsync(batch, cancellationToken);
    }

    public async Task<bool> RenewActionLeaseAsync(long actionId, ActionLease lease, DateTimeOffset at, CancellationToken cancellationToken)
    {
        if (BeforeRenew is { } before)
        {
            await before(actionId);
        }

        return await inner.RenewActionLeaseAsync(actionId, lease, at, cancellationToken);
    }

    public async Task<bool> ClaimDeliveryAsync(long incidentId, string channel, ActionLease lease, DateTimeOffset at, CancellationToken cancellationToken)
    {
        if (BeforeClaimDelivery is { } before)
        {
            await before(incidentId, channel);
        }

        return await inner.ClaimDeliveryAsync(incidentId, channel, lease, at, cancellationToken);
    }

    public async Task<bool> RenewDeliveryClaimAsync(long incidentId, string channel, ActionLease lease, DateTimeOffset at, CancellationToken cancellationToken)
    {
        if (BeforeRenewDeliveryClaim is { } before)
        {
            await before(incidentId, channel);
        }

        return await inner.RenewDeliveryClaimAsync(incidentId, channel, lease, at, cancellationToken);
    }

    public Task InitializeAsync(CancellationToken cancellationToken) => inner.InitializeAsync(cancellationToken);

    public Task<StoredPolicyState?> LoadStateAsync(string policy, CancellationToken cancellationToken) => inner.LoadStateAsync(policy, cancellationToken);

    public Task<long> LoadStateVersionAsync(string policy, CancellationToken cancellationToken) => inner.LoadStateVersionAsync(policy, cancellationToken);

    public Task<(long Version, StoredPolicyState? State)> LoadStateUnlessAtAsync(string policy, long? knownVersion, CancellationToken cancellationToken) =>
        inner.LoadStateUnlessAtAsync(policy, knownVersion, cancellationToken);

    public Task<IncidentRecord?> LoadIncidentAsync(long id, CancellationToken cancellationToken) => inner.LoadIncidentAsync(id, cancellationToken);

    public Task<IncidentRecord?> LoadIncidentOfActionAsync(long actionId, CancellationToken cancellationToken) => inner.LoadIncidentOfActionAsync(actionId, cancellationToken);

    public Task<IReadOnlyList<IncidentRecord>> LoadActiveAsync(string policy, DateTimeOffset deniedSince, CancellationToken cancellationToken) => inner.LoadActiveAsync(policy, deniedSince, cancellationToken);

    public Task<IReadOnlyList<(ActionRecord Action, ActionLease? Lease)>> ListStartedActionsAsync(CancellationToken cancellationToken) => inner.ListStartedActionsAsync(cancellationToken);

    public Task<IReadOnlyList<ActionRecord>> ListPendingActionsAsync(CancellationToken cancellationToken) => inner.ListPendingActionsAsync(cancellationToken);

    public Task<IReadOnlyList<Incident>> ListIncidentsAsync(IncidentStatus? status, int limit, CancellationToken cancellationToken) => inner.ListIncidentsAsync(status, limit, cancellationToken);

    public Task<IncidentTimeline?> GetIncidentAsync(long id, CancellationToken cancellationToken) => inner.GetIncidentAsync(id, cancellationToken);

    public Task<IReadOnlyList<Incident>> ListOpenIncidentsAsync(string policy, CancellationToken cancellationToken) => inner.ListOpenIncidentsAsync(policy, cancellationToken);

    public Task<IReadOnlyList<Incident>> ListOverdueAsync(DateTimeOffset at, CancellationToken cancellationToken) => inner.ListOverdueAsync(at, cancellationToken);

    public Task<IReadOnlyList<Incident>> ClaimToNotifyAsync(bool includeOpen, int limit, ActionLease lease, DateTimeOffset at, CancellationToken cancellationToken) =>
        inner.ClaimToNotifyAsync(includeOpen, limit, lease, at, cancellationToken);

    public Task MarkNotifiedAsync(long incidentId, long version, string owner, CancellationToken cancellationToken) => inner.MarkNotifiedAsync(incidentId, version, owner, cancellationToken);

    public Task ReleaseNotificationLeasesAsync(string owner, IReadOnlyCollection<long> incidentIds, CancellationToken cancellationToken) => inner.ReleaseNotificationLeasesAsync(owner, incidentIds, cancellationToken);

    public Task ReleaseAllNotificationLeasesAsync(CancellationToken cancellationToken) => inner.ReleaseAllNotificationLeasesAsync(cancellationToken);

    public Task<ActionRecord?> FindRollbackSinceAsync(string target, DateTimeOffset since, long excludingActionId, CancellationToken cancellationToken) =>
        inner.FindRollbackSinceAsync(target, since, excludingActionId, cancellationToken);

    public Task<IReadOnlyList<NotificationRecord>> GetNotificationsAsync(long incidentId, CancellationToken cancellationToken) => inner.GetNotificationsAsync(incidentId, cancellationToken);

    public async Task SaveNotificationAsync(NotificationRecord record, CancellationToken cancellationToken)
    {
        if (BeforeSaveNotification is { } before)
        {
            await before(record);
        }

        await inner.SaveNotificationAsync(record, cancellationToken);
    }

    public Task<int> PruneEvaluationsAsync(DateTimeOffset olderThan, CancellationToken cancellationToken) => inner.PruneEvaluationsAsync(olderThan, cancellationToken);
}
