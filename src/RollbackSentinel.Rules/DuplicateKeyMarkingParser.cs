using YamlDotNet.Core;
using YamlDotNet.Core.Events;

namespace RollbackSentinel.Rules;

/// <summary>
/// YamlStream throws on a duplicate key, which would lose the field path and every other error of the file.
/// This parser renames the second and later occurrences of a key in a mapping to "key" + <see cref="Marker"/> + n,
/// so the stream loads and <see cref="MapReader"/> reports each duplicate at its own position with its field.
/// A key that is a mapping or a list (or an alias of one) becomes the scalar <see cref="ComplexKey"/> at its
/// position: YamlStream would hash it recursively (an alias bomb used as a key never finishes), and a policy
/// has no such key anyway.
/// </summary>
internal sealed class DuplicateKeyMarkingParser(IParser inner) : IParser
{
    public const string Marker = "\0dup";

    /// <summary>Stands for a key that is not a scalar; <see cref="MapReader"/> reports it.</summary>
    public const string ComplexKey = "\0complex";

    private readonly Stack<Frame> _frames = new();

    // Anchors of collections in the current document: an alias of one used as a key is a complex key.
    private readonly HashSet<AnchorName> _collectionAnchors = [];

    public ParsingEvent? Current { get; private set; }

    public bool MoveNext()
    {
        if (!inner.MoveNext())
        {
            Current = null;
            return false;
        }

        var e = inner.Current!;
        var top = _frames.Count > 0 ? _frames.Peek() : null;
        if (top is { IsMapping: true, ExpectKey: true } && (e is MappingStart or SequenceStart || (e is AnchorAlias a && _collectionAnchors.Contains(a.Value))))
        {
            if (e is MappingStart or SequenceStart)
            {
                SkipCollection();
            }

            e = new Scalar(AnchorName.Empty, TagName.Empty, ComplexKey, ScalarStyle.Plain, true, false, e.Start, e.End);
            top.ExpectKey = false;
        }
        else if (top is { IsMapping: true, ExpectKey: true } && e is Scalar key)
        {
            var n = top.Seen.TryGetValue(key.Value, out var count) ? count + 1 : 1;
            top.Seen[key.Value] = n;
            if (n > 1)
            {
                e = new Scalar(key.Anchor, key.Tag, key.Value + Marker + n, key.Style, key.IsPlainImplicit, key.IsQuotedImplicit, key.Start, key.End);
            }

            top.ExpectKey = false;
        }
        else if (e is MappingStart or SequenceStart)
        {
            if (top is { IsMapping: true })
            {
                top.ExpectKey = !top.ExpectKey;
            }

            if (!((NodeEvent)e).Anchor.IsEmpty)
            {
                _collectionAnchors.Add(((NodeEvent)e).Anchor);
            }

            _frames.Push(new Frame(e is MappingStart));
        }
        else if (e is MappingEnd or SequenceEnd)
        {
            _frames.Pop();
        }
        else if (top is { IsMapping: true } && e is Scalar or AnchorAlias)
        {
            top.ExpectKey = !top.ExpectKey;
        }
        else if (e is DocumentStart)
        {
            _collectionAnchors.Clear();
        }

        Current = e;
        return true;
    }

    /// <summary>Reads past the collection that just started (counting, not recursing).</summary>
    private void SkipCollection()
    {
        var depth = 1;
        while (depth > 0 && inner.MoveNext())
        {
            depth += inner.Current switch
            {
                MappingStart or SequenceStart => 1,
                MappingEnd or SequenceEnd => -1,
                _ => 0,
            };
        }
    }

    private sealed class Frame(bool isMapping)
    {
        public bool IsMapping { get; } = isMapping;

        public bool ExpectKey { get; set; } = true;

        public Dictionary<string, int> Seen { get; } = new(StringComparer.Ordinal);
    }
}
