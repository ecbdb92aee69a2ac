using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace RollbackSentinel.Rules.Tests.Support;

/// <summary>
/// A small JSON Schema (2020-12) validator for the subset docs/policy.schema.json uses, applied to YAML nodes the way
/// an editor's YAML language server reads them (plain scalars typed by the YAML 1.2 core schema). It refuses any
/// keyword it does not implement, so the schema cannot grow a rule that these tests silently skip.
/// </summary>
internal sealed partial class SchemaValidator
{
    private static readonly HashSet<string> Annotations = ["$schema", "$id", "$defs", "title", "description", "default"];

    private static readonly HashSet<string> Assertions =
    [
        "$ref", "type", "properties", "required", "additionalProperties", "enum", "const", "oneOf", "anyOf",
        "pattern", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minItems", "items", "minProperties", "minLength",
    ];

    public SchemaValidator(JsonElement root)
    {
        Root = root;
        CheckKeywords(root, "#");
    }

    public JsonElement Root { get; }

    public static SchemaValidator Load(string path) => new(JsonDocument.Parse(File.ReadAllText(path)).RootElement.Clone());

    /// <summary>Every violation as "instance/path: message"; empty when the node conforms.</summary>
    public List<string> Validate(YamlNode node)
    {
        var errors = new List<string>();
        Validate(node, Root, string.Empty, errors);
        return errors;
    }

    /// <summary>Follows a "#/$defs/x" reference, or returns the schema itself.</summary>
    public JsonElement Resolve(JsonElement schema)
    {
        while (schema.ValueKind == JsonValueKind.Object && schema.TryGetProperty("$ref", out var r))
        {
            var target = Root;
            foreach (var part in r.GetString()!.TrimStart('#').Split('/', StringSplitOptions.RemoveEmptyEntries))
            {
                target = target.GetProperty(part);
            }

            schema = target;
        }

        return schema;
    }

    /// <summary>The schema at a path of property names from the root; "[]" steps into array items.</summary>
    public JsonElement At(params string[] path)
    {
        var schema = Resolve(Root);
        foreach (var step in path)
        {
            schema = Resolve(step == "[]" ? schema.GetProperty("items") : schema.GetProperty("properties").GetProperty(step));
        }

        return schema;
    }

    /// <summary>The JSON type a YAML node has for a YAML 1.2 core-schema reader.</summary>
    public static string TypeOf(YamlNode node) => node switch
    {
        YamlMappingNode => "object",
        YamlSequenceNode => "array",
        YamlScalarNode { Style: ScalarStyle.SingleQuoted or ScalarStyle.DoubleQuoted or ScalarStyle.Literal or ScalarStyle.Folded } => "string",
        YamlScalarNode { Value: null or "" or "~" or "null" or "Null" or "NULL" } => "null",
        YamlScalarNode { Value: "true" or "True" or "TRUE" or "false" or "False" or "FALSE" } => "boolean",
        YamlScalarNode s when IntegerText().IsMatch(s.Value!) => "integer",
        YamlScalarNode s when FloatText().IsMatch(s.Value!) => "number",
        _ => "string",
    };

    private static double NumberOf(YamlScalarNode s) =>
        s.Value switch
        {
            ".inf" or ".Inf" or ".INF" or "+.inf" => double.PositiveInfinity,
            "-.inf" or "-.Inf" or "-.INF" => double.NegativeInfinity,
            ".nan" or ".NaN" or ".NAN" => double.NaN,
            _ => double.Parse(s.Value!, NumberStyles.Float, CultureInfo.InvariantCulture),
        };

    private void Validate(YamlNode node, JsonElement schema, string path, List<string> errors)
    {
        if (schema.ValueKind == JsonValueKind.True)
        {
            return;
        }

        if (schema.ValueKind == JsonValueKind.False)
        {
            errors.Add($"{path}: not allowed");
            return;
        }

        var at = path.Length == 0 ? "/" : path;
        if (schema.TryGetProperty("$ref", out _))
        {
            Validate(node, Resolve(schema), path, errors);
        }

        var type = TypeOf(node);
        if (schema.TryGetProperty("type", out var t))
        {
            var allowed = t.ValueKind == JsonValueKind.Array ? t.EnumerateArray().Select(x => x.GetString()!).ToArray() : [t.GetString()!];
            if (!allowed.Any(a => a == type || (a == "number" && type == "integer")))
            {
                errors.Add($"{at}: must be {string.Join(" or ", allowed)}, got {type}");
                return;
            }
        }

        if (schema.TryGetProperty("const", out var c) && !SameValue(node, c))
        {
            errors.Add($"{at}: must be {c.GetRawText()}");
        }

        if (schema.TryGetProperty("enum", out var e) && !e.EnumerateArray().Any(v => SameValue(node, v)))
        {
            errors.Add($"{at}: must be one of {string.Join(", ", e.EnumerateArray().Select(v => v.GetRawText()))}");
        }

        if (node is YamlScalarNode scalar)
        {
            CheckScalar(scalar, type, schema, at, errors);
        }

        if (node is YamlMappingNode map)
        {
            CheckObject(map, schema, path, errors);
        }

        if (node is YamlSequenceNode seq)
        {
            if (schema.TryGetProperty("minItems", out var minItems) && seq.Children.Count < minItems.GetInt32())
            {
                errors.Add($"{at}: must have at least {minItems.GetInt32()} item(s)");
            }

            if (schema.TryGetProperty("items", out var items))
            {
                for (var i = 0; i < seq.Children.Count; i++)
                {
                    Validate(seq.Children[i], items, $"{path}/{i}", errors);
                }
            }
        }

        if (schema.TryGetProperty("oneOf", out var oneOf))
        {
            var matching = oneOf.EnumerateArray().Count(s => Validate(node, s).Count == 0);
            if (matching != 1)
            {
                errors.Add($"{at}: must match exactly one of {oneOf.GetArrayLength()} alternatives, matches {matching}");
            }
        }

        if (schema.TryGetProperty("anyOf", out var anyOf) && !anyOf.EnumerateArray().Any(s => Validate(node, s).Count == 0))
        {
            errors.Add($"{at}: must match at least one of {anyOf.GetArrayLength()} alternatives");
        }
    }

