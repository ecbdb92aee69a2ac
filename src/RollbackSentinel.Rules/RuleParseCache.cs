namespace RollbackSentinel.Rules;

/// <summary>
/// The last parse of each rule file, reused while the file's bytes are unchanged, so a daemon that rescans a large rules
/// folder every few seconds reads its files but parses only what changed (parsing YAML was a third of a clustered node's
/// CPU with 1,000 policies: bench/README.md). A file whose parse consulted the file system beyond its own text (a
/// secret file's path, whose links may have moved) is parsed every time. Not thread-safe: one loader at a time (the
/// rules watcher's reload gate).
/// </summary>
public sealed class RuleParseCache
{
    private Dictionary<string, FileParseResult> _last = new(StringComparer.Ordinal);
    private Dictionary<string, FileParseResult> _next = new(StringComparer.Ordinal);

    /// <summary>How many files the last load took from the cache instead of parsing them.</summary>
    public int LastReused { get; private set; }

    /// <summary>The earlier parse of <paramref name="file"/> when it was made from exactly <paramref name="bytes"/> and may be reused.</summary>
    internal FileParseResult? Find(string file, ReadOnlySpan<byte> bytes)
    {
        if (_last.TryGetValue(file, out var earlier) && !earlier.ConsultedFileSystem && earlier.Content.Span.SequenceEqual(bytes))
        {
            LastReused++;
            return earlier;
        }

        return null;
    }

    /// <summary>Keeps <paramref name="result"/> (with its <see cref="FileParseResult.Content"/>) for the next load.</summary>
    internal void Keep(FileParseResult result) => _next[result.File] = result;

    // The secret-file checker the kept parses were made with: a parse made without checks (or with other allowed
    // directories) is never reused by a load that checks.
    private SecretFileAccess? _checkedWith;

    /// <summary>Starts a load with <paramref name="secretFiles"/>: what the previous load kept becomes what this one may reuse, if made with the same checker.</summary>
    internal void Begin(SecretFileAccess? secretFiles)
    {
        LastReused = 0;
        if (!ReferenceEquals(secretFiles, _checkedWith))
        {
            _last.Clear();
            _checkedWith = secretFiles;
        }
    }

    /// <summary>Ends a load: only the files it saw are kept (a deleted file's parse is dropped).</summary>
    internal void End()
    {
        (_last, _next) = (_next, _last);
        _next.Clear();
    }
}
