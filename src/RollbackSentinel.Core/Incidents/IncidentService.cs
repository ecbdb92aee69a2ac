using RollbackSentinel.Core.Changes;
using RollbackSentinel.Core.State;

namespace RollbackSentinel.Core.Incidents;

/// <summary>
/// Every write about incidents, the same for any store: loads what a decision needs, asks <see cref="IncidentLifecycle"/>
/// (pure) what changes, and applies them with the store's version checks, deciding again from a fresh read when another
/// writer got there first. The sentences people read and every rule about when an incident may move live in Core,
/// never in a store.
/// </summary>
/// <remarks>
/// <paramref name="owner"/> is this sentinel's instance id: the actions it starts are leased to it, so a restart
/// recovers its own and a second sentinel sharing the store leaves them alone until their lease ends.
/// </remarks>
public sealed class IncidentService(IIncidentStore store, IChangeStore? changes, TimeProvider time, string owner)
{
    /// <summary>The trigger name of incidents a person opened (a manual rollback).</summary>
    public const string ManualTrigger = "manual";

    /// <summary>How often a write decided from a stale read is decided again before the conflict is the caller's.</summary>
    public const int MaxAttempts = 5;

    /// <summary>
    /// How often an action's completion is decided again: far more than <see cref="MaxAttempts"/>, because what a
    /// finished action did must never be lost to other writers answering or timing out its incident meanwhile.
    /// </summary>
    public const int CompletionAttempts = 50;

    public IIncidentStore Store { get; } = store;

    /// <summary>Where the change a manual rollback blames is looked up (null: none is blamed).</summary>
    public IChangeStore? Changes { get; } = changes;

    public TimeProvider Time { get; } = time;

    /// <summary>This sentinel's instance id (action and notification leases).</summary>
    public string Owner { get; } = owner;

    /// <summary>
    /// Commits an evaluation in one store transaction: the policy state (checked against <see cref="EvaluationCommit.ExpectedStateVersion"/>),
    /// the verdicts, and what each decision does. <c>Act</c> decisions open an incident with its action recorded
    /// before it runs (pending, held for confirmation, or skipped in dry-run; a denial within the cooldown opens none);
    /// <c>Resolved</c> resolves the open incident of that trigger and series (deferred while its action runs; a pending
    /// or held action is skipped); other decisions become timeline notes of the open incident. Idempotent: the same
    /// decision committed twice opens one incident and returns it both times.
    /// </summary>
    /// <remarks>
    /// Decisions are decided in order against what the earlier ones of the same commit did (an incident opened by one
    /// is the open incident of a later one of its trigger and series). An incident another writer changed meanwhile
    /// makes the store refuse the batch: it is reloaded and decided again, up to <see cref="MaxAttempts"/> times. A
    /// policy state another writer committed is not retried: that conflict is the caller's (it must step again).
    /// </remarks>
    /// <exception cref="PolicyStateConflictException">The policy state changed since it was loaded (another sentinel evaluated): nothing was committed.</exception>
    /// <exception cref="StoreConflictException">The incidents kept changing under every attempt: nothing was committed.</exception>
    /// <exception cref="ArgumentException">A decision of another policy.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An unknown decision kind: nothing was committed.</exception>
    public async Task<IReadOnlyList<OpenedIncident>> CommitEvaluationAsync(EvaluationCommit commit, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(commit);

        // Everything that can fail without the store fails before anything is written.
        var inputs = new List<EvaluationInput>(commit.Decisions.Count);
        var deniedSince = commit.At;
        foreach (var decision in commit.Decisions)
        {
            if (!string.Equals(decision.Policy, commit.Policy, StringComparison.Ordinal))
            {
                throw new ArgumentException($"A decision of policy '{decision.Policy}' cannot be committed with policy '{commit.Policy}'.", nameof(commit));
            }

            inputs.Add(new EvaluationInput(decision, decision.Kind == DecisionKind.Act ? commit.DescribeTarget(decision) : null, commit.ConfirmTimeout, commit.DenialHoldsFor)
            {
                RulesVersion = commit.RulesVersion,
            });
            deniedSince = decision.At < deniedSince ? decision.At : deniedSince;
        }

        deniedSince -= commit.DenialHoldsFor > TimeSpan.Zero ? commit.DenialHoldsFor : TimeSpan.Zero;
        for (var attempt = 1; ; attempt++)
        {
            // Most evaluations decide nothing: they write state and verdicts, and read no incident.
            var active = inputs.Count == 0 ? [] : await Store.LoadActiveAsync(commit.Policy, deniedSince, cancellationToken).ConfigureAwait(false);
            var plan = CommitPlan.Decide(active, inputs);
            var batch = new StoreBatch(new PolicyStateWrite(commit.Policy, commit.State, commit.At, commit.ExpectedStateVersion), commit.Verdicts, plan.Updates)
            {
                Policy = commit.Policy,
                At = commit.At,
            };
            try
            {
                var records = await Store.ApplyAsync(batch, cancellationToken).ConfigureAwait(false);
                return plan.Opened.Select(o => Opened(plan.RecordAfter(o.View, records), o.IdempotencyKey)).ToList();
            }
            catch (StoreConflictException e) when (e is not PolicyStateConflictException && attempt < MaxAttempts)
            {
                // An incident changed since it was read: decide again, unless another writer has stepped the policy
                // meanwhile (deciding again cannot fix that; the next attempt would be refused for it anyway).
                if (commit.ExpectedStateVersion is { } expected
                    && await Store.LoadStateVersionAsync(commit.Policy, cancellationToken).ConfigureAwait(false) is var stored
                    && stored != expected)
                {
                    throw new PolicyStateConflictException(
                        $"The state of policy '{commit.Policy}' is at version {stored}, not {expected}: another writer committed since it was loaded.", e);
                }
            }
        }
    }

