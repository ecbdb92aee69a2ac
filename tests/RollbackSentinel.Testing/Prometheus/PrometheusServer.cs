using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;
using RollbackSentinel.Testing.Net;

namespace RollbackSentinel.Testing.Prometheus;

/// <summary>
/// A real Prometheus on a free loopback port, with history backfilled by promtool before it starts
/// (backfilled blocks are only picked up when Prometheus opens its data directory). Disposing kills
/// the process and deletes its directory, also after a failed start.
/// </summary>
/// <example>
/// <code>
/// await using var server = await PrometheusServer.StartAsync(writer.Render(), ct);
/// var client = new PrometheusClient(http, new PrometheusOptions { BaseAddress = server.BaseAddress });
/// </code>
/// </example>
public sealed class PrometheusServer : IAsyncDisposable
{
    private const int MaxStartAttempts = 5;
    private static readonly TimeSpan PromtoolTimeout = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan ReadyPollInterval = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan ExitTimeout = TimeSpan.FromSeconds(10);

    private readonly DirectoryInfo _root;
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(2) };
    private readonly BoundedLog _log = new();
    private Process? _process;
    private int _disposed;

    private PrometheusServer(DirectoryInfo root)
    {
        _root = root;
        DataDirectory = Path.Combine(root.FullName, "data");
    }

    /// <summary>The server root, e.g. <c>http://127.0.0.1:41234/</c>.</summary>
    public Uri BaseAddress { get; private set; } = new("http://127.0.0.1/");

    /// <summary>The TSDB directory; removed on dispose.</summary>
    public string DataDirectory { get; }

    /// <summary>The last lines Prometheus logged, for diagnosing a failing test.</summary>
    public string RecentLog => _log.ToString();

    /// <summary>Starts Prometheus with <paramref name="openMetricsHistory"/> (null for none) backfilled.</summary>
    public static Task<PrometheusServer> StartAsync(string? openMetricsHistory, CancellationToken cancellationToken) =>
        StartAsync(new PrometheusServerOptions { OpenMetricsHistory = openMetricsHistory }, cancellationToken);

    public static async Task<PrometheusServer> StartAsync(PrometheusServerOptions options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        var prometheus = FindOnPath("prometheus");
        var promtool = FindOnPath("promtool");
        var server = new PrometheusServer(Directory.CreateTempSubdirectory("rollbacksentinel-prometheus-"));
        try
        {
            await server.StartCoreAsync(prometheus, promtool, options, cancellationToken);
            return server;
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        await StopProcessAsync();
        _http.Dispose();
        await ServerProcesses.DeleteDirectoryAsync(_root);
    }

    private async Task StartCoreAsync(string prometheus, string promtool, PrometheusServerOptions options, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(DataDirectory);
        if (!string.IsNullOrEmpty(options.OpenMetricsHistory))
        {
            var historyFile = Path.Combine(_root.FullName, "history.om.txt");
            await File.WriteAllTextAsync(historyFile, options.OpenMetricsHistory, cancellationToken);
            await BackfillAsync(promtool, historyFile, cancellationToken);
        }

        var configFile = Path.Combine(_root.FullName, "prometheus.yml");
        await File.WriteAllTextAsync(configFile, BuildConfig(options.ScrapeConfigsYaml), cancellationToken);

        for (var attempt = 1; ; attempt++)
        {
            var port = FreePort.Next();
            var outcome = await TryStartAsync(prometheus, configFile, port, options, cancellationToken);
            if (outcome == StartOutcome.Ready)
            {
                BaseAddress = new Uri($"http://127.0.0.1:{port}/");
                return;
            }

            var portTaken = outcome == StartOutcome.PortTaken;
            await StopProcessAsync();
            if (!portTaken || attempt == MaxStartAttempts)
            {
                throw new InvalidOperationException(
                    $"Prometheus did not become ready on 127.0.0.1:{port} (attempt {attempt}, {outcome}). Its last output:"
                    + Environment.NewLine + _log);
            }
        }
    }

    private async Task BackfillAsync(string promtool, string historyFile, CancellationToken cancellationToken)
    {
        var info = NewStartInfo(promtool, "tsdb", "create-blocks-from", "openmetrics", historyFile, DataDirectory);
        var (exitCode, output) = await ServerProcesses.RunToExitAsync(info, PromtoolTimeout, cancellationToken);
        if (exitCode != 0)
        {
            throw new InvalidOperationException($"promtool tsdb create-blocks-from openmetrics failed (exit code {exitCode}): {output}");
        }
    }

    private async Task<StartOutcome> TryStartAsync(
        string prometheus, string configFile, int port, PrometheusServerOptions options, CancellationToken cancellationToken)
    {
        var info = NewStartInfo(
            prometheus,
            [
                $"--config.file={configFile}",
                $"--storage.tsdb.path={DataDirectory}",
                $"--web.listen-address=127.0.0.1:{port}",

                // Fixture history has fixed timestamps; the default 15d retention would delete it as time passes.
                "--storage.tsdb.retention.time=100y",
                .. options.ExtraArguments,
            ]);
        var process = new Process { StartInfo = info };
        process.OutputDataReceived += (_, e) => _log.Add(e.Data);
        process.ErrorDataReceived += (_, e) => _log.Add(e.Data);
        _log.Add($"--- starting prometheus on 127.0.0.1:{port}");
        _process = process;
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        var readyUri = new Uri($"http://127.0.0.1:{port}/-/ready");

        // Ready, and ours: another process may have won the race for the port.
        return await ServerProcesses.WaitUntilUpAsync(
            process,
            _log,
            "prometheus",
            options.StartupTimeout,
            ReadyPollInterval,
            async ct => !await IsReadyAsync(readyUri, ct) ? null : await ServesOurDataAsync(port, ct) ? StartOutcome.Ready : StartOutcome.PortTaken,
            () => _log.Contains("address already in use"),
            cancellationToken);
    }

    private Task<bool> IsReadyAsync(Uri readyUri, CancellationToken cancellationToken) => ServerProcesses.IsReadyAsync(_http, readyUri, cancellationToken);

    private async Task<bool> ServesOurDataAsync(int port, CancellationToken cancellationToken)
    {
        try
        {
            var json = await _http.GetStringAsync(new Uri($"http://127.0.0.1:{port}/api/v1/status/flags"), cancellationToken);
            using var document = JsonDocument.Parse(json);
            return document.RootElement.TryGetProperty("data", out var data)
                && data.TryGetProperty("storage.tsdb.path", out var path)
                && path.GetString() == DataDirectory;
        }
        catch (Exception ex) when (ex is HttpRequestException or JsonException or InvalidOperationException
            || (ex is TaskCanceledException && !cancellationToken.IsCancellationRequested))
        {
            return false;
        }
    }

    private Task StopProcessAsync() => ServerProcesses.StopAsync(Interlocked.Exchange(ref _process, null), ExitTimeout, _log, "prometheus");

    private static string BuildConfig(string? scrapeConfigsYaml)
    {
        var sb = new StringBuilder()
            .Append("global:\n")
            .Append("  scrape_interval: 15s\n")
            .Append("  evaluation_interval: 15s\n");
        if (string.IsNullOrWhiteSpace(scrapeConfigsYaml))
        {
            sb.Append("scrape_configs: []\n");
        }
        else
        {
            // A block sequence may sit at the key's indentation, so list items are pasted as given.
            sb.Append("scrape_configs:\n").Append(scrapeConfigsYaml.TrimEnd()).Append('\n');
        }

        return sb.ToString();
    }

    private static ProcessStartInfo NewStartInfo(string fileName, params string[] arguments)
    {
        var info = new ProcessStartInfo(fileName)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = false,
        };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        return info;
    }

    private static string FindOnPath(string tool)
    {
        var path = Environment.GetEnvironmentVariable("PATH") ?? string.Empty;
        foreach (var dir in path.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(dir, tool);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        throw new InvalidOperationException(
            $"'{tool}' was not found on PATH. These tests need a real Prometheus: install the Debian package "
            + "'prometheus' (apt-get install -y prometheus), which provides both prometheus and promtool.");
    }
}
