using System.Text.Json.Nodes;

namespace RollbackSentinel.Cli.Tests;

/// <summary>The runtime settings the daemon ships with (its runtimeconfig.json, next to the dll the daemon tests run).</summary>
public sealed class RuntimeConfigTests
{
    private static JsonObject ConfigProperties()
    {
        var file = Path.Combine(AppContext.BaseDirectory, "RollbackSentinel.runtimeconfig.json");
        var config = JsonNode.Parse(File.ReadAllText(file))!.AsObject();
        return config["runtimeOptions"]!["configProperties"]!.AsObject();
    }

    [Fact]
    public void ThreadPoolWorkers_DoNotSpinBeforeTheySleep()
    {
        // Measured in bench/README.md (cluster benchmark): spinning cost a cluster node about a fifth of its CPU.
        Assert.Equal(0, ConfigProperties()["System.Threading.ThreadPool.UnfairSemaphoreSpinLimit"]!.GetValue<int>());
    }

    [Fact]
    public void Gc_IsWorkstation_AsForASidecar()
    {
        Assert.False(ConfigProperties()["System.GC.Server"]!.GetValue<bool>());
    }
}