    /// <summary>Marks a pending action started, leased to <see cref="Owner"/> for <paramref name="lease"/>. False if it was not pending (someone else claimed it).</summary>
    /// <exception cref="KeyNotFoundException">There is no such action.</exception>
    /// <exception cref="InvalidOperationException">The incident cannot move to Acting (another action of it is running).</exception>
    public Task<bool> MarkActionStartedAsync(long actionId, DateTimeOffset at, TimeSpan lease, CancellationToken cancellationToken) =>
        DecideAsync(
            ct => LoadOfActionAsync(actionId, ct),
            current => IncidentLifecycle.StartAction(current!, actionId, at, new ActionLease(Owner, at + lease)),
            (_, _, after) => after is not null,
            cancellationToken);

    /// <summary>Stores the action's plan unless one is stored already, and returns the stored one.</summary>
    /// <exception cref="KeyNotFoundException">There is no such action.</exception>
    public Task<string> SavePlanAsync(long actionId, string plan, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(plan);
        return DecideAsync(
            ct => LoadOfActionAsync(actionId, ct),
            current => IncidentLifecycle.SavePlan(current!, actionId, plan),
            (current, _, after) => (after ?? current)!.Action(actionId)!.Plan!,
            cancellationToken);
    }

    /// <summary>
    /// Closes a recorded action that may no longer run (<see cref="IncidentLifecycle.WhyNotRunRecorded"/>) as failed with
    /// "not run: " and <paramref name="reason"/>, started and failed in one update. False if it was not pending (someone else claimed it).
    /// </summary>
    /// <exception cref="KeyNotFoundException">There is no such action.</exception>
    /// <exception cref="InvalidOperationException">The incident cannot move to Acting (another action of it is running).</exception>
    public Task<bool> RefuseRecordedActionAsync(long actionId, string reason, DateTimeOffset at, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(reason);
        return DecideAsync(
            ct => LoadOfActionAsync(actionId, ct),
            current => IncidentLifecycle.RefuseRecordedAction(current!, actionId, reason, at),
            (_, _, after) => after is not null,
            cancellationToken);
    }

    /// <summary>
    /// Records the final status, outcome and before/after state of a started action and moves its incident on; decided
    /// again on conflicts (up to <see cref="CompletionAttempts"/> times) as long as the action is still started.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The status is not final (Pending or Started).</exception>
    /// <exception cref="KeyNotFoundException">There is no such action.</exception>
    /// <exception cref="InvalidOperationException">The action is not started, or its incident cannot take the status that follows (<see cref="IncidentTransitions"/>).</exception>
    public Task CompleteActionAsync(long actionId, ActionCompletion completion, DateTimeOffset at, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(completion);
        ArgumentNullException.ThrowIfNull(completion.Outcome);
        _ = IncidentTransitions.AfterAction(completion.Status);
        return DecideAsync(
            ct => LoadOfActionAsync(actionId, ct),
            current => IncidentLifecycle.CompleteAction(current!, actionId, completion, at),
            (_, _, _) => true,
            cancellationToken,
            CompletionAttempts);
    }

