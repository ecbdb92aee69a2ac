using System.Text;
using RollbackSentinel.Core.Secrets;

namespace RollbackSentinel.Rules;

/// <summary>
/// Which files a policy may name as secrets (<c>notify.pagerdutyRoutingKeyFile</c>, <c>target.webhook.secretFile</c>,
/// <c>target.kubectl.kubeconfig</c>): only files inside the directories the operator allows
/// (<c>secrets.allowedDirectories</c>, by default <see cref="DefaultDirectory"/>), judged by their real path (symlinks
/// and <c>..</c> resolved), and never the daemon's own credentials or store, nor the Kubernetes service-account
/// token, even inside an allowed directory. Checked when rules are loaded (an error at the field) and again when a
/// file is read, on the path actually opened.
/// </summary>
public sealed class SecretFileAccess : ISecretFileReader
{
    /// <summary>Where secret files named by rules live unless the settings say otherwise (not all of /var/run/secrets).</summary>
    public const string DefaultDirectory = "/var/run/secrets/rollback-sentinel";

    /// <summary>The largest secret file read (a key is a few dozen bytes; a kubeconfig a few KiB).</summary>
    public const int MaxFileBytes = 64 * 1024;

    private const int MaxLinks = 40;

    /// <summary>Never readable by a rule, whatever is allowed: the pod's Kubernetes API credentials.</summary>
    private static readonly string[] NeverAllowed = ["/var/run/secrets/kubernetes.io", "/run/secrets/kubernetes.io"];

    private readonly IReadOnlyList<(string Path, string What)> _reserved;
    private readonly SecretRegistry _registry;

    /// <param name="allowedDirectories">Directories secret files may be in (relative ones from the current directory).</param>
    /// <param name="reserved">Files no rule may name, with what they are ("the API token"), wherever they are.</param>
    /// <param name="registry">Where what is read is registered (default <see cref="SecretRegistry.Shared"/>).</param>
    public SecretFileAccess(IEnumerable<string> allowedDirectories, IEnumerable<(string Path, string What)>? reserved = null, SecretRegistry? registry = null)
    {
        ArgumentNullException.ThrowIfNull(allowedDirectories);
        AllowedDirectories = [.. allowedDirectories.Where(d => !string.IsNullOrWhiteSpace(d))];
        _reserved = [.. reserved ?? []];
        _registry = registry ?? SecretRegistry.Shared;
    }

    /// <summary>The allowed directories as configured.</summary>
    public IReadOnlyList<string> AllowedDirectories { get; }

    /// <summary>Why a policy may not name <paramref name="path"/>, or null when it may.</summary>
    public string? Problem(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (string.IsNullOrWhiteSpace(path))
        {
            return "a secret file path must not be empty";
        }

        string real;
        try
        {
            real = RealPath(path);
        }
        catch (IOException e)
        {
            return $"'{path}' cannot be resolved: {e.Message}";
        }

        return ProblemOf(path, real);
    }

    /// <inheritdoc />
    public Task<string> ReadAsync(string path, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return Task.FromResult(Read(path));
    }

    /// <summary>The file's text (trimmed, without a byte-order mark), if a policy may name it; registered for redaction.</summary>
    /// <exception cref="SecretFileRefusedException">It may not.</exception>
    /// <exception cref="IOException">It cannot be read.</exception>
    public string Read(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (Problem(path) is { } problem)
        {
            throw new SecretFileRefusedException(problem);
        }

        // A secret file is a few bytes: read at once. Its path may have been swapped (a symlink) since it was
        // checked, so what was opened is checked too.
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        if (OpenedPath(stream) is { } opened && ProblemOf(path, opened) is { } swapped)
        {
            throw new SecretFileRefusedException(swapped);
        }

        if (!stream.CanSeek)
        {
            throw new SecretFileRefusedException($"'{path}' is not a regular file");
        }

        var buffer = new byte[MaxFileBytes + 1];
        var read = 0;
        int n;
        while (read < buffer.Length && (n = stream.Read(buffer.AsSpan(read))) > 0)
        {
            read += n;
        }

        if (read > MaxFileBytes)
        {
            throw new SecretFileRefusedException($"'{path}' is larger than {MaxFileBytes / 1024} KiB; a secret file holds one secret");
        }

        var text = Decode(buffer.AsSpan(0, read));
        _registry.Register(text);
        return text;
    }

