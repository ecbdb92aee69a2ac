using System.Text.Json.Nodes;

namespace RollbackSentinel.Testing.Kubernetes;

/// <summary>A resource type the emulator serves.</summary>
internal sealed record EmulatedResource(string Group, string Version, string Plural, string Singular, string Kind, string[] ShortNames, bool HasStatus)
{
    public string ApiVersion => Group.Length == 0 ? Version : $"{Group}/{Version}";

    public string GroupResource => Group.Length == 0 ? Plural : $"{Plural}.{Group}";

    public static readonly IReadOnlyList<EmulatedResource> All =
    [
        new("apps", "v1", "deployments", "deployment", "Deployment", ["deploy"], HasStatus: true),
        new("apps", "v1", "replicasets", "replicaset", "ReplicaSet", ["rs"], HasStatus: true),
        new("apps", "v1", "statefulsets", "statefulset", "StatefulSet", ["sts"], HasStatus: true),
        new("apps", "v1", "daemonsets", "daemonset", "DaemonSet", ["ds"], HasStatus: true),
        new("apps", "v1", "controllerrevisions", "controllerrevision", "ControllerRevision", [], HasStatus: false),
        new("argoproj.io", "v1alpha1", "rollouts", "rollout", "Rollout", ["ro"], HasStatus: true),
        new("", "v1", "pods", "pod", "Pod", ["po"], HasStatus: true),
        new("", "v1", "namespaces", "namespace", "Namespace", ["ns"], HasStatus: true),
    ];

    public static EmulatedResource? Find(string group, string version, string plural) =>
        All.FirstOrDefault(r => r.Group == group && r.Version == version && r.Plural == plural);

    public static JsonObject Discovery(string group, string version)
    {
        var resources = new JsonArray();
        foreach (var r in All.Where(r => r.Group == group && r.Version == version))
        {
            var verbs = new JsonArray("create", "delete", "get", "list", "patch", "update", "watch");
            resources.Add(new JsonObject
            {
                ["name"] = r.Plural,
                ["singularName"] = r.Singular,
                ["namespaced"] = r.Plural != "namespaces",
                ["kind"] = r.Kind,
                ["verbs"] = verbs,
                ["shortNames"] = new JsonArray([.. r.ShortNames.Select(s => (JsonNode)s)]),
            });
            if (r.HasStatus)
            {
                resources.Add(new JsonObject
                {
                    ["name"] = r.Plural + "/status",
                    ["singularName"] = "",
                    ["namespaced"] = true,
                    ["kind"] = r.Kind,
                    ["verbs"] = new JsonArray("get", "patch", "update"),
                });
            }
        }

        return new JsonObject
        {
            ["kind"] = "APIResourceList",
            ["apiVersion"] = "v1",
            ["groupVersion"] = group.Length == 0 ? version : $"{group}/{version}",
            ["resources"] = resources,
        };
    }

    public static JsonObject Groups()
    {
        var groups = new JsonArray();
        foreach (var g in All.Where(r => r.Group.Length > 0).GroupBy(r => r.Group))
        {
            var version = g.First().Version;
            var gv = new JsonObject { ["groupVersion"] = $"{g.Key}/{version}", ["version"] = version };
            groups.Add(new JsonObject
            {
                ["name"] = g.Key,
                ["versions"] = new JsonArray(gv),
                ["preferredVersion"] = gv.DeepClone(),
            });
        }

        return new JsonObject { ["kind"] = "APIGroupList", ["apiVersion"] = "v1", ["groups"] = groups };
    }
}
