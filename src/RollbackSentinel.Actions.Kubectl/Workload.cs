using System.Text.Json;
using System.Text.RegularExpressions;
using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Core.Policies;

namespace RollbackSentinel.Actions.Kubectl;

/// <summary>The workload a request names, its names rendered from the series' labels and checked.</summary>
internal sealed partial record Workload(WorkloadKind Kind, string Name, string? Namespace, string? Context, string? Kubeconfig, int? ToRevision, TimeSpan? Timeout)
{
    public string Resource => Kind.ToString().ToLowerInvariant();

    /// <summary><c>deployment/checkout</c>.</summary>
    public string Ref => $"{Resource}/{Name}";

    /// <summary><c>deployment/checkout in shop</c>.</summary>
    public override string ToString() => Namespace is null ? Ref : $"{Ref} in {Namespace}";

    /// <summary>What every plan records of the workload, to refuse a stored plan made for another one.</summary>
    public Dictionary<string, string> Facts() => new(StringComparer.Ordinal)
    {
        ["kind"] = Kind.ToString(),
        ["name"] = Name,
        ["namespace"] = Namespace ?? "",
        ["context"] = Context ?? "",
        ["kubeconfig"] = Kubeconfig ?? "",
    };

    public static Workload Resolve(RollbackRequest request)
    {
        if (request.Target.Definition is not KubectlTarget target || request.Target.Name is not { } renderedName)
        {
            throw new ActionFailedException($"the kubectl adapter cannot run a {request.Target.Kind} target");
        }

        var labels = request.Labels;
        if (!renderedName.TryGet(out var name, out var error))
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
        if (target.Namespace is { } nsTemplate && request.Target.Namespace is { } renderedNs)
        {
            if (!renderedNs.TryGet(out ns, out error))
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
    private static string Rendered(Template template, LabelSet labels, string rendered)
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
}

/// <summary>A ReplicaSet or ControllerRevision: its number, hash and name, template, and the numbers it had before (revision-history).</summary>
internal sealed record Revision(long Number, string Hash, string Name, JsonElement Template, IReadOnlyList<long> PreviousNumbers);

/// <summary>The sentinel's annotations on the workload.</summary>
internal sealed record Markers(string? To, string? By, string? At);

/// <summary>A workload's revisions, the one it runs (null: none records its template) and the sentinel's markers on it.</summary>
internal sealed record History(IReadOnlyList<Revision> Revisions, Revision? Current, Markers Markers);
