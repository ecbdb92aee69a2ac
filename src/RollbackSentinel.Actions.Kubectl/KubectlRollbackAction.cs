using RollbackSentinel.Actions.Processes;
using RollbackSentinel.Core.Policies;

namespace RollbackSentinel.Actions.Kubectl;

/// <summary>
/// Rolls a Kubernetes workload back with kubectl, by what the workload is: a Deployment (<see cref="DeploymentUndo"/>),
/// a StatefulSet or DaemonSet (<see cref="ControllerRevisionUndo"/>), an Argo Rollout (<see cref="RolloutAbort"/>); all
/// read history through <see cref="WorkloadHistoryReader"/> and run kubectl through <see cref="KubectlCli"/>.
/// Deployments, StatefulSets and DaemonSets: <c>kubectl rollout undo
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
internal sealed class KubectlRollbackAction : IRollbackAction
{
    /// <summary>On the workload after a sentinel rollback: the template hash (or controller revision) rolled back to.</summary>
    public const string RolledBackToAnnotation = "rollback-sentinel.io/rolled-back-to";

    /// <summary>On the workload after a sentinel rollback: the idempotency key of the action that did it.</summary>
    public const string RolledBackByAnnotation = "rollback-sentinel.io/rolled-back-by";

    /// <summary>On the workload after a sentinel rollback: when (RFC 3339, UTC), to tell a fresh rollback from a new breach.</summary>
    public const string RolledBackAtAnnotation = "rollback-sentinel.io/rolled-back-at";

    private readonly DeploymentUndo _deployments;
    private readonly ControllerRevisionUndo _controllerRevisions;
    private readonly RolloutAbort _rollouts;

    public KubectlRollbackAction(ICommandRunner runner, KubectlOptions options, TimeProvider time)
    {
        var kubectl = new KubectlCli(runner, options, time);
        var history = new WorkloadHistoryReader(kubectl);
        _deployments = new DeploymentUndo(kubectl, history, options, time);
        _controllerRevisions = new ControllerRevisionUndo(kubectl, history, options, time);
        _rollouts = new RolloutAbort(kubectl);
    }

    public string Kind => "kubectl";

    public async Task<ActionPlan> PlanAsync(RollbackRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var w = Workload.Resolve(request);
        return w.Kind == WorkloadKind.Rollout
            ? await _rollouts.PlanAsync(w, cancellationToken).ConfigureAwait(false)
            : await Undo(w).PlanAsync(w, request, cancellationToken).ConfigureAwait(false);
    }

    public async Task<ActionResult> ExecuteAsync(RollbackRequest request, ActionPlan plan, bool dryRun, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(plan);
        try
        {
            var w = Workload.Resolve(request);
            if (Mismatch(plan, w) is { } mismatch)
            {
                return ActionResult.Failure($"the stored plan is for {mismatch}; nothing was done");
            }

            return w.Kind == WorkloadKind.Rollout
                ? await _rollouts.ExecuteAsync(w, plan, dryRun, cancellationToken).ConfigureAwait(false)
                : await Undo(w).ExecuteAsync(w, request, plan, dryRun, cancellationToken).ConfigureAwait(false);
        }
        catch (ActionFailedException e)
        {
            return ActionResult.Failure(e.Message);
        }
    }

    private WorkloadUndo Undo(Workload w) => w.Kind == WorkloadKind.Deployment ? _deployments : _controllerRevisions;

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
}
