namespace RollbackSentinel.Core.Incidents;

/// <summary>The <see cref="Core.Incidents.IncidentEvent.Kind"/> values the store writes, one per thing that can happen to an incident.</summary>
public static class IncidentEventKinds
{
    /// <summary>A trigger fired and opened the incident; the message is the decision's.</summary>
    public const string Opened = "opened";

    public const string ActionStarted = "action-started";
    public const string ActionSucceeded = "action-succeeded";
    public const string ActionFailed = "action-failed";

    /// <summary>Not run on purpose: dry-run, or the trigger passed before the action started.</summary>
    public const string ActionSkipped = "action-skipped";

    /// <summary>What a dry-run action would have done, with its plan.</summary>
    public const string DryRun = "dry-run";

    /// <summary>Found started after a restart: its effect is unknown and it is not retried.</summary>
    public const string ActionInterrupted = "action-interrupted";

    /// <summary>
    /// An action finished after it had been interrupted (its lease ended: its sentinel was paused or cut off, and another
    /// found it): what it did, as a note. The interruption stands.
    /// </summary>
    public const string ActionFinishedLate = "action-finished-late";

    /// <summary>The trigger fired again during the cooldown after a rollback.</summary>
    public const string SuppressedByCooldown = "suppressed-by-cooldown";

    /// <summary>A run of inconclusive or error evaluations reached the trigger's limit.</summary>
    public const string InconclusiveRun = "inconclusive-run";

    /// <summary>The trigger passed while the action was running; the incident resolves when the action finishes.</summary>
    public const string ResolveDeferred = "resolve-deferred";

    public const string Resolved = "resolved";
    public const string AwaitingConfirmation = "awaiting-confirmation";
    public const string Approved = "approved";
    public const string Denied = "denied";
    public const string Snoozed = "snoozed";
    public const string Acknowledged = "acknowledged";
    public const string TimedOut = "timed-out";
}
