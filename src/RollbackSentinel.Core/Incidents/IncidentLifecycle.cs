using RollbackSentinel.Core.Changes;
using RollbackSentinel.Core.Evaluation;
using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Core.Policies;
using RollbackSentinel.Core.State;

namespace RollbackSentinel.Core.Incidents;

/// <summary>
/// What one input does to an incident: the <see cref="IncidentUpdate"/> to apply (null: nothing changes) and the
/// sentence for the person who asked (answers and time-outs).
/// </summary>
/// <param name="Update">The changes, decided from the record's revision (null: nothing to apply).</param>
/// <param name="Message">For answers and time-outs: what happens now, or why nothing did.</param>
public sealed record LifecycleStep(IncidentUpdate? Update, string? Message = null)
{
    /// <summary>Nothing changes, nothing to say.</summary>
    public static readonly LifecycleStep None = new(Update: null);

    /// <summary>The held rollback an approval (or a time-out that rolls back) released: now pending, for the daemon to run.</summary>
    public long? ActionToRun { get; init; }

    /// <summary>Whether anything is to be applied (an answer or time-out was accepted).</summary>
    public bool Changes => Update is not null;
}

/// <summary>One evaluation decision as the lifecycle needs it.</summary>
/// <param name="Decision">The state machine's decision.</param>
/// <param name="Target">For <c>Act</c>: the rendered target (<see cref="EvaluationCommit.DescribeTarget"/>).</param>
/// <param name="ConfirmTimeout">The policy asks for confirmation: a page holds a rollback for this long.</param>
/// <param name="DenialHoldsFor">After a denial, the same trigger and series are not asked again for this long.</param>
/// <param name="LastDenial">The latest denied incident of the decision's trigger and series, if any (<see cref="IncidentLifecycle.FindLastDenial"/>).</param>
public sealed record EvaluationInput(Decision Decision, string? Target, TimeSpan? ConfirmTimeout, TimeSpan DenialHoldsFor, IncidentRecord? LastDenial = null)
{
    /// <summary>The version of the rules the deciding node had (<see cref="EvaluationCommit.RulesVersion"/>): kept in the evidence of an incident it opens.</summary>
    public string? RulesVersion { get; init; }
}

/// <summary>
/// Every rule about incidents, pure: given an incident as stored (or none) and one input (a decision, a person's answer,
/// a time-out, an action's progress), it says what changes and what to tell people. No I/O and no clock (every time is
/// an argument); <see cref="IncidentService"/> loads, asks, and applies through any <see cref="IIncidentStore"/>.
/// </summary>
/// <remarks>
/// A move the state machine (<see cref="IncidentTransitions"/>) does not allow is refused with an
/// <see cref="InvalidOperationException"/> ("Incident 7 cannot move from Resolved to ActionFailed."), nothing applied.
/// </remarks>
public static class IncidentLifecycle
{
    /// <summary>The outcome of an action found started by a sentinel that cannot vouch for it (a restart, an ended lease).</summary>
    public const string InterruptedOutcome = "process stopped while the action ran; not retried automatically";

    /// <summary>The outcome of a pending action whose trigger passed first.</summary>
    public const string NotRunOutcome = "not run: the trigger passed before the action started";

    /// <summary>The outcome of a held rollback whose breach cleared before anyone answered.</summary>
    public const string RecoveredBeforeAnswerOutcome = "not run: the breach cleared before anyone answered";

    /// <summary>Why a disarmed decision that gave none was disarmed.</summary>
    public const string DisarmedWithoutReason = "outside every watch window";

    /// <summary>A recorded action older than this is not run any more: the situation it answered has moved on.</summary>
    public static readonly TimeSpan RecordedActionMaxAge = TimeSpan.FromMinutes(15);

    // ---------------------------------------------------------------- finding the incident a decision is about

    /// <summary>
    /// The incident a <c>Resolved</c> decision or a note is about: the newest of the decision's policy, trigger and
    /// series that is open (not resolved, not denied) and has no resolution waiting for its action.
    /// </summary>
    public static IncidentRecord? FindOpen(IEnumerable<IncidentRecord> incidents, Decision decision)
    {
        ArgumentNullException.ThrowIfNull(incidents);
        ArgumentNullException.ThrowIfNull(decision);
        return Newest(incidents.Where(r => Concerns(r.Incident, decision) && r.Incident.IsOpen && r.ResolveRequestedAt is null), r => r.Incident.OpenedAt);
    }

    /// <summary>The latest denied incident of the decision's policy, trigger and series (by when it was denied), or null.</summary>
    public static IncidentRecord? FindLastDenial(IEnumerable<IncidentRecord> incidents, Decision decision)
    {
        ArgumentNullException.ThrowIfNull(incidents);
        ArgumentNullException.ThrowIfNull(decision);
        return Newest(incidents.Where(r => Concerns(r.Incident, decision) && r.Incident is { Status: IncidentStatus.Denied, ResolvedAt: not null }), r => r.Incident.ResolvedAt!.Value);
    }

    // ---------------------------------------------------------------- evaluation decisions

