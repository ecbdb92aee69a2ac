using RollbackSentinel.Core.Incidents;
using RollbackSentinel.Core.Policies;
using RollbackSentinel.Core.State;

namespace RollbackSentinel.Actions.Tests;

/// <summary>Requests built as the daemon builds them for an incident a decision opened (ActionExecutor.Request).</summary>
internal static class RollbackRequests
{
    public static RollbackRequest From(Policy policy, Incident incident, Decision decision, string idempotencyKey) =>
        RollbackRequest.For(policy, incident.Labels, idempotencyKey, decision.At, RollbackEvidence.Of(decision, incident)) with
        {
            IncidentId = incident.Id,
            BlamedChange = incident.BlamedChange ?? decision.Blamed,
        };
}
