using System.Text;

namespace RollbackSentinel.Output;

/// <summary>
/// <c>--output FILE</c>: the whole text written at once, through a temporary file in the same folder renamed over the
/// target, so a reader (a CI step attaching the report) never sees half a file and a failed run leaves the old one.
/// </summary>
internal static class OutputFile
{
    /// <summary>Why <paramref name="path"/> cannot be written (its folder is missing or is a file, it is a folder), or null when it may be.</summary>
    public static string? CheckWritable(string path)
    {
        var full = Path.GetFullPath(path);
        if (Directory.Exists(full))
        {
            return "it is a folder";
        }

        var folder = Path.GetDirectoryName(full);
        return folder is not null && !Directory.Exists(folder) ? $"the folder {folder} does not exist" : null;
    }

    /// <summary>Writes <paramref name="text"/> (UTF-8, no BOM) to <paramref name="path"/>, replacing it; IO errors are the caller's.</summary>
    public static async Task WriteAsync(string path, string text, CancellationToken ct)
    {
        var full = Path.GetFullPath(path);
        var folder = Path.GetDirectoryName(full) ?? ".";
        var temp = Path.Combine(folder, $".{Path.GetFileName(full)}.{Guid.NewGuid():N}.tmp");
        try
        {
            await File.WriteAllTextAsync(temp, text, new UTF8Encoding(encoderShouldEmitUTF8Identifier: false), ct).ConfigureAwait(false);

            // A report that replaces one keeps its permissions (one made private stays private).
            if (!OperatingSystem.IsWindows() && File.Exists(full))
            {
                File.SetUnixFileMode(temp, File.GetUnixFileMode(full));
            }

            File.Move(temp, full, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp))
            {
                File.Delete(temp);
            }
        }
    }
}
