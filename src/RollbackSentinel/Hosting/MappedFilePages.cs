using System.Globalization;
using System.Runtime.InteropServices;

namespace RollbackSentinel.Hosting;

/// <summary>
/// Drops this process's page-table entries for the pages of its own executable's read-only mappings (code, read-only data,
/// unwind tables) once the daemon has started. Starting touches most of the executable (the host's build, the
/// configuration, the rules' parser, the store's migration), and those pages would otherwise stay resident for the life of
/// a sidecar that then runs a small part of it. The pages stay in the page cache; what runs next faults its pages back in
/// (with the kernel's fault-around, up to 64 KB at a time), so what is resident afterwards is what running uses. The
/// executable is laid out for that: the methods a running daemon calls come first (<c>aot-order.txt.gz</c>, docs/aot.md).
/// </summary>
/// <remarks>
/// <c>MADV_DONTNEED</c> on a private file mapping is lossless only for pages that were never written: a written (copy on
/// write) page would be replaced by the file's content. So only mappings that cannot be written (no <c>w</c>) and hold no
/// anonymous or swapped page, as <c>/proc/self/smaps</c> reports them, are released, and only the executable's own
/// (<c>/proc/self/exe</c>): it is mapped once, at a fixed address, before anything runs, and never unmapped or
/// re-protected (Native AOT does not patch its code), so nothing can change a mapping between the read of <c>smaps</c>
/// and the <c>madvise</c>. Libraries are left alone: one loaded or unloaded on another thread at that moment could put
/// other memory at an address just read, and a runtime that relocates an image makes its pages writable for a while.
/// (A debugger's breakpoint written in that instant would be lost; the release runs once.) Linux only; elsewhere, or
/// when <c>/proc</c> cannot be read, nothing is done.
/// </remarks>
internal static partial class MappedFilePages
{
    private const int MadvDontNeed = 4;

    /// <summary>Releases what <see cref="Releasable"/> finds for this process's executable in <c>/proc/self/smaps</c>; returns
    /// the resident bytes of the mappings released.</summary>
    public static long Release()
    {
        if (!OperatingSystem.IsLinux())
        {
            return 0;
        }

        // The path /proc/self/exe names, as smaps prints it (null when the file was deleted or replaced).
        if (Environment.ProcessPath is not { Length: > 0 } executable)
        {
            return 0;
        }

        string smaps;
        try
        {
            smaps = File.ReadAllText("/proc/self/smaps");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return 0;
        }

        long released = 0;
        foreach (var region in Releasable(smaps, executable))
        {
            if (Madvise((nint)region.Start, (nuint)(region.End - region.Start), MadvDontNeed) == 0)
            {
                released += region.ResidentBytes;
            }
        }

        return released;
    }

    /// <summary>
    /// The mappings of <paramref name="file"/> in <paramref name="smaps"/> (the text of <c>/proc/PID/smaps</c>) whose pages can
    /// be dropped without loss: private, not writable, with something resident, and whose <c>Anonymous</c> and (where the
    /// kernel has them) <c>AnonHugePages</c> and <c>Swap</c> fields are zero. A mapping without an <c>Anonymous</c> field,
    /// or with a field that does not parse, is left alone.
    /// </summary>
    internal static IReadOnlyList<Region> Releasable(string smaps, string file)
    {
        var regions = new List<Region>();
        Mapping? current = null;
        foreach (var line in smaps.AsSpan().EnumerateLines())
        {
            if (line.IsEmpty)
            {
                continue;
            }

            if (Mapping.TryParseHeader(line, file) is { } header)
            {
                Add(current);
                current = header;
                continue;
            }

            if (current is null)
            {
                continue;
            }

            var colon = line.IndexOf(':');
            if (colon <= 0)
            {
                continue;
            }

            var field = line[..colon];
            var kilobytes = Kilobytes(line[(colon + 1)..]);
            if (field.SequenceEqual("Rss"))
            {
                current.Resident = kilobytes * 1024;
            }
            else if (field.SequenceEqual("Anonymous") || field.SequenceEqual("AnonHugePages") || field.SequenceEqual("Swap"))
            {
                current.Written |= kilobytes != 0;
                current.AnonymousSeen |= field.SequenceEqual("Anonymous");
            }
        }

        Add(current);
        return regions;

        void Add(Mapping? mapping)
        {
            if (mapping is { Releasable: true, Written: false, AnonymousSeen: true, Resident: > 0 })
            {
                regions.Add(new Region(mapping.Start, mapping.End, mapping.Resident));
            }
        }
    }

    private static long Kilobytes(ReadOnlySpan<char> value)
    {
        value = value.Trim();
        var space = value.IndexOf(' ');
        return long.TryParse(space < 0 ? value : value[..space], NumberStyles.None, CultureInfo.InvariantCulture, out var number) ? number : -1;
    }

    [LibraryImport("libc", EntryPoint = "madvise")]
    private static partial int Madvise(nint address, nuint length, int advice);

    /// <summary>One mapping whose pages <see cref="Release"/> may drop: its address range and what of it was resident.</summary>
    internal readonly record struct Region(ulong Start, ulong End, long ResidentBytes);

    private sealed class Mapping(ulong start, ulong end, bool releasable)
    {
        public ulong Start { get; } = start;

        public ulong End { get; } = end;

        public bool Releasable { get; } = releasable;

        public long Resident { get; set; }

        /// <summary>An anonymous (written, copy-on-write) or swapped page, or a field that did not parse: never released.</summary>
        public bool Written { get; set; }

        /// <summary>Whether the <c>Anonymous</c> field was read: without it nothing says the pages are unwritten.</summary>
        public bool AnonymousSeen { get; set; }

        /// <summary>"00405000-0173c000 r-xp 00005000 fe:00 1234   /app/rollback-sentinel", or null for a field line; releasable
        /// when it maps <paramref name="file"/>, private and not writable.</summary>
        public static Mapping? TryParseHeader(ReadOnlySpan<char> line, string file)
        {
            var dash = line.IndexOf('-');
            var space = line.IndexOf(' ');
            if (dash <= 0 || space <= dash
                || !ulong.TryParse(line[..dash], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var start)
                || !ulong.TryParse(line[(dash + 1)..space], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var end))
            {
                return null;
            }

            var rest = line[(space + 1)..];
            if (rest.Length < 4)
            {
                return null;
            }

            var permissions = rest[..4];
            // The path is the sixth column; it is empty for anonymous memory and in brackets for [heap], [stack], [vdso].
            var fields = rest[4..].TrimStart();
            for (var skip = 0; skip < 3 && !fields.IsEmpty; skip++)
            {
                var next = fields.IndexOf(' ');
                fields = next < 0 ? [] : fields[next..].TrimStart();
            }

            // The path as the kernel prints it; a replaced executable reads "... (deleted)" and is left alone.
            var isFile = fields.TrimEnd().SequenceEqual(file);
            var readOnlyPrivate = permissions[0] == 'r' && permissions[1] == '-' && permissions[3] == 'p';
            return new Mapping(start, end, isFile && readOnlyPrivate && end > start);
        }
    }
}
