using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using RollbackSentinel.Testing.Net;
using RollbackSentinel.Testing.Prometheus;

namespace RollbackSentinel.Testing.VictoriaMetrics;

/// <summary>
/// A real single-node VictoriaMetrics (the Debian <c>victoria-metrics</c> binary, checked with 1.79) on a free loopback port,
/// storing in a temporary folder. History is loaded through <c>/api/v1/import/prometheus</c> (Prometheus text format, a
/// millisecond timestamp on each line) and waited for until VictoriaMetrics answers it. Disposing kills the process and
/// deletes its folder, also after a failed start.
/// </summary>
/// <remarks>
/// Started with <c>-retentionPeriod=100y</c> (history days in the past is kept) and <c>-search.latencyOffset=0s</c> (points
/// newer than 30 s are answered at once). Its caching is left as shipped, so range queries of 50 points or more are aligned
/// to the step as a production VictoriaMetrics does.
/// </remarks>
/// <example>
/// <code>
/// await using var vm = await VictoriaMetricsServer.StartAsync(ct);
/// await vm.LoadAsync("http_requests_total", [("app", "checkout")], points, ct);
/// var client = new PrometheusClient(http, new PrometheusOptions { BaseAddress = vm.BaseAddress });
/// </code>
/// </example>
public sealed class VictoriaMetricsServer : IAsyncDisposable
{
    private const int MaxStartAttempts = 5;
    private static readonly TimeSpan StartupTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan ReadyPollInterval = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan LoadTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan ExitTimeout = TimeSpan.FromSeconds(10);

