using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Polly;
using Polly.Retry;
using RollbackSentinel.Actions.Processes;
using RollbackSentinel.Core.Policies;

namespace RollbackSentinel.Actions.Kubectl;

/// <summary>
/// Rolls a Kubernetes workload back with kubectl. Deployments, StatefulSets and DaemonSets: <c>kubectl rollout undo
/// --to-revision=N</c>, where N (the revision before the bad one, or the pinned one) is resolved once, when planning,
/// and stored with the template hash it stands for; execution acts only when the workload still runs the bad
/// template, waits for <c>kubectl rollout status</c>, and reads the result back. Argo Rollouts are aborted
/// (<c>status.abort</c>). Only reads are retried (on failures and timeouts); a failed write is followed by a read,
/// never repeated blindly. Commands run through <see cref="ICommandRunner"/>, as argument vectors, with the names
/// (rendered from series labels) checked first and passed after <c>--</c>.
/// <para>
/// <b>Several sentinels on one workload</b> (one sidecar per replica, each with its own store) decide independently,
/// and after an undo Kubernetes renumbers the template rolled back to (revision 2 becomes 4): a sentinel planning
/// after another one's undo would see "revision 4, previous 3" and re-deploy the bad release. So a rollback is marked
/// (<see cref="RolledBackToAnnotation"/>, <see cref="RolledBackByAnnotation"/>, <see cref="RolledBackAtAnnotation"/>)
/// in a way that is visible from the moment of the undo on:
/// <list type="bullet">
/// <item>Deployments: the markers go on the target ReplicaSet <i>before</i> the undo. <c>kubectl rollout undo</c>
/// replaces the Deployment's annotations with that ReplicaSet's in the same JSON patch that restores its template, so
/// the Deployment carries the markers atomically with the undo, before the controller renumbers anything. The
/// Deployment is annotated again after the undo (belt and braces); that failing is a failure, to be paged.</item>
/// <item>StatefulSets and DaemonSets: their undo patches only the template (no annotations are copied from the
/// ControllerRevision), so the markers go on the workload itself before the undo, where they stay; they name the
/// target template, and count only once the workload runs it. Remaining gap: a ControllerRevision carries no
/// revision-history, so a human's undo cannot be told from a roll forward, and if the undo fails after the marking,
/// a later undo to that template by hand within the cooldown reads as the sentinel's.</item>
/// </list>
/// A workload that runs a template a sentinel rolled back to within the policy's cooldown gets a "leave it as it is"
/// plan; older than the cooldown, or a re-used template (a ReplicaSet with a revision-history) without the markers (a
/// human's undo), is refused at planning: a sentinel never steps further back through history.
/// </para>
/// </summary>
public sealed partial class KubectlRollbackAction(ICommandRunner runner, KubectlOptions options, TimeProvider time) : IRollbackAction
{
    /// <summary>On the workload after a sentinel rollback: the template hash (or controller revision) rolled back to.</summary>
    public const string RolledBackToAnnotation = "rollback-sentinel.io/rolled-back-to";

    /// <summary>On the workload after a sentinel rollback: the idempotency key of the action that did it.</summary>
    public const string RolledBackByAnnotation = "rollback-sentinel.io/rolled-back-by";

    /// <summary>On the workload after a sentinel rollback: when (RFC 3339, UTC), to tell a fresh rollback from a new breach.</summary>
    public const string RolledBackAtAnnotation = "rollback-sentinel.io/rolled-back-at";

    private const string DeploymentRevisionAnnotation = "deployment.kubernetes.io/revision";

    private const string RevisionHistoryAnnotation = "deployment.kubernetes.io/revision-history";

    private const string TimeFormat = "yyyy-MM-dd'T'HH:mm:ss'Z'";

    public string Kind => "kubectl";

    public async Task<ActionPlan> PlanAsync(ActionRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var w = Resolve(request);
        return w.Kind == WorkloadKind.Rollout
            ? await PlanAbortAsync(w, cancellationToken).ConfigureAwait(false)
            : await PlanUndoAsync(w, request, cancellationToken).ConfigureAwait(false);
    }

