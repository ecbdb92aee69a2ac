using System.Text.Json;
using System.Text.Json.Nodes;

namespace RollbackSentinel.Actions.Kubectl;

/// <summary>Reading kubectl's JSON: paths, owners, images, and pod templates compared as Kubernetes compares them.</summary>
internal static class KubectlJson
{
    public static string Images(JsonElement template) =>
        Element(template, "spec", "containers") is { ValueKind: JsonValueKind.Array } containers
            ? string.Join(',', containers.EnumerateArray().Select(c => Str(c, "image") ?? "?"))
            : "?";

    public static bool OwnedBy(JsonElement item, string? uid) =>
        uid is not null && Element(item, "metadata", "ownerReferences") is { ValueKind: JsonValueKind.Array } refs
        && refs.EnumerateArray().Any(r => Str(r, "uid") == uid && Element(r, "controller") is { ValueKind: JsonValueKind.True });

    public static JsonElement Element(JsonElement element, params string[] path)
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

    public static string? Str(JsonElement element, params string[] path) =>
        Element(element, path) is { ValueKind: JsonValueKind.String } s ? s.GetString() : null;

    /// <summary>Pod templates compared as Kubernetes does on undo: ignoring the hash labels controllers add (and nulls, empties).</summary>
    public static bool SameTemplate(JsonElement a, JsonElement b) =>
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
}