    /// <summary>
    /// What an evaluation decision does. <c>Act</c> opens an incident with its action recorded before it runs (pending;
    /// held for confirmation when a page of a policy that confirms, not in dry-run; skipped in dry-run), unless a person
    /// denied the same trigger and series within the cooldown (then a note on the denied incident). <c>Resolved</c>
    /// resolves <paramref name="open"/> (deferred while its action runs; pending or held actions are skipped).
    /// Cooldown and inconclusive decisions become notes on <paramref name="open"/>.
    /// </summary>
    /// <param name="open">The decision's open incident (<see cref="FindOpen"/>); ignored by <c>Act</c>.</param>
    /// <exception cref="ArgumentOutOfRangeException">An unknown decision kind.</exception>
    public static LifecycleStep Decide(IncidentRecord? open, EvaluationInput input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var decision = input.Decision;
        return decision.Kind switch
        {
            DecisionKind.Act => Act(input),
            DecisionKind.Resolved => open is null ? LifecycleStep.None : Resolve(open, decision),
            DecisionKind.SuppressedByCooldown => Note(open, decision, IncidentEventKinds.SuppressedByCooldown),
            DecisionKind.InconclusiveRun => Note(open, decision, IncidentEventKinds.InconclusiveRun),
            _ => throw new ArgumentOutOfRangeException(nameof(input), decision.Kind, "unknown decision kind"),
        };
    }

    private static LifecycleStep Act(EvaluationInput input)
    {
        var decision = input.Decision;
        var target = input.Target ?? throw new ArgumentException("An Act decision needs its target.", nameof(input));

        // A page of a policy that asks for confirmation holds a rollback until a person answers (never in dry-run).
        var confirm = decision.Action == TriggerAction.Page && input.ConfirmTimeout is not null && !decision.DryRun;

        // A person said no to this trigger for this series: no new question until the cooldown has passed.
        if (confirm
            && input.DenialHoldsFor > TimeSpan.Zero
            && input.LastDenial is { Incident: { Status: IncidentStatus.Denied, ResolvedAt: { } deniedAt } } denied
            && Concerns(denied.Incident, decision)
            && deniedAt > decision.At - input.DenialHoldsFor)
        {
            return new LifecycleStep(Update(
                denied,
                new RecordEvent(
                    decision.At,
                    IncidentEventKinds.SuppressedByCooldown,
                    $"the trigger fired again ({MessageOf(decision)}); not asked again: the rollback was denied at {Rfc3339.Format(deniedAt)}, within the cooldown")));
        }

        var deadline = confirm ? decision.At + input.ConfirmTimeout!.Value : (DateTimeOffset?)null;
        var evidence = IncidentEvidence.Of(decision) with { RulesVersion = input.RulesVersion };
        var incident = new Incident
        {
            Policy = decision.Policy,
            Trigger = decision.Trigger,
            Labels = decision.Labels,
            Action = decision.Action,
            DryRun = decision.DryRun,
            Status = decision.DryRun ? IncidentStatus.DryRun : confirm ? IncidentStatus.AwaitingConfirmation : IncidentStatus.Open,
            OpenedAt = decision.At,
            UpdatedAt = decision.At,
            Summary = decision.Verdict.Summary,
            EvidenceJson = evidence.ToJson(),
            AnswerDeadline = deadline,
            BlamedChange = decision.Blamed,
            DisarmedReason = decision.DisarmedReason ?? (decision.Disarmed ? DisarmedWithoutReason : null),
        };
        var outcome = decision.DryRun ? DryRunOutcome(decision.Action, target) : null;
        var action = new ActionRecord
        {
            IncidentId = 0,
            Kind = confirm ? ActionKind(TriggerAction.Rollback) : ActionKind(decision.Action),
            Target = target,
            IdempotencyKey = DecisionKeys.IdempotencyKey(decision),
            Status = decision.DryRun ? ActionStatus.Skipped : confirm ? ActionStatus.Held : ActionStatus.Pending,
            CreatedAt = decision.At,
            CompletedAt = decision.DryRun ? decision.At : null,
            Outcome = outcome,
        };

        // A change never stored (a test's, a backtest's) has no id the store could keep.
        var changes = new List<IncidentChange>
        {
            new OpenIncident(incident, DecisionKeys.OpenKey(decision), action, decision.Blamed is { Id: > 0 } blamed ? blamed.Id : null),
            new RecordEvent(decision.At, IncidentEventKinds.Opened, MessageOf(decision)),
        };
        if (confirm)
        {
            changes.Add(new RecordEvent(
                decision.At,
                IncidentEventKinds.AwaitingConfirmation,
                $"rollback of {target} held until someone approves it, by {Rfc3339.Format(deadline!.Value)}"));
        }

        if (outcome is not null)
        {
            changes.Add(new RecordEvent(decision.At, IncidentEventKinds.ActionSkipped, outcome));
        }

        return new LifecycleStep(new IncidentUpdate(0, 0, changes));
    }

