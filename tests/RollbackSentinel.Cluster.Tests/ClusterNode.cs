using System.Globalization;
using System.Text;
using System.Text.Json;
using RollbackSentinel.Cli.Tests.Daemon;

namespace RollbackSentinel.Cluster.Tests;

/// <summary>
/// One sentinel of the cluster: its own workspace (a copy of the rules, its own port), its own <c>node.id</c>, the
/// shared PostgreSQL. It can be killed, frozen, woken and started again under the same id, as a container restart would.
/// </summary>
internal sealed class ClusterNode : IAsyncDisposable
{
    private readonly IReadOnlyDictionary<string, string> _environment;
    private readonly StringBuilder _earlierLogs = new();
    private SentinelProcess? _process;

    public ClusterNode(string id, SentinelWorkspace workspace, string connectionString)
    {
        Id = id;
        Workspace = workspace;
        Api = new SentinelApi(workspace.BaseAddress);

        // Three daemons, PostgreSQL and Prometheus share a small machine: a slow answer is not a failure here.
        Api.Http.Timeout = TimeSpan.FromSeconds(30);
        _environment = new Dictionary<string, string>
        {
            ["SENTINEL__NODE__ID"] = id,
            ["SENTINEL__STORAGE__POSTGRES__CONNECTIONSTRING"] = connectionString,
        };
    }

    public string Id { get; }

    public SentinelWorkspace Workspace { get; }

    public SentinelApi Api { get; }

    public bool IsRunning => _process is not null;

    public SentinelProcess Process => _process ?? throw new InvalidOperationException($"node {Id} is not running");

    /// <summary>Everything this node logged, over all its runs.</summary>
    public string Log => _earlierLogs + (_process?.Log ?? string.Empty);

    /// <summary>Starts the daemon and waits until it is ready.</summary>
    public async Task StartAsync()
    {
        if (_process is not null)
        {
            throw new InvalidOperationException($"node {Id} is already running");
        }

        _process = await SentinelProcess.StartAsync(Workspace, ["run", "--config", Workspace.ConfigPath], _environment, within: ClusterRig.Generous);
    }

    /// <summary>kill -9: no shutdown code runs.</summary>
    public async Task KillAsync()
    {
        var process = Process;
        await process.KillAsync();
        _earlierLogs.Append(process.Log).AppendLine($"--- node {Id} killed (SIGKILL)");
        await process.DisposeAsync();
        _process = null;
    }

    public Task FreezeAsync() => Process.SignalAsync("STOP");

    public Task WakeAsync() => Process.SignalAsync("CONT");

    /// <summary>This node's <c>/metrics</c>, parsed.</summary>
    public async Task<MetricsText> MetricsAsync()
    {
        using var response = await Api.Http.GetAsync("metrics");
        response.EnsureSuccessStatusCode();
        return MetricsText.Parse(await response.Content.ReadAsStringAsync());
    }

    /// <summary>When each policy was last evaluated on this node (its runner's last evaluation), by policy name.</summary>
    public async Task<IReadOnlyDictionary<string, DateTimeOffset>> LastEvaluationsAsync()
    {
        var policies = await Api.GetJsonAsync("api/v1/policies");
        var result = new Dictionary<string, DateTimeOffset>(StringComparer.Ordinal);
        foreach (var p in policies.EnumerateArray())
        {
            if (p.GetProperty("lastEvaluatedAt") is { ValueKind: JsonValueKind.String } at)
            {
                result[p.GetProperty("name").GetString()!] = DateTimeOffset.Parse(at.GetString()!, CultureInfo.InvariantCulture);
            }
        }

        return result;
    }

    public async Task<int> ReadinessStatusAsync()
    {
        using var response = await Api.Http.GetAsync("readyz");
        return (int)response.StatusCode;
    }

    public async ValueTask DisposeAsync()
    {
        Api.Dispose();
        if (_process is not null)
        {
            // SIGKILL ends a frozen process too.
            await _process.DisposeAsync();
            _process = null;
        }

        Workspace.Dispose();
    }
}
