using System.Text;
using RollbackSentinel.Core.Policies;

namespace RollbackSentinel.Rules;

/// <summary>Everything loaded from a set of rule files and folders.</summary>
public sealed record RuleSet(
    IReadOnlyList<Policy> Policies,
    IReadOnlyList<RuleDiagnostic> Diagnostics,
    IReadOnlyList<FileParseResult> Files)
{
    /// <summary>
    /// Folders (or given paths) that could not be listed: which rule files exist is unknown, so a file not seen
    /// may still be there. Also in <see cref="Diagnostics"/>.
    /// </summary>
    public IReadOnlyList<RuleDiagnostic> ListingErrors { get; init; } = [];

    public IEnumerable<RuleDiagnostic> Errors => Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error);

    public bool HasErrors => Errors.Any();
}

/// <summary>The rule files some paths stand for: those named, those found in the folders named, and what could not be listed or read.</summary>
/// <param name="Named">Files named on their own (read whatever their extension).</param>
/// <param name="Found">The <c>*.yaml</c> and <c>*.yml</c> regular files found in the folders, in name order.</param>
/// <param name="Folders">The paths that are folders.</param>
/// <param name="Problems">A path that does not exist, a folder that cannot be listed, an entry that is not a regular file.</param>
public sealed record RuleFileListing(IReadOnlyList<string> Named, IReadOnlyList<string> Found, IReadOnlyList<string> Folders, IReadOnlyList<RuleDiagnostic> Problems);

/// <summary>
/// Loads every <c>*.yaml</c>/<c>*.yml</c> file under the given files and folders, in a stable order, and
/// checks what no single file can: that policy names are unique across all of them. A broken file never
/// hides the good ones: their policies are returned alongside its errors. Only regular files are read (a
/// link is followed to a regular file; a pipe, device or socket is an error and never opened), within
/// <see cref="RuleLimits"/>; folder links are followed unless they lead back to a folder being read. It never
/// throws: every problem is a diagnostic.
/// </summary>
public static class RuleSetLoader
{
    private static readonly EnumerationOptions ListOptions = new()
    {
        // The default skips folders it cannot read without a word, which would drop their policies silently.
        IgnoreInaccessible = false,
        AttributesToSkip = 0,
        RecurseSubdirectories = false,
    };

    /// <param name="paths">Files and folders.</param>
    /// <param name="secretFiles">When given, secret files named by policies are checked against it (see <see cref="SecretFileAccess"/>).</param>
    public static RuleSet Load(IEnumerable<string> paths, SecretFileAccess? secretFiles = null) => Load(paths, ListFolder, secretFiles);

    /// <param name="paths">Files and folders.</param>
    /// <param name="secretFiles">When given, secret files named by policies are checked against it.</param>
    /// <param name="backends">The settings' metrics backends: a policy naming another, or a query in the wrong language for its backend, is an error.</param>
    /// <param name="cache">When given, the previous loads' parses (see <see cref="RuleParseCache"/>).</param>
    public static RuleSet Load(IEnumerable<string> paths, SecretFileAccess? secretFiles, BackendCatalog backends, RuleParseCache? cache = null) =>
        Load(paths, ListFolder, secretFiles, cache, backends);

    /// <param name="paths">Files and folders.</param>
    /// <param name="secretFiles">When given, secret files named by policies are checked against it.</param>
    /// <param name="cache">The previous loads' parses: a file whose bytes did not change is not parsed again.</param>
    public static RuleSet Load(IEnumerable<string> paths, SecretFileAccess? secretFiles, RuleParseCache cache) => Load(paths, ListFolder, secretFiles, cache);

    /// <param name="paths">Files and folders.</param>
    /// <param name="listFolder">Lists one folder's entries (full paths); throws when it cannot.</param>
    /// <param name="secretFiles">When given, secret files named by policies are checked against it.</param>
    /// <param name="cache">When given, the previous loads' parses (see <see cref="RuleParseCache"/>).</param>
    internal static RuleSet Load(
        IEnumerable<string> paths, Func<string, IEnumerable<string>> listFolder, SecretFileAccess? secretFiles = null, RuleParseCache? cache = null, BackendCatalog? backends = null)
    {
        ArgumentNullException.ThrowIfNull(paths);
        cache?.Begin(secretFiles);
        var diagnostics = new List<RuleDiagnostic>();
        var listing = new List<RuleDiagnostic>();
        // Each rule file with the stat that found it (taken before its bytes are read: see RuleParseCache).
        var files = new List<(string Path, EntryStat Stat, bool Named)>();
        Find(paths, listFolder, recursive: true, files, diagnostics, listing, []);

        var results = new List<FileParseResult>();
        foreach (var (file, stat, _) in files.DistinctBy(f => Path.GetFullPath(f.Path), StringComparer.Ordinal).OrderBy(f => f.Path, StringComparer.Ordinal))
        {
            try
            {
                // Unchanged since its bytes were last read, by the kernel's account (see RuleParseCache): not read again.
                if (cache?.FindUnread(file, stat) is { } unread)
                {
                    results.Add(unread);
                    continue;
                }

                var bytes = RuleFileSystem.ReadRegularFile(file, RuleLimits.MaxFileBytes, out var error);
                if (bytes is null)
                {
                    diagnostics.Add(new RuleDiagnostic(file, 1, 1, string.Empty, error!));
                    continue;
                }

                // The same bytes as at the last load: the same policies and diagnostics (see RuleParseCache).
                if (cache?.Find(file, bytes) is { } unchanged)
                {
                    cache.Keep(unchanged, stat);
                    results.Add(unchanged);
                    continue;
                }

                if (!TryDecode(file, bytes, out var text, out var bad))
                {
                    results.Add(new FileParseResult(file, [], [bad], []));
                    continue;
                }

                var parsed = PolicyParser.Parse(file, text, secretFiles) with { Content = bytes };
                cache?.Keep(parsed, stat);
                results.Add(parsed);
            }
            catch (Exception e)
            {
                // A bug in the parser must cost this file only, never the others or the daemon.
                diagnostics.Add(new RuleDiagnostic(file, 1, 1, string.Empty, $"internal error while reading this file ({e.GetType().Name}: {e.Message}); please report it"));
            }
        }

        cache?.End();
        if (backends is not null)
        {
            // After the cache: a parse kept from an earlier load is checked again (an unchanged file stays the same object).
            for (var i = 0; i < results.Count; i++)
            {
                results[i] = backends.Check(results[i]);
            }
        }

        return Combine(results, [.. listing, .. diagnostics]) with { ListingErrors = listing };
    }