    private static LifecycleStep Resolve(IncidentRecord open, Decision decision)
    {
        var incident = open.Incident;
        if (incident.Status == IncidentStatus.Acting)
        {
            // Acting -> Resolved is not allowed: the action's outcome lands first, then the resolution.
            return new LifecycleStep(Update(
                open,
                new RequestResolution(decision.At),
                new RecordEvent(
                    decision.At,
                    IncidentEventKinds.ResolveDeferred,
                    $"{MessageOf(decision)}; the action is still running, so the incident resolves when it finishes")));
        }

        EnsureAllowed(incident, IncidentStatus.Resolved);
        var changes = new List<IncidentChange>();

        // An action that never started is not started after its trigger passed.
        var why = incident.Status == IncidentStatus.AwaitingConfirmation ? RecoveredBeforeAnswerOutcome : NotRunOutcome;
        foreach (var action in open.Actions.Where(a => a.Status is ActionStatus.Pending or ActionStatus.Held))
        {
            changes.Add(new MoveAction(action.Id, action.Status, ActionStatus.Skipped) { CompletedAt = decision.At, Outcome = why });
        }

        if (changes.Count > 0)
        {
            changes.Add(new RecordEvent(decision.At, IncidentEventKinds.ActionSkipped, why));
        }

        changes.Add(new MoveIncident(incident.Status, IncidentStatus.Resolved, decision.At, decision.At));
        changes.Add(new RecordEvent(decision.At, IncidentEventKinds.Resolved, MessageOf(decision)));
        return new LifecycleStep(Update(open, [.. changes]));
    }

    /// <summary>A cooldown or inconclusive notice becomes part of the open incident's timeline, once.</summary>
    private static LifecycleStep Note(IncidentRecord? open, Decision decision, string kind) =>
        open is null ? LifecycleStep.None : new LifecycleStep(Update(open, new RecordEvent(decision.At, kind, MessageOf(decision))));

    // ---------------------------------------------------------------- people

    /// <summary>
    /// A person's answer: <c>ack</c> is recorded on any incident not closed; approve (the held rollback becomes pending),
    /// deny (closed, the rollback skipped) and snooze (the deadline moves) only while it awaits confirmation. Refused
    /// answers change nothing and say why.
    /// </summary>
    /// <param name="current">The incident answered (null: there is none).</param>
    /// <exception cref="ArgumentOutOfRangeException">The answer is not one of <see cref="Answers.All"/>.</exception>
    /// <exception cref="ArgumentNullException">A snooze without <paramref name="snoozeUntil"/>.</exception>
    public static LifecycleStep Answer(IncidentRecord? current, Acknowledgment answer, DateTimeOffset? snoozeUntil)
    {
        ArgumentNullException.ThrowIfNull(answer);
        if (!Answers.All.Contains(answer.Answer))
        {
            throw new ArgumentOutOfRangeException(nameof(answer), answer.Answer, $"not one of {string.Join(", ", Answers.All)}");
        }

        if (current is null)
        {
            return new LifecycleStep(null, $"there is no incident {answer.IncidentId}");
        }

        var incident = current.Incident;
        var who = $"{answer.By} via {answer.Channel}" + (string.IsNullOrWhiteSpace(answer.Reason) ? "" : $" ({answer.Reason})");
        if (answer.Answer == Answers.Ack)
        {
            return incident.Status is IncidentStatus.Resolved or IncidentStatus.Denied
                ? new LifecycleStep(null, $"incident {incident.Id} is already {Describe(incident.Status)}: nothing to acknowledge")
                : new LifecycleStep(
                    Update(current, new RecordAnswer(answer), new RecordEvent(answer.At, IncidentEventKinds.Acknowledged, $"acknowledged by {who}")),
                    $"incident {incident.Id} acknowledged by {answer.By}");
        }

        if (incident.Status != IncidentStatus.AwaitingConfirmation)
        {
            return new LifecycleStep(
                null,
                $"incident {incident.Id} is not awaiting confirmation any more (it is {Describe(incident.Status)}): your {answer.Answer} was not applied");
        }

        var changes = new List<IncidentChange> { new RecordAnswer(answer), new MarkChanged(answer.At) };
        switch (answer.Answer)
        {
            case Answers.Approve:
                var held = ReleaseHeld(current, answer.At, changes);
                changes.Add(new RecordEvent(answer.At, IncidentEventKinds.Approved, $"rollback approved by {who}"));
                return new LifecycleStep(Update(current, [.. changes]), $"rollback of incident {incident.Id} approved by {answer.By}: rolling back {held.Target}")
                {
                    ActionToRun = held.Id,
                };

            case Answers.Deny:
                foreach (var action in current.Actions.Where(a => a.Status == ActionStatus.Held))
                {
                    changes.Add(new MoveAction(action.Id, ActionStatus.Held, ActionStatus.Skipped) { CompletedAt = answer.At, Outcome = $"not run: denied by {who}" });
                }

                changes.Add(Move(incident, IncidentStatus.Denied, answer.At, answer.At));
                changes.Add(new SetAnswerDeadline(null, incident.TimedOutAt, answer.At));
                changes.Add(new RecordEvent(answer.At, IncidentEventKinds.Denied, $"rollback denied by {who}"));
                return new LifecycleStep(Update(current, [.. changes]), $"rollback of incident {incident.Id} denied by {answer.By}: closed, nothing was changed");

            default: // snooze
                var until = snoozeUntil ?? throw new ArgumentNullException(nameof(snoozeUntil), "a snooze needs an end");
                changes.Add(new SetAnswerDeadline(until, null, answer.At));
                changes.Add(new MarkChanged(answer.At));
                changes.Add(new RecordEvent(answer.At, IncidentEventKinds.Snoozed, $"snoozed by {who} until {Rfc3339.Format(until)}"));
                return new LifecycleStep(Update(current, [.. changes]), $"incident {incident.Id} snoozed by {answer.By} until {Rfc3339.Format(until)}");
        }
    }

