using RollbackSentinel.Cli;

namespace RollbackSentinel.Cli.Tests;

/// <summary>Runs the real command line in-process and captures what it prints.</summary>
internal sealed record CliRun(int ExitCode, string Output, string Error)
{
    public string[] OutputLines => Output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    public static async Task<CliRun> RunAsync(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var code = await CliApp.RunAsync(args, output, error);
        return new CliRun(code, output.ToString(), error.ToString());
    }
}

/// <summary>A temporary folder of rule files, deleted when the test ends.</summary>
internal sealed class RulesFolder : IDisposable
{
    public RulesFolder(params (string Name, string Yaml)[] files)
    {
        Path = Directory.CreateTempSubdirectory("sentinel-rules-").FullName;
        foreach (var (name, yaml) in files)
        {
            File.WriteAllText(System.IO.Path.Combine(Path, name), yaml);
        }
    }

    public string Path { get; }

    public void Dispose() => Directory.Delete(Path, recursive: true);
}
