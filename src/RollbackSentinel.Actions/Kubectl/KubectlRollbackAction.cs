using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Polly;
using Polly.Retry;
using RollbackSentinel.Actions.Processes;
using RollbackSentinel.Core.Policies;

namespace RollbackSentinel.Actions.Kubectl;

/// <summary>
/// Rolls a Kubernetes workload back with kubectl. Deployments, StatefulSets and DaemonSets: <c>kubectl rollout undo
/// --to-revision=N</c>, where N (the revision before the bad one, or the pinned one) is resolved once, when planning,
/// and stored with the template hash it stands for; execution acts only when the workload still runs the bad
/// template, waits for <c>kubectl rollout status</c>, and reads the result back. After an undo the workload is annotated
/// (<see cref="RolledBackToAnnotation"/>), so another sentinel planning later sees a sentinel rollback and plans
/// nothing: rollbacks never walk back through history. Argo Rollouts are aborted (<c>status.abort</c>). Only reads are
/// retried; a failed write is followed by a read, never repeated blindly. Commands run through
/// <see cref="ICommandRunner"/>, as argument vectors.
/// </summary>
public sealed class KubectlRollbackAction(ICommandRunner runner, KubectlOptions options, TimeProvider time) : IRollbackAction
{
    /// <summary>On the workload after a sentinel rollback: the template hash (or controller revision) rolled back to.</summary>
    public const string RolledBackToAnnotation = "rollback-sentinel.io/rolled-back-to";

    /// <summary>On the workload after a sentinel rollback: the idempotency key of the action that did it.</summary>
    public const string RolledBackByAnnotation = "rollback-sentinel.io/rolled-back-by";

    private const string DeploymentRevisionAnnotation = "deployment.kubernetes.io/revision";

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
            if (!string.Equals(plan.Fact("kind"), w.Kind.ToString(), StringComparison.Ordinal) || plan.Fact("name") != w.Name)
            {
                return ActionResult.Failure($"the stored plan is for {plan.Fact("kind").ToLowerInvariant()}/{plan.Fact("name")}, but the target is {w.Ref}; nothing was done");
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

    // ---- Deployments, StatefulSets, DaemonSets: rollout undo ----

    private async Task<ActionPlan> PlanUndoAsync(Workload w, ActionRequest request, CancellationToken ct)
    {
        var history = await ReadHistoryAsync(w, ct).ConfigureAwait(false);
        var current = history.Current
            ?? throw new ActionFailedException($"{w} runs a template none of its revisions records yet (a rollout is starting?); cannot tell which revision is bad");

        var facts = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["kind"] = w.Kind.ToString(),
            ["name"] = w.Name,
            ["namespace"] = w.Namespace ?? "",
            ["fromRevision"] = Num(current.Number),
            ["fromHash"] = current.Hash,
        };

        if (history.RolledBackTo == current.Hash)
        {
            // A sentinel (maybe another replica's) already rolled this workload back: never walk further back.
            facts["toRevision"] = Num(current.Number);
            facts["toHash"] = current.Hash;
            return new ActionPlan($"leave {w} as it is: it already runs a sentinel rollback, {Describe(w, current)}")
            {
                Before = Describe(w, current),
                After = Describe(w, current),
                Facts = facts,
            };
        }

        Revision target;
        if (w.ToRevision is { } pinned)
        {
            target = history.Revisions.FirstOrDefault(r => r.Number == pinned)
                ?? throw new ActionFailedException($"revision {pinned} of {w} does not exist; its revisions are {string.Join(", ", history.Revisions.Select(r => r.Number).Order())}");
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
            return new ActionPlan($"leave {w} as it is: it already runs revision {target.Number}")
            {
                Before = Describe(w, current),
                After = Describe(w, current),
                Facts = facts,
            };
        }

        return new ActionPlan($"roll {w} back from revision {current.Number} to revision {target.Number}")
        {
            Steps = [Undo(w, target.Number).ToString(), Annotate(w, target.Hash, request.IdempotencyKey).ToString()],
            Before = Describe(w, current),
            After = "template of " + Describe(w, target),
            Facts = facts,
        };
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

        var notes = new List<string>();
        var annotated = await RunWriteAsync(Annotate(w, toHash, request.IdempotencyKey), ct).ConfigureAwait(false);
        if (!annotated.Succeeded)
        {
            notes.Add($"could not annotate it as rolled back by the sentinel ({annotated.Reason})");
        }

        var rolloutTimeout = w.Timeout ?? options.DefaultRolloutTimeout;
        var status = await RunWriteAsync(RolloutStatus(w, rolloutTimeout), ct, rolloutTimeout + options.CommandTimeout).ConfigureAwait(false);
        if (!status.Succeeded)
        {
            return ActionResult.Failure(
                $"{w.Ref}: rolled back to revision {toRevision}, but the rollout did not complete within {PromDuration.Format(rolloutTimeout)}: {LastLine(status)}", before);
        }

        var verified = await ReadHistoryAsync(w, ct).ConfigureAwait(false);
        var now = State(w, verified);
        if (verified.Current?.Hash != toHash)
        {
            return ActionResult.Failure($"{w.Ref}: rolled back to revision {toRevision}, but reading it back shows {now}", before);
        }

        var outcome = $"rolled {w} back from revision {fromRevision} to revision {toRevision}'s template (now revision {verified.Current.Number})";
        return ActionResult.Changed(notes.Count == 0 ? outcome : $"{outcome}; {string.Join("; ", notes)}", before, now);
    }