    /// <summary>
    /// Reads a secret file the operator named in the settings (no directory rule: the operator chose it), trimmed,
    /// without a byte-order mark, and registers it for redaction.
    /// </summary>
    public static string ReadOperatorSecret(string path, SecretRegistry? registry = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        var text = Decode(File.ReadAllBytes(path));
        (registry ?? SecretRegistry.Shared).Register(text);
        return text;
    }

    /// <summary>
    /// The path with every symlink, <c>.</c> and <c>..</c> resolved as the kernel would, component by component (a
    /// <c>..</c> after a symlink leaves the link's target, not the link). Components that do not exist yet are kept
    /// as written, so rules can be checked where the secrets are not mounted (CI).
    /// </summary>
    public static string RealPath(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var absolute = Path.IsPathRooted(path) ? path : Path.Join(Directory.GetCurrentDirectory(), path);
        var root = Path.GetPathRoot(absolute)!;
        var pending = new Stack<string>(Parts(absolute[root.Length..]).Reverse());
        var current = root;
        var links = 0;
        var exists = true;
        while (pending.TryPop(out var part))
        {
            if (part == ".")
            {
                continue;
            }

            if (part == "..")
            {
                current = Path.GetDirectoryName(current) ?? root;
                continue;
            }

            var next = Path.Join(current, part);
            var target = exists ? new FileInfo(next).LinkTarget : null;
            if (target is null)
            {
                exists = exists && Path.Exists(next);
                current = next;
                continue;
            }

            if (++links > MaxLinks)
            {
                throw new IOException($"more than {MaxLinks} symbolic links");
            }

            foreach (var p in Parts(target).Reverse())
            {
                pending.Push(p);
            }

            if (Path.IsPathRooted(target))
            {
                current = Path.GetPathRoot(target)!;
            }
        }

        return current;
    }

    private string? ProblemOf(string given, string real)
    {
        var shown = real == given ? $"'{given}'" : $"'{given}' (really {real})";
        foreach (var (path, what) in _reserved)
        {
            if (SamePath(real, Resolve(path)))
            {
                return $"{shown} is {what}: a rule may never name the daemon's own credentials or store";
            }
        }

        foreach (var never in NeverAllowed)
        {
            if (IsUnder(real, never) || IsUnder(real, Resolve(never)))
            {
                return $"{shown} is under {never}, the Kubernetes service-account credentials: a rule may never name them";
            }
        }

        if (AllowedDirectories.Count == 0)
        {
            return $"{shown} is not allowed: no directory is allowed for secret files (set secrets.allowedDirectories in the daemon's settings)";
        }

        if (!AllowedDirectories.Any(d => IsUnder(real, Resolve(d))))
        {
            return $"{shown} is not in a directory allowed for secret files ({string.Join(", ", AllowedDirectories)}); " +
                "put it there or add its directory to secrets.allowedDirectories in the daemon's settings";
        }

        return null;
    }

    private static string Resolve(string path)
    {
        try
        {
            return RealPath(path);
        }
        catch (IOException)
        {
            return Path.GetFullPath(path);
        }
    }

    private static bool SamePath(string a, string b) => string.Equals(a, b, StringComparison.Ordinal);

    private static bool IsUnder(string path, string directory)
    {
        var dir = directory.TrimEnd(Path.DirectorySeparatorChar);
        return path.Length > dir.Length + 1
            && path.StartsWith(dir, StringComparison.Ordinal)
            && path[dir.Length] == Path.DirectorySeparatorChar;
    }

    private static IEnumerable<string> Parts(string path) =>
        path.Split([Path.DirectorySeparatorChar, Path.AltDirectorySeparatorChar], StringSplitOptions.RemoveEmptyEntries);

    /// <summary>What the kernel opened, on Linux (<c>/proc/self/fd</c>); null elsewhere.</summary>
    private static string? OpenedPath(FileStream stream)
    {
        if (!OperatingSystem.IsLinux())
        {
            return null;
        }

        try
        {
            return new FileInfo($"/proc/self/fd/{stream.SafeFileHandle.DangerousGetHandle()}").LinkTarget;
        }
        catch (IOException)
        {
            return null;
        }
    }

    private static string Decode(ReadOnlySpan<byte> bytes)
    {
        var text = Encoding.UTF8.GetString(bytes);
        return text.TrimStart('\uFEFF').Trim();
    }
}
