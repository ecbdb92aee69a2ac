using System.Globalization;
using RollbackSentinel.Core.Policies;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace RollbackSentinel.Rules;

/// <summary>Collects every diagnostic of one file; parsing goes on after an error so all of them are reported.</summary>
internal sealed class ParseContext(string file)
{
    public string File { get; } = file;

    public List<RuleDiagnostic> Diagnostics { get; } = [];

    /// <summary>Which secret files policies may name; null when not checked (the library without settings).</summary>
    public SecretFileAccess? SecretFiles { get; init; }

    /// <summary>
    /// Whether the result depends on more than the file's text: a secret file's path was checked against the file
    /// system (<see cref="SecretFileAccess.Problem"/> resolves links), so the same text may parse differently later.
    /// </summary>
    public bool ConsultedFileSystem { get; set; }

    public bool HasErrors => Diagnostics.Any(d => d.Severity == DiagnosticSeverity.Error);

    public void Error(Mark at, string field, string message) =>
        Diagnostics.Add(new RuleDiagnostic(File, (int)at.Line, (int)at.Column, field, message));

    public void Warning(Mark at, string field, string message) =>
        Diagnostics.Add(new RuleDiagnostic(File, (int)at.Line, (int)at.Column, field, message, DiagnosticSeverity.Warning));

    public SourceLocation Location(YamlNode node) => new(File, (int)node.Start.Line, (int)node.Start.Column);
}

/// <summary>
/// Reads one YAML mapping field by field, recording which keys were read so that every key nobody asked
/// for is reported as unknown (with a suggestion when it looks like a typo).
/// </summary>
internal sealed class MapReader
{
    private readonly ParseContext _ctx;
    private readonly YamlMappingNode _node;

    // Where "missing field" errors point: the key that owns this mapping, which is what a reader looks for.
    private readonly Mark _owner;
    private readonly HashSet<string> _known = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (YamlScalarNode Key, YamlNode Value)> _entries = new(StringComparer.Ordinal);

    public MapReader(ParseContext ctx, YamlMappingNode node, string path, Mark? owner = null)
    {
        _ctx = ctx;
        _node = node;
        Path = path;
        _owner = owner ?? node.Start;
        foreach (var (k, v) in node.Children)
        {
            if (k is not YamlScalarNode key || key.Value is null or DuplicateKeyMarkingParser.ComplexKey)
            {
                ctx.Error(k.Start, path, "keys must be plain strings");
                continue;
            }

            var marker = key.Value.IndexOf(DuplicateKeyMarkingParser.Marker, StringComparison.Ordinal);
            if (marker >= 0)
            {
                var name = key.Value[..marker];
                ctx.Error(key.Start, Field(name), $"'{name}' is set twice in the same mapping");
                continue;
            }

            _entries.Add(key.Value, (key, v));
        }
    }

    /// <summary>No duration in a policy needs more than a year; larger ones are typos that would overflow date arithmetic.</summary>
    public static readonly TimeSpan MaxDuration = TimeSpan.FromDays(366);

    public string Path { get; }

    /// <summary>True when the mapping has no (non-duplicate) key at all.</summary>
    public bool IsEmpty => _entries.Count == 0;

    /// <summary>Where this mapping is introduced (its key), for errors about the mapping as a whole.</summary>
    public Mark Start => _owner;

    public ParseContext Context => _ctx;

    public string Field(string key) => Path.Length == 0 ? key : $"{Path}.{key}";

    public bool Has(string key)
    {
        _known.Add(key);
        return _entries.ContainsKey(key);
    }

    /// <summary>Which of the given keys are present (each marked as known).</summary>
    public string[] Present(params string[] keys) => keys.Where(Has).ToArray();

    public YamlNode? Node(string key, bool required = false, string? hint = null)
    {
        _known.Add(key);
        if (_entries.TryGetValue(key, out var e))
        {
            return e.Value;
        }

        if (required)
        {
            _ctx.Error(_owner, Field(key), $"missing required field '{key}'{(hint is null ? string.Empty : " (" + hint + ")")}");
        }

        return null;
    }