    private readonly DirectoryInfo _root;
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(10) };
    private readonly BoundedLog _log = new();
    private Process? _process;
    private int _disposed;

    private VictoriaMetricsServer(DirectoryInfo root)
    {
        _root = root;
        DataDirectory = Path.Combine(root.FullName, "data");
    }

    /// <summary>The server root, e.g. <c>http://127.0.0.1:41234/</c>: give it to <c>PrometheusOptions.BaseAddress</c>.</summary>
    public Uri BaseAddress { get; private set; } = new("http://127.0.0.1/");

    /// <summary>The storage folder; removed on dispose.</summary>
    public string DataDirectory { get; }

    /// <summary>The last lines VictoriaMetrics logged, for diagnosing a failing test.</summary>
    public string RecentLog => _log.ToString();

    public static async Task<VictoriaMetricsServer> StartAsync(CancellationToken cancellationToken)
    {
        var binary = FindOnPath("victoria-metrics");
        var server = new VictoriaMetricsServer(Directory.CreateTempSubdirectory("rollbacksentinel-victoriametrics-"));
        try
        {
            await server.StartCoreAsync(binary, cancellationToken);
            return server;
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    /// <summary>Loads one series: <paramref name="metric"/> with <paramref name="labels"/> and its points, then waits until it is queryable.</summary>
    public Task LoadAsync(string metric, IReadOnlyList<(string Name, string Value)> labels, IEnumerable<MetricPoint> points, CancellationToken cancellationToken) =>
        LoadPrometheusTextAsync(PrometheusText(metric, labels, points), cancellationToken);

    /// <summary>
    /// Imports <paramref name="text"/> (Prometheus exposition format, each sample with its timestamp in milliseconds:
    /// <c>name{a="b"} 1.5 1763640000000</c>) through <c>/api/v1/import/prometheus</c>, flushes VictoriaMetrics' buffers
    /// (<c>/internal/force_flush</c>) and waits until every series of the text is found over its time span.
    /// </summary>
    public async Task LoadPrometheusTextAsync(string text, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(text);
        var (seriesCount, names, minMs, maxMs) = Summarize(text);
        using (var content = new StringContent(text, Encoding.UTF8, "text/plain"))
        using (var response = await _http.PostAsync(new Uri(BaseAddress, "api/v1/import/prometheus"), content, cancellationToken))
        {
            if (response.StatusCode != HttpStatusCode.NoContent)
            {
                throw new InvalidOperationException(
                    $"VictoriaMetrics refused the import (HTTP {(int)response.StatusCode}): {await response.Content.ReadAsStringAsync(cancellationToken)}");
            }
        }

        if (seriesCount == 0)
        {
            return;
        }

        // Imported rows sit in in-memory buffers for up to a second (and the series index longer); force_flush makes them searchable.
        var match = "{__name__=~\"" + string.Join("|", names.Select(n => n.Replace(".", "\\\\.", StringComparison.Ordinal))) + "\"}";
        var seriesUri = new Uri(BaseAddress, string.Create(
            CultureInfo.InvariantCulture,
            $"api/v1/series?match[]={Uri.EscapeDataString(match)}&start={minMs / 1000}&end={(maxMs / 1000) + 1}"));
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            using (var flush = await _http.GetAsync(new Uri(BaseAddress, "internal/force_flush"), cancellationToken))
            {
                flush.EnsureSuccessStatusCode();
            }

            var found = await CountSeriesAsync(seriesUri, cancellationToken);
            if (found >= seriesCount)
            {
                return;
            }

            if (deadline.Elapsed > LoadTimeout)
            {
                throw new InvalidOperationException(
                    $"VictoriaMetrics found {found} of the {seriesCount} imported series after {LoadTimeout.TotalSeconds} s. Its last output:{Environment.NewLine}{_log}");
            }

            await Task.Delay(ReadyPollInterval, cancellationToken);
        }
    }

    /// <summary>One series as Prometheus text with millisecond timestamps, the format <c>/api/v1/import/prometheus</c> reads.</summary>
    public static string PrometheusText(string metric, IReadOnlyList<(string Name, string Value)> labels, IEnumerable<MetricPoint> points)
    {
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentNullException.ThrowIfNull(points);
        var series = metric + (labels.Count == 0 ? string.Empty
            : "{" + string.Join(",", labels.Select(l => $"{l.Name}=\"{l.Value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal)}\"")) + "}");
        var sb = new StringBuilder();
        foreach (var point in points)
        {
            sb.Append(series).Append(' ').Append(OpenMetricsWriter.FormatValue(point.Value)).Append(' ')
                .Append(point.Timestamp.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture)).Append('\n');
        }

        return sb.ToString();
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        await ServerProcesses.StopAsync(Interlocked.Exchange(ref _process, null), ExitTimeout, _log, "victoria-metrics");
        _http.Dispose();
        await ServerProcesses.DeleteDirectoryAsync(_root);
    }

    private async Task StartCoreAsync(string binary, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(DataDirectory);
        for (var attempt = 1; ; attempt++)
        {
            var port = FreePort.Next();
            var outcome = await TryStartAsync(binary, port, cancellationToken);
            if (outcome == StartOutcome.Ready)
            {
                BaseAddress = new Uri($"http://127.0.0.1:{port}/");
                return;
            }

            await ServerProcesses.StopAsync(Interlocked.Exchange(ref _process, null), ExitTimeout, _log, "victoria-metrics");
            if (outcome != StartOutcome.PortTaken || attempt == MaxStartAttempts)
            {
                throw new InvalidOperationException(
                    $"VictoriaMetrics did not become ready on 127.0.0.1:{port} (attempt {attempt}, {outcome}). Its last output:"
                    + Environment.NewLine + _log);
            }
        }
    }

    private async Task<StartOutcome> TryStartAsync(string binary, int port, CancellationToken cancellationToken)
    {
        var info = new ProcessStartInfo(binary)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var argument in new[]
        {
            $"-httpListenAddr=127.0.0.1:{port}",
            $"-storageDataPath={DataDirectory}",

            // Fixture history has fixed timestamps days in the past; the default 1 month retention would drop it as time passes.
            "-retentionPeriod=100y",

            // By default the newest 30 s are hidden from queries; tests look at what they just loaded.
            "-search.latencyOffset=0s",
        })
        {
            info.ArgumentList.Add(argument);
        }

        var process = new Process { StartInfo = info };
        process.OutputDataReceived += (_, e) => _log.Add(e.Data);
        process.ErrorDataReceived += (_, e) => _log.Add(e.Data);
        _log.Add($"--- starting victoria-metrics on 127.0.0.1:{port}");
        _process = process;
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        // Healthy, and ours: another process may have won the race for the port.
        return await ServerProcesses.WaitUntilUpAsync(
            process,
            _log,
            "victoria-metrics",
            StartupTimeout,
            ReadyPollInterval,
            async ct => !await ServerProcesses.IsReadyAsync(_http, new Uri($"http://127.0.0.1:{port}/health"), ct) ? null
                : await ServesOurDataAsync(port, ct) ? StartOutcome.Ready : StartOutcome.PortTaken,
            () => _log.Contains("address already in use"),
            cancellationToken);
    }

    private async Task<bool> ServesOurDataAsync(int port, CancellationToken cancellationToken)
    {
        try
        {
            var flags = await _http.GetStringAsync(new Uri($"http://127.0.0.1:{port}/flags"), cancellationToken);
            return flags.Contains($"-storageDataPath=\"{DataDirectory}\"", StringComparison.Ordinal);
        }
        catch (Exception ex) when (ex is HttpRequestException || (ex is TaskCanceledException && !cancellationToken.IsCancellationRequested))
        {
            return false;
        }
    }

    private async Task<int> CountSeriesAsync(Uri seriesUri, CancellationToken cancellationToken)
    {
        var json = await _http.GetStringAsync(seriesUri, cancellationToken);
        using var document = JsonDocument.Parse(json);
        return document.RootElement.TryGetProperty("data", out var data) && data.ValueKind == JsonValueKind.Array ? data.GetArrayLength() : 0;
    }

    /// <summary>The distinct series, metric names and time span of a Prometheus text with millisecond timestamps.</summary>
    private static (int Series, List<string> Names, long MinMs, long MaxMs) Summarize(string text)
    {
        var series = new HashSet<string>(StringComparer.Ordinal);
        var names = new SortedSet<string>(StringComparer.Ordinal);
        long min = long.MaxValue, max = long.MinValue;
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#'))
            {
                continue;
            }

            var labelsEnd = line.LastIndexOf('}');
            var fields = line[(labelsEnd + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            var seriesText = labelsEnd >= 0 ? line[..(labelsEnd + 1)] : fields[0];
            var rest = labelsEnd >= 0 ? fields : fields[1..];
            if (rest.Length != 2 || !long.TryParse(rest[1], NumberStyles.Integer, CultureInfo.InvariantCulture, out var ms))
            {
                throw new ArgumentException($"Each sample needs a value and a millisecond timestamp: '{line}'.", nameof(text));
            }

            series.Add(seriesText);
            names.Add(seriesText.Split('{')[0]);
            min = Math.Min(min, ms);
            max = Math.Max(max, ms);
        }

        return (series.Count, [.. names], min, max);
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
            $"'{tool}' was not found on PATH. These tests need a real VictoriaMetrics: install the Debian package "
            + "'victoria-metrics' (apt-get install -y victoria-metrics, or scripts/install-deps).");
    }
}