    /// <summary>
    /// The rule files <paramref name="paths"/> stand for, found as <see cref="Load(IEnumerable{string}, SecretFileAccess?)"/>
    /// finds them (regular files only, hidden names skipped, links followed, folders that cannot be listed reported),
    /// without reading them. Never throws.
    /// </summary>
    /// <param name="paths">Files and folders.</param>
    /// <param name="recursive">Whether the folders' subfolders are searched too.</param>
    public static RuleFileListing List(IEnumerable<string> paths, bool recursive = true) => List(paths, ListFolder, recursive);

    /// <param name="paths">Files and folders.</param>
    /// <param name="listFolder">Lists one folder's entries (full paths); throws when it cannot.</param>
    /// <param name="recursive">Whether the folders' subfolders are searched too.</param>
    internal static RuleFileListing List(IEnumerable<string> paths, Func<string, IEnumerable<string>> listFolder, bool recursive)
    {
        ArgumentNullException.ThrowIfNull(paths);
        var files = new List<(string Path, EntryStat Stat, bool Named)>();
        var diagnostics = new List<RuleDiagnostic>();
        var listing = new List<RuleDiagnostic>();
        var folders = new List<string>();
        Find(paths, listFolder, recursive, files, diagnostics, listing, folders);
        var distinct = files.DistinctBy(f => Path.GetFullPath(f.Path), StringComparer.Ordinal).ToArray();
        return new RuleFileListing(
            [.. distinct.Where(f => f.Named).Select(f => f.Path)],
            [.. distinct.Where(f => !f.Named).Select(f => f.Path).Order(StringComparer.Ordinal)],
            folders,
            [.. listing, .. diagnostics]);
    }

    /// <summary>Combines parsed files into one rule set, reporting duplicate policy names (the first one wins).</summary>
    public static RuleSet Combine(IReadOnlyList<FileParseResult> files, IEnumerable<RuleDiagnostic>? extra = null)
    {
        ArgumentNullException.ThrowIfNull(files);
        var diagnostics = new List<RuleDiagnostic>(extra ?? []);
        var policies = new List<Policy>();
        var seen = new Dictionary<string, Policy>(StringComparer.Ordinal);
        foreach (var file in files)
        {
            diagnostics.AddRange(file.Diagnostics);
            foreach (var policy in file.Policies)
            {
                if (seen.TryGetValue(policy.Name, out var first))
                {
                    var at = policy.Source!;
                    diagnostics.Add(new RuleDiagnostic(at.File, at.Line, at.Column, "metadata.name",
                        $"policy name '{policy.Name}' is already used at {first.Source}; names must be unique across the rules folder"));
                    continue;
                }

                seen[policy.Name] = policy;
                policies.Add(policy);
            }
        }

        return new RuleSet(policies, diagnostics, files);
    }

    /// <summary>
    /// UTF-8 (a byte-order mark is allowed) or UTF-16 with a byte-order mark, as YAML allows; anything else is an
    /// error at the first byte that is not text.
    /// </summary>
    public static bool TryDecode(string file, ReadOnlySpan<byte> bytes, out string text, out RuleDiagnostic error)
    {
        ArgumentNullException.ThrowIfNull(file);
        error = null!;
        if (bytes is [0xFF, 0xFE, ..] || bytes is [0xFE, 0xFF, ..])
        {
            text = (bytes[0] == 0xFF ? Encoding.Unicode : Encoding.BigEndianUnicode).GetString(bytes[2..]);
            return true;
        }

        if (bytes is [0xEF, 0xBB, 0xBF, ..])
        {
            bytes = bytes[3..];
        }

        for (var i = 0; i < bytes.Length;)
        {
            if (System.Text.Rune.DecodeFromUtf8(bytes[i..], out _, out var consumed) != System.Buffers.OperationStatus.Done)
            {
                var before = Encoding.UTF8.GetString(bytes[..i]);
                var line = before.Count(c => c == '\n') + 1;
                var column = before.Length - (before.LastIndexOf('\n') + 1) + 1;
                text = string.Empty;
                error = new RuleDiagnostic(file, line, column, string.Empty, $"binary content: byte 0x{bytes[i]:X2} is not UTF-8 text (a rule file must be UTF-8 YAML)");
                return false;
            }

            i += consumed;
        }

        text = Encoding.UTF8.GetString(bytes);
        return true;
    }

