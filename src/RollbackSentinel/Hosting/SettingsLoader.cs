using System.Collections;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Configuration;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace RollbackSentinel.Hosting;

/// <summary>
/// Reads the daemon's settings in order of precedence (defaults, <c>sentinel.yaml</c>, <c>SENTINEL__*</c> environment
/// variables, command-line options) and checks them like rules are checked: every problem, each saying where the
/// value came from (<c>file:line:column</c>, the variable's name, or the option), unknown keys with a did-you-mean.
/// </summary>
internal static partial class SettingsLoader
{
    public const string EnvironmentPrefix = "SENTINEL__";

    /// <param name="Options">The settings; defaults stand in for values that could not be read.</param>
    /// <param name="UnknownOrMalformed">Keys that are not settings, values of the wrong shape or type, an unreadable file.</param>
    /// <param name="Invalid">Values that are read but wrong (<see cref="SentinelOptions.Validate"/>), each with its source.</param>
    public sealed record Result(SentinelOptions Options, IReadOnlyList<string> UnknownOrMalformed, IReadOnlyList<string> Invalid)
    {
        public IEnumerable<string> Problems => UnknownOrMalformed.Concat(Invalid);
    }

    /// <param name="configFile">sentinel.yaml, if given.</param>
    /// <param name="overrides">Command-line values by key (<c>prometheus:url</c>).</param>
    /// <param name="overrideSources">The option each override came from (<c>--prometheus</c>), for messages.</param>
    /// <param name="environment">The environment variables (default: the process's).</param>
    public static Result Load(
        string? configFile,
        IReadOnlyDictionary<string, string?> overrides,
        IReadOnlyDictionary<string, string>? overrideSources = null,
        IReadOnlyDictionary<string, string>? environment = null)
    {
        var problems = new List<string>();
        var sources = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        var fileData = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        if (configFile is not null)
        {
            ReadFile(configFile, fileData, sources, problems);
        }

        var envData = ReadEnvironment(environment ?? ProcessEnvironment(), sources, problems);
        foreach (var key in overrides.Keys)
        {
            sources[key] = overrideSources?.GetValueOrDefault(key) ?? key;
        }

        var options = new ConfigurationBuilder()
            .AddInMemoryCollection(fileData)
            .AddInMemoryCollection(envData)
            .AddInMemoryCollection(overrides)
            .Build()
            .Get<SentinelOptions>() ?? new SentinelOptions();

        var invalid = options.Validate().Select(p => WithSource(p, sources)).ToList();
        return new Result(options, problems, invalid);
    }

    /// <summary>"prometheus:url: ..." becomes "sentinel.yaml:3:8: prometheus:url: ..." (or the variable or option that set it).</summary>
    private static string WithSource(string problem, Dictionary<string, string> sources)
    {
        var colon = problem.IndexOf(": ", StringComparison.Ordinal);
        return colon > 0 && sources.TryGetValue(problem[..colon], out var source) ? $"{source}: {problem}" : problem;
    }

    private static void ReadFile(string path, Dictionary<string, string?> data, Dictionary<string, string> sources, List<string> problems)
    {
        if (!File.Exists(path))
        {
            problems.Add($"cannot read the settings: {path} does not exist");
            return;
        }

        YamlStream stream;
        try
        {
            // Within the rules' limits: a settings file nested 40,000 levels deep is an error, not a stack overflow.
            using var reader = File.OpenText(path);
            stream = Rules.BoundedYaml.Load(reader);
        }
        catch (YamlException e)
        {
            problems.Add($"{path}:{e.Start.Line}:{e.Start.Column}: {YamlPosition().Replace(e.Message, "")}");
            return;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            problems.Add($"{path}: {e.Message}");
            return;
        }

        if (stream.Documents.Count == 0)
        {
            return;
        }

        var root = stream.Documents[0].RootNode;
        if (root is YamlScalarNode { Value: null or "" or "~" or "null" })
        {
            return;
        }

        Walk(root, SettingsSchema.Sentinel, null, path, data, sources, problems);
    }

