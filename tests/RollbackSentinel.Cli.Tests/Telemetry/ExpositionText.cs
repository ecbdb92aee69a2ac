using System.Text;

namespace RollbackSentinel.Cli.Tests.Telemetry;

/// <summary>A Prometheus text exposition read back as families: what <c># HELP</c> and <c># TYPE</c> say and which labels the samples carry.</summary>
internal static class ExpositionText
{
    private static readonly string[] HistogramSuffixes = ["_bucket", "_sum", "_count"];

    public sealed record Family(string Name, string Type, string Help, IReadOnlyList<string> Labels)
    {
        public override string ToString() => $"{Name} {Type} [{string.Join(',', Labels)}] {Help}";
    }

    /// <summary>Every family with its label names (a histogram's <c>le</c> left out), sorted by name.</summary>
    public static IReadOnlyList<Family> Families(string exposition)
    {
        var help = new Dictionary<string, string>(StringComparer.Ordinal);
        var types = new Dictionary<string, string>(StringComparer.Ordinal);
        var labels = new Dictionary<string, SortedSet<string>>(StringComparer.Ordinal);
        foreach (var line in exposition.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            if (line.StartsWith("# HELP ", StringComparison.Ordinal))
            {
                var (name, text) = Split(line["# HELP ".Length..]);
                help[name] = text;
            }
            else if (line.StartsWith("# TYPE ", StringComparison.Ordinal))
            {
                var (name, type) = Split(line["# TYPE ".Length..]);
                types[name] = type;
            }
            else if (!line.StartsWith('#'))
            {
                var (sample, names) = Sample(line);
                var family = FamilyOf(sample, types);
                if (!labels.TryGetValue(family, out var set))
                {
                    labels[family] = set = new SortedSet<string>(StringComparer.Ordinal);
                }

                set.UnionWith(names.Where(n => !(n == "le" && types.GetValueOrDefault(family) == "histogram")));
            }
        }

        return
        [
            .. types.Keys.Order(StringComparer.Ordinal).Select(name => new Family(
                name,
                types[name],
                help.GetValueOrDefault(name, string.Empty),
                labels.TryGetValue(name, out var set) ? [.. set] : [])),
        ];
    }

    /// <summary>
    /// The exposition with its families sorted by name and each family's series by label set (a histogram's <c>le</c>
    /// aside, so its samples stay together in the order written): what tests compare. Prometheus reads neither order;
    /// prometheus-net writes families and series in the order they were first used.
    /// </summary>
    public static string Sorted(string exposition)
    {
        var families = new List<(string Name, List<string> Header, List<(string Key, string Line)> Samples)>();
        foreach (var line in exposition.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            if (line.StartsWith("# ", StringComparison.Ordinal))
            {
                var name = Split(line[7..]).Head;
                if (families.Count == 0 || families[^1].Name != name)
                {
                    families.Add((name, [], []));
                }

                families[^1].Header.Add(line);
            }
            else
            {
                families[^1].Samples.Add((SeriesKey(line), line));
            }
        }

        var sb = new StringBuilder();
        foreach (var (_, header, samples) in families.OrderBy(f => f.Name, StringComparer.Ordinal))
        {
            header.ForEach(l => sb.Append(l).Append('\n'));
            foreach (var (_, line) in samples.OrderBy(s => s.Key, StringComparer.Ordinal))
            {
                sb.Append(line).Append('\n');
            }
        }

        return sb.ToString();
    }

    /// <summary>The label block of a sample without its <c>le</c> label (prometheus-net writes it last).</summary>
    private static string SeriesKey(string line)
    {
        var brace = line.IndexOf('{', StringComparison.Ordinal);
        var space = line.IndexOf(' ', StringComparison.Ordinal);
        if (brace < 0 || brace > space)
        {
            return string.Empty;
        }

        var close = LabelBlockEnd(line, brace);
        var block = line[(brace + 1)..close];
        var le = block.StartsWith("le=\"", StringComparison.Ordinal) ? 0 : block.LastIndexOf(",le=\"", StringComparison.Ordinal);
        return le < 0 ? block : block[..le];
    }

    private static int LabelBlockEnd(string line, int brace)
    {
        var i = brace + 1;
        var quoted = false;
        for (; i < line.Length; i++)
        {
            if (quoted && line[i] == '\\')
            {
                i++;
            }
            else if (line[i] == '"')
            {
                quoted = !quoted;
            }
            else if (!quoted && line[i] == '}')
            {
                break;
            }
        }

        return i;
    }

    private static (string Head, string Tail) Split(string text)
    {
        var space = text.IndexOf(' ', StringComparison.Ordinal);
        return space < 0 ? (text, string.Empty) : (text[..space], text[(space + 1)..]);
    }

    private static string FamilyOf(string sample, Dictionary<string, string> types)
    {
        if (types.ContainsKey(sample))
        {
            return sample;
        }

        foreach (var suffix in HistogramSuffixes)
        {
            if (sample.EndsWith(suffix, StringComparison.Ordinal) && types.GetValueOrDefault(sample[..^suffix.Length]) == "histogram")
            {
                return sample[..^suffix.Length];
            }
        }

        return sample;
    }

    /// <summary>The sample's name and label names; label values may hold escaped quotes, braces and commas.</summary>
    private static (string Name, List<string> Labels) Sample(string line)
    {
        var brace = line.IndexOf('{', StringComparison.Ordinal);
        var space = line.IndexOf(' ', StringComparison.Ordinal);
        if (brace < 0 || (space >= 0 && space < brace))
        {
            return (line[..space], []);
        }

        var names = new List<string>();
        var name = new StringBuilder();
        var i = brace + 1;
        while (i < line.Length && line[i] != '}')
        {
            if (line[i] == '=')
            {
                names.Add(name.ToString());
                name.Clear();
                i += 2; // past ="
                while (line[i] != '"')
                {
                    i += line[i] == '\\' ? 2 : 1;
                }

                i++; // past the closing quote
                if (i < line.Length && line[i] == ',')
                {
                    i++;
                }
            }
            else
            {
                name.Append(line[i]);
                i++;
            }
        }

        return (line[..brace], names);
    }
}
