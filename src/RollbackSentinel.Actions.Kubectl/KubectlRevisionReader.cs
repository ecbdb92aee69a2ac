using System.Globalization;
using System.Text.Json;
using RollbackSentinel.Actions.Processes;
using RollbackSentinel.Actions.Revisions;
using RollbackSentinel.Core.Evaluation;
using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Core.Policies;

namespace RollbackSentinel.Actions.Kubectl;

/// <summary>
/// Which revision a workload runs, read with the real kubectl (two <c>kubectl get</c>s, with the target's context,
/// namespace and kubeconfig, names checked and passed after <c>--</c> as the rollback adapter does):
/// <list type="bullet">
/// <item>Deployment: its <c>deployment.kubernetes.io/revision</c>, and the ReplicaSet it owns with that revision: its
/// name, creation time and images. An undo re-uses an old ReplicaSet (it carries a revision-history): <see cref="TargetRevision.Reused"/>.</item>
/// <item>StatefulSet: the ControllerRevision named by <c>status.updateRevision</c> (else <c>currentRevision</c>);
/// DaemonSet (whose status names none): the newest ControllerRevision holding its current template. Its
/// <c>revision</c> number, name and creation time, and the images of that template.</item>
/// </list>
/// </summary>
internal sealed class KubectlRevisionReader(ICommandRunner runner, KubectlOptions options) : IRevisionReader
{
    private const string DeploymentRevisionAnnotation = "deployment.kubernetes.io/revision";
    private const string RevisionHistoryAnnotation = "deployment.kubernetes.io/revision-history";

    public string Kind => "kubectl";

    public ValueTask<TargetRevision?> ReadAsync(Target target, LabelSet labels, CancellationToken cancellationToken) =>
        target is KubectlTarget kubectl
            ? ReadAsync(kubectl, labels, cancellationToken)
            : throw new ActionFailedException($"the kubectl revision reader was given a {target?.Kind} target");

    public async ValueTask<TargetRevision?> ReadAsync(KubectlTarget target, LabelSet labels, CancellationToken cancellationToken)
    {
        var name = Render(target.Name, labels, "the workload");
        if (name.Length > 253 || !Workload.Dns1123Subdomain().IsMatch(name))
        {
            throw new ActionFailedException($"cannot read the workload's revision: '{name}' is not a Kubernetes object name; nothing was run");
        }

        string? ns = null;
        if (target.Namespace is { } nsTemplate)
        {
            ns = Render(nsTemplate, labels, "the namespace");
            if (ns.Length == 0 && nsTemplate.IsConstant)
            {
                ns = null;
            }
            else if (ns.Length > 63 || !Workload.Dns1123Label().IsMatch(ns))
            {
                throw new ActionFailedException($"cannot read the workload's revision: '{ns}' is not a Kubernetes namespace; nothing was run");
            }
        }

        var resource = target.Workload.ToString().ToLowerInvariant();
        var where = $"{resource}/{name}{(ns is null ? "" : " in " + ns)}";
        using var workload = await GetAsync(target, ns, where, [], [resource, name], cancellationToken).ConfigureAwait(false);
        var root = workload.RootElement;
        var uid = KubectlJson.Str(root, "metadata", "uid");
        var selector = KubectlJson.Element(root, "spec", "selector", "matchLabels") is { ValueKind: JsonValueKind.Object } match
            ? string.Join(',', match.EnumerateObject().Select(p => $"{p.Name}={p.Value.GetString()}"))
            : "";
        string[] flags = selector.Length == 0 ? [] : ["--selector=" + selector];
        var historyResource = target.Workload == WorkloadKind.Deployment ? "replicasets" : "controllerrevisions";
        using var list = await GetAsync(target, ns, $"the {historyResource} of {where}", flags, [historyResource], cancellationToken).ConfigureAwait(false);
        var owned = KubectlJson.Element(list.RootElement, "items") is { ValueKind: JsonValueKind.Array } items
            ? items.EnumerateArray().Where(i => KubectlJson.OwnedBy(i, uid)).ToArray()
            : [];

        return target.Workload == WorkloadKind.Deployment
            ? FromReplicaSet(root, owned, where)
            : FromControllerRevision(root, owned, where);
    }