    private static void Walk(YamlNode node, SettingsSchema schema, string? key, string file, Dictionary<string, string?> data, Dictionary<string, string> sources, List<string> problems)
    {
        string At(YamlNode n) => $"{file}:{n.Start.Line}:{n.Start.Column}";
        var name = key ?? "the settings";
        switch (node)
        {
            case YamlMappingNode map when schema.Kind is SettingKind.Section or SettingKind.Map:
                foreach (var (k, v) in map.Children)
                {
                    if (k is not YamlScalarNode { Value: { Length: > 0 } childName })
                    {
                        problems.Add($"{At(k)}: {name}: a key must be a plain name");
                        continue;
                    }

                    var childKey = key is null ? childName : $"{key}:{childName}";
                    if (schema.Child(childName) is not { } child)
                    {
                        problems.Add($"{At(k)}: {childKey}: unknown setting{DidYouMean(schema, childName, s => key is null ? s : $"{key}:{s}")}");
                        continue;
                    }

                    Walk(v, child, childKey, file, data, sources, problems);
                }

                break;
            case YamlSequenceNode list when schema.Kind == SettingKind.List:
                for (var i = 0; i < list.Children.Count; i++)
                {
                    Walk(list.Children[i], schema.Element!, $"{key}:{i}", file, data, sources, problems);
                }

                break;
            case YamlScalarNode { Value: null or "" or "~" or "null" } when schema.Kind != SettingKind.Scalar:
                // "prometheus:" with nothing under it: an empty section, all defaults.
                break;
            case YamlScalarNode { Style: ScalarStyle.Plain, Value: null or "" or "~" or "null" or "Null" or "NULL" } when schema.Kind == SettingKind.Scalar && key is not null:
                // "externalUrl:" or "apiTokenFile: ~" is YAML's null: the setting is left unset (its default), not the text "~".
                sources[key] = At(node);
                break;
            case YamlScalarNode scalar when schema.Kind == SettingKind.Scalar && key is not null:
                sources[key] = At(scalar);
                if (schema.CheckValue(scalar.Value) is { } why)
                {
                    problems.Add($"{At(scalar)}: {key}: {why}");
                    break;
                }

                data[key] = scalar.Value;
                break;
            default:
                var found = node switch
                {
                    YamlMappingNode => "a mapping",
                    YamlSequenceNode => "a list",
                    YamlScalarNode s => $"'{s.Value}'",
                    _ => "something else",
                };
                problems.Add($"{At(node)}: {name}: expected {schema.Describe()}, found {found}");
                break;
        }
    }

    private static Dictionary<string, string?> ReadEnvironment(IReadOnlyDictionary<string, string> environment, Dictionary<string, string> sources, List<string> problems)
    {
        var data = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        foreach (var (variable, value) in environment.OrderBy(e => e.Key, StringComparer.Ordinal))
        {
            if (!variable.StartsWith(EnvironmentPrefix, StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            var segments = variable[EnvironmentPrefix.Length..].Split("__");
            var key = string.Join(':', segments);
            var schema = SettingsSchema.Sentinel;
            var known = new List<string>();
            string? problem = null;
            foreach (var segment in segments)
            {
                if (schema.Child(segment) is not { } child)
                {
                    var suggestion = schema.Suggest(segment);
                    problem = $"{variable}: unknown setting {key.ToLowerInvariant()}"
                        + (suggestion is null ? $"; known here: {string.Join(", ", schema.ChildNames)}" : $"; did you mean {EnvironmentPrefix}{string.Join("__", [.. known, suggestion]).ToUpperInvariant()}?");
                    break;
                }

                known.Add(child.Name ?? segment);
                schema = child;
            }

            problem ??= schema.Kind != SettingKind.Scalar
                ? $"{variable}: {key.ToLowerInvariant()} is {schema.Describe()}; set one of its keys, e.g. {EnvironmentPrefix}{string.Join("__", [.. known, schema.ChildNames.FirstOrDefault() ?? "0"]).ToUpperInvariant()}"
                : schema.CheckValue(value) is { } why ? $"{variable}: {why}" : null;
            if (problem is not null)
            {
                problems.Add(problem);
                continue;
            }

            sources[key] = variable;
            data[key] = value;
        }

        return data;
    }

    private static string DidYouMean(SettingsSchema schema, string key, Func<string, string> path) =>
        schema.Suggest(key) is { } suggestion
            ? $"; did you mean {path(suggestion)}?"
            : schema.Kind == SettingKind.Section ? $"; known here: {string.Join(", ", schema.ChildNames)}" : "";

    private static Dictionary<string, string> ProcessEnvironment()
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (DictionaryEntry e in Environment.GetEnvironmentVariables())
        {
            result[(string)e.Key] = (string?)e.Value ?? "";
        }

        return result;
    }

    [GeneratedRegex(@"^\(Line: \d+, Col: \d+, Idx: \d+\) - \(Line: \d+, Col: \d+, Idx: \d+\): ")]
    private static partial Regex YamlPosition();
}