    public async Task<ActionResult> ExecuteAsync(ActionRequest request, ActionPlan plan, bool dryRun, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(plan);
        try
        {
            var w = Resolve(request);
            if (Mismatch(plan, w) is { } mismatch)
            {
                return ActionResult.Failure($"the stored plan is for {mismatch}; nothing was done");
            }

            return w.Kind == WorkloadKind.Rollout
                ? await ExecuteAbortAsync(w, plan, dryRun, cancellationToken).ConfigureAwait(false)
                : await ExecuteUndoAsync(w, request, plan, dryRun, cancellationToken).ConfigureAwait(false);
        }
        catch (ActionFailedException e)
        {
            return ActionResult.Failure(e.Message);
        }
    }

    /// <summary>What differs between the workload the plan was made for and the one the request targets now, or null.</summary>
    private static string? Mismatch(ActionPlan plan, Workload w)
    {
        var kind = plan.Fact("kind");
        var name = plan.Fact("name");
        var ns = plan.Fact("namespace");
        var planned = $"{kind.ToLowerInvariant()}/{name}{(ns.Length == 0 ? "" : " in " + ns)}";
        if (!string.Equals(kind, w.Kind.ToString(), StringComparison.Ordinal) || name != w.Name || ns != (w.Namespace ?? ""))
        {
            return $"{planned}, but the target is {w}";
        }

        // Plans stored before context and kubeconfig were recorded carry neither: nothing to compare then.
        if (plan.Facts.TryGetValue("context", out var context) && context != (w.Context ?? ""))
        {
            return $"{planned} in kubeconfig context '{context}', but the target's context is '{w.Context ?? ""}'";
        }

        if (plan.Facts.TryGetValue("kubeconfig", out var kubeconfig) && kubeconfig != (w.Kubeconfig ?? ""))
        {
            return $"{planned} with kubeconfig '{kubeconfig}', but the target's kubeconfig is '{w.Kubeconfig ?? ""}'";
        }

        return null;
    }

    private static Dictionary<string, string> BaseFacts(Workload w) => new(StringComparer.Ordinal)
    {
        ["kind"] = w.Kind.ToString(),
        ["name"] = w.Name,
        ["namespace"] = w.Namespace ?? "",
        ["context"] = w.Context ?? "",
        ["kubeconfig"] = w.Kubeconfig ?? "",
    };

    // ---- Deployments, StatefulSets, DaemonSets: rollout undo ----

