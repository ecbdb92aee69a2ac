using RollbackSentinel.Testing.VictoriaMetrics;

namespace RollbackSentinel.Cli.Tests.Backtest;

/// <summary>
/// A real VictoriaMetrics holding exactly the samples <see cref="ScenarioHistory"/> backfills into Prometheus (imported
/// through <c>/api/v1/import/prometheus</c>), and daemon settings naming it as a backend: <see cref="SettingsPath"/> has
/// <c>backends: {vm: {type: victoriametrics, url: ...}}</c> (policies pick it with <c>spec.backend: vm</c>),
/// <see cref="DefaultVmSettingsPath"/> the same with <c>defaultBackend: vm</c>. Their <c>prometheus:</c> block points at a
/// port nothing listens on, so a query that went to the default backend by mistake fails.
/// </summary>
public sealed class VictoriaMetricsScenarioHistory : IAsyncLifetime
{
    private static readonly TimeSpan StartBudget = TimeSpan.FromSeconds(90);

    private VictoriaMetricsServer? _server;
    private DirectoryInfo? _folder;

    public VictoriaMetricsServer Server => _server ?? throw new InvalidOperationException("VictoriaMetrics has not been started.");

    public Uri BaseAddress => Server.BaseAddress;

    /// <summary>Settings with the backend <c>vm</c>; the default backend stays the (unreachable) <c>prometheus:</c> block.</summary>
    public string SettingsPath { get; private set; } = string.Empty;

    /// <summary>Settings with the backend <c>vm</c> as <c>defaultBackend</c>.</summary>
    public string DefaultVmSettingsPath { get; private set; } = string.Empty;

    public async Task InitializeAsync()
    {
        using var budget = new CancellationTokenSource(StartBudget);
        _server = await VictoriaMetricsServer.StartAsync(budget.Token);
        await _server.LoadPrometheusTextAsync(ScenarioHistory.Write().RenderPrometheusText(), budget.Token);

        _folder = Directory.CreateTempSubdirectory("sentinel-vm-settings-");
        var backends = $"""
            prometheus:
              url: http://127.0.0.1:{Testing.Net.FreePort.Next()}
            backends:
              vm:
                type: victoriametrics
                url: {_server.BaseAddress}

            """;
        SettingsPath = Path.Combine(_folder.FullName, "sentinel.yaml");
        await File.WriteAllTextAsync(SettingsPath, backends, budget.Token);
        DefaultVmSettingsPath = Path.Combine(_folder.FullName, "sentinel-default-vm.yaml");
        await File.WriteAllTextAsync(DefaultVmSettingsPath, backends + "defaultBackend: vm\n", budget.Token);
    }

    public async Task DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }

        _folder?.Delete(recursive: true);
    }
}
