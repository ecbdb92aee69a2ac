using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text.Json;
using RollbackSentinel.Actions;
using RollbackSentinel.Actions.Processes;

namespace RollbackSentinel.RuleTests;

/// <summary>The local <c>prometheus</c> and <c>promtool</c> could not be used (cannot be run, failed, never ready): the message says why.</summary>
/// <param name="message">What went wrong, with the tool's own words.</param>
/// <param name="installProblem">The tool cannot be run at all (not a program, not allowed): no test can run until it is installed.</param>
internal sealed class LocalPrometheusException(string message, bool installProblem = false) : Exception(message)
{
    public bool InstallProblem { get; } = installProblem;
}

/// <summary>
/// A private Prometheus for one <c>rollback-sentinel test</c> run: history backfilled with
/// <c>promtool tsdb create-blocks-from openmetrics</c> into a temporary folder, staleness markers added through its
/// remote-write receiver (into the out-of-order window, as they lie among the backfilled blocks), served on a free
/// loopback port. Disposing kills it and deletes the folder, also after a failed start.
/// </summary>
internal sealed class LocalPrometheus : IAsyncDisposable
{
    public const string InstallHint = "install Prometheus, which brings both (Debian and Ubuntu: apt-get install prometheus; or the release archive from https://prometheus.io/download/) and put them on PATH";

    private const int MaxStartAttempts = 5;
    private static readonly TimeSpan PromtoolTimeout = TimeSpan.FromMinutes(5);
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan ExitTimeout = TimeSpan.FromSeconds(10);

