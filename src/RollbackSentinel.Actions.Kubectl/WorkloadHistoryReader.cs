using System.Globalization;
using System.Text.Json;
using RollbackSentinel.Core.Policies;

namespace RollbackSentinel.Actions.Kubectl;

/// <summary>
/// Reads a workload's history with two <c>kubectl get</c>s: the workload (its template, uid, selector and the sentinel's
/// markers), then the ReplicaSets (a Deployment) or ControllerRevisions (a StatefulSet, a DaemonSet) it owns; the current
/// revision is the newest one whose template the workload runs.
/// </summary>
internal sealed class WorkloadHistoryReader(KubectlCli kubectl)
{
    private const string DeploymentRevisionAnnotation = "deployment.kubernetes.io/revision";

    private const string RevisionHistoryAnnotation = "deployment.kubernetes.io/revision-history";

    public async Task<History> ReadAsync(Workload w, CancellationToken ct)
    {
        using var workload = await kubectl.GetJsonAsync(w, w.ToString(), [], [w.Resource, w.Name], ct).ConfigureAwait(false);
        var root = workload.RootElement;
        var uid = KubectlJson.Str(root, "metadata", "uid");
        var selector = KubectlJson.Element(root, "spec", "selector", "matchLabels") is { ValueKind: JsonValueKind.Object } labels
            ? string.Join(',', labels.EnumerateObject().Select(p => $"{p.Name}={p.Value.GetString()}"))
            : "";
        var historyResource = w.Kind == WorkloadKind.Deployment ? "replicasets" : "controllerrevisions";
        string[] flags = selector.Length == 0 ? [] : ["--selector=" + selector];
        using var items = await kubectl.GetJsonAsync(w, $"the {historyResource} of {w}", flags, [historyResource], ct).ConfigureAwait(false);

        var revisions = new List<Revision>();
        foreach (var item in KubectlJson.Element(items.RootElement, "items") is { ValueKind: JsonValueKind.Array } array ? array.EnumerateArray() : Enumerable.Empty<JsonElement>())
        {
            if (!KubectlJson.OwnedBy(item, uid))
            {
                continue;
            }

            var name = KubectlJson.Str(item, "metadata", "name") ?? "";
            if (w.Kind == WorkloadKind.Deployment)
            {
                if (long.TryParse(KubectlJson.Str(item, "metadata", "annotations", DeploymentRevisionAnnotation), CultureInfo.InvariantCulture, out var number))
                {
                    var hash = KubectlJson.Str(item, "metadata", "labels", "pod-template-hash") ?? name;
                    var previous = (KubectlJson.Str(item, "metadata", "annotations", RevisionHistoryAnnotation) ?? "")
                        .Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                        .Select(n => long.TryParse(n, CultureInfo.InvariantCulture, out var p) ? p : -1)
                        .Where(n => n >= 0)
                        .ToArray();
                    revisions.Add(new Revision(number, hash, name, KubectlJson.Element(item, "spec", "template").Clone(), previous));
                }
            }
            else if (KubectlJson.Element(item, "revision") is { ValueKind: JsonValueKind.Number } number)
            {
                revisions.Add(new Revision(number.GetInt64(), name, name, KubectlJson.Element(item, "data", "spec", "template").Clone(), []));
            }
        }

        var template = KubectlJson.Element(root, "spec", "template");
        var current = revisions.Where(r => KubectlJson.SameTemplate(r.Template, template)).MaxBy(r => r.Number);
        var markers = new Markers(
            KubectlJson.Str(root, "metadata", "annotations", KubectlRollbackAction.RolledBackToAnnotation),
            KubectlJson.Str(root, "metadata", "annotations", KubectlRollbackAction.RolledBackByAnnotation),
            KubectlJson.Str(root, "metadata", "annotations", KubectlRollbackAction.RolledBackAtAnnotation));
        return new History(revisions, current, markers);
    }
}
