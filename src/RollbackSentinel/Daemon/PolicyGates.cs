using RollbackSentinel.Core.Changes;
using RollbackSentinel.Core.Incidents;
using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Core.Policies;
using RollbackSentinel.Core.State;

namespace RollbackSentinel.Daemon;

/// <summary>A policy's gate and what it was answered from, read once.</summary>
/// <param name="Policy">The newest definition (a trigger added by a reload keeps the gate closed until it is evaluated).</param>
/// <param name="State">The state of the last evaluation, fitted to that definition (a trigger edited by a reload keeps none of its old passes).</param>
/// <param name="History">The policy's changes.</param>
/// <param name="Open">Its open incidents: a gate stays closed while any is.</param>
internal sealed record GateReading(Policy Policy, PolicyState State, ChangeHistory History, IReadOnlyList<Incident> Open, GateAnswer Answer);

/// <summary>
/// Reads a policy's gate the one way the API (<c>GET /api/v1/gates/{policy}</c>) and the status page both answer it:
/// the runner's state, the change history and every open incident from the store, and evaluations that stopped (a
/// failing store, a stuck job) keep it closed rather than open on old news.
/// </summary>
internal static class PolicyGates
{
    public static async Task<GateReading> ReadAsync(
        PolicyEntry entry, LabelSet filter, IChangeStore changes, IIncidentStore incidents, DateTimeOffset now, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(entry);
        var definition = entry.Policy;
        var state = entry.Runner.State.For(definition);
        var history = await changes.LoadChangeHistoryAsync(definition.Name, now, cancellationToken).ConfigureAwait(false);
        var open = await incidents.ListOpenIncidentsAsync(definition.Name, cancellationToken).ConfigureAwait(false);
        return new GateReading(definition, state, history, open, Gate.Evaluate(definition, state, history, open, filter, now, entry.Runner.MaxGap));
    }
}
