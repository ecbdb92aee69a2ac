using RollbackSentinel.Hosting;

namespace RollbackSentinel.Cli.Tests.Hosting;

/// <summary><c>node.id</c>: this sentinel's instance id (its leases), the host name unless set, checked like every setting.</summary>
public sealed class NodeSettingsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("node-settings-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private SettingsLoader.Result Load(Dictionary<string, string> environment, string? config = null) =>
        SettingsLoader.Load(config, new Dictionary<string, string?> { ["rules"] = _dir }, environment: environment);

    [Fact]
    public void Load_NoNodeId_IsTheHostName()
    {
        var result = Load([]);

        Assert.Empty(result.Problems);
        Assert.Equal(System.Net.Dns.GetHostName(), result.Options.Node.Id);
    }

    [Fact]
    public void Load_NodeIdInTheFileAndTheEnvironment_TheEnvironmentWins()
    {
        var config = Path.Combine(_dir, "sentinel.yaml");
        File.WriteAllText(config, "node:\n  id: sentinel-from-file\n");

        var fromFile = Load([], config);
        var fromEnvironment = Load(new() { ["SENTINEL__NODE__ID"] = "sentinel-7" }, config);

        Assert.Empty(fromFile.Problems);
        Assert.Equal("sentinel-from-file", fromFile.Options.Node.Id);
        Assert.Empty(fromEnvironment.Problems);
        Assert.Equal("sentinel-7", fromEnvironment.Options.Node.Id);
    }

    [Theory]
    [InlineData("   ", "must not be empty: it names this sentinel among those sharing a store (default: the host name)")]
    [InlineData("sentinel\n0", "must not contain control characters (a line break, a tab)")]
    [InlineData("sentinel\t0", "must not contain control characters (a line break, a tab)")]
    public void Load_BadNodeIdInTheEnvironment_IsAnErrorNamingTheVariableAndTheKey(string id, string why)
    {
        var result = Load(new() { ["SENTINEL__NODE__ID"] = id });

        Assert.Equal([$"SENTINEL__NODE__ID: node:id: {why}"], result.Invalid);
    }

    [Fact]
    public void Load_NodeIdTooLongInTheFile_IsAnErrorAtItsLine()
    {
        var config = Path.Combine(_dir, "sentinel.yaml");
        File.WriteAllText(config, $"node:\n  id: {new string('x', 129)}\n");

        var result = Load([], config);

        Assert.Equal([$"{config}:2:7: node:id: must be at most 128 characters (it has 129)"], result.Invalid);
        Assert.Equal(new string('x', 128), SettingsLoader.Load(null, new Dictionary<string, string?> { ["rules"] = _dir, ["node:id"] = new string('x', 128) }, environment: new Dictionary<string, string>()).Options.Node.Id);
    }

    [Fact]
    public async Task Run_BadNodeId_ExitsTwoNamingTheSetting()
    {
        var config = Path.Combine(_dir, "sentinel.yaml");
        await File.WriteAllTextAsync(config, $"rules: {_dir}\nnode:\n  id: \"  \"\n");

        var run = await CliRun.RunAsync("run", "--config", config);

        Assert.Equal(2, run.ExitCode);
        Assert.Equal(
            [$"error: {config}:3:7: node:id: must not be empty: it names this sentinel among those sharing a store (default: the host name)"],
            run.Error.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }
}
