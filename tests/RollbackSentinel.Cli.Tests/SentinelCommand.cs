namespace RollbackSentinel.Cli.Tests;

/// <summary>
/// How a test starts rollback-sentinel as its own process. scripts/test publishes the Native AOT executable the
/// image ships and names it in ROLLBACK_SENTINEL_EXECUTABLE, so these tests run what users run. Without the variable
/// (an IDE, or <c>dotnet test</c> on one project) they run this build's <c>dotnet RollbackSentinel.dll</c>: same
/// code, no publish of several minutes first.
/// </summary>
internal static class SentinelCommand
{
    public const string Variable = "ROLLBACK_SENTINEL_EXECUTABLE";

    /// <summary>The program and the arguments before the verb: <c>[executable]</c> or <c>["dotnet", ".../RollbackSentinel.dll"]</c>.</summary>
    public static IReadOnlyList<string> Line { get; } = Resolve();

    /// <summary>The program to start.</summary>
    public static string Program => Line[0];

    /// <summary>The command line to start it with <paramref name="args"/>.</summary>
    public static string[] With(IEnumerable<string> args) => [.. Line.Skip(1), .. args];

    /// <summary>The command, quoted for sh.</summary>
    public static string Shell => string.Join(' ', Line.Select(a => $"'{a}'"));

    private static string[] Resolve()
    {
        var executable = Environment.GetEnvironmentVariable(Variable);
        if (string.IsNullOrEmpty(executable))
        {
            return ["dotnet", Path.Combine(AppContext.BaseDirectory, "RollbackSentinel.dll")];
        }

        var full = Path.GetFullPath(executable);
        // Named but missing is a broken setup, not a reason to test something else silently.
        return File.Exists(full) ? [full] : throw new FileNotFoundException($"{Variable} names {full}, which does not exist (run scripts/publish)", full);
    }
}