    private readonly DirectoryInfo _root;
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(5) };
    private readonly Queue<string> _log = new();
    private Process? _process;
    private int _disposed;

    private LocalPrometheus(DirectoryInfo root) => _root = root;

    /// <summary>Where it listens, e.g. <c>http://127.0.0.1:41234/</c>.</summary>
    public Uri BaseAddress { get; private set; } = new("http://127.0.0.1/");

    private string DataDirectory => Path.Combine(_root.FullName, "data");

    /// <summary>The path of <paramref name="tool"/> on PATH, or null: as a shell finds it, the first file that may be executed.</summary>
    public static string? Find(string tool) =>
        (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => Path.Combine(dir, tool))
            .FirstOrDefault(IsExecutable);

    /// <summary>A file (after links) with an execute bit in its Unix mode; on Windows, any file.</summary>
    private static bool IsExecutable(string path)
    {
        if (!File.Exists(path))
        {
            return false;
        }

        if (OperatingSystem.IsWindows())
        {
            return true;
        }

        try
        {
            return (File.GetUnixFileMode(path) & (UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute)) != 0;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <param name="openMetrics">The values to backfill (<see cref="TestHistory.OpenMetrics"/>).</param>
    /// <param name="staleMarkers">A remote-write body of staleness markers, or null.</param>
    /// <param name="spread">From the first to the last sample: the out-of-order window (where the staleness markers go) must cover it.</param>
    public static async Task<LocalPrometheus> StartAsync(string prometheus, string promtool, string openMetrics, byte[]? staleMarkers, TimeSpan spread, CancellationToken ct)
    {
        var server = new LocalPrometheus(Directory.CreateTempSubdirectory("rollback-sentinel-test-"));
        try
        {
            await server.StartCoreAsync(prometheus, promtool, openMetrics, staleMarkers, spread, ct).ConfigureAwait(false);
            return server;
        }
        catch (Exception original)
        {
            // The reason it did not start matters more than a folder it could not remove: that is added to it, never in its place.
            try
            {
                await server.DisposeAsync().ConfigureAwait(false);
            }
            catch (LocalPrometheusException cleanup) when (original is LocalPrometheusException start)
            {
                throw new LocalPrometheusException($"{start.Message}; and {cleanup.Message}", start.InstallProblem);
            }
            catch (LocalPrometheusException)
            {
                // Cancelled, or a bug: that goes on as it is.
            }

            throw;
        }
    }

    /// <summary>Disposes it, after an error that matters more than whether its folder could be removed.</summary>
    public async ValueTask DisposeQuietlyAsync()
    {
        try
        {
            await DisposeAsync().ConfigureAwait(false);
        }
        catch (LocalPrometheusException)
        {
            // The error being reported matters more.
        }
    }

    /// <summary>Stops Prometheus and removes the folder; a folder it cannot remove is a <see cref="LocalPrometheusException"/>.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        await StopAsync().ConfigureAwait(false);
        _http.Dispose();
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                _root.Refresh();
                if (_root.Exists)
                {
                    _root.Delete(recursive: true);
                }

                return;
            }
            catch (IOException) when (attempt < 3)
            {
                // A just-killed Prometheus may still be closing its files.
                await Task.Delay(100, CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new LocalPrometheusException($"could not remove its temporary folder {_root.FullName}: {e.Message}");
            }
        }
    }

    private async Task StartCoreAsync(string prometheus, string promtool, string openMetrics, byte[]? staleMarkers, TimeSpan spread, CancellationToken ct)
    {
        Directory.CreateDirectory(DataDirectory);
        var history = Path.Combine(_root.FullName, "history.om");
        await File.WriteAllTextAsync(history, openMetrics, ct).ConfigureAwait(false);
        CommandOutput backfill;
        try
        {
            backfill = await new ProcessCommandRunner().RunAsync(
                new CommandLine(promtool, ["tsdb", "create-blocks-from", "openmetrics", "--quiet", history, DataDirectory]), PromtoolTimeout, ct).ConfigureAwait(false);
        }
        catch (ActionFailedException e)
        {
            // Not started at all (not a program, not allowed) is the install's problem; a timeout is the run's.
            throw e.InnerException is System.ComponentModel.Win32Exception w
                ? new LocalPrometheusException($"cannot run {promtool}: {Marshal.GetPInvokeErrorMessage(w.NativeErrorCode)}; {InstallHint}", installProblem: true)
                : new LocalPrometheusException($"promtool tsdb create-blocks-from openmetrics failed: {e.Message}");
        }

        if (!backfill.Succeeded)
        {
            throw new LocalPrometheusException($"promtool tsdb create-blocks-from openmetrics failed ({backfill.Reason})");
        }

        // Retention and the out-of-order window (where the staleness markers go) count back from the newest sample.
        var days = ((int)Math.Ceiling(spread.TotalDays) + 2).ToString(CultureInfo.InvariantCulture) + "d";
        var config = Path.Combine(_root.FullName, "prometheus.yml");
        await File.WriteAllTextAsync(config, $"global:\n  evaluation_interval: 1m\nscrape_configs: []\nstorage:\n  tsdb:\n    out_of_order_time_window: {days}\n", ct).ConfigureAwait(false);
        for (var attempt = 1; ; attempt++)
        {
            var port = FreePort();
            if (await TryStartAsync(prometheus, config, port, days, ct).ConfigureAwait(false) is not { } failure)
            {
                BaseAddress = new Uri($"http://127.0.0.1:{port}/");
                break;
            }

            // Only this attempt's output: an earlier "address already in use" says nothing about this one.
            var taken = Log.Contains("address already in use", StringComparison.OrdinalIgnoreCase);
            await StopAsync().ConfigureAwait(false);
            if (!taken || attempt == MaxStartAttempts)
            {
                throw new LocalPrometheusException($"{failure}; its last output: {Log}");
            }
        }

        if (staleMarkers is not null)
        {
            await WriteAsync(staleMarkers, ct).ConfigureAwait(false);
        }
    }

    /// <summary>Starts it on <paramref name="port"/>: null once it serves this folder, or why not.</summary>
    private async Task<string?> TryStartAsync(string prometheus, string config, int port, string retention, CancellationToken ct)
    {
        var info = new ProcessStartInfo(prometheus) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in (string[])[
            $"--config.file={config}",
            $"--storage.tsdb.path={DataDirectory}",
            $"--storage.tsdb.retention.time={retention}",
            $"--web.listen-address=127.0.0.1:{port}",
            "--web.enable-remote-write-receiver",
        ])
        {
            info.ArgumentList.Add(a);
        }

        lock (_log)
        {
            _log.Clear();
        }

        var process = new Process { StartInfo = info };
        process.OutputDataReceived += (_, e) => Keep(e.Data);
        process.ErrorDataReceived += (_, e) => Keep(e.Data);
        _process = process;
        try
        {
            process.Start();
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            _process = null;
            process.Dispose();
            throw new LocalPrometheusException($"cannot run {prometheus}: {Marshal.GetPInvokeErrorMessage(e.NativeErrorCode)}; {InstallHint}", installProblem: true);
        }

        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < StartTimeout)
        {
            if (process.HasExited)
            {
                // All of its output read, so the reason is in the log.
                await process.WaitForExitAsync(ct).ConfigureAwait(false);
                return $"prometheus exited with code {process.ExitCode} before it was ready";
            }

            // Ready, and ours: another process may have taken the port first.
            if (await ServesAsync(port, ct).ConfigureAwait(false))
            {
                return null;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(100), ct).ConfigureAwait(false);
        }

        return $"prometheus was not ready on 127.0.0.1:{port} within {StartTimeout.TotalSeconds:0}s";
    }

    private async Task<bool> ServesAsync(int port, CancellationToken ct)
    {
        try
        {
            using var ready = await _http.GetAsync(new Uri($"http://127.0.0.1:{port}/-/ready"), ct).ConfigureAwait(false);
            if (ready.StatusCode != HttpStatusCode.OK)
            {
                return false;
            }

            using var flags = JsonDocument.Parse(await _http.GetStringAsync(new Uri($"http://127.0.0.1:{port}/api/v1/status/flags"), ct).ConfigureAwait(false));
            return flags.RootElement.TryGetProperty("data", out var data) && data.TryGetProperty("storage.tsdb.path", out var path) && path.GetString() == DataDirectory;
        }
        catch (Exception e) when (e is HttpRequestException or JsonException || (e is TaskCanceledException && !ct.IsCancellationRequested))
        {
            return false;
        }
    }

    private async Task WriteAsync(byte[] body, CancellationToken ct)
    {
        using var content = new ByteArrayContent(body);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/x-protobuf");
        content.Headers.ContentEncoding.Add("snappy");
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(BaseAddress, "api/v1/write")) { Content = content };
        request.Headers.Add("X-Prometheus-Remote-Write-Version", "0.1.0");
        HttpResponseMessage response;
        try
        {
            response = await _http.SendAsync(request, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is HttpRequestException || (e is TaskCanceledException && !ct.IsCancellationRequested))
        {
            throw new LocalPrometheusException($"prometheus did not take the staleness markers: {e.Message}");
        }

        using var _ = response;
        if (!response.IsSuccessStatusCode)
        {
            var why = await response.Content.ReadAsStringAsync(ct).ConfigureAwait(false);
            throw new LocalPrometheusException($"prometheus refused the staleness markers (HTTP {(int)response.StatusCode}): {why.Trim()}");
        }
    }

    private async Task StopAsync()
    {
        if (Interlocked.Exchange(ref _process, null) is not { } process)
        {
            return;
        }

        try
        {
            process.Kill(entireProcessTree: true);
            using var wait = new CancellationTokenSource(ExitTimeout);
            await process.WaitForExitAsync(wait.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is InvalidOperationException or OperationCanceledException or System.ComponentModel.Win32Exception)
        {
            // Exited already, or would not within the timeout: nothing more to do than let go of it.
        }

        process.Dispose();
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private string Log
    {
        get
        {
            lock (_log)
            {
                return _log.Count == 0 ? "(no output)" : string.Join('\n', _log);
            }
        }
    }

    private void Keep(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_log)
        {
            _log.Enqueue(line.Length > 400 ? line[..400] + "..." : line);
            while (_log.Count > 30)
            {
                _log.Dequeue();
            }
        }
    }
}
