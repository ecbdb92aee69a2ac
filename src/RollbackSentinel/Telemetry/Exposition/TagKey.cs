using System.Globalization;
using System.Text;

namespace RollbackSentinel.Telemetry.Exposition;

/// <summary>
/// One tag set as a series key: tag keys sorted, values as text, and the label block rendered once
/// (<c>a="x",b="y"</c>) so a scrape only copies it.
/// </summary>
internal sealed class TagKey
{
    public static readonly TagKey Empty = new([], []);

    /// <summary>Where measurements go once an instrument has as many series as it may have (OpenTelemetry's convention).</summary>
    public static readonly TagKey Overflow = new(["otel.metric.overflow"], ["true"]);

    private readonly string[] _keys;
    private readonly string[] _values;
    private readonly int _hash;

    private TagKey(string[] sortedKeys, string[] values)
    {
        _keys = sortedKeys;
        _values = values;
        var hash = 0;
        for (var i = 0; i < sortedKeys.Length; i++)
        {
            hash = unchecked(hash + PairHash(sortedKeys[i], values[i]));
        }

        _hash = hash;
        Labels = RenderLabels(sortedKeys, values);
    }

    public int Count => _keys.Length;

    /// <summary>The label block without braces, label names sanitized and sorted, values escaped; empty for no tags.</summary>
    public string Labels { get; }

    public static TagKey From(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        if (tags.IsEmpty)
        {
            return Empty;
        }

        // Duplicate keys: the last value wins, as in a dictionary.
        var pairs = new List<KeyValuePair<string, string>>(tags.Length);
        foreach (var tag in tags)
        {
            var key = tag.Key ?? string.Empty;
            var text = TagValues.ToText(tag.Value);
            var existing = pairs.FindIndex(p => p.Key == key);
            if (existing >= 0)
            {
                pairs[existing] = new(key, text);
            }
            else
            {
                pairs.Add(new(key, text));
            }
        }

        pairs.Sort(static (a, b) => string.CompareOrdinal(a.Key, b.Key));
        return new TagKey([.. pairs.Select(p => p.Key)], [.. pairs.Select(p => p.Value)]);
    }

    /// <summary>
    /// Order-independent, so tags given in any order find the same series. Equal to
    /// <see cref="TagKeyComparer.GetHashCode(ReadOnlySpan{KeyValuePair{string, object}})"/> for the same tags.
    /// </summary>
    public override int GetHashCode() => _hash;

    public override bool Equals(object? obj) => obj is TagKey other && Equals(other);

    public bool Equals(TagKey other) =>
        ReferenceEquals(this, other)
        || (_hash == other._hash && _keys.AsSpan().SequenceEqual(other._keys) && _values.AsSpan().SequenceEqual(other._values));

    public override string ToString() => "{" + Labels + "}";

    internal static int PairHash(ReadOnlySpan<char> key, ReadOnlySpan<char> value) =>
        HashCode.Combine(string.GetHashCode(key), string.GetHashCode(value));

    internal int IndexOfKey(string key) => Array.BinarySearch(_keys, key, StringComparer.Ordinal);

    internal string ValueAt(int index) => _values[index];

    private static string RenderLabels(string[] keys, string[] values)
    {
        if (keys.Length == 0)
        {
            return string.Empty;
        }

        // Tags that sanitize to the same label name (http.method and http_method) share one label, values
        // joined with ';' in tag key order, so the output never repeats a label name.
        var labels = new SortedDictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i < keys.Length; i++)
        {
            var name = PrometheusNaming.LabelName(keys[i]);
            labels[name] = labels.TryGetValue(name, out var earlier) ? earlier + ";" + values[i] : values[i];
        }

        var sb = new StringBuilder();
        foreach (var (name, value) in labels)
        {
            if (sb.Length > 0)
            {
                sb.Append(',');
            }

            sb.Append(name).Append("=\"").AppendLabelValue(value).Append('"');
        }

        return sb.ToString();
    }
}

/// <summary>Tag values as label text: invariant culture, booleans lower case, null empty.</summary>
internal static class TagValues
{
    /// <summary>Big enough for any number; longer values fall back to <see cref="ToText"/>.</summary>
    public const int StackBufferLength = 64;

    public static string ToText(object? value) => value switch
    {
        null => string.Empty,
        string s => s,
        bool b => b ? "true" : "false",
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? string.Empty,
    };

    /// <summary>The text of a non-string value without allocating, when it fits; false means use <see cref="ToText"/>.</summary>
    public static bool TryFormat(object? value, Span<char> destination, out int written)
    {
        switch (value)
        {
            case null:
                written = 0;
                return true;
            case bool b:
                var text = b ? "true" : "false";
                written = text.Length;
                return text.TryCopyTo(destination);
            case ISpanFormattable f:
                return f.TryFormat(destination, out written, default, CultureInfo.InvariantCulture);
            default:
                written = 0;
                return false;
        }
    }
}

/// <summary>
/// Compares stored <see cref="TagKey"/>s with the tag span a measurement arrives with, so finding an existing
/// series allocates nothing (string tag values are compared in place, numbers formatted on the stack).
/// </summary>
internal sealed class TagKeyComparer :
    IEqualityComparer<TagKey>,
    IAlternateEqualityComparer<ReadOnlySpan<KeyValuePair<string, object?>>, TagKey>
{
    public static readonly TagKeyComparer Instance = new();

    /// <summary>Tag sets larger than this take the allocating path (the duplicate check uses a 64-bit mask).</summary>
    private const int MaxInPlaceTags = 64;

    private TagKeyComparer()
    {
    }

    public bool Equals(TagKey? x, TagKey? y) => ReferenceEquals(x, y) || (x is not null && y is not null && x.Equals(y));

    public int GetHashCode(TagKey obj) => obj.GetHashCode();

    public int GetHashCode(ReadOnlySpan<KeyValuePair<string, object?>> alternate)
    {
        Span<char> buffer = stackalloc char[TagValues.StackBufferLength];
        var hash = 0;
        foreach (var tag in alternate)
        {
            var key = (tag.Key ?? string.Empty).AsSpan();
            var pairHash = tag.Value is string s
                ? TagKey.PairHash(key, s)
                : TagValues.TryFormat(tag.Value, buffer, out var written)
                    ? TagKey.PairHash(key, buffer[..written])
                    : TagKey.PairHash(key, TagValues.ToText(tag.Value));
            hash = unchecked(hash + pairHash);
        }

        return hash;
    }

    public bool Equals(ReadOnlySpan<KeyValuePair<string, object?>> alternate, TagKey other)
    {
        if (alternate.Length != other.Count || alternate.Length > MaxInPlaceTags)
        {
            return false;
        }

        Span<char> buffer = stackalloc char[TagValues.StackBufferLength];
        var seen = 0UL;
        foreach (var tag in alternate)
        {
            var index = other.IndexOfKey(tag.Key ?? string.Empty);
            if (index < 0 || (seen & (1UL << index)) != 0)
            {
                // Unknown key, or a key given twice: let the allocating path settle it.
                return false;
            }

            seen |= 1UL << index;
            var stored = other.ValueAt(index);
            var same = tag.Value is string s
                ? string.Equals(s, stored, StringComparison.Ordinal)
                : TagValues.TryFormat(tag.Value, buffer, out var written)
                    ? buffer[..written].SequenceEqual(stored)
                    : string.Equals(TagValues.ToText(tag.Value), stored, StringComparison.Ordinal);
            if (!same)
            {
                return false;
            }
        }

        return true;
    }

    public TagKey Create(ReadOnlySpan<KeyValuePair<string, object?>> alternate) => TagKey.From(alternate);
}
