using System.Reflection;

namespace BlueGreenDemo;

/// <summary>
/// Where the demo finds what it runs: the DemoShop and RollbackSentinel dlls (their build output paths are
/// recorded in this assembly when it is built, see BlueGreenDemo.csproj) and the repository's rules/demo folder.
/// </summary>
public static class DemoBinaries
{
    public static string DemoShopDll => Find("DemoShop");

    public static string SentinelDll => Find("RollbackSentinel");

    /// <summary>rules/demo of the repository holding this build (found by walking up to RollbackSentinel.sln).</summary>
    public static string RulesDirectory
    {
        get
        {
            foreach (var start in new[] { Environment.CurrentDirectory, AppContext.BaseDirectory })
            {
                for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
                {
                    if (File.Exists(Path.Combine(dir.FullName, "RollbackSentinel.sln")))
                    {
                        return Path.Combine(dir.FullName, "rules", "demo");
                    }
                }
            }

            throw new InvalidOperationException($"no RollbackSentinel.sln above {Environment.CurrentDirectory} nor {AppContext.BaseDirectory}: pass the rules folder (--rules rules/demo)");
        }
    }

    private static string Find(string name)
    {
        var path = typeof(DemoBinaries).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .FirstOrDefault(a => a.Key == "DemoBinary:" + name)?.Value;
        if (path is null)
        {
            throw new InvalidOperationException($"this build of BlueGreenDemo does not record where {name}.dll is (build samples/BlueGreenDemo with dotnet build)");
        }

        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"{name}.dll is not where the build put it ({path}); build samples/BlueGreenDemo again", path);
        }

        return path;
    }
}