    private List<string> Validate(YamlNode node, JsonElement schema)
    {
        var errors = new List<string>();
        Validate(node, schema, string.Empty, errors);
        return errors;
    }

    private static void CheckScalar(YamlScalarNode scalar, string type, JsonElement schema, string at, List<string> errors)
    {
        if (type == "string")
        {
            var text = scalar.Value ?? string.Empty;
            if (schema.TryGetProperty("minLength", out var minLength) && text.Length < minLength.GetInt32())
            {
                errors.Add($"{at}: must be at least {minLength.GetInt32()} character(s) long");
            }

            if (schema.TryGetProperty("pattern", out var pattern) && !Regex.IsMatch(text, pattern.GetString()!, RegexOptions.None, TimeSpan.FromSeconds(1)))
            {
                errors.Add($"{at}: '{text}' does not match {pattern.GetString()}");
            }
        }

        if (type is "integer" or "number")
        {
            var n = NumberOf(scalar);
            if (schema.TryGetProperty("minimum", out var min) && n < min.GetDouble())
            {
                errors.Add($"{at}: must be at least {min.GetRawText()}");
            }

            if (schema.TryGetProperty("maximum", out var max) && n > max.GetDouble())
            {
                errors.Add($"{at}: must be at most {max.GetRawText()}");
            }

            if (schema.TryGetProperty("exclusiveMinimum", out var exMin) && n <= exMin.GetDouble())
            {
                errors.Add($"{at}: must be greater than {exMin.GetRawText()}");
            }

            if (schema.TryGetProperty("exclusiveMaximum", out var exMax) && n >= exMax.GetDouble())
            {
                errors.Add($"{at}: must be less than {exMax.GetRawText()}");
            }
        }
    }

    private void CheckObject(YamlMappingNode map, JsonElement schema, string path, List<string> errors)
    {
        var at = path.Length == 0 ? "/" : path;
        var keys = map.Children.Keys.Select(k => ((YamlScalarNode)k).Value!).ToArray();
        if (schema.TryGetProperty("required", out var required))
        {
            foreach (var name in required.EnumerateArray().Select(r => r.GetString()!).Where(r => !keys.Contains(r)))
            {
                errors.Add($"{at}: missing required property '{name}'");
            }
        }

        if (schema.TryGetProperty("minProperties", out var minProps) && keys.Length < minProps.GetInt32())
        {
            errors.Add($"{at}: must have at least {minProps.GetInt32()} propert(ies)");
        }

        var properties = schema.TryGetProperty("properties", out var p) ? p : default;
        foreach (var (k, v) in map.Children)
        {
            var name = ((YamlScalarNode)k).Value!;
            var childPath = $"{path}/{name}";
            if (properties.ValueKind == JsonValueKind.Object && properties.TryGetProperty(name, out var propSchema))
            {
                Validate(v, propSchema, childPath, errors);
            }
            else if (schema.TryGetProperty("additionalProperties", out var additional))
            {
                if (additional.ValueKind == JsonValueKind.False)
                {
                    errors.Add($"{childPath}: unknown property");
                }
                else
                {
                    Validate(v, additional, childPath, errors);
                }
            }
        }
    }

    private static bool SameValue(YamlNode node, JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.String => TypeOf(node) == "string" && ((YamlScalarNode)node).Value == value.GetString(),
        JsonValueKind.Number => TypeOf(node) is "integer" or "number" && NumberOf((YamlScalarNode)node) == value.GetDouble(),
        JsonValueKind.True or JsonValueKind.False => TypeOf(node) == "boolean" && ((YamlScalarNode)node).Value!.Equals(value.GetRawText(), StringComparison.OrdinalIgnoreCase),
        JsonValueKind.Null => TypeOf(node) == "null",
        _ => false,
    };

    private static void CheckKeywords(JsonElement schema, string where)
    {
        if (schema.ValueKind != JsonValueKind.Object)
        {
            return;
        }

        foreach (var prop in schema.EnumerateObject())
        {
            if (!Annotations.Contains(prop.Name) && !Assertions.Contains(prop.Name))
            {
                throw new NotSupportedException($"{where}: keyword '{prop.Name}' is not supported by this validator");
            }

            switch (prop.Name)
            {
                case "properties" or "$defs":
                    foreach (var child in prop.Value.EnumerateObject())
                    {
                        CheckKeywords(child.Value, $"{where}/{prop.Name}/{child.Name}");
                    }

                    break;
                case "items" or "additionalProperties":
                    CheckKeywords(prop.Value, $"{where}/{prop.Name}");
                    break;
                case "oneOf" or "anyOf":
                    var i = 0;
                    foreach (var alt in prop.Value.EnumerateArray())
                    {
                        CheckKeywords(alt, $"{where}/{prop.Name}/{i++}");
                    }

                    break;
            }
        }
    }

    [GeneratedRegex(@"^[-+]?[0-9]+$")]
    private static partial Regex IntegerText();

    [GeneratedRegex(@"^([-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?|[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN))$")]
    private static partial Regex FloatText();
}
