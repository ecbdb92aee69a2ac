using System.Collections;
using System.Text;

namespace RollbackSentinel.Core.Metrics;

/// <summary>
/// An immutable, sorted set of Prometheus labels identifying one series. Equality is by content, so a
/// label set can key per-series trigger state the way Prometheus keys alerts.
/// </summary>
public sealed class LabelSet : IEquatable<LabelSet>, IReadOnlyDictionary<string, string>
{
    private readonly KeyValuePair<string, string>[] _labels;
    private readonly string _key;

    public static readonly LabelSet Empty = new([]);

    private LabelSet(KeyValuePair<string, string>[] sorted)
    {
        _labels = sorted;
        _key = BuildKey(sorted);
    }

    /// <summary>Builds a label set; <c>__name__</c> is dropped because verdicts compare series, not metric names.</summary>
    public static LabelSet From(IEnumerable<KeyValuePair<string, string>> labels)
    {
        ArgumentNullException.ThrowIfNull(labels);
        var sorted = labels
            .Where(l => l.Key != "__name__")
            .OrderBy(l => l.Key, StringComparer.Ordinal)
            .ToArray();
        for (var i = 1; i < sorted.Length; i++)
        {
            if (sorted[i].Key == sorted[i - 1].Key)
            {
                throw new ArgumentException($"Label '{sorted[i].Key}' appears twice.", nameof(labels));
            }
        }

        return sorted.Length == 0 ? Empty : new LabelSet(sorted);
    }

    public static LabelSet Of(params (string Name, string Value)[] labels) =>
        From(labels.Select(l => new KeyValuePair<string, string>(l.Name, l.Value)));

    public int Count => _labels.Length;

    public bool IsEmpty => _labels.Length == 0;

    public string this[string key] => TryGetValue(key, out var v) ? v : throw new KeyNotFoundException(key);

    public IEnumerable<string> Keys => _labels.Select(l => l.Key);

    public IEnumerable<string> Values => _labels.Select(l => l.Value);

    public bool ContainsKey(string key) => TryGetValue(key, out _);

    /// <summary>
    /// No label present in both sets has two different values: <c>{deployment="cart"}</c> agrees with
    /// <c>{deployment="cart", code="500"}</c> and with <c>{}</c>, never with <c>{deployment="search"}</c>. Which series
    /// a change concerns, and which a gate's label filter matches.
    /// </summary>
    public bool AgreesWith(LabelSet other)
    {
        ArgumentNullException.ThrowIfNull(other);
        return other.All(o => !TryGetValue(o.Key, out var v) || v == o.Value);
    }

    public bool TryGetValue(string key, out string value)
    {
        foreach (var l in _labels)
        {
            if (l.Key == key)
            {
                value = l.Value;
                return true;
            }
        }

        value = string.Empty;
        return false;
    }

    public IEnumerator<KeyValuePair<string, string>> GetEnumerator() => ((IEnumerable<KeyValuePair<string, string>>)_labels).GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    public bool Equals(LabelSet? other) => other is not null && string.Equals(_key, other._key, StringComparison.Ordinal);

    public override bool Equals(object? obj) => Equals(obj as LabelSet);

    public override int GetHashCode() => StringComparer.Ordinal.GetHashCode(_key);

    /// <summary>Prometheus notation: <c>{app="checkout", code="500"}</c>; <c>{}</c> when empty.</summary>
    public override string ToString() => _key;

    private static string BuildKey(KeyValuePair<string, string>[] sorted)
    {
        var sb = new StringBuilder("{");
        for (var i = 0; i < sorted.Length; i++)
        {
            if (i > 0)
            {
                sb.Append(", ");
            }

            sb.Append(sorted[i].Key).Append("=\"");
            foreach (var c in sorted[i].Value)
            {
                switch (c)
                {
                    case '\\': sb.Append("\\\\"); break;
                    case '"': sb.Append("\\\""); break;
                    case '\n': sb.Append("\\n"); break;
                    default: sb.Append(c); break;
                }
            }

            sb.Append('"');
        }

        return sb.Append('}').ToString();
    }
}