    /// <summary>
    /// Nobody answered by the deadline. <paramref name="approve"/> (<c>onTimeout: rollback</c>) releases the held
    /// rollback; otherwise it stays held, the incident marked timed out and its deadline cleared, so this happens once.
    /// Refused ("not overdue") unless the incident awaits confirmation with a deadline at or before <paramref name="at"/>.
    /// </summary>
    public static LifecycleStep TimeOut(IncidentRecord? current, long incidentId, bool approve, DateTimeOffset at)
    {
        if (current?.Incident is not { Status: IncidentStatus.AwaitingConfirmation, AnswerDeadline: { } deadline } incident || deadline > at)
        {
            return new LifecycleStep(null, $"incident {incidentId} is not overdue");
        }

        var changes = new List<IncidentChange>();
        if (approve)
        {
            var held = ReleaseHeld(current, at, changes);
            changes.Add(new RecordEvent(at, IncidentEventKinds.TimedOut, $"nobody answered by {Rfc3339.Format(deadline)}: rolling back, as the policy says (onTimeout: rollback)"));
            return new LifecycleStep(Update(current, [.. changes]), "timed out: rolling back") { ActionToRun = held.Id };
        }

        changes.Add(new SetAnswerDeadline(null, at, at));
        changes.Add(new MarkChanged(at));
        changes.Add(new RecordEvent(at, IncidentEventKinds.TimedOut, $"nobody answered by {Rfc3339.Format(deadline)}: the rollback stays held until someone approves or denies it"));
        return new LifecycleStep(Update(current, [.. changes]), "timed out: held");
    }

    /// <summary>
    /// Nobody answered by the deadline, decided from what the daemon knows (<see cref="DecideTimeOut"/>): the held
    /// rollback is released or stays held, as <see cref="TimeOut(IncidentRecord?, long, bool, DateTimeOffset)"/> says.
    /// </summary>
    public static LifecycleStep TimeOut(IncidentRecord? current, long incidentId, TimeOutFacts facts, DateTimeOffset at)
    {
        ArgumentNullException.ThrowIfNull(facts);
        return TimeOut(current, incidentId, current is not null && DecideTimeOut(current.Incident, facts).RollsBack, at);
    }

    /// <summary>
    /// What nobody answering <paramref name="incident"/> does: the policy's <c>onTimeout</c> (rollback, hold, escalate;
    /// escalate holds like hold, the escalation itself is the channels' notice) and whether the held rollback is released.
    /// </summary>
    public static TimeOutOutcome DecideTimeOut(Incident incident, TimeOutFacts facts)
    {
        ArgumentNullException.ThrowIfNull(incident);
        ArgumentNullException.ThrowIfNull(facts);

        // A policy no longer loaded cannot say: hold, the safe default. Silence is consent only while the question
        // still stands: the trigger unchanged and its series still firing (an edited or retired trigger never
        // resolves its old incident, and must not roll back by default).
        var onTimeout = (facts.PolicyLoaded ? facts.OnTimeout : null) ?? OnTimeout.Hold;
        var stillFiring = facts.PolicyLoaded && facts.StillFiring;

        // A rollback trigger disarmed by its watch window (no change explains the breach) only asks: a person may still
        // roll back, silence never does, whatever onTimeout says.
        if (onTimeout == OnTimeout.Rollback && incident.DisarmedReason is not null)
        {
            onTimeout = OnTimeout.Hold;
        }

        return new TimeOutOutcome(onTimeout, onTimeout == OnTimeout.Rollback && stillFiring);
    }

    /// <summary>Records an acknowledgment without changing the incident.</summary>
    public static LifecycleStep Acknowledge(IncidentRecord current, Acknowledgment acknowledgment)
    {
        ArgumentNullException.ThrowIfNull(current);
        ArgumentNullException.ThrowIfNull(acknowledgment);
        return new LifecycleStep(Update(current, new RecordAnswer(acknowledgment)));
    }

    /// <summary>
    /// Why a person may not roll back <paramref name="policyName"/>'s target for <paramref name="labels"/> (null: they
    /// may): there is no such policy, it is in dry-run, or the labels do not name everything its target needs.
    /// </summary>
    /// <param name="policy">The policy loaded under <paramref name="policyName"/> (null: none is).</param>
    public static string? WhyNoManualRollback(string policyName, Policy? policy, LabelSet labels)
    {
        ArgumentNullException.ThrowIfNull(labels);
        if (policy is null)
        {
            return $"there is no policy '{policyName}'";
        }

        if (policy.DryRun)
        {
            return $"policy '{policyName}' is in dry-run: it never acts, not even when asked";
        }

        var templates = policy.Target switch
        {
            WebhookTarget w => new Template?[] { w.Url },
            KubectlTarget k => [k.Name, k.Namespace],
            HelmTarget h => [h.Release, h.Namespace],
            _ => [],
        };
        var missing = templates.OfType<Template>().SelectMany(t => t.LabelNames).Where(n => !labels.ContainsKey(n)).Distinct().ToList();
        return missing.Count > 0
            ? $"the target of '{policyName}' needs the label(s) {string.Join(", ", missing)} to know what to roll back"
            : null;
    }

