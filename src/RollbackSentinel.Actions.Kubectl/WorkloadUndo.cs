using System.Globalization;
using RollbackSentinel.Actions.Processes;
using RollbackSentinel.Core.Policies;

namespace RollbackSentinel.Actions.Kubectl;

/// <summary>
/// <c>kubectl rollout undo --to-revision=N</c> of a Deployment, StatefulSet or DaemonSet, where N (the revision before
/// the bad one, or the pinned one) is resolved once, when planning, and stored with the template hash it stands for;
/// execution acts only when the workload still runs the bad template, marks the rollback (see
/// <see cref="KubectlRollbackAction"/>), waits for <c>kubectl rollout status</c>, and reads the result back. What differs
/// by kind (where the markers go before the undo, what a revision's hash is called) is in <see cref="DeploymentUndo"/>
/// and <see cref="ControllerRevisionUndo"/>.
/// </summary>
internal abstract class WorkloadUndo(KubectlCli kubectl, WorkloadHistoryReader reader, KubectlOptions options, TimeProvider time)
{
    /// <summary>What a revision's hash is called in outcomes: <c>pod-template-hash</c>, <c>controllerrevision</c>.</summary>
    protected abstract string HashName { get; }

    protected KubectlCli Kubectl => kubectl;

    /// <summary>The command that marks the rollback before the undo, so the markers are there from the moment of the undo on.</summary>
    protected abstract CommandLine MarkBeforeUndo(Workload w, Revision target, string key, DateTimeOffset at);

    /// <summary>What <see cref="MarkBeforeUndo"/> annotates, as outcomes name it.</summary>
    protected abstract string MarkTarget(Workload w, Revision target);

    public async Task<ActionPlan> PlanAsync(Workload w, RollbackRequest request, CancellationToken ct)
    {
        var history = await reader.ReadAsync(w, ct).ConfigureAwait(false);
        var current = history.Current
            ?? throw new ActionFailedException($"{w} runs a template none of its revisions records yet (a rollout is starting?); cannot tell which revision is bad");

        var facts = w.Facts();
        facts["fromRevision"] = KubectlCli.Num(current.Number);
        facts["fromHash"] = current.Hash;

        if (AlreadyRolledBack(w, request, history, current) is { } why)
        {
            // A sentinel (maybe another replica's) rolled this workload back within the cooldown: leave it there.
            facts["toRevision"] = KubectlCli.Num(current.Number);
            facts["toHash"] = current.Hash;
            return new ActionPlan($"leave {w} as it is: {why}")
            {
                Before = Describe(current),
                After = Describe(current),
                Facts = facts,
            };
        }

        Revision target;
        string? renumbered = null;
        if (w.ToRevision is { } pinned)
        {
            if (history.Revisions.FirstOrDefault(r => r.Number == pinned) is { } live)
            {
                target = live;
            }
            else if (history.Revisions.FirstOrDefault(r => r.PreviousNumbers.Contains(pinned)) is { } moved)
            {
                // An undo re-used revision N's ReplicaSet and renumbered it: its template IS revision N's template.
                target = moved;
                renumbered = $" (pinned revision {pinned}: revision numbers change on every rollback, and revision {pinned}'s template is now revision {moved.Number})";
            }
            else
            {
                throw new ActionFailedException($"revision {pinned} of {w} does not exist; its revisions are {string.Join(", ", history.Revisions.Select(r => r.Number).Order())}");
            }
        }
        else
        {
            target = history.Revisions.Where(r => r.Number < current.Number).MaxBy(r => r.Number)
                ?? throw new ActionFailedException($"no earlier revision to roll back to: {w} is at revision {current.Number}, the oldest it records");
        }

        facts["toRevision"] = KubectlCli.Num(target.Number);
        facts["toHash"] = target.Hash;
        if (target.Hash == current.Hash)
        {
            return new ActionPlan($"leave {w} as it is: it already runs revision {target.Number}{renumbered}")
            {
                Before = Describe(current),
                After = Describe(current),
                Facts = facts,
            };
        }

        var at = time.GetUtcNow();
        return new ActionPlan($"roll {w} back from revision {current.Number} to revision {target.Number}{renumbered}")
        {
            Steps = [MarkBeforeUndo(w, target, request.IdempotencyKey, at).ToString(), kubectl.Undo(w, target.Number).ToString(), kubectl.Annotate(w, target.Hash, request.IdempotencyKey, at).ToString()],
            Before = Describe(current),
            After = "template of " + Describe(target),
            Facts = facts,
        };
    }