    /// <summary>
    /// What the executor calls when an action it ran ends: completes it as <see cref="CompleteActionAsync(long, ActionCompletion, DateTimeOffset, CancellationToken)"/>
    /// if it is still started; if it was interrupted meanwhile (this sentinel was fenced: its lease ended and another
    /// sentinel interrupted it), the interruption is never overwritten: the outcome is added to the timeline only
    /// (<see cref="IncidentLifecycle.FinishAction"/>). True when recorded as the completion, false when only noted.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The status is not final (Pending or Started).</exception>
    /// <exception cref="KeyNotFoundException">There is no such action.</exception>
    /// <exception cref="InvalidOperationException">The action is neither started nor interrupted, or its incident cannot take the status that follows.</exception>
    public Task<bool> FinishActionAsync(long actionId, ActionCompletion completion, DateTimeOffset at, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(completion);
        ArgumentNullException.ThrowIfNull(completion.Outcome);
        _ = IncidentTransitions.AfterAction(completion.Status);
        return DecideAsync(
            ct => LoadOfActionAsync(actionId, ct),
            current => IncidentLifecycle.FinishAction(current!, actionId, completion, at),
            (current, _, _) => current!.Action(actionId)!.Status == ActionStatus.Started,
            cancellationToken,
            CompletionAttempts);
    }

    /// <summary>
    /// Interrupts one started action (its effect unknown, never retried by itself; as <see cref="RecoverAsync(DateTimeOffset, bool, CancellationToken)"/>
    /// does): for a sentinel that found itself fenced before it ran the action, so the action does not stay started
    /// where no other sentinel would sweep it. Returns it interrupted, or null if it was not started any more.
    /// </summary>
    public Task<ActionRecord?> InterruptActionAsync(long actionId, DateTimeOffset at, CancellationToken cancellationToken) =>
        InterruptOneAsync(actionId, at, cancellationToken);

    /// <summary>Records the final status and outcome of a started action and moves its incident on.</summary>
    public Task CompleteActionAsync(long actionId, ActionStatus status, string outcome, DateTimeOffset at, CancellationToken cancellationToken) =>
        CompleteActionAsync(actionId, new ActionCompletion(status, outcome), at, cancellationToken);

    /// <summary>Dry-run: records what the skipped action would have done, once. False if it is not skipped or already has a plan.</summary>
    /// <exception cref="KeyNotFoundException">There is no such action.</exception>
    public Task<bool> RecordDryRunAsync(long actionId, string plan, string outcome, bool wouldFail, DateTimeOffset at, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(outcome);
        return DecideAsync(
            ct => LoadOfActionAsync(actionId, ct),
            current => IncidentLifecycle.RecordDryRun(current!, actionId, plan, outcome, wouldFail, at),
            (_, _, after) => after is not null,
            cancellationToken);
    }

    /// <summary>
    /// Started actions this sentinel can no longer vouch for: its own (a restart), any without a lease, and any whose lease
    /// has ended become <see cref="ActionStatus.Interrupted"/> (their incidents too) and are returned; pending actions are
    /// returned separately, safe to run. Actions another sentinel holds under a live lease are left alone, unless
    /// <paramref name="exclusive"/>: this process is the only one using the store (its lock), so every started action
    /// is a dead process's, whatever owner (an earlier host name) its lease names.
    /// </summary>
    public async Task<(IReadOnlyList<ActionRecord> Interrupted, IReadOnlyList<ActionRecord> Pending)> RecoverAsync(DateTimeOffset at, bool exclusive, CancellationToken cancellationToken)
    {
        var interrupted = await InterruptAsync(at, exclusive, cancellationToken).ConfigureAwait(false);
        var pending = await Store.ListPendingActionsAsync(cancellationToken).ConfigureAwait(false);
        return (interrupted, pending);
    }