    /// <summary>
    /// A rollback a person asked for: an incident (trigger <see cref="IncidentService.ManualTrigger"/>) with a pending
    /// rollback, blaming <paramref name="blamed"/>, recording who asked, through what and why.
    /// </summary>
    /// <param name="nonce">Drawn once per request: its open key (<see cref="DecisionKeys.ManualOpenKey"/>), so every request opens its own incident.</param>
    public static LifecycleStep OpenManualRollback(ManualRollback request, Change? blamed, Guid nonce)
    {
        ArgumentNullException.ThrowIfNull(request);
        var summary = $"manual rollback asked by {request.By} via {request.Channel}: {request.Reason}";
        var incident = new Incident
        {
            Policy = request.Policy,
            Trigger = IncidentService.ManualTrigger,
            Labels = request.Labels,
            Action = TriggerAction.Rollback,
            DryRun = false,
            Status = IncidentStatus.Open,
            OpenedAt = request.At,
            UpdatedAt = request.At,
            Summary = summary,
            EvidenceJson = IncidentEvidence.Manual(summary, request.At).ToJson(),
            BlamedChange = blamed,
        };
        var action = new ActionRecord
        {
            IncidentId = 0,
            Kind = ActionKind(TriggerAction.Rollback),
            Target = request.Target,
            IdempotencyKey = DecisionKeys.ManualIdempotencyKey(request.Policy),
            Status = ActionStatus.Pending,
            CreatedAt = request.At,
        };
        return new LifecycleStep(new IncidentUpdate(0, 0, [
            new OpenIncident(incident, DecisionKeys.ManualOpenKey(request, nonce), action, blamed?.Id),
            new RecordAnswer(new Acknowledgment(0, request.By, request.Channel, "rollback", request.At) { Reason = request.Reason }),
            new RecordEvent(request.At, IncidentEventKinds.Opened, summary),
        ]));
    }

    // ---------------------------------------------------------------- actions

    /// <summary>
    /// Starts a pending action (the claim: refused, <see cref="LifecycleStep.None"/>, if it is not pending), leased to
    /// <paramref name="lease"/>'s owner; its incident becomes <see cref="IncidentStatus.Acting"/>.
    /// </summary>
    /// <exception cref="KeyNotFoundException">The incident has no such action.</exception>
    /// <exception cref="InvalidOperationException">The incident cannot move to Acting.</exception>
    public static LifecycleStep StartAction(IncidentRecord current, long actionId, DateTimeOffset at, ActionLease lease)
    {
        ArgumentNullException.ThrowIfNull(lease);
        return Start(current, actionId, at, lease);
    }

    /// <summary>
    /// Why an action recorded but never started may no longer run (null: it may): another rollback of its target
    /// started since its incident opened, its policy is gone or now in dry-run, its target changed, or it is older
    /// than <see cref="RecordedActionMaxAge"/> at <paramref name="at"/>. The reason follows "not run: " in its outcome.
    /// </summary>
    public static string? WhyNotRunRecorded(RecordedActionFacts facts, DateTimeOffset at)
    {
        ArgumentNullException.ThrowIfNull(facts);
        var age = at - facts.Action.CreatedAt;

        // Another rollback of the same target started after this incident opened (a trigger's, an approved one,
        // a manual one): this one answered the same situation; running it too would roll back twice.
        return facts.RolledBackSince is { } other ? $"{facts.Target} was already rolled back at {Rfc3339.Format(other.StartedAt!.Value)} (incident {other.IncidentId}), after this incident opened"
            : !facts.PolicyLoaded ? $"policy '{facts.Policy}' is no longer loaded"
            : facts.DryRun ? "the policy is now in dry-run"
            : facts.CurrentTarget != facts.Target ? $"the policy's target changed since (now {facts.CurrentTarget})"
            : age > RecordedActionMaxAge ? $"recorded {PromDuration.Format(age)} ago, too old to act on"
            : null;
    }

    /// <summary>
    /// A recorded action that may no longer run (<see cref="WhyNotRunRecorded"/>) is closed as failed with the reason,
    /// in one update: started then failed, with the timeline a start and a completion write ("rollback X started",
    /// "rollback X: not run: ..."). None if it is not pending any more (someone else claimed it).
    /// </summary>
    /// <exception cref="KeyNotFoundException">The incident has no such action.</exception>
    /// <exception cref="InvalidOperationException">The incident cannot move to Acting.</exception>
    public static LifecycleStep RefuseRecordedAction(IncidentRecord current, long actionId, string reason, DateTimeOffset at)
    {
        ArgumentNullException.ThrowIfNull(reason);
        if (Start(current, actionId, at, lease: null).Update is not { } start)
        {
            return LifecycleStep.None;
        }

        var failed = CompleteAction(Preview(current, start.Changes), actionId, new ActionCompletion(ActionStatus.Failed, "not run: " + reason), at);
        return new LifecycleStep(Update(current, [.. start.Changes, .. failed.Update!.Changes]));
    }

    private static LifecycleStep Start(IncidentRecord current, long actionId, DateTimeOffset at, ActionLease? lease)
    {
        var action = ActionOf(current, actionId);
        if (action.Status != ActionStatus.Pending)
        {
            return LifecycleStep.None;
        }

        return new LifecycleStep(Update(
            current,
            new MoveAction(action.Id, ActionStatus.Pending, ActionStatus.Started) { StartedAt = at, Lease = lease },
            Move(current.Incident, IncidentStatus.Acting, at),
            new RecordEvent(at, IncidentEventKinds.ActionStarted, $"{action.Kind} {action.Target} started")));
    }

