using RollbackSentinel.Actions.Processes;

namespace RollbackSentinel.Actions.Kubectl;

/// <summary>
/// The undo of a Deployment: revisions are its ReplicaSets (<c>pod-template-hash</c>). The markers go on the target
/// ReplicaSet before the undo: <c>kubectl rollout undo</c> replaces the Deployment's annotations with that ReplicaSet's
/// in the same patch that restores its template, so the Deployment carries them atomically with the undo.
/// </summary>
internal sealed class DeploymentUndo(KubectlCli kubectl, WorkloadHistoryReader reader, KubectlOptions options, TimeProvider time)
    : WorkloadUndo(kubectl, reader, options, time)
{
    protected override string HashName => "pod-template-hash";

    protected override CommandLine MarkBeforeUndo(Workload w, Revision target, string key, DateTimeOffset at) =>
        Kubectl.AnnotateObject(w, "replicaset", target.Name, target.Hash, key, at);

    protected override string MarkTarget(Workload w, Revision target) => $"replicaset/{target.Name}";
}
