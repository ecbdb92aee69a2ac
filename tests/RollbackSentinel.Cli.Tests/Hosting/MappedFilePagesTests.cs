using System.Runtime.InteropServices;
using RollbackSentinel.Hosting;

namespace RollbackSentinel.Cli.Tests.Hosting;

/// <summary>
/// Which mappings the sidecar's start-up release drops (only its executable's, only what can be read back from the file
/// unchanged), and that dropping them from a running process (this test host) loses nothing.
/// </summary>
public sealed class MappedFilePagesTests
{
    private const string Smaps = """
        00400000-00405000 r--p 00000000 fe:00 1001                               /app/rollback-sentinel
        Size:                 20 kB
        Rss:                  20 kB
        Anonymous:             0 kB
        AnonHugePages:         0 kB
        Swap:                  0 kB
        VmFlags: rd mr mw me dw sd
        00405000-0173c000 r-xp 00005000 fe:00 1001                               /app/rollback-sentinel
        Size:              19676 kB
        Rss:               16300 kB
        Anonymous:             0 kB
        AnonHugePages:         0 kB
        Swap:                  0 kB
        VmFlags: rd ex mr mw me dw sd
        023ce000-023d0000 r--p 01fce000 fe:00 1001                               /app/rollback-sentinel
        Size:                  8 kB
        Rss:                   8 kB
        Anonymous:             8 kB
        AnonHugePages:         0 kB
        Swap:                  0 kB
        023d0000-0313b000 rw-p 01fd0000 fe:00 1001                               /app/rollback-sentinel
        Size:              13740 kB
        Rss:               13200 kB
        Anonymous:           800 kB
        Swap:                  0 kB
        0313b000-031d0000 rw-p 00000000 00:00 0                                  [heap]
        Rss:                1700 kB
        Anonymous:          1700 kB
        7f0000000000-7f0000400000 rw-p 00000000 00:00 0 
        Rss:                4096 kB
        Anonymous:          4096 kB
        7f1000000000-7f1000200000 r-xp 00000000 fe:00 2002                       /usr/lib/x86_64-linux-gnu/libcrypto.so.3
        Rss:                1900 kB
        Anonymous:             0 kB
        Swap:                  0 kB
        7f1000200000-7f1000300000 r--p 00200000 fe:00 2002                       /usr/lib/x86_64-linux-gnu/libcrypto.so.3
        Rss:                 400 kB
        Anonymous:             0 kB
        Swap:                 12 kB
        7f1000300000-7f1000301000 r--s 00000000 fe:00 3003                       /data/sentinel.db-shm
        Rss:                   4 kB
        Anonymous:             0 kB
        7f1000400000-7f1000410000 r--p 00000000 fe:00 4004                       /opt/never-touched.so
        Rss:                   0 kB
        Anonymous:             0 kB
        7f1000500000-7f1000510000 r--p 00000000 fe:00 5005                       /opt/odd.so
        Rss:                  12 kB
        Anonymous:          junk
        7f1000600000-7f1000610000 r--p 00000000 fe:00 1001                       /app/rollback-sentinel (deleted)
        Rss:                  12 kB
        Anonymous:             0 kB
        7f1000700000-7f1000710000 r--p 00010000 fe:00 1001                       /app/rollback-sentinel
        Rss:                  12 kB
        7f1000800000-7f1000810000 r--p 00020000 fe:00 1001                       /app/rollback-sentinel
        Rss:                  12 kB
        Anonymous:             0 kB
        Swap:                  4 kB
        7ffd00000000-7ffd00001000 r-xp 00000000 00:00 0                          [vdso]
        Rss:                   4 kB
        Anonymous:             0 kB
        """;

    [Fact]
    public void Releasable_OnlyTheExecutablesUnwrittenReadOnlyPrivateMappingsWithResidentPages()
    {
        var regions = MappedFilePages.Releasable(Smaps, "/app/rollback-sentinel");

        // Not: the relocated RELRO page (anonymous), .data (writable), the heap and anonymous memory, the libraries (not the
        // executable), a shared mapping, nothing resident, a field that does not parse, a replaced file ("(deleted)"), a
        // mapping without an Anonymous field, a swapped page.
        Assert.Equal(
            [
                new MappedFilePages.Region(0x00400000, 0x00405000, 20 * 1024),
                new MappedFilePages.Region(0x00405000, 0x0173c000, 16300 * 1024),
            ],
            regions);
    }

