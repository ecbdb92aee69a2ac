using System.Text.Json;

namespace RollbackSentinel.Actions.Kubectl;

/// <summary>
/// An Argo Rollout is aborted rather than undone (<c>status.abort</c>, through the status subresource): Argo then
/// returns traffic to the stable ReplicaSet. Reads the Rollout first, does nothing when it is already aborted, and
/// reads it back after the patch.
/// </summary>
internal sealed class RolloutAbort(KubectlCli kubectl)
{
    public async Task<ActionPlan> PlanAsync(Workload w, CancellationToken ct)
    {
        var (aborted, state) = await ReadRolloutAsync(w, ct).ConfigureAwait(false);
        var facts = w.Facts();
        return aborted
            ? new ActionPlan($"leave {w} as it is: it is already aborted") { Before = state, After = state, Facts = facts }
            : new ActionPlan($"abort {w}") { Steps = [kubectl.Abort(w).ToString()], Before = state, After = "aborted", Facts = facts };
    }

    public async Task<ActionResult> ExecuteAsync(Workload w, ActionPlan plan, bool dryRun, CancellationToken ct)
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

        var abort = kubectl.Abort(w);
        var patched = await kubectl.RunWriteAsync(abort, ct).ConfigureAwait(false);
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
        using var rollout = await kubectl.GetJsonAsync(w, w.ToString(), [], [w.Resource, w.Name], ct).ConfigureAwait(false);
        var aborted = KubectlJson.Element(rollout.RootElement, "status", "abort") is { ValueKind: JsonValueKind.True };
        var phase = KubectlJson.Str(rollout.RootElement, "status", "phase") ?? "unknown";
        return (aborted, $"phase {phase}, abort={(aborted ? "true" : "false")}");
    }
}
