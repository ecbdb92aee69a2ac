using RollbackSentinel.Actions;
using RollbackSentinel.Core.Incidents;
using RollbackSentinel.Core.Policies;
using RollbackSentinel.Core.State;
using RollbackSentinel.Telemetry;

namespace RollbackSentinel.Daemon;

/// <summary>
/// Runs the action of an opened incident exactly once. A rollback is first planned (reads only: which
/// revision or weights to return to) and the plan stored with the action; the first stored plan is the one
/// every later attempt uses. Then the action is marked started in the store just before it runs (a crash from
/// here on leaves it "interrupted", never re-run by itself) and completed after, with the state before and
/// after. Dry-run rollbacks are planned too, and what they would have done is recorded. A rollback that fails
/// is paged to humans and not retried.
/// </summary>
/// <remarks>
/// Fencing (several sentinels on one store): the started action is leased to this sentinel (<c>node.id</c>) for
/// <see cref="LeaseFor"/>, renewed every third of it while the adapter runs, and checked (renewed) right before the
/// adapter is called: a sentinel that was paused or cut off past its lease (another interrupted the action, or may) does
/// not act, and says it was fenced. What an adapter call that was under way did is recorded when it ends, but never
/// over an interruption (<see cref="IncidentService.FinishActionAsync"/>); a store that fails to record it is tried
/// again until it does or the daemon stops. While it runs (until its end is recorded) the action is in
/// <see cref="RunningActions"/>, which the <see cref="LeaseSweeper"/> leaves alone.
/// </remarks>
internal sealed partial class ActionExecutor(
    IncidentService incidents,
    IEnumerable<IRollbackAction> adapters,
    IEnumerable<Notifications.IIncidentChannel> channels,
    Rules.SecretFileAccess secretFiles,
    IHumanPager pager,
    TargetChanges targetChanges,
    SentinelMetrics metrics,
    TimeProvider time,
    IHostApplicationLifetime lifetime,
    Microsoft.Extensions.Options.IOptions<Hosting.SentinelOptions> options,
    RunningActions running,
    ILogger<ActionExecutor> logger)
{
    /// <summary>The first wait before recording an action's end is tried again after the store failed it; doubled each time up to <see cref="FinishRetryMax"/>.</summary>
    public static readonly TimeSpan FinishRetryFirst = TimeSpan.FromSeconds(1);

    /// <summary>The longest wait between two attempts to record an action's end.</summary>
    public static readonly TimeSpan FinishRetryMax = TimeSpan.FromSeconds(30);

    /// <summary>The shortest lease of a started action: three renewals (every third of it) fit in it, so one slow or failed renewal never loses it.</summary>
    public static readonly TimeSpan MinimumLease = TimeSpan.FromMinutes(1);

    /// <summary>
    /// How long a started action is leased to this sentinel at a time: <see cref="MinimumLease"/> (1 minute), or twice the
    /// cluster's failover bound (3 x <c>cluster.checkinInterval</c>) when that is longer, so a node the cluster still counts
    /// alive never loses its running action, while one that crashed mid-action has it interrupted and paged by another
    /// within a lease and a <see cref="LeaseSweeper.Every"/> rather than the action's whole budget.
    /// </summary>
    public static TimeSpan LeaseFor(TimeSpan checkinInterval)
    {
        var twiceFailover = checkinInterval * 6;
        return twiceFailover > MinimumLease ? twiceFailover : MinimumLease;
    }

    /// <summary>How often the lease of a running action is renewed: a third of it.</summary>
    public static TimeSpan RenewEvery(TimeSpan lease) => lease / 3;

    private readonly TimeSpan _lease = LeaseFor(options.Value.CheckinIntervalValue);

    /// <summary>How long an action may run at least; a rollback that waits on a rollout gets its wait plus <see cref="ActionMargin"/>.</summary>
    public static readonly TimeSpan ActionTimeout = TimeSpan.FromMinutes(10);

    /// <summary>What a rollback needs on top of its rollout wait: reading history, planning, verifying.</summary>
    public static readonly TimeSpan ActionMargin = TimeSpan.FromMinutes(5);

    /// <summary>The budget of one action: never shorter than the rollout wait its target asks for, plus a margin.</summary>
    public static TimeSpan BudgetFor(Target target)
    {
        ArgumentNullException.ThrowIfNull(target);
        var wait = target switch
        {
            KubectlTarget k => k.Timeout,
            HelmTarget h => h.Timeout,
            _ => null,
        };
        return wait is { } w && w + ActionMargin > ActionTimeout ? w + ActionMargin : ActionTimeout;
    }

    private readonly Dictionary<string, IRollbackAction> _adapters = adapters.ToDictionary(a => a.Kind, StringComparer.Ordinal);

    private readonly IReadOnlyList<string> _channels = [.. channels.Select(c => c.Name)];

    /// <summary>Runs the action of an incident a decision just opened: the decision's evidence goes to the adapter.</summary>
    public Task ExecuteAsync(Policy policy, OpenedIncident opened, Decision decision, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(opened);
        ArgumentNullException.ThrowIfNull(decision);
        var cause = new Cause(decision.Action, decision.At, RollbackEvidence.Of(decision, opened.Incident), opened.Incident.BlamedChange ?? decision.Blamed);
        return ExecuteAsync(policy, opened, cause, cancellationToken);
    }

    /// <summary>
    /// Runs an action recorded earlier (<see cref="PendingActions"/>): what the incident stored is all there is. A rollback
    /// action runs the rollback also when the incident paged (a person approved it, or the confirmation timed out into it).
    /// </summary>
    public Task ExecuteRecordedAsync(Policy policy, OpenedIncident opened, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(opened);
        var incident = opened.Incident;
        var action = opened.Action.Kind == "rollback" ? TriggerAction.Rollback : incident.Action;
        return ExecuteAsync(policy, opened, new Cause(action, incident.OpenedAt, RollbackEvidence.Of(incident), incident.BlamedChange), cancellationToken);
    }

    private async Task ExecuteAsync(Policy policy, OpenedIncident opened, Cause decision, CancellationToken cancellationToken)
    {
        var action = opened.Action;
        if (action.Status == ActionStatus.Skipped && opened.Incident.DryRun && decision.Action == TriggerAction.Rollback && action.Plan is null)
        {
            await DryRunAsync(policy, opened, decision, cancellationToken).ConfigureAwait(false);
            return;
        }

        if (action.Status != ActionStatus.Pending)
        {
            return; // already handled
        }

        // A started action is let finish when the daemon stops, up to its own timeout: cancelling a rollback
        // half-way leaves a worse state than letting it complete.
        var budget = BudgetFor(policy.Target);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(lifetime.ApplicationStopped);
        timeout.CancelAfter(budget);

        IRollbackAction? adapter = null;
        ActionPlan? plan = null;
        string? refusal = null;
        if (decision.Action == TriggerAction.Rollback)
        {
            if (!_adapters.TryGetValue(policy.Target.Kind, out adapter))
            {
                refusal = $"no '{policy.Target.Kind}' rollback adapter is available in this build";
            }
            else if (SecretFileProblem(policy.Target) is { } problem)
            {
                // Checked when the rules were loaded; checked again now, as the file may have been swapped since.
                refusal = $"refused: {problem}";
            }
            else
            {
                (plan, refusal) = await PlanOnceAsync(adapter, Request(policy, opened, decision), action, budget, timeout.Token).ConfigureAwait(false);
            }
        }

        // Running here from before it is started until its end is recorded: the lease sweep leaves it to this executor.
        using var runningHere = running.Enter(action.Id);

        // Leased to this sentinel (renewed while it runs): another sharing the store leaves it alone meanwhile.
        if (!await incidents.MarkActionStartedAsync(action.Id, time.GetUtcNow(), _lease, cancellationToken).ConfigureAwait(false))
        {
            // Started or closed by another writer since this one read it pending (another sentinel's sweep or evaluation).
            metrics.RecordFenced(SentinelMetrics.FencedWhat.Incident);
            LogStartFenced(action.Kind, policy.Name, opened.Incident.Id);
            return;
        }

        // Held from before the rollback until its revision is recorded as the sentinel's: the change detector never
        // sees the rolled-back revision first (it would be someone else's change, and re-arm the watch window).
        using var hold = adapter is null || refusal is not null ? null : await targetChanges.HoldAsync(policy, opened.Incident.Labels, cancellationToken).ConfigureAwait(false);
        var acts = adapter is not null && refusal is null;
        if (acts && !await StillLeasedAsync(policy, opened, cancellationToken).ConfigureAwait(false))
        {
            return;
        }

        ActionResult result;
        var status = ActionStatus.Failed;
        var keeper = acts
            ? LeaseKeeper.Start(
                ct => incidents.Store.RenewActionLeaseAsync(action.Id, new ActionLease(incidents.Owner, time.GetUtcNow() + _lease), time.GetUtcNow(), ct),
                RenewEvery(_lease),
                time,
                () =>
                {
                    metrics.RecordFenced(SentinelMetrics.FencedWhat.Action);
                    LogFencedWhileRunning(action.Kind, policy.Name, opened.Incident.Id);
                },
                e => LogRenewalFailed(e, action.Kind, opened.Incident.Id, PromDuration.Format(RenewEvery(_lease))))
            : null;
        var fencedWhileRunning = false;
        try
        {
            result = refusal is not null ? ActionResult.Failure(refusal)
                : adapter is null ? Notified(decision)
                : await adapter.ExecuteAsync(Request(policy, opened, decision), plan!, dryRun: false, timeout.Token).ConfigureAwait(false);
            status = result.Succeeded ? ActionStatus.Succeeded : ActionStatus.Failed;
        }
        catch (OperationCanceledException)
        {
            result = ActionResult.Failure(lifetime.ApplicationStopped.IsCancellationRequested
                ? "the daemon stopped while the action ran (past its shutdownTimeout); its effect is unknown"
                : $"the action did not finish within {PromDuration.Format(budget)}; its effect is unknown");
            status = ActionStatus.Interrupted;
        }
        catch (ActionFailedException e)
        {
            result = ActionResult.Failure(e.Message);
        }
        catch (Exception e)
        {
            result = ActionResult.Failure($"the adapter failed: {e.GetType().Name}: {e.Message}");
        }

        // Never over an interruption: a sentinel that found this one's lease ended interrupted the action and paged;
        // what the adapter did then goes to the timeline only. The lease is renewed until the end is recorded, also while
        // a failing store makes the recording wait (FinishAsync), so no other sentinel takes the action for abandoned
        // while this one holds its result.
        bool? finished;
        try
        {
            finished = await FinishAsync(
                policy,
                opened,
                new ActionCompletion(status, result.Outcome) { Before = result.Before ?? plan?.Before, After = result.After },
                time.GetUtcNow()).ConfigureAwait(false);
        }
        finally
        {
            if (keeper is not null)
            {
                fencedWhileRunning = await keeper.StopAsync().ConfigureAwait(false);
                await keeper.DisposeAsync().ConfigureAwait(false);
            }
        }

        // What the target runs after the sentinel acted on it is the sentinel's, also when the action failed or was cut
        // short: a half-done undo (applied, then its rollout timed out) must not come back as someone's change and arm.
        // Also when the daemon stopped before the store took the action's end (tried, as the store may be back).
        if (adapter is not null && refusal is null
            && (status != ActionStatus.Succeeded || result.Effect is ActionEffect.Changed or ActionEffect.Unchanged))
        {
            try
            {
                await targetChanges.RecordRollbackAsync(policy, opened.Incident, result, plan, CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception e) when (finished is null && IsStoreFailure(e))
            {
                LogOwnChangeNotRecorded(e, action.Kind, policy.Name, opened.Incident.Id);
            }
        }

        if (finished is not { } recorded)
        {
            return; // the daemon stopped before the store took it: left started, interrupted and paged by a sweep or the next start
        }

        if (recorded)
        {
            metrics.RecordAction(policy.Name, action.Kind, status);
        }

        if (!recorded)
        {
            // Counted once per fencing: a renewal refused while it ran counted already.
            if (!fencedWhileRunning)
            {
                metrics.RecordFenced(SentinelMetrics.FencedWhat.Action);
            }

            LogFinishedAfterInterrupted(action.Kind, policy.Name, opened.Incident.Id, status, result.Outcome);
            return;
        }

        if (status == ActionStatus.Succeeded)
        {
            LogActed(action.Kind, policy.Name, decision.Trigger, opened.Incident.Id, result.Outcome, result.Before ?? plan?.Before, result.After);
            return;
        }

        LogActionFailed(action.Kind, policy.Name, decision.Trigger, opened.Incident.Id, status, result.Outcome);
        var what = action.Kind == "rollback" ? $"rollback of {action.Target}" : $"{action.Kind} about {action.Target}";
        await pager.PageAsync(opened.Incident, $"{what} {(status == ActionStatus.Interrupted ? "was interrupted" : "failed")}: {result.Outcome}", CancellationToken.None).ConfigureAwait(false);
    }

    /// <summary>
    /// Records how an action that ran ended (<see cref="IncidentService.FinishActionAsync"/>). The adapter has acted, so its
    /// result must not be lost: when the store fails (a lost connection, a full disk, a conflict that kept coming back) it is
    /// tried again, waiting <see cref="FinishRetryFirst"/> doubled up to <see cref="FinishRetryMax"/>, until the store takes it
    /// or the daemon stops (past its <c>shutdownTimeout</c>). The adapter is never run again. Null when the daemon stopped
    /// first: the action stays started under this sentinel's lease, which ends; then a lease sweep (this sentinel's or
    /// another's) or this sentinel's next start interrupts and pages it.
    /// </summary>
    private async Task<bool?> FinishAsync(Policy policy, OpenedIncident opened, ActionCompletion completion, DateTimeOffset endedAt)
    {
        var action = opened.Action;
        var wait = FinishRetryFirst;
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                var recorded = await incidents.FinishActionAsync(action.Id, completion, endedAt, CancellationToken.None).ConfigureAwait(false);
                if (attempt > 1)
                {
                    LogFinishRecordedAfterRetry(action.Kind, policy.Name, opened.Incident.Id, completion.Status, attempt);
                }

                return recorded;
            }
            catch (Exception e) when (IsStoreFailure(e))
            {
                LogFinishFailed(e, action.Kind, policy.Name, opened.Incident.Id, completion.Status, attempt, PromDuration.Format(wait));
            }

            try
            {
                await Task.Delay(wait, time, lifetime.ApplicationStopped).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                LogFinishAbandoned(action.Kind, policy.Name, opened.Incident.Id, completion.Status, completion.Outcome);
                return null;
            }

            wait = wait * 2 > FinishRetryMax ? FinishRetryMax : wait * 2;
        }
    }

    /// <summary>
    /// Whether recording failed because of the store (worth trying again) rather than because of what was recorded (the
    /// action is neither started nor interrupted: <see cref="InvalidOperationException"/>, <see cref="KeyNotFoundException"/>).
    /// </summary>
    internal static bool IsStoreFailure(Exception e)
    {
        for (Exception? x = e; x is not null; x = x.InnerException)
        {
            if (x is System.Data.Common.DbException or IOException or TimeoutException or System.Net.Sockets.SocketException or StoreConflictException)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// Fencing right before the side effect: renews this sentinel's lease on the started action. Refused: this sentinel
    /// was paused or cut off past its lease (another interrupted the action, or will), so it does not act; the action is
    /// interrupted and paged here unless another sentinel did it already (once either way), so it never stays started.
    /// A store that fails the check: not run either; the action stays started until its lease ends, then it is
    /// interrupted and paged like a crashed sentinel's (by a <see cref="LeaseSweeper"/>: this sentinel's own takes it too,
    /// as it is not running here any more).
    /// </summary>
    private async Task<bool> StillLeasedAsync(Policy policy, OpenedIncident opened, CancellationToken cancellationToken)
    {
        var action = opened.Action;
        var now = time.GetUtcNow();
        try
        {
            if (await incidents.Store.RenewActionLeaseAsync(action.Id, new ActionLease(incidents.Owner, now + _lease), now, cancellationToken).ConfigureAwait(false))
            {
                return true;
            }
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            LogLeaseCheckFailed(e, action.Kind, policy.Name, opened.Incident.Id);
            return false;
        }

        metrics.RecordFenced(SentinelMetrics.FencedWhat.Action);
        LogFencedBeforeActing(action.Kind, policy.Name, opened.Incident.Id);
        if (await incidents.InterruptActionAsync(action.Id, time.GetUtcNow(), CancellationToken.None).ConfigureAwait(false) is not null)
        {
            metrics.RecordAction(policy.Name, action.Kind, ActionStatus.Interrupted);
            await pager.PageAsync(opened.Incident, $"{action.Kind} of {action.Target} was not run: this sentinel was fenced (its lease on the action ended before it acted); the action is interrupted and not run again", CancellationToken.None).ConfigureAwait(false);
        }

        return false;
    }

    /// <summary>
    /// The stored plan, or a new one stored now: of two sentinels sharing a store, or a retry after a crash,
    /// the first plan wins and both act toward it. A plan that cannot be made is the action's failure reason.
    /// </summary>
    private async Task<(ActionPlan? Plan, string? Refusal)> PlanOnceAsync(IRollbackAction adapter, RollbackRequest request, ActionRecord action, TimeSpan budget, CancellationToken cancellationToken)
    {
        try
        {
            if (action.Plan is null)
            {
                var fresh = await adapter.PlanAsync(request, cancellationToken).ConfigureAwait(false);
                var stored = await incidents.SavePlanAsync(action.Id, fresh.ToJson(), CancellationToken.None).ConfigureAwait(false);
                action = action with { Plan = stored };
                LogPlanned(request.Policy, request.IncidentId, fresh.Summary);
            }

            return (ActionPlan.FromJson(action.Plan), null);
        }
        catch (ActionFailedException e)
        {
            return (null, $"could not decide what to roll back to: {e.Message}");
        }
        catch (System.Text.Json.JsonException e)
        {
            return (null, $"the stored plan cannot be read: {e.Message}");
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested || lifetime.ApplicationStopped.IsCancellationRequested)
        {
            throw;
        }
        catch (OperationCanceledException)
        {
            return (null, $"planning did not finish within {PromDuration.Format(budget)}");
        }
        catch (Exception e)
        {
            // A bug or an unexpected answer: a refusal with the reason (recorded and paged), never an action left
            // pending to be re-planned until it is too old.
            return (null, $"could not decide what to roll back to: the adapter failed: {e.GetType().Name}: {e.Message}");
        }
    }

    /// <summary>Dry-run: plans (reads only) and records what the rollback would have done, once.</summary>
    private async Task DryRunAsync(Policy policy, OpenedIncident opened, Cause decision, CancellationToken cancellationToken)
    {
        if (!_adapters.TryGetValue(policy.Target.Kind, out var adapter))
        {
            return;
        }

        var request = Request(policy, opened, decision);
        ActionPlan plan;
        ActionResult result;
        try
        {
            plan = await adapter.PlanAsync(request, cancellationToken).ConfigureAwait(false);
            result = await adapter.ExecuteAsync(request, plan, dryRun: true, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            var reason = e is ActionFailedException ? e.Message : $"the adapter failed: {e.GetType().Name}: {e.Message}";
            plan = new ActionPlan("nothing: the rollback could not be planned");
            result = ActionResult.Failure($"dry-run: a rollback would fail: {reason}");
        }

        if (await incidents.RecordDryRunAsync(opened.Action.Id, plan.ToJson(), result.Outcome, wouldFail: !result.Succeeded, time.GetUtcNow(), cancellationToken).ConfigureAwait(false))
        {
            if (result.Succeeded)
            {
                LogDryRun(policy.Name, decision.Trigger, opened.Incident.Id, result.Outcome);
            }
            else
            {
                LogDryRunWouldFail(policy.Name, decision.Trigger, opened.Incident.Id, result.Outcome);
            }
        }
    }

    /// <summary>What the adapter is given: the policy's target rendered for the incident's series, and why.</summary>
    internal static RollbackRequest Request(Policy policy, OpenedIncident opened, Cause decision) =>
        RollbackRequest.For(policy, opened.Incident.Labels, opened.Action.IdempotencyKey, decision.At, decision.Evidence) with
        {
            IncidentId = opened.Incident.Id,
            BlamedChange = decision.Blamed,
        };

    /// <summary>
    /// A page or notify is delivered by the <see cref="NotificationDispatcher"/> to every configured channel (and
    /// retried there until each has it). With no channel at all, a page reaches nobody: that is a failure (paged in
    /// the log, event 310), not "acted"; a notify is logged only, and says so.
    /// </summary>
    private ActionResult Notified(Cause decision)
    {
        if (_channels.Count > 0)
        {
            var channels = string.Join(", ", _channels);
            return ActionResult.Changed(
                decision.Action == TriggerAction.Page ? $"page sent to {channels} (each channel is retried until it has it)" : $"notification sent to {channels}",
                null,
                null);
        }

        return decision.Action == TriggerAction.Page
            ? ActionResult.Failure("nobody was paged: no paging channel is configured (notifications: slack, pagerDuty or alertmanager); only the log has it")
            : ActionResult.Changed("logged only: no notification channel is configured (notifications: slack, pagerDuty or alertmanager)", null, null);
    }

    /// <summary>What an action answers: the action taken, when it was decided, the evidence, and the blamed change.</summary>
    internal sealed record Cause(TriggerAction Action, DateTimeOffset At, RollbackEvidence Evidence, Core.Changes.Change? Blamed)
    {
        public string Trigger => Evidence.Trigger;
    }

    /// <summary>Why a secret file the target names may not be used now, or null.</summary>
    private string? SecretFileProblem(Target target) => target switch
    {
        KubectlTarget { Kubeconfig: { } kubeconfig } => secretFiles.Problem(kubeconfig),
        WebhookTarget { SecretFile: { } file } => secretFiles.Problem(file),
        _ => null,
    };

    [LoggerMessage(EventId = 300, Level = LogLevel.Warning, Message = "Action {Kind} for {Policy}/{Trigger} (incident {Incident}) done: {Outcome} (before: {Before}; after: {After})")]
    private partial void LogActed(string kind, string policy, string trigger, long incident, string outcome, string? before, string? after);

    [LoggerMessage(EventId = 301, Level = LogLevel.Error, Message = "Action {Kind} for {Policy}/{Trigger} (incident {Incident}) {Status}: {Outcome}")]
    private partial void LogActionFailed(string kind, string policy, string trigger, long incident, ActionStatus status, string outcome);

    [LoggerMessage(EventId = 302, Level = LogLevel.Information, Message = "Rollback of {Policy} (incident {Incident}) planned: {Plan}")]
    private partial void LogPlanned(string policy, long incident, string plan);

    [LoggerMessage(EventId = 303, Level = LogLevel.Warning, Message = "Dry-run of {Policy}/{Trigger} (incident {Incident}): {Outcome}")]
    private partial void LogDryRun(string policy, string trigger, long incident, string outcome);

    [LoggerMessage(EventId = 1160, Level = LogLevel.Warning,
        Message = "The {Kind} action of {Policy} (incident {Incident}) was started or closed by another writer first: this sentinel was fenced and does not run it")]
    private partial void LogStartFenced(string kind, string policy, long incident);

    [LoggerMessage(EventId = 1161, Level = LogLevel.Error,
        Message = "This sentinel was fenced before running the {Kind} action of {Policy} (incident {Incident}): its lease on the action had ended (it was paused or cut off from the store), so it did not act; the action is interrupted and paged, never run twice")]
    private partial void LogFencedBeforeActing(string kind, string policy, long incident);

    [LoggerMessage(EventId = 1162, Level = LogLevel.Error,
        Message = "Renewing the lease of the running {Kind} action of {Policy} (incident {Incident}) was refused: this sentinel was fenced (it was paused or cut off past its lease); the adapter call under way cannot be taken back, and its outcome will not overwrite an interruption")]
    private partial void LogFencedWhileRunning(string kind, string policy, long incident);

    [LoggerMessage(EventId = 1163, Level = LogLevel.Error,
        Message = "The {Kind} action of {Policy} (incident {Incident}) ended ({Status}: {Outcome}) after another sentinel had interrupted it: this sentinel was fenced; the outcome is added to the incident's timeline and the interruption stands")]
    private partial void LogFinishedAfterInterrupted(string kind, string policy, long incident, ActionStatus status, string outcome);

    [LoggerMessage(EventId = 1164, Level = LogLevel.Warning, Message = "Renewing the lease of the running {Kind} action (incident {Incident}) failed; tried again in {Every}")]
    private partial void LogRenewalFailed(Exception exception, string kind, long incident, string every);

    [LoggerMessage(EventId = 1165, Level = LogLevel.Error,
        Message = "The lease of the {Kind} action of {Policy} (incident {Incident}) could not be checked before it ran (the store failed): it was not run; it is interrupted and paged once its lease ends (by a lease sweep, this sentinel's or another's, or at this one's next start)")]
    private partial void LogLeaseCheckFailed(Exception exception, string kind, string policy, long incident);

    [LoggerMessage(EventId = 1174, Level = LogLevel.Error,
        Message = "The revision the {Kind} action of {Policy} (incident {Incident}) left could not be recorded as this sentinel's own (the store failed as the daemon stopped): after a restart it may be taken for someone else's change")]
    private partial void LogOwnChangeNotRecorded(Exception exception, string kind, string policy, long incident);

    [LoggerMessage(EventId = 1171, Level = LogLevel.Error,
        Message = "Recording how the {Kind} action of {Policy} (incident {Incident}) ended ({Status}) failed (attempt {Attempt}): the store failed; tried again in {Wait} until it is recorded or the daemon stops; the action is not run again")]
    private partial void LogFinishFailed(Exception exception, string kind, string policy, long incident, ActionStatus status, int attempt, string wait);

    [LoggerMessage(EventId = 1172, Level = LogLevel.Warning,
        Message = "How the {Kind} action of {Policy} (incident {Incident}) ended ({Status}) is recorded, at attempt {Attempt}")]
    private partial void LogFinishRecordedAfterRetry(string kind, string policy, long incident, ActionStatus status, int attempt);

    [LoggerMessage(EventId = 1173, Level = LogLevel.Error,
        Message = "The daemon stopped before the store recorded how the {Kind} action of {Policy} (incident {Incident}) ended ({Status}: {Outcome}): it stays started until its lease ends, then it is interrupted and paged (by a lease sweep or at the next start); it is not run again")]
    private partial void LogFinishAbandoned(string kind, string policy, long incident, ActionStatus status, string outcome);

    [LoggerMessage(EventId = 308, Level = LogLevel.Warning, Message = "Dry-run of {Policy}/{Trigger} (incident {Incident}) shows the rollback would fail: {Outcome}")]
    private partial void LogDryRunWouldFail(string policy, string trigger, long incident, string outcome);
}
