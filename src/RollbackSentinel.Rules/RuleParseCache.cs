namespace RollbackSentinel.Rules;

/// <summary>
/// The last parse of each rule file, reused while the file is unchanged, so a daemon that rescans a large rules folder
/// every few seconds parses only what changed (parsing YAML was a third of a clustered node's CPU with 1,000 policies:
/// bench/README.md), and mostly does not even read what did not. A file whose parse consulted the file system beyond
/// its own text (a secret file's path, whose links may have moved) is parsed every time. Not thread-safe: one loader at
/// a time (the rules watcher's reload gate).
/// </summary>
/// <remarks>
/// Unchanged means the same bytes. A file is not read again while the kernel reports the same inode, size,
/// modification and inode-change times as when its bytes were last read, once it had settled: last changed at least
/// <see cref="SettleTime"/> before that read (file times are coarse: a write in the same tick as an earlier write and
/// our read could leave them equal). Every <see cref="ReadAgainAfter"/> the bytes are read and compared anyway, which
/// bounds what a file system with odd times (a network one whose server clock is off) could hide. A file moved into
/// place (git-sync, a ConfigMap) is a new inode and is read at once.
/// </remarks>
/// <param name="time">The clock compared with the files' times; the system's by default.</param>
public sealed class RuleParseCache(TimeProvider? time = null)
{
    /// <summary>How long before its read a file must have last changed for its times to be trusted later.</summary>
    public static readonly TimeSpan SettleTime = TimeSpan.FromSeconds(2);

    /// <summary>How long a parse is reused on the file's times alone before its bytes are read and compared again.</summary>
    public static readonly TimeSpan ReadAgainAfter = TimeSpan.FromMinutes(1);

    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private Dictionary<string, Entry> _last = new(StringComparer.Ordinal);
    private Dictionary<string, Entry> _next = new(StringComparer.Ordinal);

    /// <summary>How many files the last load took from the cache instead of parsing them.</summary>
    public int LastReused { get; private set; }

    /// <summary>How many of those it did not even read (their times were as when they were last read).</summary>
    public int LastUnread { get; private set; }

    /// <summary>
    /// The earlier parse of <paramref name="file"/>, without reading it, when <paramref name="stat"/> (taken now) is what
    /// the file's was when its bytes were last read, it had settled by then, and that read is recent (see the remarks).
    /// </summary>
    internal FileParseResult? FindUnread(string file, in EntryStat stat)
    {
        if (_last.TryGetValue(file, out var earlier)
            && !earlier.Result.ConsultedFileSystem
            && stat.Type == EntryType.Regular
            && stat.Changed != 0
            && stat == earlier.Stat
            && earlier.ReadAt - FromNanoseconds(Math.Max(stat.Modified, stat.Changed)) >= SettleTime
            && _time.GetUtcNow() - earlier.ReadAt < ReadAgainAfter)
        {
            LastReused++;
            LastUnread++;
            _next[file] = earlier;
            return earlier.Result;
        }

        return null;
    }

    /// <summary>The earlier parse of <paramref name="file"/> when it was made from exactly <paramref name="bytes"/> and may be reused.</summary>
    internal FileParseResult? Find(string file, ReadOnlySpan<byte> bytes)
    {
        if (_last.TryGetValue(file, out var earlier) && !earlier.Result.ConsultedFileSystem && earlier.Result.Content.Span.SequenceEqual(bytes))
        {
            LastReused++;
            return earlier.Result;
        }

        return null;
    }

    /// <summary>
    /// Keeps <paramref name="result"/> (with its <see cref="FileParseResult.Content"/>) for the next load, with the file's
    /// <paramref name="stat"/> taken just before its bytes were read now (default: none, never reused unread).
    /// </summary>
    internal void Keep(FileParseResult result, EntryStat stat = default) => _next[result.File] = new Entry(result, stat, _time.GetUtcNow());

    // The secret-file checker the kept parses were made with: a parse made without checks (or with other allowed
    // directories) is never reused by a load that checks.
    private SecretFileAccess? _checkedWith;

    /// <summary>Starts a load with <paramref name="secretFiles"/>: what the previous load kept becomes what this one may reuse, if made with the same checker.</summary>
    internal void Begin(SecretFileAccess? secretFiles)
    {
        LastReused = 0;
        LastUnread = 0;
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

    private static DateTimeOffset FromNanoseconds(long nanoseconds) => DateTimeOffset.UnixEpoch.AddTicks(nanoseconds / 100);

    private readonly record struct Entry(FileParseResult Result, EntryStat Stat, DateTimeOffset ReadAt);
}
