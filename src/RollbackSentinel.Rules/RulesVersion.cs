using System.Security.Cryptography;
using System.Text;

namespace RollbackSentinel.Rules;

/// <summary>
/// The version of a set of rule files, the same on every sentinel that loaded the same files: <c>sha256:</c> and the first
/// 12 hex digits of a SHA-256 over each file's path relative to the rules folder, a NUL byte and its content, in ordinal
/// order of the paths. A node whose rules differ from another's shows a different version (<c>/api/v1/cluster</c>).
/// </summary>
public static class RulesVersion
{
    /// <summary>The prefix of every version.</summary>
    public const string Prefix = "sha256:";

    /// <summary>Hex digits of the digest kept: enough to tell versions apart, short enough to read.</summary>
    public const int Digits = 12;

    /// <param name="files">Each file's path relative to the rules folder ('/' between folders) and its bytes.</param>
    public static string Of(IEnumerable<(string RelativePath, ReadOnlyMemory<byte> Content)> files)
    {
        ArgumentNullException.ThrowIfNull(files);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var (path, content) in files.OrderBy(f => f.RelativePath, StringComparer.Ordinal))
        {
            hash.AppendData(Encoding.UTF8.GetBytes(path));
            hash.AppendData([0]);
            hash.AppendData(content.Span);
        }

        return Prefix + Convert.ToHexStringLower(hash.GetHashAndReset())[..Digits];
    }

    /// <summary>
    /// A rule file's path as it enters the version: relative to <paramref name="rulesFolder"/> with '/' between folders, or
    /// its file name when the rules are that one file (<paramref name="rulesFolder"/> null).
    /// </summary>
    public static string RelativePath(string? rulesFolder, string file)
    {
        ArgumentNullException.ThrowIfNull(file);
        var relative = rulesFolder is null ? Path.GetFileName(file) : Path.GetRelativePath(rulesFolder, file);
        return relative.Replace(Path.DirectorySeparatorChar, '/');
    }
}
