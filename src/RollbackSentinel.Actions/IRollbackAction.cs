using RollbackSentinel.Core.Incidents;
using RollbackSentinel.Core.Policies;
using RollbackSentinel.Core.State;

namespace RollbackSentinel.Actions;

/// <summary>What an adapter is asked to do: roll back this policy's target for this incident.</summary>
/// <param name="Policy">The policy, with its target.</param>
/// <param name="Incident">The incident, with its evidence.</param>
/// <param name="Decision">The decision that opened it.</param>
/// <param name="IdempotencyKey">Stable across retries and restarts: receivers can deduplicate on it.</param>
public sealed record ActionRequest(Policy Policy, Incident Incident, Decision Decision, string IdempotencyKey);

/// <summary>What an adapter did: whether it worked, and what changed (from what to what) or why not.</summary>
public sealed record ActionResult(bool Succeeded, string Outcome)
{
    public static ActionResult Success(string outcome) => new(true, outcome);

    public static ActionResult Failure(string reason) => new(false, reason);
}

/// <summary>One way of rolling back (kubectl, Helm, HAProxy, webhook). Implementations must be safe to run twice.</summary>
public interface IRollbackAction
{
    /// <summary>The target kind it handles, as written in policies (<c>webhook</c>, <c>kubectl</c>, ...).</summary>
    string Kind { get; }

    Task<ActionResult> ExecuteAsync(ActionRequest request, CancellationToken cancellationToken);
}