    /// <summary>Stores the action's plan unless it has one (the first plan made is the one every run uses): None then.</summary>
    /// <exception cref="KeyNotFoundException">The incident has no such action.</exception>
    public static LifecycleStep SavePlan(IncidentRecord current, long actionId, string plan)
    {
        ArgumentNullException.ThrowIfNull(plan);
        var action = ActionOf(current, actionId);
        return action.Plan is not null ? LifecycleStep.None : new LifecycleStep(Update(current, new SavePlan(action.Id, plan)));
    }

    /// <summary>
    /// A started action ended: its status, outcome and before/after state are recorded, the incident moves on
    /// (<see cref="IncidentTransitions.AfterAction"/>), a resolution that waited for the action is applied, and a manual
    /// rollback that succeeded is resolved (no trigger will ever pass for it).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The status is not final (Pending, Started or Held).</exception>
    /// <exception cref="KeyNotFoundException">The incident has no such action.</exception>
    /// <exception cref="InvalidOperationException">The action is not started, or the incident cannot take the status that follows.</exception>
    public static LifecycleStep CompleteAction(IncidentRecord current, long actionId, ActionCompletion completion, DateTimeOffset at)
    {
        ArgumentNullException.ThrowIfNull(completion);
        ArgumentNullException.ThrowIfNull(completion.Outcome);
        var next = IncidentTransitions.AfterAction(completion.Status);
        var action = ActionOf(current, actionId);
        if (action.Status != ActionStatus.Started)
        {
            throw new InvalidOperationException($"Action {actionId} is {action.Status}; only a started action can be completed.");
        }

        var changes = new List<IncidentChange>
        {
            Move(current.Incident, next, at),
            new MoveAction(action.Id, ActionStatus.Started, completion.Status)
            {
                CompletedAt = at,
                Outcome = completion.Outcome,
                Before = completion.Before,
                After = completion.After,
            },
            new RecordEvent(at, EventKindFor(completion.Status), $"{action.Kind} {action.Target}: {completion.Outcome}"),
        };
        var status = ApplyDeferredResolution(current, next, at, changes);
        if (current.Incident.Trigger == IncidentService.ManualTrigger && status == IncidentStatus.Acted)
        {
            // No trigger will ever pass for a manual rollback: done is resolved.
            changes.Add(new MoveIncident(IncidentStatus.Acted, IncidentStatus.Resolved, at, at));
        }

        return new LifecycleStep(Update(current, [.. changes]));
    }

    /// <summary>
    /// An action this sentinel ran ended: a started one is completed (<see cref="CompleteAction"/>); one interrupted
    /// meanwhile (a sentinel found its lease ended: this one was paused or cut off from the store, and fenced) keeps its
    /// status, and what it did is added to the timeline (<see cref="IncidentEventKinds.ActionFinishedLate"/>): the
    /// interruption, and the page that went with it, stand.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The status is not final (Pending, Started or Held).</exception>
    /// <exception cref="KeyNotFoundException">The incident has no such action.</exception>
    /// <exception cref="InvalidOperationException">The action is neither started nor interrupted, or the incident cannot take the status that follows.</exception>
    public static LifecycleStep FinishAction(IncidentRecord current, long actionId, ActionCompletion completion, DateTimeOffset at)
    {
        ArgumentNullException.ThrowIfNull(completion);
        ArgumentNullException.ThrowIfNull(completion.Outcome);
        _ = IncidentTransitions.AfterAction(completion.Status);
        var action = ActionOf(current, actionId);
        if (action.Status != ActionStatus.Interrupted)
        {
            return CompleteAction(current, actionId, completion, at);
        }

        var ended = completion.Status.ToString().ToLowerInvariant();
        return new LifecycleStep(Update(
            current,
            new RecordEvent(at, IncidentEventKinds.ActionFinishedLate, $"{action.Kind} {action.Target} finished after it was interrupted ({ended}): {completion.Outcome}; the interruption stands")));
    }

    /// <summary>
    /// Dry-run: records what the skipped action would have done (plan and outcome), once; a rollback that could not even
    /// be planned (<paramref name="wouldFail"/>) makes a dry-run incident <see cref="IncidentStatus.DryRunFailed"/>.
    /// None if the action is not skipped or has a plan already.
    /// </summary>
    /// <exception cref="KeyNotFoundException">The incident has no such action.</exception>
    public static LifecycleStep RecordDryRun(IncidentRecord current, long actionId, string plan, string outcome, bool wouldFail, DateTimeOffset at)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(outcome);
        var action = ActionOf(current, actionId);
        if (action.Status != ActionStatus.Skipped || action.Plan is not null)
        {
            return LifecycleStep.None;
        }

        var changes = new List<IncidentChange>
        {
            new MoveAction(action.Id, ActionStatus.Skipped, ActionStatus.Skipped) { Plan = plan, Outcome = outcome },
            new RecordEvent(at, IncidentEventKinds.DryRun, $"{action.Kind} {action.Target}: {outcome}"),
        };
        if (wouldFail && current.Incident.Status == IncidentStatus.DryRun)
        {
            changes.Add(Move(current.Incident, IncidentStatus.DryRunFailed, at));
        }

