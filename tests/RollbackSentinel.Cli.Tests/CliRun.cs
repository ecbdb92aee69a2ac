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

/// <summary>Policy documents for tests: the common header (name, a webhook target, schedule) around given triggers.</summary>
internal static class PolicyYaml
{
    /// <summary>A valid trigger list (for <see cref="WithWebhook"/>): rollback when over 5% of requests fail.</summary>
    public const string ErrorRateTrigger = """
        - name: errors
          errorRate:
            errors: sum(rate(http_requests_total{code=~"5.."}[1m]))
            total: sum(rate(http_requests_total[1m]))
            max: 0.05
            minTotal: 0.5
          action: rollback
        """;

    /// <param name="name">metadata.name.</param>
    /// <param name="triggers">The trigger list, written from column 0 (<c>- name: ...</c>).</param>
    /// <param name="interval">The schedule interval, or null for none (the default).</param>
    public static string WithWebhook(string name, string triggers, string? interval = "15s")
    {
        var schedule = interval is null ? string.Empty : $"  schedule:\n    interval: {interval}\n";
        var indented = string.Join('\n', triggers.Split('\n').Select(l => l.Length == 0 ? l : "    " + l));
        return $"apiVersion: rollback-sentinel/v1\nkind: RollbackPolicy\nmetadata:\n  name: {name}\nspec:\n  target:\n    webhook:\n      url: http://127.0.0.1:9/rollback\n{schedule}  triggers:\n{indented}\n";
    }
}