    private async Task<History> ReadHistoryAsync(Workload w, CancellationToken ct)
    {
        using var workload = await GetJsonAsync(w, w.ToString(), [w.Resource, w.Name], ct).ConfigureAwait(false);
        var root = workload.RootElement;
        var uid = Str(root, "metadata", "uid");
        var selector = Element(root, "spec", "selector", "matchLabels") is { ValueKind: JsonValueKind.Object } labels
            ? string.Join(',', labels.EnumerateObject().Select(p => $"{p.Name}={p.Value.GetString()}"))
            : "";
        var historyResource = w.Kind == WorkloadKind.Deployment ? "replicasets" : "controllerrevisions";
        string[] list = selector.Length == 0 ? [historyResource] : [historyResource, "-l", selector];
        using var items = await GetJsonAsync(w, $"the {historyResource} of {w}", list, ct).ConfigureAwait(false);

        var revisions = new List<Revision>();
        foreach (var item in Element(items.RootElement, "items") is { ValueKind: JsonValueKind.Array } array ? array.EnumerateArray() : Enumerable.Empty<JsonElement>())
        {
            if (!OwnedBy(item, uid))
            {
                continue;
            }

            if (w.Kind == WorkloadKind.Deployment)
            {
                if (long.TryParse(Str(item, "metadata", "annotations", DeploymentRevisionAnnotation), CultureInfo.InvariantCulture, out var number))
                {
                    var hash = Str(item, "metadata", "labels", "pod-template-hash") ?? Str(item, "metadata", "name") ?? "";
                    revisions.Add(new Revision(number, hash, Element(item, "spec", "template").Clone()));
                }
            }
            else if (Element(item, "revision") is { ValueKind: JsonValueKind.Number } number)
            {
                revisions.Add(new Revision(number.GetInt64(), Str(item, "metadata", "name") ?? "", Element(item, "data", "spec", "template").Clone()));
            }
        }

        var template = Element(root, "spec", "template");
        var current = revisions.Where(r => SameTemplate(r.Template, template)).MaxBy(r => r.Number);
        return new History(revisions, current, Str(root, "metadata", "annotations", RolledBackToAnnotation));
    }

    // ---- Argo Rollouts: abort ----