    [Fact]
    public void Releasable_ALibrary_WhenAskedForIt()
    {
        var regions = MappedFilePages.Releasable(Smaps, "/usr/lib/x86_64-linux-gnu/libcrypto.so.3");

        Assert.Equal([new MappedFilePages.Region(0x7f1000000000, 0x7f1000200000, 1900 * 1024)], regions);
    }

    [Theory]
    [InlineData("")]
    [InlineData("not smaps at all\nRss: 12 kB")]
    [InlineData("00400000-00405000 r--p 00000000 fe:00 1001 /app/x\nRss: many kB")]
    [InlineData("00400000-00405000 r--p 00000000 fe:00 1001 /app/x\nRss: 20 kB\nSwap: ? kB")]
    [InlineData("00405000-00400000 r--p 00000000 fe:00 1001 /app/x\nRss: 20 kB")]
    public void Releasable_WhatDoesNotParse_IsLeftAlone(string smaps) => Assert.Empty(MappedFilePages.Releasable(smaps, "/app/x"));

    [Fact]
    public void Releasable_PathWithSpaces_IsAFile()
    {
        var regions = MappedFilePages.Releasable("00400000-00401000 r-xp 00000000 fe:00 7 /opt/my app/lib x\nRss: 4 kB\nAnonymous: 0 kB\n", "/opt/my app/lib x");

        Assert.Equal([new MappedFilePages.Region(0x00400000, 0x00401000, 4096)], regions);
    }

    [Fact]
    public void Release_ThisProcess_DropsTheExecutablesPagesAndTheyReadBackTheSame()
    {
        // This test host's executable is the dotnet host. Its first mapping starts with the ELF header: touch it (so it is
        // resident whatever ran before), release, and read it again, from the file.
        var executable = Environment.ProcessPath!;
        var first = FirstMapping(executable);
        var before = ReadBytes(first, 4);
        Assert.Equal([0x7f, (byte)'E', (byte)'L', (byte)'F'], before);
        var regions = MappedFilePages.Releasable(File.ReadAllText("/proc/self/smaps"), executable);
        var residentBefore = regions.Sum(r => PresentPages(r.Start, r.End));

        var released = MappedFilePages.Release();
        var residentAfter = regions.Sum(r => PresentPages(r.Start, r.End));

        Assert.True(released >= 4096, $"released {released} bytes of {regions.Count} mappings");
        // Gone from the page table (the host's own code hardly runs once started; a page touched again meanwhile is allowed).
        Assert.True(residentAfter < residentBefore, $"{residentBefore} pages present before, {residentAfter} after");
        Assert.Equal(before, ReadBytes(first, 4));
    }

    /// <summary>Pages of [start, end) mapped in this process: bit 63 of their /proc/self/pagemap entries.</summary>
    private static int PresentPages(ulong start, ulong end)
    {
        const int page = 4096;
        using var pagemap = File.OpenRead("/proc/self/pagemap");
        pagemap.Position = (long)(start / page * 8);
        var entries = new byte[(end - start) / page * 8];
        pagemap.ReadExactly(entries);
        var present = 0;
        for (var i = 0; i < entries.Length; i += 8)
        {
            present += (int)(BitConverter.ToUInt64(entries, i) >> 63);
        }

        return present;
    }

    private static nint FirstMapping(string executable)
    {
        foreach (var line in File.ReadLines("/proc/self/maps"))
        {
            if (line.EndsWith(" " + executable, StringComparison.Ordinal) && line.Split(' ')[1].StartsWith("r--p", StringComparison.Ordinal))
            {
                return (nint)Convert.ToInt64(line[..line.IndexOf('-', StringComparison.Ordinal)], 16);
            }
        }

        throw new InvalidOperationException($"no read-only mapping of {executable} in /proc/self/maps");
    }

    private static byte[] ReadBytes(nint address, int count)
    {
        var bytes = new byte[count];
        Marshal.Copy(address, bytes, 0, count);
        return bytes;
    }
}