    /// <summary>As <see cref="RecoverAsync(DateTimeOffset, bool, CancellationToken)"/> with the lease rule of a shared store (<c>exclusive: false</c>).</summary>
    public Task<(IReadOnlyList<ActionRecord> Interrupted, IReadOnlyList<ActionRecord> Pending)> RecoverAsync(DateTimeOffset at, CancellationToken cancellationToken) =>
        RecoverAsync(at, exclusive: false, cancellationToken);

    /// <summary>
    /// The periodic sweep while running: started actions of other owners whose lease has ended (a sentinel sharing the
    /// store died mid-action) become <see cref="ActionStatus.Interrupted"/> and are returned. This sentinel's own are left
    /// to it, even past their lease: its executor records how they ended.
    /// </summary>
    public Task<IReadOnlyList<ActionRecord>> InterruptExpiredAsync(DateTimeOffset at, CancellationToken cancellationToken) =>
        InterruptExpiredAsync(at, _ => true, cancellationToken);

    /// <summary>
    /// As <see cref="InterruptExpiredAsync(DateTimeOffset, CancellationToken)"/>, and also this sentinel's own started actions
    /// whose lease has ended and that it is not executing (<paramref name="runningHere"/> false): left behind by this
    /// process (their end could not be recorded, or the check before acting failed), nobody else would ever interrupt
    /// them on a store only this sentinel uses. One it is executing is left to its executor, even past its lease.
    /// </summary>
    public async Task<IReadOnlyList<ActionRecord>> InterruptExpiredAsync(DateTimeOffset at, Func<long, bool> runningHere, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(runningHere);
        var interrupted = new List<ActionRecord>();
        foreach (var (action, lease) in await Store.ListStartedActionsAsync(cancellationToken).ConfigureAwait(false))
        {
            if (lease is not null
                && (lease.Until > at || (string.Equals(lease.Owner, Owner, StringComparison.Ordinal) && runningHere(action.Id))))
            {
                continue;
            }

            if (await InterruptOneAsync(action.Id, at, cancellationToken).ConfigureAwait(false) is { } done)
            {
                interrupted.Add(done);
            }
        }

        return interrupted;
    }

    private async Task<IReadOnlyList<ActionRecord>> InterruptAsync(DateTimeOffset at, bool exclusive, CancellationToken cancellationToken)
    {
        var interrupted = new List<ActionRecord>();
        foreach (var (action, lease) in await Store.ListStartedActionsAsync(cancellationToken).ConfigureAwait(false))
        {
            if (!IncidentLifecycle.IsInterrupted(lease, Owner, at, exclusive))
            {
                continue;
            }

            if (await InterruptOneAsync(action.Id, at, cancellationToken).ConfigureAwait(false) is { } done)
            {
                interrupted.Add(done);
            }
        }

        return interrupted;
    }

    private Task<ActionRecord?> InterruptOneAsync(long actionId, DateTimeOffset at, CancellationToken cancellationToken) =>
        DecideAsync(
            ct => Store.LoadIncidentOfActionAsync(actionId, ct),
            current => current is null ? LifecycleStep.None : IncidentLifecycle.Interrupt(current, actionId, at),
            (_, _, after) => after?.Action(actionId),
            cancellationToken);

    /// <summary>A person's answer (approve, deny, snooze, ack), applied atomically with its record, or refused with a sentence saying why.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The answer is not one of <see cref="Answers.All"/>.</exception>
    public Task<AnswerResult> AnswerAsync(Acknowledgment answer, DateTimeOffset? snoozeUntil, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(answer);
        if (!Answers.All.Contains(answer.Answer))
        {
            throw new ArgumentOutOfRangeException(nameof(answer), answer.Answer, $"not one of {string.Join(", ", Answers.All)}");
        }

        return DecideAsync(
            ct => Store.LoadIncidentAsync(answer.IncidentId, ct),
            current => IncidentLifecycle.Answer(current, answer, snoozeUntil),
            Result,
            cancellationToken);
    }

    /// <summary>Nobody answered by the deadline: <paramref name="approve"/> releases the held rollback; otherwise it stays held, marked timed out, once.</summary>
    public Task<AnswerResult> TimeOutAsync(long incidentId, bool approve, DateTimeOffset at, CancellationToken cancellationToken) =>
        DecideAsync(
            ct => Store.LoadIncidentAsync(incidentId, ct),
            current => IncidentLifecycle.TimeOut(current, incidentId, approve, at),
            Result,
            cancellationToken);