    private static TargetRevision FromReplicaSet(JsonElement deployment, JsonElement[] replicaSets, string where)
    {
        var number = KubectlJson.Str(deployment, "metadata", "annotations", DeploymentRevisionAnnotation)
            ?? throw new ActionFailedException($"{where} has no {DeploymentRevisionAnnotation} annotation yet (its first rollout is starting?)");
        var rs = replicaSets.FirstOrDefault(r => KubectlJson.Str(r, "metadata", "annotations", DeploymentRevisionAnnotation) == number);
        if (rs.ValueKind != JsonValueKind.Object)
        {
            throw new ActionFailedException($"{where} is at revision {number}, but none of its ReplicaSets carries that revision yet");
        }

        var rsName = KubectlJson.Str(rs, "metadata", "name") ?? "?";
        var images = KubectlJson.Images(KubectlJson.Element(rs, "spec", "template"));
        var reused = KubectlJson.Str(rs, "metadata", "annotations", RevisionHistoryAnnotation) is { Length: > 0 };
        return new TargetRevision($"{number} ({rsName})", Created(rs), $"{where}: images {images}") { Reused = reused };
    }

    private static TargetRevision FromControllerRevision(JsonElement workload, JsonElement[] revisions, string where)
    {
        var named = KubectlJson.Str(workload, "status", "updateRevision") ?? KubectlJson.Str(workload, "status", "currentRevision");
        var template = KubectlJson.Element(workload, "spec", "template");
        var current = named is not null
            ? revisions.FirstOrDefault(r => KubectlJson.Str(r, "metadata", "name") == named)
            : revisions
                .Where(r => KubectlJson.SameTemplate(KubectlJson.Element(r, "data", "spec", "template"), template))
                .OrderByDescending(Number)
                .FirstOrDefault();
        if (current.ValueKind != JsonValueKind.Object)
        {
            throw new ActionFailedException(named is null
                ? $"{where} runs a template none of its ControllerRevisions records yet"
                : $"{where} names ControllerRevision {named}, which it does not own (yet)");
        }

        var crName = KubectlJson.Str(current, "metadata", "name") ?? "?";
        var recorded = KubectlJson.Element(current, "data", "spec", "template");
        var images = KubectlJson.Images(recorded.ValueKind == JsonValueKind.Object ? recorded : template);
        return new TargetRevision($"{Number(current).ToString(CultureInfo.InvariantCulture)} ({crName})", Created(current), $"{where}: images {images}");
    }

    private static long Number(JsonElement revision) =>
        KubectlJson.Element(revision, "revision") is { ValueKind: JsonValueKind.Number } n ? n.GetInt64() : 0;

    private static DateTimeOffset? Created(JsonElement item) =>
        Rfc3339.TryParse(KubectlJson.Str(item, "metadata", "creationTimestamp"), out var at) ? at : null;

    private static string Render(Template template, LabelSet labels, string what) =>
        template.TryRender(labels, out var rendered, out var error)
            ? rendered
            : throw new ActionFailedException($"cannot name {what}: {error}");

    /// <summary><c>kubectl get FLAGS -o json -n NS --context=C --kubeconfig=K -- POSITIONAL</c>, once, within the command timeout.</summary>
    private async Task<JsonDocument> GetAsync(KubectlTarget target, string? ns, string what, string[] flags, string[] positional, CancellationToken ct)
    {
        var args = new List<string> { "get" };
        args.AddRange(flags);
        args.AddRange(["-o", "json"]);
        if (ns is not null)
        {
            args.AddRange(["-n", ns]);
        }

        if (target.Context is { } context)
        {
            args.Add("--context=" + context);
        }

        if (target.Kubeconfig is { } kubeconfig)
        {
            args.Add("--kubeconfig=" + kubeconfig);
        }

        args.Add("--");
        args.AddRange(positional);
        var command = new CommandLine(options.Path, args);
        var output = await runner.RunAsync(command, options.CommandTimeout, ct).ConfigureAwait(false);
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
}
