using System.Globalization;
using System.Runtime.InteropServices;

namespace RollbackSentinel.Hosting;

/// <summary>
/// Drops this process's page-table entries for the pages of its read-only, private file mappings (the executable's code,
/// read-only data and unwind tables; the shared libraries' likewise) once the daemon has started. Starting touches most of
/// the executable (the host's build, the configuration, the rules' parser, the store's migration), and those pages would
/// otherwise stay resident for the life of a sidecar that then runs a small part of it. The pages stay in the page cache;
/// what runs next faults its pages back in (with the kernel's fault-around, up to 64 KB at a time), so what is resident
/// afterwards is what running uses. The executable is laid out for that: the methods a running daemon calls come first
/// (<c>aot-order.txt</c>, docs/aot.md).
/// </summary>
/// <remarks>
/// <c>MADV_DONTNEED</c> on a private file mapping is lossless only for pages that were never written: a written (copy on
/// write) page would be replaced by the file's content. So only mappings that cannot be written (no <c>w</c>) and hold no
/// anonymous or swapped page, as <c>/proc/self/smaps</c> reports them, are released: the relocated, then write-protected
/// part of a library (RELRO) has anonymous pages and is left alone, as is every writable mapping (<c>.data</c>). A read-only
/// mapping gets no anonymous page later unless the process makes it writable, which the runtime does not do to file
/// mappings. Linux only; elsewhere, or when <c>/proc</c> cannot be read, nothing is done.
/// </remarks>
internal static partial class MappedFilePages
{
    private const int MadvDontNeed = 4;

    /// <summary>Releases what <see cref="Releasable"/> finds in <c>/proc/self/smaps</c>; returns the resident bytes released.</summary>
    public static long Release()
    {
        if (!OperatingSystem.IsLinux())
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
        foreach (var region in Releasable(smaps))
        {
            if (Madvise((nint)region.Start, (nuint)(region.End - region.Start), MadvDontNeed) == 0)
            {
                released += region.ResidentBytes;
            }
        }

        return released;
    }

    /// <summary>
    /// The mappings of <paramref name="smaps"/> (the text of <c>/proc/PID/smaps</c>) whose pages can be dropped without loss: a
    /// file (the path starts with <c>/</c>), private, neither writable nor (as a precaution) executable-and-writable, with no
    /// anonymous, huge anonymous or swapped page, and something resident.
    /// </summary>
    internal static IReadOnlyList<Region> Releasable(string smaps)
    {
        var regions = new List<Region>();
        Mapping? current = null;
        foreach (var range in smaps.AsSpan().EnumerateLines())
        {
            var line = range;
            if (line.IsEmpty)
            {
                continue;
            }

            if (Mapping.TryParseHeader(line) is { } header)
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
            }
        }

        Add(current);
        return regions;

        void Add(Mapping? mapping)
        {
            if (mapping is { Releasable: true, Written: false, Resident: > 0 })
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

    [LibraryImport("libc", EntryPoint = "madvise", SetLastError = true)]
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

        /// <summary>"7f1c2a000000-7f1c2a400000 r-xp 00000000 fe:00 1234   /usr/lib/x/libc.so.6", or null for a field line.</summary>
        public static Mapping? TryParseHeader(ReadOnlySpan<char> line)
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

            var isFile = fields.StartsWith("/");
            var readOnlyPrivate = permissions[0] == 'r' && permissions[1] == '-' && permissions[3] == 'p';
            return new Mapping(start, end, isFile && readOnlyPrivate && end > start);
        }
    }
}
