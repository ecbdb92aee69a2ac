using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace RollbackSentinel.Rules;

/// <summary>What a path is, once symbolic links are followed.</summary>
internal enum EntryType
{
    Regular,
    Directory,
    NamedPipe,
    Socket,
    CharacterDevice,
    BlockDevice,
    Other,
}

/// <summary>
/// A path's type, size and identity (device and inode: the same folder reached twice is the same), and when its content
/// and its inode last changed (nanoseconds since 1970, 0 where the platform does not say: the portable path).
/// </summary>
internal readonly record struct EntryStat(EntryType Type, long Size, ulong Device, ulong Inode, long Modified = 0, long Changed = 0);

/// <summary>
/// The few file-system questions the loader must ask without ever blocking or reading what is not a file:
/// .NET reports a named pipe, a device and a socket as a "normal" empty file, and opening a pipe blocks until
/// someone writes to it. On Linux this asks the kernel (statx, and open with O_NONBLOCK then a check of the
/// opened file, so a file swapped for a pipe in between is still refused).
/// </summary>
internal static partial class RuleFileSystem
{
    private const int AtFdCwd = -100;
    private const int AtEmptyPath = 0x1000;
    private const uint StatxBasicStats = 0x7ff;
    private const int OReadOnlyNonBlockingCloseOnExecNoTty = 0x800 | 0x80000 | 0x100;
    private const int ENOENT = 2;
    private const int ENOTDIR = 20;
    private const int ELOOP = 40;

    // False once the C library turned out not to have statx (an old or unusual libc): the portable path is used.
    private static bool _native = OperatingSystem.IsLinux();

    /// <summary>Follows links; false with a sentence when the path (or a link's target) does not exist or cannot be examined.</summary>
    public static bool TryStat(string path, out EntryStat stat, out string? error, out bool missing)
    {
        int rc;
        StatxBuffer buffer;
        try
        {
            if (!_native)
            {
                return TryStatPortable(path, out stat, out error, out missing);
            }

            rc = StatX(AtFdCwd, path, 0, StatxBasicStats, out buffer);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            _native = false;
            return TryStatPortable(path, out stat, out error, out missing);
        }

        if (rc != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            stat = default;
            missing = errno is ENOENT or ENOTDIR;
            error = Describe(errno);
            return false;
        }

        stat = buffer.ToStat();
        missing = false;
        error = null;
        return true;
    }

    /// <summary>
    /// Reads a regular file of at most <paramref name="maxBytes"/> bytes; anything else (a pipe, a device, a
    /// socket, a folder, a larger file) is refused with a sentence, without reading from it.
    /// </summary>
    public static byte[]? ReadRegularFile(string path, long maxBytes, out string? error)
    {
        SafeFileHandle handle;
        long size;
        if (_native)
        {
            var fd = Open(path, OReadOnlyNonBlockingCloseOnExecNoTty);
            if (fd < 0)
            {
                error = "cannot read the file: " + Describe(Marshal.GetLastPInvokeError());
                return null;
            }

            handle = new SafeFileHandle(fd, ownsHandle: true);
            if (StatX(fd, string.Empty, AtEmptyPath, StatxBasicStats, out var buffer) != 0)
            {
                error = "cannot read the file: " + Describe(Marshal.GetLastPInvokeError());
                handle.Dispose();
                return null;
            }

            if (Refuse(buffer.ToStat(), maxBytes) is { } refused)
            {
                error = refused;
                handle.Dispose();
                return null;
            }

            size = buffer.ToStat().Size;
        }
        else
        {
            if (!TryStatPortable(path, out var stat, out error, out _))
            {
                return null;
            }

            if (Refuse(stat, maxBytes) is { } refused)
            {
                error = refused;
                return null;
            }

            size = stat.Size;
            try
            {
                handle = File.OpenHandle(path);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                error = "cannot read the file: " + e.Message;
                return null;
            }
        }

        using (handle)
        {
            try
            {
                // Sized for the file plus one byte, growing up to one byte more than allowed: a file that grew
                // since it was examined is read whole or refused, never read without bound.
                var buffer = new byte[(int)Math.Min(size, maxBytes) + 1];
                var total = 0;
                int n;
                while ((n = RandomAccess.Read(handle, buffer.AsSpan(total), total)) > 0)
                {
                    total += n;
                    if (total == buffer.Length)
                    {
                        if (buffer.Length > maxBytes)
                        {
                            break;
                        }

                        Array.Resize(ref buffer, (int)Math.Min(buffer.Length * 2L, maxBytes + 1));
                    }
                }

                if (total > maxBytes)
                {
                    error = TooLarge(maxBytes);
                    return null;
                }

                error = null;
                return buffer[..total];
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                error = "cannot read the file: " + e.Message;
                return null;
            }
        }
    }

