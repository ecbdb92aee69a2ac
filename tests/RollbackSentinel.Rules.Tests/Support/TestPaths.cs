namespace RollbackSentinel.Rules.Tests.Support;

/// <summary>Where the repository, its example rules and this project's broken rule files are.</summary>
internal static class TestPaths
{
    private static readonly Lazy<string> Root = new(FindRepoRoot);

    /// <summary>The folder holding RollbackSentinel.sln, found by walking up from the test binaries.</summary>
    public static string RepoRoot => Root.Value;

    public static string ExampleRules => Path.Combine(RepoRoot, "rules");

    public static string Schema => Path.Combine(RepoRoot, "docs", "policy.schema.json");

    /// <summary>The Broken/ folder as copied next to the test assembly.</summary>
    public static string BrokenDir => Path.Combine(AppContext.BaseDirectory, "Broken");

    public static string Broken(string name) => Path.Combine(BrokenDir, name);

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "RollbackSentinel.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"no RollbackSentinel.sln above {AppContext.BaseDirectory}");
    }
}

/// <summary>A folder under the system temp folder, deleted on dispose.</summary>
internal sealed class TempDir : IDisposable
{
    public TempDir()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "rs-rules-tests-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    /// <summary>Writes <paramref name="text"/> to a path relative to this folder, creating folders on the way.</summary>
    public string Write(string relative, string text)
    {
        var full = System.IO.Path.Combine(Path, relative);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(full)!);
        File.WriteAllText(full, text);
        return full;
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
            // A leftover temp folder is not worth failing a test over.
        }
    }
}