    /// <summary>
    /// Why the workload must be left where it is (a sentinel rolled it back within the cooldown), or null when it
    /// runs no rolled-back template. Throws when it runs one it must not step back from: a sentinel's rollback older
    /// than the cooldown (the template rolled back to is failing too), or a re-used template without the markers.
    /// </summary>
    private string? AlreadyRolledBack(Workload w, RollbackRequest request, History history, Revision current)
    {
        var markers = history.Markers;
        var ours = markers.To == current.Hash;
        var reused = current.PreviousNumbers.Count > 0;
        if (!ours && !reused)
        {
            return null;
        }

        var revisionHistory = reused ? $"revision-history {string.Join(",", current.PreviousNumbers.Select(KubectlCli.Num))}" : "no revision-history";
        var state = $"{Describe(current)}, {revisionHistory}";
        const string Refusal = "a sentinel never steps further back through history: humans must look";
        if (!ours)
        {
            throw new ActionFailedException($"{w} runs a template that was rolled back to by someone other than a sentinel ({state}); {Refusal}");
        }

        var by = markers.By ?? "an unknown action";
        var cooldown = request.Cooldown;
        if (!KubectlCli.TryParseTime(markers.At, out var at))
        {
            throw new ActionFailedException(
                $"{w} runs a template that sentinel action {by} rolled back to at an unknown time ({KubectlRollbackAction.RolledBackAtAnnotation} is '{markers.At ?? ""}'; {state}); {Refusal}");
        }

        var age = request.DecidedAt - at;
        if (age < TimeSpan.Zero)
        {
            age = TimeSpan.Zero; // rolled back after this incident was decided (the same breach, seen by another sentinel)
        }

        var ago = PromDuration.Format(TimeSpan.FromSeconds(Math.Floor(age.TotalSeconds)));
        if (age < cooldown)
        {
            return $"rolled back {ago} ago by {by}, within the cooldown ({PromDuration.Format(cooldown)}); it runs {Describe(current)}";
        }

        throw new ActionFailedException(
            $"{w} runs a template that was rolled back to at {at.UtcDateTime.ToString(KubectlCli.TimeFormat, CultureInfo.InvariantCulture)} by sentinel action {by}, {ago} before this incident, longer ago than the cooldown ({PromDuration.Format(cooldown)}) ({state}); {Refusal}");
    }

