using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace RollbackSentinel.Testing.Kubernetes;

/// <summary>The JSON work the emulator does: patches (JSON, merge, a strategic-merge subset), hashes, paths.</summary>
internal static class EmulatorJson
{
    private const string HashAlphabet = "bcdfghjklmnpqrstvwxz2456789";

    public static JsonObject Clone(JsonObject value) => (JsonObject)value.DeepClone();

    public static JsonObject Obj(JsonNode? node, string name) =>
        node?[name] as JsonObject ?? throw new InvalidOperationException($"missing object '{name}'");

    /// <summary>Gets (creating on the way) the object at <paramref name="names"/>.</summary>
    public static JsonObject Ensure(JsonObject root, params string[] names)
    {
        var current = root;
        foreach (var name in names)
        {
            if (current[name] is not JsonObject next)
            {
                next = [];
                current[name] = next;
            }

            current = next;
        }

        return current;
    }

    public static string? Str(JsonNode? node, params string[] path)
    {
        var current = node;
        foreach (var name in path)
        {
            current = current is JsonObject o ? o[name] : null;
        }

        return current is JsonValue v && v.TryGetValue<string>(out var s) ? s : current?.ToJsonString();
    }

    public static long Long(JsonNode? node, params string[] path)
    {
        var current = node;
        foreach (var name in path)
        {
            current = current is JsonObject o ? o[name] : null;
        }

        return current is JsonValue v && v.GetValueKind() == System.Text.Json.JsonValueKind.Number
            ? long.Parse(v.ToJsonString(), System.Globalization.CultureInfo.InvariantCulture)
            : 0;
    }

    /// <summary>A short hash of a JSON value, spelled like Kubernetes' (safe-encoded, no vowels).</summary>
    public static string Hash(JsonNode? value)
    {
        var bytes = SHA256.HashData(Encoding.UTF8.GetBytes(value?.ToJsonString() ?? "null"));
        var text = new StringBuilder();
        foreach (var b in bytes.AsSpan(0, 10))
        {
            text.Append(HashAlphabet[b % HashAlphabet.Length]);
        }

        return text.ToString();
    }

    /// <summary>A pod template without the labels controllers add (pod-template-hash, controller-revision-hash).</summary>
    public static JsonObject Normalize(JsonNode? template)
    {
        var copy = template is JsonObject o ? Clone(o) : [];
        if (copy["metadata"]?["labels"] is JsonObject labels)
        {
            labels.Remove("pod-template-hash");
            labels.Remove("controller-revision-hash");
        }

        copy.Remove("$patch");
        return (JsonObject)Canonical(copy)!;
    }

    /// <summary>
    /// The value without nulls and empty objects or arrays (as a typed API server stores it: kubectl sends
    /// <c>"creationTimestamp": null</c> and <c>"resources": {}</c> it never got back).
    /// </summary>
    public static JsonNode? Canonical(JsonNode? node)
    {
        switch (node)
        {
            case JsonObject o:
                var result = new JsonObject();
                foreach (var (name, value) in o)
                {
                    var canonical = Canonical(value);
                    if (canonical is not null && !(canonical is JsonObject { Count: 0 } || canonical is JsonArray { Count: 0 }))
                    {
                        result[name] = canonical;
                    }
                }

                return result;
            case JsonArray a:
                return new JsonArray([.. a.Select(Canonical)]);
            default:
                return node?.DeepClone();
        }
    }

    public static bool SameTemplate(JsonNode? a, JsonNode? b) => JsonNode.DeepEquals(Normalize(a), Normalize(b));

    /// <summary>RFC 7386 merge patch (with <paramref name="strategic"/>, a <c>"$patch": "replace"</c> directive replaces the object).</summary>
    public static JsonNode? MergePatch(JsonNode? target, JsonNode? patch, bool strategic)
    {
        if (patch is not JsonObject patchObject)
        {
            return patch?.DeepClone();
        }

        if (strategic && Str(patchObject, "$patch") is "replace")
        {
            var replaced = Clone(patchObject);
            replaced.Remove("$patch");
            return replaced;
        }

        var result = target is JsonObject t ? Clone(t) : [];
        foreach (var (name, value) in patchObject)
        {
            if (strategic && name.StartsWith('$'))
            {
                continue;
            }

            if (value is null)
            {
                result.Remove(name);
            }
            else
            {
                result[name] = MergePatch(result[name], value, strategic);
            }
        }

        return result;
    }

    /// <summary>RFC 6902 JSON patch: add, replace, remove, test.</summary>
    public static JsonObject JsonPatch(JsonObject target, JsonArray operations)
    {
        var result = Clone(target);
        foreach (var operation in operations.OfType<JsonObject>())
        {
            var op = Str(operation, "op");
            var path = Str(operation, "path") ?? throw new InvalidOperationException("a JSON patch operation has no path");
            var tokens = path.Split('/').Skip(1).Select(t => t.Replace("~1", "/", StringComparison.Ordinal).Replace("~0", "~", StringComparison.Ordinal)).ToArray();
            if (tokens.Length == 0)
            {
                throw new InvalidOperationException("patching the root is not supported");
            }

            JsonNode parent = result;
            foreach (var token in tokens[..^1])
            {
                parent = parent switch
                {
                    JsonObject o => o[token] ?? throw new InvalidOperationException($"path {path} does not exist"),
                    JsonArray a => a[int.Parse(token, System.Globalization.CultureInfo.InvariantCulture)] ?? throw new InvalidOperationException($"path {path} does not exist"),
                    _ => throw new InvalidOperationException($"path {path} does not exist"),
                };
            }

            var last = tokens[^1];
            var value = operation["value"]?.DeepClone();
            switch (op, parent)
            {
                case ("add" or "replace", JsonObject o):
                    if (op == "replace" && !o.ContainsKey(last))
                    {
                        throw new InvalidOperationException($"replace: path {path} does not exist");
                    }

                    o[last] = value;
                    break;
                case ("remove", JsonObject o):
                    o.Remove(last);
                    break;
                case ("add", JsonArray a):
                    if (last == "-")
                    {
                        a.Add(value);
                    }
                    else
                    {
                        a.Insert(int.Parse(last, System.Globalization.CultureInfo.InvariantCulture), value);
                    }

                    break;
                case ("replace", JsonArray a):
                    a[int.Parse(last, System.Globalization.CultureInfo.InvariantCulture)] = value;
                    break;
                case ("remove", JsonArray a):
                    a.RemoveAt(int.Parse(last, System.Globalization.CultureInfo.InvariantCulture));
                    break;
                case ("test", _):
                    break;
                default:
                    throw new InvalidOperationException($"unsupported JSON patch operation '{op}' at {path}");
            }
        }

        return result;
    }

    public static JsonNode Parse(string json) =>
        JsonNode.Parse(json, documentOptions: new JsonDocumentOptions { AllowTrailingCommas = true }) ?? throw new InvalidOperationException("the body is null");
}
