namespace RollbackSentinel.Core.Incidents;

/// <summary>The incident state machine: which status may follow which. Stores refuse anything else.</summary>
public static class IncidentTransitions
{
    public static bool IsAllowed(IncidentStatus from, IncidentStatus to) => (from, to) switch
    {
        (IncidentStatus.Open, IncidentStatus.Acting or IncidentStatus.Acted or IncidentStatus.ActionFailed or IncidentStatus.Resolved) => true,
        (IncidentStatus.Acting, IncidentStatus.Acted or IncidentStatus.ActionFailed or IncidentStatus.ActionInterrupted) => true,

        // A rolled-back (or failed, or interrupted) incident resolves when its trigger passes again; the
        // action's outcome stays on its action record.
        (IncidentStatus.Acted or IncidentStatus.ActionFailed or IncidentStatus.ActionInterrupted, IncidentStatus.Resolved) => true,

        // Confirmation: approved (the held rollback becomes pending), denied, or the breach cleared first.
        (IncidentStatus.AwaitingConfirmation, IncidentStatus.Open or IncidentStatus.Denied or IncidentStatus.Resolved) => true,

        // Dry-run: opened as such; its plan failing says a real rollback would fail; resolved when the trigger passes.
        (IncidentStatus.DryRun, IncidentStatus.DryRunFailed or IncidentStatus.Resolved) => true,
        (IncidentStatus.DryRunFailed, IncidentStatus.Resolved) => true,
        _ => false,
    };

    /// <summary>The incident status that follows an action's final status.</summary>
    public static IncidentStatus AfterAction(ActionStatus status) => status switch
    {
        ActionStatus.Succeeded or ActionStatus.Skipped => IncidentStatus.Acted,
        ActionStatus.Failed => IncidentStatus.ActionFailed,
        ActionStatus.Interrupted => IncidentStatus.ActionInterrupted,
        _ => throw new ArgumentOutOfRangeException(nameof(status), status, "not a final action status"),
    };
}