    public Mark KeyMark(string key) => _entries.TryGetValue(key, out var e) ? e.Key.Start : _node.Start;

    public string? String(string key, bool required = false, string? hint = null)
    {
        var node = Node(key, required, hint);
        if (node is null)
        {
            return null;
        }

        if (node is not YamlScalarNode s || s.Value is null || IsNull(s))
        {
            _ctx.Error(node.Start, Field(key), $"must be a string, got {Describe(node)}");
            return null;
        }

        if (required && string.IsNullOrWhiteSpace(s.Value))
        {
            _ctx.Error(node.Start, Field(key), "must not be empty");
            return null;
        }

        return s.Value;
    }

    public double? Number(string key, bool required = false, double? min = null, double? max = null, bool minExclusive = false, string? hint = null)
    {
        var node = Node(key, required, hint);
        if (node is null)
        {
            return null;
        }

        if (node is not YamlScalarNode s || s.Style is ScalarStyle.SingleQuoted or ScalarStyle.DoubleQuoted
            || !double.TryParse(s.Value, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || !double.IsFinite(value))
        {
            _ctx.Error(node.Start, Field(key), $"must be a number, got {Describe(node)}");
            return null;
        }

        if (min is { } lo && (minExclusive ? value <= lo : value < lo))
        {
            _ctx.Error(node.Start, Field(key), $"must be {(minExclusive ? "greater than" : "at least")} {lo.ToString(CultureInfo.InvariantCulture)}, got {s.Value}");
            return null;
        }

        if (max is { } hi && value > hi)
        {
            _ctx.Error(node.Start, Field(key), $"must be at most {hi.ToString(CultureInfo.InvariantCulture)}, got {s.Value}");
            return null;
        }

        return value;
    }

    public int? Integer(string key, int min, int max)
    {
        var node = Node(key);
        if (node is null)
        {
            return null;
        }

        if (node is not YamlScalarNode s || s.Style is ScalarStyle.SingleQuoted or ScalarStyle.DoubleQuoted
            || !int.TryParse(s.Value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value))
        {
            _ctx.Error(node.Start, Field(key), $"must be a whole number, got {Describe(node)}");
            return null;
        }

        if (value < min || value > max)
        {
            _ctx.Error(node.Start, Field(key), $"must be between {min} and {max}, got {value}");
            return null;
        }

        return value;
    }

    public bool? Bool(string key)
    {
        var node = Node(key);
        if (node is null)
        {
            return null;
        }

        if (node is YamlScalarNode { Style: not (ScalarStyle.SingleQuoted or ScalarStyle.DoubleQuoted) } s)
        {
            if (s.Value is "true" or "True" or "TRUE")
            {
                return true;
            }

            if (s.Value is "false" or "False" or "FALSE")
            {
                return false;
            }
        }

        _ctx.Error(node.Start, Field(key), $"must be true or false, got {Describe(node)}");
        return null;
    }

    public TimeSpan? Duration(string key, bool required = false, TimeSpan? min = null, TimeSpan? max = null)
    {
        var node = Node(key, required);
        if (node is null)
        {
            return null;
        }

        if (node is not YamlScalarNode s || IsNull(s))
        {
            _ctx.Error(node.Start, Field(key), $"must be a duration such as 30s, 2m or 1h30m, got {Describe(node)}");
            return null;
        }

        if (!PromDuration.TryParse(s.Value, out var value, out var error))
        {
            _ctx.Error(node.Start, Field(key), error);
            return null;
        }

        if (min is { } lo && value < lo)
        {
            _ctx.Error(node.Start, Field(key), $"must be at least {PromDuration.Format(lo)}, got {s.Value}");
            return null;
        }

        if (max is { } hi && value > hi)
        {
            _ctx.Error(node.Start, Field(key), $"must be at most {PromDuration.Format(hi)}, got {s.Value}");
            return null;
        }

        if (value > MaxDuration)
        {
            _ctx.Error(node.Start, Field(key), $"must be at most {PromDuration.Format(MaxDuration)}, got {s.Value}");
            return null;
        }

        return value;
    }

    /// <summary>One of a fixed set of words; the message lists them.</summary>
    public string? Enum(string key, IReadOnlyList<string> allowed, bool required = false)
    {
        var node = Node(key, required, required ? "one of " + string.Join(", ", allowed) : null);
        if (node is null)
        {
            return null;
        }

        if (node is YamlScalarNode s && s.Value is { } v && allowed.Contains(v, StringComparer.Ordinal))
        {
            return v;
        }

        _ctx.Error(node.Start, Field(key), $"must be one of {string.Join(", ", allowed)}, got {Describe(node)}");
        return null;
    }

    public MapReader? Map(string key, bool required = false, string? hint = null)
    {
        var node = Node(key, required, hint);
        if (node is null)
        {
            return null;
        }

        if (node is not YamlMappingNode m)
        {
            _ctx.Error(node.Start, Field(key), $"must be a mapping, got {Describe(node)}");
            return null;
        }

        return new MapReader(_ctx, m, Field(key), KeyMark(key));
    }

    public YamlSequenceNode? Sequence(string key, bool required = false)
    {
        var node = Node(key, required);
        if (node is null)
        {
            return null;
        }

        if (node is not YamlSequenceNode seq)
        {
            _ctx.Error(node.Start, Field(key), $"must be a list, got {Describe(node)}");
            return null;
        }

        return seq;
    }

    /// <summary>Reports every key that no reader asked for. Call once all fields are read.</summary>
    public void ReportUnknown()
    {
        foreach (var (name, (key, _)) in _entries)
        {
            if (_known.Contains(name))
            {
                continue;
            }

            var suggestion = Suggest(name, _known);
            var allowed = _known.Count == 0 ? string.Empty : $"; allowed here: {string.Join(", ", _known.Order(StringComparer.Ordinal))}";
            _ctx.Error(key.Start, Field(name), suggestion is null
                ? $"unknown field '{name}'{allowed}"
                : $"unknown field '{name}' (did you mean '{suggestion}'?)");
        }
    }

    public static string Describe(YamlNode node) => node switch
    {
        YamlScalarNode s when IsNull(s) => "nothing (null)",
        YamlScalarNode { Style: ScalarStyle.SingleQuoted or ScalarStyle.DoubleQuoted } s
            when double.TryParse(s.Value, NumberStyles.Float, CultureInfo.InvariantCulture, out _) || s.Value is "true" or "false"
            => $"the quoted string \"{s.Value}\" (remove the quotes)",
        YamlScalarNode s => $"'{Trim(s.Value ?? string.Empty)}'",
        YamlSequenceNode => "a list",
        YamlMappingNode => "a mapping",
        _ => "an alias",
    };

    private static bool IsNull(YamlScalarNode s) =>
        s.Style == ScalarStyle.Plain && (s.Value is null or "" or "~" or "null" or "Null" or "NULL");

    private static string Trim(string s) => s.Length <= 40 ? s : s[..37] + "...";

    private static string? Suggest(string name, IEnumerable<string> known) =>
        known
            .Select(k => (Key: k, Distance: EditDistance(name.ToLowerInvariant(), k.ToLowerInvariant())))
            .Where(x => x.Distance <= Math.Max(1, x.Key.Length / 3))
            .OrderBy(x => x.Distance)
            .Select(x => x.Key)
            .FirstOrDefault();

    /// <summary>
    /// Edits between two words, a swap of two neighbouring letters counting as one (optimal string alignment):
    /// 'fro' is one edit from 'for' and 'qurey' one from 'query', the typos fingers make most.
    /// </summary>
    private static int EditDistance(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (var i = 0; i <= a.Length; i++)
        {
            d[i, 0] = i;
        }

        for (var j = 0; j <= b.Length; j++)
        {
            d[0, j] = j;
        }

        for (var i = 1; i <= a.Length; i++)
        {
            for (var j = 1; j <= b.Length; j++)
            {
                d[i, j] = Math.Min(Math.Min(d[i, j - 1] + 1, d[i - 1, j] + 1), d[i - 1, j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                {
                    d[i, j] = Math.Min(d[i, j], d[i - 2, j - 2] + 1);
                }
            }
        }

        return d[a.Length, b.Length];
    }
}