    private static IEnumerable<string> ListFolder(string folder) => Directory.EnumerateFileSystemEntries(folder, "*", ListOptions);

    /// <summary>Each file named, and each rule file in the folders named; what cannot be found or listed goes to <paramref name="listing"/>.</summary>
    private static void Find(IEnumerable<string> paths, Func<string, IEnumerable<string>> listFolder, bool recursive,
        List<(string Path, EntryStat Stat, bool Named)> files, List<RuleDiagnostic> diagnostics, List<RuleDiagnostic> listing, List<string> folders)
    {
        foreach (var path in paths)
        {
            if (!RuleFileSystem.TryStat(path, out var stat, out var problem, out var missing))
            {
                listing.Add(new RuleDiagnostic(path, 1, 1, string.Empty, missing ? "no such file or folder" : problem!));
            }
            else if (stat.Type == EntryType.Directory)
            {
                folders.Add(path);
                Walk(path, stat, recursive, files, diagnostics, listing, listFolder);
            }
            else
            {
                // A file named on its own is read whatever its extension; ReadRegularFile refuses what is not a file.
                files.Add((path, stat, true));
            }
        }
    }

    /// <summary>Finds the rule files under <paramref name="root"/> (in its subfolders too when <paramref name="recursive"/>), without recursion in the code, skipping hidden names.</summary>
    private static void Walk(string root, EntryStat rootStat, bool recursive, List<(string Path, EntryStat Stat, bool Named)> files, List<RuleDiagnostic> diagnostics, List<RuleDiagnostic> listing,
        Func<string, IEnumerable<string>> listFolder)
    {
        var pending = new Stack<(string Folder, int Depth, IReadOnlyList<(ulong Device, ulong Inode, string Path)> Ancestors)>();
        pending.Push((root, 0, [(rootStat.Device, rootStat.Inode, root)]));
        while (pending.TryPop(out var next))
        {
            var (folder, depth, ancestors) = next;
            List<string> entries;
            try
            {
                entries = [.. listFolder(folder).Order(StringComparer.Ordinal)];
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Security.SecurityException)
            {
                listing.Add(new RuleDiagnostic(folder, 1, 1, string.Empty, $"cannot list the folder: {e.Message}"));
                continue;
            }

            foreach (var entry in entries)
            {
                // Hidden names are skipped: Kubernetes ConfigMap mounts keep ..data and ..2024_01_01 folders of
                // links, so each file is read once, via its visible name; .git is never read.
                var name = Path.GetFileName(entry);
                if (name.StartsWith('.'))
                {
                    continue;
                }

                if (!RuleFileSystem.TryStat(entry, out var stat, out var problem, out var missing))
                {
                    if (!missing || IsRuleFile(name))
                    {
                        diagnostics.Add(new RuleDiagnostic(entry, 1, 1, string.Empty, problem!));
                    }

                    continue;
                }

                if (stat.Type == EntryType.Directory && !recursive)
                {
                    continue;
                }

                if (stat.Type == EntryType.Directory)
                {
                    var loop = ancestors.FirstOrDefault(a => a.Device == stat.Device && a.Inode == stat.Inode);
                    if (loop.Path is not null)
                    {
                        diagnostics.Add(new RuleDiagnostic(entry, 1, 1, string.Empty, $"leads back to the folder {loop.Path} (a link loop): not followed"));
                    }
                    else if (depth + 1 > RuleLimits.MaxFolderDepth)
                    {
                        diagnostics.Add(new RuleDiagnostic(entry, 1, 1, string.Empty, $"folders nest deeper than {RuleLimits.MaxFolderDepth} levels (the limit of the rules loader): not read"));
                    }
                    else
                    {
                        pending.Push((entry, depth + 1, [.. ancestors, (stat.Device, stat.Inode, entry)]));
                    }
                }
                else if (IsRuleFile(name))
                {
                    if (stat.Type == EntryType.Regular)
                    {
                        files.Add((entry, stat, false));
                    }
                    else
                    {
                        diagnostics.Add(new RuleDiagnostic(entry, 1, 1, string.Empty, $"is {RuleFileSystem.Describe(stat.Type)}, not a regular file: not read"));
                    }
                }
            }
        }
    }

    private static bool IsRuleFile(string path) =>
        path.EndsWith(".yaml", StringComparison.OrdinalIgnoreCase) || path.EndsWith(".yml", StringComparison.OrdinalIgnoreCase);
}