    public static string Describe(EntryType type) => type switch
    {
        EntryType.Directory => "a folder",
        EntryType.NamedPipe => "a named pipe",
        EntryType.Socket => "a socket",
        EntryType.CharacterDevice => "a character device",
        EntryType.BlockDevice => "a block device",
        EntryType.Regular => "a regular file",
        _ => "not a regular file",
    };

    private static string? Refuse(EntryStat stat, long maxBytes) =>
        stat.Type != EntryType.Regular ? $"is {Describe(stat.Type)}, not a regular file: not read"
        : stat.Size > maxBytes ? TooLarge(maxBytes)
        : null;

    private static string TooLarge(long maxBytes) =>
        $"the file is larger than {maxBytes / 1024} KiB (the limit of the rules loader): not read";

    private static string Describe(int errno) => errno switch
    {
        ENOENT => "no such file or folder (or a symbolic link to nothing)",
        ELOOP => "too many levels of symbolic links (a link loop)",
        _ => Marshal.GetPInvokeErrorMessage(errno),
    };

    private static bool TryStatPortable(string path, out EntryStat stat, out string? error, out bool missing)
    {
        try
        {
            FileSystemInfo info = Directory.Exists(path) ? new DirectoryInfo(path) : new FileInfo(path);
            if (info.LinkTarget is not null)
            {
                info = info.ResolveLinkTarget(returnFinalTarget: true) ?? info;
            }

            if (!info.Exists)
            {
                stat = default;
                missing = true;
                error = Describe(ENOENT);
                return false;
            }

            var isDir = info.Attributes.HasFlag(FileAttributes.Directory);
            stat = new EntryStat(isDir ? EntryType.Directory : EntryType.Regular, isDir ? 0 : ((FileInfo)info).Length, 0,
                (ulong)StringComparer.Ordinal.GetHashCode(Path.GetFullPath(info.FullName)));
            missing = false;
            error = null;
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            stat = default;
            missing = false;
            error = e.Message;
            return false;
        }
    }

    [LibraryImport("libc", EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int StatX(int dirFd, string path, int flags, uint mask, out StatxBuffer buffer);

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    /// <summary>struct statx (linux/stat.h): the same layout on every architecture.</summary>
    [StructLayout(LayoutKind.Explicit, Size = 256)]
    private struct StatxBuffer
    {
        [FieldOffset(28)]
        public ushort Mode;

        [FieldOffset(32)]
        public ulong Inode;

        [FieldOffset(40)]
        public ulong Size;

        [FieldOffset(96)]
        public long ChangedSeconds;

        [FieldOffset(104)]
        public uint ChangedNanoseconds;

        [FieldOffset(112)]
        public long ModifiedSeconds;

        [FieldOffset(120)]
        public uint ModifiedNanoseconds;

        [FieldOffset(136)]
        public uint DeviceMajor;

        [FieldOffset(140)]
        public uint DeviceMinor;

        public readonly EntryStat ToStat() => new(
            (Mode & 0xF000) switch
            {
                0x8000 => EntryType.Regular,
                0x4000 => EntryType.Directory,
                0x1000 => EntryType.NamedPipe,
                0xC000 => EntryType.Socket,
                0x2000 => EntryType.CharacterDevice,
                0x6000 => EntryType.BlockDevice,
                _ => EntryType.Other,
            },
            (long)Math.Min(Size, long.MaxValue),
            ((ulong)DeviceMajor << 32) | DeviceMinor,
            Inode,
            (ModifiedSeconds * 1_000_000_000) + ModifiedNanoseconds,
            (ChangedSeconds * 1_000_000_000) + ChangedNanoseconds);
    }
}