    /// <summary>
    /// Nobody answered by the deadline, decided from what the daemon knows (<see cref="IncidentLifecycle.DecideTimeOut"/>):
    /// the held rollback is released only by <c>onTimeout: rollback</c> while the trigger still fires; otherwise it stays held, marked timed out, once.
    /// </summary>
    public Task<AnswerResult> TimeOutAsync(long incidentId, TimeOutFacts facts, DateTimeOffset at, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(facts);
        return DecideAsync(
            ct => Store.LoadIncidentAsync(incidentId, ct),
            current => IncidentLifecycle.TimeOut(current, incidentId, facts, at),
            Result,
            cancellationToken);
    }

    /// <summary>Opens an incident (trigger <see cref="ManualTrigger"/>) with a pending rollback, blaming the latest change of its series, recording who asked, through what and why.</summary>
    public async Task<OpenedIncident> OpenManualRollbackAsync(ManualRollback request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);

        // As a trigger's incident would: the latest change of the series at or before the request, unless it is the sentinel's own rollback.
        var blamed = Changes is null
            ? null
            : WatchWindow.Blame(await Changes.LoadChangeHistoryAsync(request.Policy, request.At, cancellationToken).ConfigureAwait(false), request.Labels, request.At);

        // One nonce per request: a retried write finds the incident its first attempt opened (same open key).
        var step = IncidentLifecycle.OpenManualRollback(request, blamed, Guid.NewGuid());
        var record = await DecideAsync(_ => Task.FromResult<IncidentRecord?>(null), _ => step, (_, _, after) => after!, cancellationToken).ConfigureAwait(false);
        return new OpenedIncident(record.Incident, record.Actions[0]);
    }

    /// <summary>Records an acknowledgment without changing the incident.</summary>
    /// <exception cref="KeyNotFoundException">There is no such incident.</exception>
    public Task AddAcknowledgmentAsync(Acknowledgment acknowledgment, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(acknowledgment);
        ArgumentNullException.ThrowIfNull(acknowledgment.By);
        ArgumentNullException.ThrowIfNull(acknowledgment.Channel);
        ArgumentNullException.ThrowIfNull(acknowledgment.Answer);
        return DecideAsync(
            async ct => await Store.LoadIncidentAsync(acknowledgment.IncidentId, ct).ConfigureAwait(false)
                ?? throw new KeyNotFoundException($"Incident {acknowledgment.IncidentId} does not exist."),
            current => IncidentLifecycle.Acknowledge(current!, acknowledgment),
            (_, _, _) => true,
            cancellationToken);
    }

    private static AnswerResult Result(IncidentRecord? current, LifecycleStep step, IncidentRecord? after) =>
        after is null
            ? new AnswerResult(false, step.Message!, current?.Incident)
            : new AnswerResult(true, step.Message!, after.Incident, step.ActionToRun is { } id ? after.Action(id) : null);

    private static OpenedIncident Opened(IncidentRecord record, string idempotencyKey) =>
        new(record.Incident, record.Actions.FirstOrDefault(a => a.IdempotencyKey == idempotencyKey) ?? record.Actions[0]);

    private async Task<IncidentRecord?> LoadOfActionAsync(long actionId, CancellationToken cancellationToken) =>
        await Store.LoadIncidentOfActionAsync(actionId, cancellationToken).ConfigureAwait(false)
            ?? throw new KeyNotFoundException($"Action {actionId} does not exist.");

    /// <summary>
    /// Load, decide, apply; on a conflict (the incident changed since it was read) load and decide again, up to
    /// <paramref name="maxAttempts"/> times (<see cref="MaxAttempts"/> by default). <paramref name="result"/> gets the record read, the step, and the record after
    /// the update (null when the step changed nothing).
    /// </summary>
    private async Task<T> DecideAsync<T>(
        Func<CancellationToken, Task<IncidentRecord?>> load,
        Func<IncidentRecord?, LifecycleStep> decide,
        Func<IncidentRecord?, LifecycleStep, IncidentRecord?, T> result,
        CancellationToken cancellationToken,
        int maxAttempts = MaxAttempts)
    {
        for (var attempt = 1; ; attempt++)
        {
            var current = await load(cancellationToken).ConfigureAwait(false);
            var step = decide(current);
            if (step.Update is null)
            {
                return result(current, step, null);
            }

            try
            {
                var after = await Store.ApplyAsync(StoreBatch.Of(step.Update), cancellationToken).ConfigureAwait(false);
                return result(current, step, after[0]);
            }
            catch (StoreConflictException) when (attempt < maxAttempts)
            {
                // Another writer changed the incident since it was read: read it again and decide again.
            }
        }
    }

    /// <summary>
    /// What one commit's decisions do, decided in order against an in-memory view of the incidents they concern: a
    /// later decision sees what an earlier one did, and the changes to one incident become one update (those to an
    /// incident opened by the commit join its opening update).
    /// </summary>
    private sealed class CommitPlan
    {
        private readonly List<View> _views = [];

        public List<IncidentUpdate> Updates { get; } = [];

        /// <summary>The incidents the commit opens (or opened already: a retried commit), and the idempotency key of their action.</summary>
        public List<(View View, string IdempotencyKey)> Opened { get; } = [];

        /// <summary>The incident of <paramref name="view"/> after the batch: as the store returned it, or as loaded if the batch did not touch it.</summary>
        public IncidentRecord RecordAfter(View view, IReadOnlyList<IncidentRecord> records) =>
            _views.IndexOf(view) is var i and >= 0 ? records[i] : view.Record;

        public static CommitPlan Decide(IReadOnlyList<IncidentRecord> active, IReadOnlyList<EvaluationInput> inputs)
        {
            var plan = new CommitPlan();
            var known = active.Select(r => new View(r, null, r.Revision)).ToList();
            var opened = 0;
            foreach (var input in inputs)
            {
                var records = known.Select(v => v.Record).ToList();
                var open = IncidentLifecycle.FindOpen(records, input.Decision);
                var step = IncidentLifecycle.Decide(open, input with { LastDenial = IncidentLifecycle.FindLastDenial(records, input.Decision) });
                if (step.Update is not { } update)
                {
                    continue;
                }

                if (update.Changes is [OpenIncident first, ..])
                {
                    if (known.FirstOrDefault(v => v.Open is null && v.Record.Actions.Any(a => a.IdempotencyKey == first.Action.IdempotencyKey)) is { } recorded)
                    {
                        // This decision was committed before (a retried commit) and its incident is still active: it is
                        // the incident, as later decisions of this commit see it too; nothing is opened.
                        plan.Opened.Add((recorded, first.Action.IdempotencyKey));
                        continue;
                    }

                    // A placeholder id, below every stored one, that later decisions of this commit can name it by.
                    var view = new View(IncidentLifecycle.Preview(null, update.Changes, --opened), first, 0);
                    view.Changes.AddRange(update.Changes.Skip(1));
                    known.Add(view);
                    plan._views.Add(view);
                    plan.Opened.Add((view, first.Action.IdempotencyKey));
                    continue;
                }

                var touched = known.First(v => v.Record.Incident.Id == update.IncidentId);
                if (touched.Changes.Count == 0 && touched.Open is null)
                {
                    plan._views.Add(touched);
                }

                touched.Record = IncidentLifecycle.Preview(touched.Record, update.Changes);

                // An incident this commit opens is opened as it ends up (its action has no id a later change could
                // name yet): its moves fold into the opening; timeline entries, answers and a waiting resolution follow it.
                touched.Changes.AddRange(touched.Open is null ? update.Changes : update.Changes.Where(c => c is RecordEvent or RecordAnswer or RequestResolution));
            }

            plan.Updates.AddRange(plan._views.Select(v => v.Open is { } open
                ? new IncidentUpdate(0, 0, [
                    open with
                    {
                        Incident = v.Record.Incident with { Id = 0, Version = open.Incident.Version },
                        Action = v.Record.Actions[0] with { Id = 0, IncidentId = 0 },
                    },
                    .. v.Changes])
                : new IncidentUpdate(v.Record.Incident.Id, v.ExpectedRevision, v.Changes)));
            return plan;
        }

        /// <summary>An incident as the commit sees it: stored (its revision) or opened by the commit (<see cref="Open"/>).</summary>
        internal sealed class View(IncidentRecord record, OpenIncident? open, long expectedRevision)
        {
            public IncidentRecord Record { get; set; } = record;

            public OpenIncident? Open { get; } = open;

            public long ExpectedRevision { get; } = expectedRevision;

            public List<IncidentChange> Changes { get; } = [];
        }
    }
}
