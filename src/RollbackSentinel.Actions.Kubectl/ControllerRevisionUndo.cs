using RollbackSentinel.Actions.Processes;

namespace RollbackSentinel.Actions.Kubectl;

/// <summary>
/// The undo of a StatefulSet or DaemonSet: revisions are its ControllerRevisions. Their undo patches only the template
/// (no annotations are copied from the ControllerRevision), so the markers go on the workload itself before the undo,
/// where they stay.
/// </summary>
internal sealed class ControllerRevisionUndo(KubectlCli kubectl, WorkloadHistoryReader reader, KubectlOptions options, TimeProvider time)
    : WorkloadUndo(kubectl, reader, options, time)
{
    protected override string HashName => "controllerrevision";

    protected override CommandLine MarkBeforeUndo(Workload w, Revision target, string key, DateTimeOffset at) =>
        Kubectl.Annotate(w, target.Hash, key, at);

    protected override string MarkTarget(Workload w, Revision target) => w.Ref;
}