        return new LifecycleStep(Update(current, [.. changes]));
    }

    /// <summary>
    /// Whether a sentinel (<paramref name="owner"/>) recovering at <paramref name="at"/> can no longer vouch for a started
    /// action: it is its own (it restarted), it has no lease (started before leases), or its lease has ended. An action
    /// another sentinel holds under a live lease is that sentinel's, unless <paramref name="exclusive"/>: only one process
    /// uses the store (SQLite's lock), so any action found started at startup is a dead process's, whatever its owner.
    /// </summary>
    public static bool IsInterrupted(ActionLease? lease, string owner, DateTimeOffset at, bool exclusive = false) =>
        exclusive || lease is null || string.Equals(lease.Owner, owner, StringComparison.Ordinal) || lease.Until <= at;

    /// <summary>
    /// A started action nobody can vouch for becomes <see cref="ActionStatus.Interrupted"/> (its effect is unknown; never
    /// retried by itself), its incident <see cref="IncidentStatus.ActionInterrupted"/> when the state machine allows it
    /// (an incident found otherwise keeps its status rather than keep the daemon from starting), and a resolution that
    /// waited for the action is applied. None if the action is not started any more.
    /// </summary>
    /// <exception cref="KeyNotFoundException">The incident has no such action.</exception>
    public static LifecycleStep Interrupt(IncidentRecord current, long actionId, DateTimeOffset at)
    {
        var action = ActionOf(current, actionId);
        if (action.Status != ActionStatus.Started)
        {
            return LifecycleStep.None;
        }

        var changes = new List<IncidentChange>
        {
            new MoveAction(action.Id, ActionStatus.Started, ActionStatus.Interrupted) { CompletedAt = at, Outcome = InterruptedOutcome },
        };
        var status = current.Incident.Status;
        if (IncidentTransitions.IsAllowed(status, IncidentStatus.ActionInterrupted))
        {
            changes.Add(new MoveIncident(status, IncidentStatus.ActionInterrupted, at));
            status = IncidentStatus.ActionInterrupted;
        }

        changes.Add(new RecordEvent(at, IncidentEventKinds.ActionInterrupted, $"{action.Kind} {action.Target}: {InterruptedOutcome}"));
        ApplyDeferredResolution(current, status, at, changes);
        return new LifecycleStep(Update(current, [.. changes]));
    }

    // ---------------------------------------------------------------- what a record looks like after changes

    /// <summary>
    /// The record as it will be once <paramref name="changes"/> are applied (without checks, times or ids a store
    /// assigns): how a commit sees what its earlier decisions did. An <see cref="OpenIncident"/> starts a record with
    /// the incident id <paramref name="newId"/> and the action id <paramref name="newId"/> too (placeholders).
    /// </summary>
    public static IncidentRecord Preview(IncidentRecord? current, IEnumerable<IncidentChange> changes, long newId = 0)
    {
        ArgumentNullException.ThrowIfNull(changes);
        var record = current;
        foreach (var change in changes)
        {
            if (change is OpenIncident open)
            {
                record = new IncidentRecord(open.Incident with { Id = newId, Version = 1 }, [open.Action with { Id = newId, IncidentId = newId }]);
                continue;
            }

            if (record is null)
            {
                throw new ArgumentException("Only an OpenIncident can come first for a new incident.", nameof(changes));
            }

            var incident = record.Incident;
            record = change switch
            {
                MoveIncident m => record with
                {
                    Incident = incident with { Status = m.To, UpdatedAt = m.At, ResolvedAt = m.ResolvedAt ?? incident.ResolvedAt, Version = incident.Version + 1 },
                },
                SetAnswerDeadline d => record with
                {
                    Incident = incident with { AnswerDeadline = d.Deadline, TimedOutAt = d.TimedOutAt, UpdatedAt = d.At, Version = incident.Version + 1 },
                },
                RequestResolution r => record with { ResolveRequestedAt = r.At, Incident = incident with { UpdatedAt = r.At } },
                MarkChanged => record with { Incident = incident with { Version = incident.Version + 1 } },
                MoveAction a => record with { Actions = [.. record.Actions.Select(x => x.Id == a.ActionId ? Moved(x, a) : x)] },
                SavePlan p => record with { Actions = [.. record.Actions.Select(x => x.Id == p.ActionId && x.Plan is null ? x with { Plan = p.Plan } : x)] },
                _ => record, // events and answers are not part of the record
            };
        }

        return record ?? throw new ArgumentException("No changes for a new incident.", nameof(changes));
    }

    // ---------------------------------------------------------------- words

    /// <summary>How an incident's status reads in a sentence ("it is rolling back").</summary>
    public static string Describe(IncidentStatus status) => status switch
    {
        IncidentStatus.Open or IncidentStatus.Acting => "rolling back",
        IncidentStatus.Acted => "acted on",
        IncidentStatus.ActionFailed => "failed (its action failed)",
        IncidentStatus.ActionInterrupted => "interrupted",
        IncidentStatus.Resolved => "resolved",
        IncidentStatus.Denied => "denied",
        IncidentStatus.DryRun => "a dry-run (nothing runs)",
        IncidentStatus.DryRunFailed => "a dry-run whose rollback could not be planned (nothing runs)",
        _ => "awaiting confirmation",
    };

    /// <summary>rollback, page or notify: the vocabulary of the policy format and of <see cref="ActionRecord.Kind"/>.</summary>
    public static string ActionKind(TriggerAction action) => action switch
    {
        TriggerAction.Rollback => "rollback",
        TriggerAction.Page => "page",
        TriggerAction.Notify => "notify",
        _ => throw new ArgumentOutOfRangeException(nameof(action), action, "unknown trigger action"),
    };

    /// <summary>What a dry-run action would have done.</summary>
    public static string DryRunOutcome(TriggerAction action, string target) => action switch
    {
        TriggerAction.Rollback => $"dry run: would have rolled back {target}",
        TriggerAction.Page => $"dry run: would have paged about {target}",
        _ => $"dry run: would have notified about {target}",
    };

    /// <summary>The timeline entry kind of an action's final status.</summary>
    public static string EventKindFor(ActionStatus status) => status switch
    {
        ActionStatus.Started => IncidentEventKinds.ActionStarted,
        ActionStatus.Succeeded => IncidentEventKinds.ActionSucceeded,
        ActionStatus.Failed => IncidentEventKinds.ActionFailed,
        ActionStatus.Skipped => IncidentEventKinds.ActionSkipped,
        ActionStatus.Interrupted => IncidentEventKinds.ActionInterrupted,
        _ => throw new ArgumentOutOfRangeException(nameof(status), status, "no event for this action status"),
    };

    private static string MessageOf(Decision decision) => string.IsNullOrWhiteSpace(decision.Message) ? decision.Verdict.Summary : decision.Message;

    /// <summary>Approved (by a person or the timeout): the held rollback becomes pending (created now) and the incident open again.</summary>
    private static ActionRecord ReleaseHeld(IncidentRecord current, DateTimeOffset at, List<IncidentChange> changes)
    {
        var held = current.Actions.Where(a => a.Status == ActionStatus.Held).ToList();
        var action = held.Count == 1 ? held[0] : throw new InvalidDataException($"Incident {current.Incident.Id} awaits confirmation but holds no rollback.");
        changes.Add(new MoveAction(action.Id, ActionStatus.Held, ActionStatus.Pending) { CreatedAt = at });
        changes.Add(Move(current.Incident, IncidentStatus.Open, at));
        changes.Add(new SetAnswerDeadline(null, current.Incident.TimedOutAt, at));
        return action;
    }

    /// <summary>A resolution that arrived while the action ran is applied once the action has an outcome. Returns the status after.</summary>
    private static IncidentStatus ApplyDeferredResolution(IncidentRecord current, IncidentStatus status, DateTimeOffset at, List<IncidentChange> changes)
    {
        if (current.ResolveRequestedAt is not { } requested || !IncidentTransitions.IsAllowed(status, IncidentStatus.Resolved))
        {
            return status;
        }

        changes.Add(new MoveIncident(status, IncidentStatus.Resolved, at, requested));
        changes.Add(new RecordEvent(at, IncidentEventKinds.Resolved, $"the trigger had passed at {Rfc3339.Format(requested)}, while the action ran"));
        return IncidentStatus.Resolved;
    }

    private static MoveIncident Move(Incident incident, IncidentStatus to, DateTimeOffset at, DateTimeOffset? resolvedAt = null)
    {
        EnsureAllowed(incident, to);
        return new MoveIncident(incident.Status, to, at, resolvedAt);
    }

    private static void EnsureAllowed(Incident incident, IncidentStatus to)
    {
        if (!IncidentTransitions.IsAllowed(incident.Status, to))
        {
            throw new InvalidOperationException($"Incident {incident.Id} cannot move from {incident.Status} to {to}.");
        }
    }

    private static ActionRecord ActionOf(IncidentRecord current, long actionId)
    {
        ArgumentNullException.ThrowIfNull(current);
        return current.Action(actionId) ?? throw new KeyNotFoundException($"Action {actionId} does not exist.");
    }

    private static IncidentUpdate Update(IncidentRecord current, params IncidentChange[] changes) =>
        new(current.Incident.Id, current.Revision, changes);

    private static bool Concerns(Incident incident, Decision decision) =>
        incident.Policy == decision.Policy && incident.Trigger == decision.Trigger && incident.Labels.ToString() == decision.Labels.ToString();

    /// <summary>Newest first by <paramref name="by"/>, then by id; an incident not stored yet (id 0, or -n for the n-th of a <see cref="Preview"/>) is newer than any stored one.</summary>
    private static IncidentRecord? Newest(IEnumerable<IncidentRecord> records, Func<IncidentRecord, DateTimeOffset> by) =>
        records.OrderByDescending(by).ThenByDescending(r => r.Incident.Id <= 0).ThenByDescending(r => Math.Abs(r.Incident.Id)).FirstOrDefault();

    private static ActionRecord Moved(ActionRecord action, MoveAction move) => action with
    {
        Status = move.To,
        CreatedAt = move.CreatedAt ?? action.CreatedAt,
        StartedAt = move.StartedAt ?? action.StartedAt,
        CompletedAt = move.CompletedAt ?? action.CompletedAt,
        Outcome = move.Outcome ?? action.Outcome,
        Plan = move.Plan ?? action.Plan,
        Before = move.Before ?? action.Before,
        After = move.After ?? action.After,
    };
}
