using YamlDotNet.Core;
using YamlDotNet.Core.Events;

namespace RollbackSentinel.Rules;

/// <summary>
/// YamlStream throws on a duplicate key, which would lose the field path and every other error of the file.
/// This parser renames the second and later occurrences of a key in a mapping to "key" + <see cref="Marker"/> + n,
/// so the stream loads and <see cref="MapReader"/> reports each duplicate at its own position with its field.
/// </summary>
internal sealed class DuplicateKeyMarkingParser(IParser inner) : IParser
{
    public const string Marker = "\0dup";

    private readonly Stack<Frame> _frames = new();

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
        if (top is { IsMapping: true, ExpectKey: true } && e is Scalar key)
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

        Current = e;
        return true;
    }

    private sealed class Frame(bool isMapping)
    {
        public bool IsMapping { get; } = isMapping;

        public bool ExpectKey { get; set; } = true;

        public Dictionary<string, int> Seen { get; } = new(StringComparer.Ordinal);
    }
}