    private async Task<ActionPlan> PlanUndoAsync(Workload w, ActionRequest request, CancellationToken ct)
    {
        var history = await ReadHistoryAsync(w, ct).ConfigureAwait(false);
        var current = history.Current
            ?? throw new ActionFailedException($"{w} runs a template none of its revisions records yet (a rollout is starting?); cannot tell which revision is bad");

        var facts = BaseFacts(w);
        facts["fromRevision"] = Num(current.Number);
        facts["fromHash"] = current.Hash;

        if (AlreadyRolledBack(w, request, history, current) is { } why)
        {
            // A sentinel (maybe another replica's) rolled this workload back within the cooldown: leave it there.
            facts["toRevision"] = Num(current.Number);
            facts["toHash"] = current.Hash;
            return new ActionPlan($"leave {w} as it is: {why}")
            {
                Before = Describe(w, current),
                After = Describe(w, current),
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

        facts["toRevision"] = Num(target.Number);
        facts["toHash"] = target.Hash;
        if (target.Hash == current.Hash)
        {
            return new ActionPlan($"leave {w} as it is: it already runs revision {target.Number}{renumbered}")
            {
                Before = Describe(w, current),
                After = Describe(w, current),
                Facts = facts,
            };
        }

        var at = time.GetUtcNow();
        return new ActionPlan($"roll {w} back from revision {current.Number} to revision {target.Number}{renumbered}")
        {
            Steps = [MarkBeforeUndo(w, target, request.IdempotencyKey, at).ToString(), Undo(w, target.Number).ToString(), Annotate(w, target.Hash, request.IdempotencyKey, at).ToString()],
            Before = Describe(w, current),
            After = "template of " + Describe(w, target),
            Facts = facts,
        };
    }

    /// <summary>
    /// Why the workload must be left where it is (a sentinel rolled it back within the cooldown), or null when it
    /// runs no rolled-back template. Throws when it runs one it must not step back from: a sentinel's rollback older
    /// than the cooldown (the template rolled back to is failing too), or a re-used template without the markers.
    /// </summary>
    private static string? AlreadyRolledBack(Workload w, ActionRequest request, History history, Revision current)
    {
        var markers = history.Markers;
        var ours = markers.To == current.Hash;
        var reused = current.PreviousNumbers.Count > 0;
        if (!ours && !reused)
        {
            return null;
        }

        var revisionHistory = reused ? $"revision-history {string.Join(",", current.PreviousNumbers.Select(Num))}" : "no revision-history";
        var state = $"{Describe(w, current)}, {revisionHistory}";
        const string Refusal = "a sentinel never steps further back through history: humans must look";
        if (!ours)
        {
            throw new ActionFailedException($"{w} runs a template that was rolled back to by someone other than a sentinel ({state}); {Refusal}");
        }

        var by = markers.By ?? "an unknown action";
        var cooldown = request.Policy.Cooldown;
        if (!TryParseTime(markers.At, out var at))
        {
            throw new ActionFailedException(
                $"{w} runs a template that sentinel action {by} rolled back to at an unknown time ({RolledBackAtAnnotation} is '{markers.At ?? ""}'; {state}); {Refusal}");
        }

        var age = request.Decision.At - at;
        if (age < TimeSpan.Zero)
        {
            age = TimeSpan.Zero; // rolled back after this incident was decided (the same breach, seen by another sentinel)
        }

        var ago = PromDuration.Format(TimeSpan.FromSeconds(Math.Floor(age.TotalSeconds)));
        if (age < cooldown)
        {
            return $"rolled back {ago} ago by {by}, within the cooldown ({PromDuration.Format(cooldown)}); it runs {Describe(w, current)}";
        }

        throw new ActionFailedException(
            $"{w} runs a template that was rolled back to at {at.UtcDateTime.ToString(TimeFormat, CultureInfo.InvariantCulture)} by sentinel action {by}, {ago} before this incident, longer ago than the cooldown ({PromDuration.Format(cooldown)}) ({state}); {Refusal}");
    }

    private async Task<ActionResult> ExecuteUndoAsync(Workload w, ActionRequest request, ActionPlan plan, bool dryRun, CancellationToken ct)
    {
        var fromHash = plan.Fact("fromHash");
        var fromRevision = plan.Fact("fromRevision");
        var toHash = plan.Fact("toHash");
        var toRevision = plan.Fact("toRevision");

        var history = await ReadHistoryAsync(w, ct).ConfigureAwait(false);
        var before = State(w, history);
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
            return ActionResult.Failure($"revision {toRevision} of {w} ({HashName(w)} {toHash}) is no longer in its history; nothing was done", before);
        }

        var at = time.GetUtcNow();
        var notes = new List<string>();

        // 1. Mark first, so the markers are there from the moment of the undo on (see the class comment).
        var mark = MarkBeforeUndo(w, target, request.IdempotencyKey, at);
        var marked = await RunWriteAsync(mark, ct).ConfigureAwait(false);
        if (!marked.Succeeded)
        {
            // The rollback matters more than closing the gap: go on, the annotation after the undo protects it then.
            notes.Add($"could not mark {MarkTarget(w, target)} before the undo ({marked.Reason}), so until it was annotated after the undo another sentinel could have planned a further step back");
        }

        // 2. The undo, once.
        var undo = Undo(w, target.Number);
        var undone = await RunWriteAsync(undo, ct).ConfigureAwait(false);
        if (!undone.Succeeded)
        {
            // Never repeat the undo blindly: see where the workload is now.
            var after = await ReadHistoryAsync(w, ct).ConfigureAwait(false);
            if (after.Current?.Hash != toHash)
            {
                return ActionResult.Failure($"'{undo}' failed ({undone.Reason}); {w} still runs {State(w, after)}", before);
            }
        }

        // 3. Belt and braces: annotate the workload itself.
        var annotate = Annotate(w, toHash, request.IdempotencyKey, at);
        var annotated = await RunWriteAsync(annotate, ct).ConfigureAwait(false);

        // 4. Wait for the rollout, then read it back.
        var rolloutTimeout = w.Timeout ?? options.DefaultRolloutTimeout;
        var status = await RunWriteAsync(RolloutStatus(w, rolloutTimeout), ct, rolloutTimeout + options.CommandTimeout).ConfigureAwait(false);
        if (!status.Succeeded)
        {
            var unprotected = annotated.Succeeded ? "" : $"; annotating it as a sentinel rollback failed too ({annotated.Reason}): run '{annotate}'";
            return ActionResult.Failure(
                $"{w.Ref}: rolled back to revision {toRevision}, but the rollout did not complete within {PromDuration.Format(rolloutTimeout)}: {LastLine(status)}{unprotected}", before);
        }

        var verified = await ReadHistoryAsync(w, ct).ConfigureAwait(false);
        var now = State(w, verified);
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

    private async Task<History> ReadHistoryAsync(Workload w, CancellationToken ct)
    {
        using var workload = await GetJsonAsync(w, w.ToString(), [], [w.Resource, w.Name], ct).ConfigureAwait(false);
        var root = workload.RootElement;
        var uid = Str(root, "metadata", "uid");
        var selector = Element(root, "spec", "selector", "matchLabels") is { ValueKind: JsonValueKind.Object } labels
            ? string.Join(',', labels.EnumerateObject().Select(p => $"{p.Name}={p.Value.GetString()}"))
            : "";
        var historyResource = w.Kind == WorkloadKind.Deployment ? "replicasets" : "controllerrevisions";
        string[] flags = selector.Length == 0 ? [] : ["--selector=" + selector];
        using var items = await GetJsonAsync(w, $"the {historyResource} of {w}", flags, [historyResource], ct).ConfigureAwait(false);

        var revisions = new List<Revision>();
        foreach (var item in Element(items.RootElement, "items") is { ValueKind: JsonValueKind.Array } array ? array.EnumerateArray() : Enumerable.Empty<JsonElement>())
        {
            if (!OwnedBy(item, uid))
            {
                continue;
            }

            var name = Str(item, "metadata", "name") ?? "";
            if (w.Kind == WorkloadKind.Deployment)
            {
                if (long.TryParse(Str(item, "metadata", "annotations", DeploymentRevisionAnnotation), CultureInfo.InvariantCulture, out var number))
                {
                    var hash = Str(item, "metadata", "labels", "pod-template-hash") ?? name;
                    var previous = (Str(item, "metadata", "annotations", RevisionHistoryAnnotation) ?? "")
                        .Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                        .Select(n => long.TryParse(n, CultureInfo.InvariantCulture, out var p) ? p : -1)
                        .Where(n => n >= 0)
                        .ToArray();
                    revisions.Add(new Revision(number, hash, name, Element(item, "spec", "template").Clone(), previous));
                }
            }
            else if (Element(item, "revision") is { ValueKind: JsonValueKind.Number } number)
            {
                revisions.Add(new Revision(number.GetInt64(), name, name, Element(item, "data", "spec", "template").Clone(), []));
            }
        }

        var template = Element(root, "spec", "template");
        var current = revisions.Where(r => SameTemplate(r.Template, template)).MaxBy(r => r.Number);
        var markers = new Markers(
            Str(root, "metadata", "annotations", RolledBackToAnnotation),
            Str(root, "metadata", "annotations", RolledBackByAnnotation),
            Str(root, "metadata", "annotations", RolledBackAtAnnotation));
        return new History(revisions, current, markers);
    }

    // ---- Argo Rollouts: abort ----

    private async Task<ActionPlan> PlanAbortAsync(Workload w, CancellationToken ct)
    {
        var (aborted, state) = await ReadRolloutAsync(w, ct).ConfigureAwait(false);
        var facts = BaseFacts(w);
        return aborted
            ? new ActionPlan($"leave {w} as it is: it is already aborted") { Before = state, After = state, Facts = facts }
            : new ActionPlan($"abort {w}") { Steps = [Abort(w).ToString()], Before = state, After = "aborted", Facts = facts };
    }

    private async Task<ActionResult> ExecuteAbortAsync(Workload w, ActionPlan plan, bool dryRun, CancellationToken ct)
    {
        var (aborted, before) = await ReadRolloutAsync(w, ct).ConfigureAwait(false);
        if (dryRun)
        {
            return ActionResult.DryRun(plan);
        }

        if (aborted)
        {
            return ActionResult.Unchanged($"{w.Ref} is already aborted; nothing to do", before);
        }

        var abort = Abort(w);
        var patched = await RunWriteAsync(abort, ct).ConfigureAwait(false);
        var (nowAborted, after) = await ReadRolloutAsync(w, ct).ConfigureAwait(false);
        if (!nowAborted)
        {
            return ActionResult.Failure(
                patched.Succeeded ? $"'{abort}' succeeded, but reading {w} back shows {after}" : $"'{abort}' failed ({patched.Reason}); {w} shows {after}", before);
        }

        return ActionResult.Changed($"aborted {w}", before, after);
    }

    private async Task<(bool Aborted, string State)> ReadRolloutAsync(Workload w, CancellationToken ct)
    {
        using var rollout = await GetJsonAsync(w, w.ToString(), [], [w.Resource, w.Name], ct).ConfigureAwait(false);
        var aborted = Element(rollout.RootElement, "status", "abort") is { ValueKind: JsonValueKind.True };
        var phase = Str(rollout.RootElement, "status", "phase") ?? "unknown";
        return (aborted, $"phase {phase}, abort={(aborted ? "true" : "false")}");
    }

    // ---- commands ----

    /// <summary>
    /// <c>kubectl VERB FLAGS... -n NS --context=C --kubeconfig=K -- POSITIONAL...</c>: whatever the positional arguments
    /// hold (names rendered from series labels), kubectl cannot read them as flags.
    /// </summary>
    private CommandLine Command(Workload w, IEnumerable<string> verb, IEnumerable<string> flags, IEnumerable<string> positional)
    {
        var args = new List<string>(verb);
        args.AddRange(flags);
        if (w.Namespace is { } ns)
        {
            args.AddRange(["-n", ns]);
        }

        if (w.Context is { } context)
        {
            args.Add("--context=" + context);
        }

        if (w.Kubeconfig is { } kubeconfig)
        {
            args.Add("--kubeconfig=" + kubeconfig);
        }

        args.Add("--");
        args.AddRange(positional);
        return new CommandLine(options.Path, args);
    }

    private CommandLine Undo(Workload w, long revision) =>
        Command(w, ["rollout", "undo"], ["--to-revision=" + Num(revision)], [$"{w.Resource}/{w.Name}"]);

    private CommandLine Annotate(Workload w, string hash, string key, DateTimeOffset at) =>
        Command(w, ["annotate"], ["--overwrite"], [w.Resource, w.Name, .. MarkerArguments(hash, key, at)]);

    /// <summary>
    /// Before the undo: the target ReplicaSet of a Deployment (the undo copies its annotations onto the Deployment),
    /// the workload itself for a StatefulSet or DaemonSet (the undo leaves its annotations alone).
    /// </summary>
    private CommandLine MarkBeforeUndo(Workload w, Revision target, string key, DateTimeOffset at) =>
        w.Kind == WorkloadKind.Deployment
            ? Command(w, ["annotate"], ["--overwrite"], ["replicaset", target.Name, .. MarkerArguments(target.Hash, key, at)])
            : Annotate(w, target.Hash, key, at);

    private static string MarkTarget(Workload w, Revision target) => w.Kind == WorkloadKind.Deployment ? $"replicaset/{target.Name}" : w.Ref;

    private static string[] MarkerArguments(string hash, string key, DateTimeOffset at) =>
    [
        $"{RolledBackToAnnotation}={hash}",
        $"{RolledBackByAnnotation}={key}",
        $"{RolledBackAtAnnotation}={at.UtcDateTime.ToString(TimeFormat, CultureInfo.InvariantCulture)}",
    ];

    private CommandLine RolloutStatus(Workload w, TimeSpan timeout) =>
        Command(w, ["rollout", "status"], ["--timeout=" + Num((long)Math.Ceiling(timeout.TotalSeconds)) + "s"], [$"{w.Resource}/{w.Name}"]);

    private CommandLine Abort(Workload w) =>
        Command(w, ["patch"], ["--type", "merge", "--subresource", "status", "-p", """{"status":{"abort":true}}"""], [w.Resource, w.Name]);

    /// <summary>
    /// Runs a read (<c>kubectl get ... -o json</c>), retried with backoff when it fails for a reason a retry may cure:
    /// a failed exit other than NotFound, Forbidden or Unauthorized, or a timeout.
    /// </summary>
    private async Task<JsonDocument> GetJsonAsync(Workload w, string what, string[] flags, string[] positional, CancellationToken ct)
    {
        var command = Command(w, ["get"], [.. flags, "-o", "json"], positional);
        CommandOutput output;
        try
        {
            output = await ReadPipeline().ExecuteAsync(async token => await ReadOnceAsync(command, token).ConfigureAwait(false), ct).ConfigureAwait(false);
        }
        catch (ReadTimedOutException e)
        {
            var attempts = Math.Max(1, options.ReadAttempts);
            throw new ActionFailedException(
                $"cannot read {what}: '{command}' did not finish within {PromDuration.Format(options.CommandTimeout)}{(attempts > 1 ? $" in {attempts} attempts" : "")} and was stopped", e);
        }

        if (!output.Succeeded)
        {
            throw new ActionFailedException($"cannot read {what}: '{command}' failed ({output.Reason})");
        }

        try
        {
            return JsonDocument.Parse(output.StandardOutput);
        }
        catch (JsonException e)
        {
            throw new ActionFailedException($"'{command}' printed something that is not JSON: {e.Message}", e);
        }
    }

    /// <summary>
    /// One read, under its own deadline: the runner reports its timeouts as an <see cref="ActionFailedException"/>
    /// like any other failure to run, so the deadline is kept here to know a timeout (retryable) for one.
    /// </summary>
    private async Task<CommandOutput> ReadOnceAsync(CommandLine command, CancellationToken ct)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
        deadline.CancelAfter(options.CommandTimeout);
        try
        {
            // The runner's own timeout is only a backstop here.
            return await runner.RunAsync(command, options.CommandTimeout + TimeSpan.FromSeconds(10), deadline.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException e) when (deadline.IsCancellationRequested && !ct.IsCancellationRequested)
        {
            throw new ReadTimedOutException(e);
        }
    }

    private ResiliencePipeline<CommandOutput> ReadPipeline()
    {
        if (options.ReadAttempts <= 1)
        {
            return ResiliencePipeline<CommandOutput>.Empty;
        }

        return new ResiliencePipelineBuilder<CommandOutput> { TimeProvider = time }
            .AddRetry(new RetryStrategyOptions<CommandOutput>
            {
                MaxRetryAttempts = options.ReadAttempts - 1,
                Delay = options.RetryBaseDelay,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = options.RetryBaseDelay > TimeSpan.Zero,
                ShouldHandle = args => ValueTask.FromResult(args.Outcome switch
                {
                    { Exception: ReadTimedOutException } => true,
                    { Result: { Succeeded: false } failed } => IsRetryable(failed),
                    _ => false,
                }),
            })
            .Build();
    }

    /// <summary>NotFound, Forbidden and Unauthorized answers stay the same however often asked.</summary>
    private static bool IsRetryable(CommandOutput output) =>
        !(output.StandardError.Contains("(NotFound)", StringComparison.Ordinal)
          || output.StandardError.Contains("(Forbidden)", StringComparison.Ordinal)
          || output.StandardError.Contains("(Unauthorized)", StringComparison.Ordinal));

    /// <summary>Runs a command that changes the system (or waits on it) once; a timeout comes back as a failed output.</summary>
    private async Task<CommandOutput> RunWriteAsync(CommandLine command, CancellationToken ct, TimeSpan? timeout = null)
    {
        try
        {
            return await runner.RunAsync(command, timeout ?? options.CommandTimeout, ct).ConfigureAwait(false);
        }
        catch (ActionFailedException e) when (!ct.IsCancellationRequested)
        {
            return new CommandOutput(-1, "", e.Message);
        }
    }

    // ---- helpers ----

    private static Workload Resolve(ActionRequest request)
    {
        if (request.Policy.Target is not KubectlTarget target)
        {
            throw new ActionFailedException($"the kubectl adapter cannot run a {request.Policy.Target.Kind} target");
        }

        var labels = request.Incident.Labels;
        if (!target.Name.TryRender(labels, out var name, out var error))
        {
            throw new ActionFailedException($"cannot name the workload: {error}");
        }

        // Names come from series labels: check them before anything runs (a label value such as
        // "--kubeconfig=/x" must never reach kubectl, even after "--").
        if (name.Length > 253 || !Dns1123Subdomain().IsMatch(name))
        {
            throw new ActionFailedException(
                $"cannot name the workload: {Rendered(target.Name, labels, name)} is not a Kubernetes object name (a DNS-1123 subdomain: at most 253 lowercase letters, digits, '-' and '.', starting and ending with a letter or digit); nothing was run");
        }

        string? ns = null;
        if (target.Namespace is { } nsTemplate)
        {
            if (!nsTemplate.TryRender(labels, out ns, out error))
            {
                throw new ActionFailedException($"cannot name the namespace: {error}");
            }

            if ((ns.Length > 0 || !nsTemplate.IsConstant) && (ns.Length > 63 || !Dns1123Label().IsMatch(ns)))
            {
                throw new ActionFailedException(
                    $"cannot name the namespace: {Rendered(nsTemplate, labels, ns)} is not a Kubernetes namespace (a DNS-1123 label: at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit); nothing was run");
            }
        }

        return new Workload(target.Workload, name, string.IsNullOrEmpty(ns) ? null : ns, target.Context, target.Kubeconfig, target.ToRevision, target.Timeout);
    }

    /// <summary><c>'--x' (from label deployment="--x")</c>: the rendered name, and the label values it came from.</summary>
    private static string Rendered(Template template, Core.Metrics.LabelSet labels, string rendered)
    {
        var from = template.LabelNames.Where(labels.ContainsKey).Select(n => $"{n}=\"{labels[n]}\"").ToArray();
        return from.Length == 0
            ? $"'{rendered}'"
            : $"'{rendered}' (from label{(from.Length > 1 ? "s" : "")} {string.Join(", ", from)})";
    }

    [GeneratedRegex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$", RegexOptions.CultureInvariant)]
    internal static partial Regex Dns1123Subdomain();

    [GeneratedRegex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", RegexOptions.CultureInvariant)]
    internal static partial Regex Dns1123Label();

    private static bool TryParseTime(string? text, out DateTimeOffset at) =>
        DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out at);

    /// <summary>The last line kubectl wrote to stderr (or stdout), as it wrote it.</summary>
    private static string LastLine(CommandOutput output)
    {
        var text = (output.StandardError.Trim().Length > 0 ? output.StandardError : output.StandardOutput).Trim();
        var last = text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault() ?? "";
        return last.Length == 0 ? $"exit code {output.ExitCode}" : last.Length > 300 ? last[..300] + "..." : last;
    }

    private static string Num(long n) => n.ToString(CultureInfo.InvariantCulture);

    private static string HashName(Workload w) => w.Kind == WorkloadKind.Deployment ? "pod-template-hash" : "controllerrevision";

    private static string Describe(Workload w, Revision r) => $"revision {r.Number} ({HashName(w)} {r.Hash}, images {Images(r.Template)})";

    private static string State(Workload w, History h) => h.Current is { } c ? Describe(w, c) : "a template none of its revisions records";

    internal static string Images(JsonElement template) =>
        Element(template, "spec", "containers") is { ValueKind: JsonValueKind.Array } containers
            ? string.Join(',', containers.EnumerateArray().Select(c => Str(c, "image") ?? "?"))
            : "?";

    internal static bool OwnedBy(JsonElement item, string? uid) =>
        uid is not null && Element(item, "metadata", "ownerReferences") is { ValueKind: JsonValueKind.Array } refs
        && refs.EnumerateArray().Any(r => Str(r, "uid") == uid && Element(r, "controller") is { ValueKind: JsonValueKind.True });

    internal static JsonElement Element(JsonElement element, params string[] path)
    {
        foreach (var name in path)
        {
            if (element.ValueKind != JsonValueKind.Object || !element.TryGetProperty(name, out element))
            {
                return default;
            }
        }

        return element;
    }

    internal static string? Str(JsonElement element, params string[] path) =>
        Element(element, path) is { ValueKind: JsonValueKind.String } s ? s.GetString() : null;

    /// <summary>Pod templates compared as Kubernetes does on undo: ignoring the hash labels controllers add (and nulls, empties).</summary>
    internal static bool SameTemplate(JsonElement a, JsonElement b) =>
        a.ValueKind == JsonValueKind.Object && b.ValueKind == JsonValueKind.Object && JsonNode.DeepEquals(Normalize(a), Normalize(b));

    private static JsonNode? Normalize(JsonElement template)
    {
        var node = JsonNode.Parse(template.GetRawText()) as JsonObject;
        if (node?["metadata"]?["labels"] is JsonObject labels)
        {
            labels.Remove("pod-template-hash");
            labels.Remove("controller-revision-hash");
        }

        node?.Remove("$patch");
        return Canonical(node);
    }

    private static JsonNode? Canonical(JsonNode? node) => node switch
    {
        JsonObject o => new JsonObject(o.Select(p => KeyValuePair.Create(p.Key, Canonical(p.Value)))
            .Where(p => p.Value is not (null or JsonObject { Count: 0 } or JsonArray { Count: 0 }))),
        JsonArray a => new JsonArray([.. a.Select(Canonical)]),
        _ => node?.DeepClone(),
    };

    private sealed record Workload(WorkloadKind Kind, string Name, string? Namespace, string? Context, string? Kubeconfig, int? ToRevision, TimeSpan? Timeout)
    {
        public string Resource => Kind.ToString().ToLowerInvariant();

        /// <summary><c>deployment/checkout</c>.</summary>
        public string Ref => $"{Resource}/{Name}";

        /// <summary><c>deployment/checkout in shop</c>.</summary>
        public override string ToString() => Namespace is null ? Ref : $"{Ref} in {Namespace}";
    }

    /// <summary>A ReplicaSet or ControllerRevision: its number, hash and name, template, and the numbers it had before (revision-history).</summary>
    private sealed record Revision(long Number, string Hash, string Name, JsonElement Template, IReadOnlyList<long> PreviousNumbers);

    /// <summary>The sentinel's annotations on the workload.</summary>
    private sealed record Markers(string? To, string? By, string? At);

    private sealed record History(IReadOnlyList<Revision> Revisions, Revision? Current, Markers Markers);
}

/// <summary>A read that did not finish within the command timeout (retried; the adapter turns the last one into an <see cref="ActionFailedException"/>).</summary>
internal sealed class ReadTimedOutException(Exception inner) : Exception("a read timed out", inner);