    public async Task<ActionResult> ExecuteAsync(Workload w, RollbackRequest request, ActionPlan plan, bool dryRun, CancellationToken ct)
    {
        var fromHash = plan.Fact("fromHash");
        var fromRevision = plan.Fact("fromRevision");
        var toHash = plan.Fact("toHash");
        var toRevision = plan.Fact("toRevision");

        var history = await reader.ReadAsync(w, ct).ConfigureAwait(false);
        var before = State(history);
        if (dryRun)
        {
            return ActionResult.DryRun(plan);
        }

        if (history.Current?.Hash == toHash)
        {
            return ActionResult.Unchanged($"{w.Ref} already runs revision {toRevision}'s template; nothing to do", before);
        }

        if (history.Current?.Hash != fromHash)
        {
            return ActionResult.Failure(
                $"{w} moved on since the incident was decided: it now runs {before}, not revision {fromRevision} that the plan rolls back from; nothing was done", before);
        }

        var target = history.Revisions.FirstOrDefault(r => r.Hash == toHash);
        if (target is null)
        {
            return ActionResult.Failure($"revision {toRevision} of {w} ({HashName} {toHash}) is no longer in its history; nothing was done", before);
        }

        var at = time.GetUtcNow();
        var notes = new List<string>();

        // 1. Mark first, so the markers are there from the moment of the undo on (see KubectlRollbackAction).
        var mark = MarkBeforeUndo(w, target, request.IdempotencyKey, at);
        var marked = await kubectl.RunWriteAsync(mark, ct).ConfigureAwait(false);
        if (!marked.Succeeded)
        {
            // The rollback matters more than closing the gap: go on, the annotation after the undo protects it then.
            notes.Add($"could not mark {MarkTarget(w, target)} before the undo ({marked.Reason}), so until it was annotated after the undo another sentinel could have planned a further step back");
        }

        // 2. The undo, once.
        var undo = kubectl.Undo(w, target.Number);
        var undone = await kubectl.RunWriteAsync(undo, ct).ConfigureAwait(false);
        if (!undone.Succeeded)
        {
            // Never repeat the undo blindly: see where the workload is now.
            var after = await reader.ReadAsync(w, ct).ConfigureAwait(false);
            if (after.Current?.Hash != toHash)
            {
                return ActionResult.Failure($"'{undo}' failed ({undone.Reason}); {w} still runs {State(after)}", before);
            }
        }

        // 3. Belt and braces: annotate the workload itself.
        var annotate = kubectl.Annotate(w, toHash, request.IdempotencyKey, at);
        var annotated = await kubectl.RunWriteAsync(annotate, ct).ConfigureAwait(false);

        // 4. Wait for the rollout, then read it back.
        var rolloutTimeout = w.Timeout ?? options.DefaultRolloutTimeout;
        var status = await kubectl.RunWriteAsync(kubectl.RolloutStatus(w, rolloutTimeout), ct, rolloutTimeout + options.CommandTimeout).ConfigureAwait(false);
        if (!status.Succeeded)
        {
            var unprotected = annotated.Succeeded ? "" : $"; annotating it as a sentinel rollback failed too ({annotated.Reason}): run '{annotate}'";
            return ActionResult.Failure(
                $"{w.Ref}: rolled back to revision {toRevision}, but the rollout did not complete within {PromDuration.Format(rolloutTimeout)}: {KubectlCli.LastLine(status)}{unprotected}", before);
        }

        var verified = await reader.ReadAsync(w, ct).ConfigureAwait(false);
        var now = State(verified);
        if (verified.Current?.Hash != toHash)
        {
            return ActionResult.Failure($"{w.Ref}: rolled back to revision {toRevision}, but reading it back shows {now}", before) with { After = now };
        }

        var outcome = $"rolled {w} back from revision {fromRevision} to revision {toRevision}'s template (now revision {verified.Current.Number})";
        if (!annotated.Succeeded)
        {
            // The rollback happened, but a second sentinel may not see it as one: page, do not bury it in a note.
            var markersInPlace = verified.Markers.To == toHash && verified.Markers.By == request.IdempotencyKey;
            var protection = markersInPlace
                ? $"it still carries the markers the undo copied from {MarkTarget(w, target)}, but check them"
                : $"the rollback is UNPROTECTED: another sentinel planning now may roll it back further, into the bad release; run '{annotate}'";
            return ActionResult.Failure($"{outcome}, but annotating it as a sentinel rollback failed ({annotated.Reason}): {protection}", before) with { After = now };
        }

        return ActionResult.Changed(notes.Count == 0 ? outcome : $"{outcome}; {string.Join("; ", notes)}", before, now);
    }

    private string Describe(Revision r) => $"revision {r.Number} ({HashName} {r.Hash}, images {KubectlJson.Images(r.Template)})";

    private string State(History h) => h.Current is { } c ? Describe(c) : "a template none of its revisions records";
}
