using RollbackSentinel.Core.Policies;

namespace RollbackSentinel.Core.Incidents;

/// <summary>What the daemon knows when nobody answered an incident by its deadline (<see cref="IncidentLifecycle.DecideTimeOut"/>).</summary>
/// <param name="PolicyLoaded">The incident's policy is still loaded.</param>
/// <param name="OnTimeout">The policy's <c>confirm.onTimeout</c> (null: the policy does not ask for confirmation any more).</param>
/// <param name="StillFiring">The incident's trigger is still one of the policy's and its series is still firing.</param>
public sealed record TimeOutFacts(bool PolicyLoaded, OnTimeout? OnTimeout, bool StillFiring);

/// <summary>What nobody answering does.</summary>
/// <param name="OnTimeout">The <c>onTimeout</c> that applies (what the daemon logs).</param>
/// <param name="RollsBack">Whether the held rollback is released (silence is consent); otherwise it stays held.</param>
public sealed record TimeOutOutcome(OnTimeout OnTimeout, bool RollsBack);

/// <summary>
/// What the daemon knows about an action that was recorded but never started, when it is about to run it late
/// (<see cref="IncidentLifecycle.WhyNotRunRecorded"/>).
/// </summary>
public sealed record RecordedActionFacts
{
    /// <summary>The recorded action (its <see cref="ActionRecord.CreatedAt"/> says how old it is).</summary>
    public required ActionRecord Action { get; init; }

    /// <summary>The incident's policy, by name.</summary>
    public required string Policy { get; init; }

    /// <summary>Whether that policy is still loaded.</summary>
    public bool PolicyLoaded { get; init; }

    /// <summary>Whether the loaded policy is in dry-run now.</summary>
    public bool DryRun { get; init; }

    /// <summary>What the action rolls back (<see cref="TargetIdentity"/>; an action recorded before an upgrade, named as the policy names it now).</summary>
    public required string Target { get; init; }

    /// <summary>What the loaded policy would roll back for the incident's series now (null: the policy is not loaded).</summary>
    public string? CurrentTarget { get; init; }

    /// <summary>Another rollback of <see cref="Target"/> that started after the incident opened, if any.</summary>
    public ActionRecord? RolledBackSince { get; init; }
}