    private async Task<ActionPlan> PlanAbortAsync(Workload w, CancellationToken ct)
    {
        var (aborted, state) = await ReadRolloutAsync(w, ct).ConfigureAwait(false);
        var facts = new Dictionary<string, string>(StringComparer.Ordinal) { ["kind"] = w.Kind.ToString(), ["name"] = w.Name, ["namespace"] = w.Namespace ?? "" };
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
        using var rollout = await GetJsonAsync(w, w.ToString(), [w.Resource, w.Name], ct).ConfigureAwait(false);
        var aborted = Element(rollout.RootElement, "status", "abort") is { ValueKind: JsonValueKind.True };
        var phase = Str(rollout.RootElement, "status", "phase") ?? "unknown";
        return (aborted, $"phase {phase}, abort={(aborted ? "true" : "false")}");
    }

    // ---- commands ----

    private CommandLine Command(Workload w, IEnumerable<string> arguments, bool json = false)
    {
        var args = new List<string>(arguments);
        if (json)
        {
            args.AddRange(["-o", "json"]);
        }

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

        return new CommandLine(options.Path, args);
    }

    private CommandLine Undo(Workload w, long revision) =>
        Command(w, ["rollout", "undo", $"{w.Resource}/{w.Name}", "--to-revision=" + Num(revision)]);

    private CommandLine Annotate(Workload w, string hash, string key) =>
        Command(w, ["annotate", w.Resource, w.Name, "--overwrite", $"{RolledBackToAnnotation}={hash}", $"{RolledBackByAnnotation}={key}"]);

    private CommandLine RolloutStatus(Workload w, TimeSpan timeout) =>
        Command(w, ["rollout", "status", $"{w.Resource}/{w.Name}", "--timeout=" + Num((long)Math.Ceiling(timeout.TotalSeconds)) + "s"]);

    private CommandLine Abort(Workload w) =>
        Command(w, ["patch", w.Resource, w.Name, "--type", "merge", "--subresource", "status", "-p", """{"status":{"abort":true}}"""]);

    /// <summary>Runs a read (<c>kubectl get ... -o json</c>), retried with backoff when it fails for a reason a retry may cure.</summary>
    private async Task<JsonDocument> GetJsonAsync(Workload w, string what, string[] arguments, CancellationToken ct)
    {
        var command = Command(w, ["get", .. arguments], json: true);
        var output = await ReadPipeline().ExecuteAsync(
            async token => await runner.RunAsync(command, options.CommandTimeout, token).ConfigureAwait(false), ct).ConfigureAwait(false);
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
                ShouldHandle = args => ValueTask.FromResult(args.Outcome.Result is { Succeeded: false } failed && IsRetryable(failed)),
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

        string? ns = null;
        if (target.Namespace is { } nsTemplate && !nsTemplate.TryRender(labels, out ns, out error))
        {
            throw new ActionFailedException($"cannot name the namespace: {error}");
        }

        return new Workload(target.Workload, name, string.IsNullOrEmpty(ns) ? null : ns, target.Context, target.Kubeconfig, target.ToRevision, target.Timeout);
    }

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

    private static string Images(JsonElement template) =>
        Element(template, "spec", "containers") is { ValueKind: JsonValueKind.Array } containers
            ? string.Join(',', containers.EnumerateArray().Select(c => Str(c, "image") ?? "?"))
            : "?";

    private static bool OwnedBy(JsonElement item, string? uid) =>
        uid is not null && Element(item, "metadata", "ownerReferences") is { ValueKind: JsonValueKind.Array } refs
        && refs.EnumerateArray().Any(r => Str(r, "uid") == uid && Element(r, "controller") is { ValueKind: JsonValueKind.True });

    private static JsonElement Element(JsonElement element, params string[] path)
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

    private static string? Str(JsonElement element, params string[] path) =>
        Element(element, path) is { ValueKind: JsonValueKind.String } s ? s.GetString() : null;

    /// <summary>Pod templates compared as Kubernetes does on undo: ignoring the hash labels controllers add (and nulls, empties).</summary>
    private static bool SameTemplate(JsonElement a, JsonElement b) =>
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

    private sealed record Revision(long Number, string Hash, JsonElement Template);

    private sealed record History(IReadOnlyList<Revision> Revisions, Revision? Current, string? RolledBackTo);
}
