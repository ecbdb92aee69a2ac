using YamlDotNet.Core;
using YamlDotNet.Core.Events;

namespace RollbackSentinel.Rules;

/// <summary>A file broke one of <see cref="RuleLimits"/>; thrown before anything recursive reads the document.</summary>
internal sealed class RuleLimitException(Mark start, Mark end, string message) : YamlException(start, end, message);

/// <summary>
/// Sits between YamlDotNet's parser (a state machine, not recursive) and whatever builds nodes from its events
/// (recursive), and stops at the first event past a limit: nesting depth, document count, alias count and the
/// nodes aliases add when expanded. So a file of 40,000 '[' or an alias bomb is an error with a position, never
/// a stack overflow or an exponential walk.
/// </summary>
internal sealed class BoundedParser(IParser inner) : IParser
{
    // One per open collection: how many nodes it holds so far (aliases counted at their expanded size).
    private readonly Stack<(AnchorName Anchor, long Size)> _open = new();
    private readonly Dictionary<AnchorName, long> _anchorSizes = [];
    private int _documents;
    private int _aliases;
    private long _expansion;

    public ParsingEvent? Current => inner.Current;

    public bool MoveNext()
    {
        if (!inner.MoveNext())
        {
            return false;
        }

        var e = inner.Current!;
        switch (e)
        {
            case DocumentStart:
                if (++_documents > RuleLimits.MaxDocuments)
                {
                    throw Limit(e, $"more than {RuleLimits.MaxDocuments} documents in one file (the limit of the rules loader)");
                }

                _anchorSizes.Clear(); // anchors do not cross documents
                break;
            case MappingStart or SequenceStart:
                if (_open.Count >= RuleLimits.MaxDepth)
                {
                    throw Limit(e, $"mappings and lists nest deeper than {RuleLimits.MaxDepth} levels (the limit of the rules loader)");
                }

                _open.Push((((NodeEvent)e).Anchor, 1));
                break;
            case MappingEnd or SequenceEnd:
                var (anchor, size) = _open.Pop();
                Add(size);
                if (!anchor.IsEmpty)
                {
                    _anchorSizes[anchor] = size;
                }

                break;
            case Scalar s:
                Add(1);
                if (!s.Anchor.IsEmpty)
                {
                    _anchorSizes[s.Anchor] = 1;
                }

                break;
            case AnchorAlias alias:
                if (++_aliases > RuleLimits.MaxAliases)
                {
                    throw Limit(e, $"more than {RuleLimits.MaxAliases} aliases in one file (the limit of the rules loader)");
                }

                var expanded = _anchorSizes.GetValueOrDefault(alias.Value, 1);
                _expansion += expanded;
                if (_expansion > RuleLimits.MaxAliasExpansion)
                {
                    throw Limit(e, $"aliases expand to more than {RuleLimits.MaxAliasExpansion} nodes (the limit of the rules loader; an alias bomb?)");
                }

                Add(expanded);
                break;
        }

        return true;
    }

    private void Add(long size)
    {
        if (_open.Count > 0)
        {
            var (anchor, total) = _open.Pop();
            _open.Push((anchor, Math.Min(total + size, long.MaxValue / 2)));
        }
    }

    private static RuleLimitException Limit(ParsingEvent e, string message) => new(e.Start, e.End, message);
}
