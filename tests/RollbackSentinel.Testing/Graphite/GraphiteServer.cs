using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using RollbackSentinel.Testing.Net;
using RollbackSentinel.Testing.Prometheus;

namespace RollbackSentinel.Testing.Graphite;

/// <summary>One point to write through carbon's plaintext protocol: a path (<c>app.checkout.5xx</c>, or tagged <c>http.5xx;env=prod</c>), a value, a time.</summary>
public sealed record GraphitePoint(string Path, double Value, DateTimeOffset Timestamp);

/// <summary>
/// A real Graphite on loopback: carbon-cache (whisper files, plaintext line receiver) and graphite-web (Django's
/// <c>runserver</c> over the Debian graphite-web package), both in a temporary folder with their own settings, storage
/// and SQLite database. Disposing kills both processes and deletes the folder, also after a failed start.
/// </summary>
/// <remarks>
/// Storage is one archive of <see cref="Step"/> points kept for <see cref="Retention"/>, so a test can write points with
/// timestamps days in the past. carbon writes whisper files asynchronously and registers tags with graphite-web in
/// batches: <see cref="WriteAsync"/> returns only once graphite-web renders every written point.
/// </remarks>
public sealed partial class GraphiteServer : IAsyncDisposable
{
    /// <summary>The resolution of the storage schema: timestamps are stored rounded down to a multiple of it.</summary>
    public static readonly TimeSpan Step = TimeSpan.FromSeconds(10);

    /// <summary>How far back points may be written.</summary>
    public static readonly TimeSpan Retention = TimeSpan.FromDays(7);

    private const int MaxStartAttempts = 5;
    private const string SettingsModule = "rollbacksentinel_graphite_settings";
    private static readonly TimeSpan MigrateTimeout = TimeSpan.FromSeconds(90);
    private static readonly TimeSpan StartupTimeout = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan ExitTimeout = TimeSpan.FromSeconds(10);

    /// <summary>How long a write may take to become readable before <see cref="WriteAsync"/> gives up.</summary>
    private static readonly TimeSpan ReadableTimeout = TimeSpan.FromSeconds(60);

    private readonly DirectoryInfo _root;
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(5) };
    private readonly BoundedLog _log = new(maxLines: 80);
    private readonly string _storage;
    private Process? _web;
    private Process? _carbon;
    private int _disposed;

    private GraphiteServer(DirectoryInfo root)
    {
        _root = root;
        _storage = Path.Combine(root.FullName, "storage");
    }

    /// <summary>graphite-web's root, e.g. <c>http://127.0.0.1:41234/</c>.</summary>
    public Uri BaseAddress { get; private set; } = new("http://127.0.0.1/");

    /// <summary>carbon's plaintext line receiver on 127.0.0.1.</summary>
    public int CarbonPort { get; private set; }

    /// <summary>The last lines carbon and graphite-web logged (successful requests left out), for diagnosing a failing test.</summary>
    public string RecentLog => _log.ToString();

    /// <summary>Starts carbon-cache and graphite-web; throws, with their last output, when they do not come up.</summary>
    public static async Task<GraphiteServer> StartAsync(CancellationToken cancellationToken)
    {
        var manage = FindOnPath("graphite-manage");
        var carbon = FindOnPath("carbon-cache");
        var server = new GraphiteServer(Directory.CreateTempSubdirectory("rollbacksentinel-graphite-"));
        try
        {
            await server.StartCoreAsync(manage, carbon, cancellationToken);
            return server;
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// Writes <paramref name="points"/> to carbon (<c>path value timestamp</c> lines) and waits until graphite-web renders
    /// each of them. Timestamps must lie within <see cref="Retention"/> before now and not in the future; a point is
    /// stored at its timestamp rounded down to <see cref="Step"/> (of two points in one slot, whisper keeps the later
    /// timestamp's), and a NaN value is a gap.
    /// </summary>
    public async Task WriteAsync(IEnumerable<GraphitePoint> points, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(points);
        var list = points.ToList();
        var lines = new StringBuilder();
        foreach (var p in list)
        {
            if (p.Path.Length == 0 || p.Path.Any(c => char.IsWhiteSpace(c) || c is '\'' or '"' or '*'))
            {
                throw new ArgumentException($"Path '{p.Path}' cannot be written and read back: no spaces, quotes or wildcards.", nameof(points));
            }

            lines.Append(p.Path).Append(' ').Append(FormatValue(p.Value)).Append(' ')
                .Append(p.Timestamp.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture)).Append('\n');
        }

        using (var client = new TcpClient())
        {
            await client.ConnectAsync("127.0.0.1", CarbonPort, cancellationToken);
            var stream = client.GetStream();
            await stream.WriteAsync(Encoding.UTF8.GetBytes(lines.ToString()), cancellationToken);
            await stream.FlushAsync(cancellationToken);
            client.Client.Shutdown(SocketShutdown.Send);
        }

        var step = (long)Step.TotalSeconds;
        foreach (var path in list.GroupBy(p => p.Path))
        {
            var expected = new Dictionary<long, double>();
            foreach (var p in path.OrderBy(p => p.Timestamp))
            {
                var seconds = p.Timestamp.ToUnixTimeSeconds();
                expected[seconds - (seconds % step)] = p.Value;
            }

            await WaitUntilReadableAsync(path.Key, expected, cancellationToken);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        await ServerProcesses.StopAsync(Interlocked.Exchange(ref _carbon, null), ExitTimeout, _log, "carbon-cache");
        await ServerProcesses.StopAsync(Interlocked.Exchange(ref _web, null), ExitTimeout, _log, "graphite-web");
        _http.Dispose();
        await ServerProcesses.DeleteDirectoryAsync(_root);
    }

    private async Task StartCoreAsync(string manage, string carbon, CancellationToken cancellationToken)
    {
        foreach (var dir in new[] { "whisper", "log/webapp", "log/carbon" })
        {
            Directory.CreateDirectory(Path.Combine(_storage, dir));
        }

        await File.WriteAllTextAsync(Path.Combine(_root.FullName, SettingsModule + ".py"), WebSettings(), cancellationToken);
        await File.WriteAllTextAsync(
            Path.Combine(_root.FullName, "storage-schemas.conf"),
            $"[default]\npattern = .*\nretentions = {(int)Step.TotalSeconds}s:{(int)Retention.TotalSeconds}s\n",
            cancellationToken);

        // graphite-web's SQLite database (the tag index lives there): created once, before the server starts.
        var (exitCode, output) = await ServerProcesses.RunToExitAsync(NewStartInfo(manage, "migrate", "--noinput", "-v", "0"), MigrateTimeout, cancellationToken);
        if (exitCode != 0)
        {
            throw new InvalidOperationException($"graphite-manage migrate failed (exit code {exitCode}): {output}");
        }

        // graphite-web first: carbon sends the tags of new series to it.
        var webPort = await StartWithRetriesAsync("graphite-web", port => StartWebAsync(manage, port, cancellationToken));
        BaseAddress = new Uri($"http://127.0.0.1:{webPort}/");
        CarbonPort = await StartWithRetriesAsync("carbon-cache", port => StartCarbonAsync(carbon, port, cancellationToken));
    }

    private async Task<int> StartWithRetriesAsync(string name, Func<int, Task<StartOutcome>> start)
    {
        for (var attempt = 1; ; attempt++)
        {
            var port = FreePort.Next();
            var outcome = await start(port);
            if (outcome == StartOutcome.Ready)
            {
                return port;
            }

            if (outcome != StartOutcome.PortTaken || attempt == MaxStartAttempts)
            {
                throw new InvalidOperationException(
                    $"{name} did not become ready on 127.0.0.1:{port} (attempt {attempt}, {outcome}). The last output:" + Environment.NewLine + _log);
            }
        }
    }

    private async Task<StartOutcome> StartWebAsync(string manage, int port, CancellationToken cancellationToken)
    {
        await ServerProcesses.StopAsync(Interlocked.Exchange(ref _web, null), ExitTimeout, _log, "graphite-web");
        var process = Launch(NewStartInfo(manage, "runserver", $"127.0.0.1:{port}", "--noreload"), "web", port);
        _web = process;
        var probe = new Uri($"http://127.0.0.1:{port}/render?target=rollbacksentinel.ready&format=json&from=0&until=60");

        // runserver exits when the port is taken, so an answer while our process runs and says it serves that port is ours.
        return await ServerProcesses.WaitUntilUpAsync(
            process,
            _log,
            "graphite-web",
            StartupTimeout,
            PollInterval,
            async ct => _log.Contains($"Starting development server at http://127.0.0.1:{port}/") && await ServerProcesses.IsReadyAsync(_http, probe, ct)
                ? StartOutcome.Ready
                : null,
            () => _log.Contains("That port is already in use"),
            cancellationToken);
    }

    private async Task<StartOutcome> StartCarbonAsync(string carbon, int port, CancellationToken cancellationToken)
    {
        await ServerProcesses.StopAsync(Interlocked.Exchange(ref _carbon, null), ExitTimeout, _log, "carbon-cache");
        var config = Path.Combine(_root.FullName, "carbon.conf");
        await File.WriteAllTextAsync(config, CarbonConfig(port), cancellationToken);
        var process = Launch(
            NewStartInfo(
                carbon,
                $"--config={config}",
                $"--pidfile={Path.Combine(_root.FullName, "carbon.pid")}",
                $"--logdir={Path.Combine(_storage, "log", "carbon")}",
                "--nodaemon",
                "--debug",
                "start"),
            "carbon",
            port);
        _carbon = process;
        return await ServerProcesses.WaitUntilUpAsync(
            process,
            _log,
            "carbon-cache",
            StartupTimeout,
            PollInterval,
            _ => Task.FromResult(_log.Contains($"CarbonReceiverFactory starting on {port}") ? StartOutcome.Ready : (StartOutcome?)null),
            () => _log.Contains("already in use"),
            cancellationToken);
    }

    private async Task WaitUntilReadableAsync(string path, Dictionary<long, double> expected, CancellationToken cancellationToken)
    {
        // A tagged series is found through graphite-web's tag index, which carbon fills in batches: wait for that too.
        var target = path.Contains(';', StringComparison.Ordinal)
            ? "seriesByTag(" + string.Join(",", TaggedExpressions(path).Select(e => $"'{e}'")) + ")"
            : path;
        var step = (long)Step.TotalSeconds;
        var form = new Dictionary<string, string>
        {
            ["target"] = target,
            ["format"] = "json",
            ["from"] = (expected.Keys.Min() - 1).ToString(CultureInfo.InvariantCulture),
            ["until"] = (expected.Keys.Max() + step).ToString(CultureInfo.InvariantCulture),
        };
        var deadline = Stopwatch.StartNew();
        var last = "(no answer)";
        while (true)
        {
            try
            {
                using var response = await _http.PostAsync(new Uri(BaseAddress, "render"), new FormUrlEncodedContent(form), cancellationToken);
                last = await response.Content.ReadAsStringAsync(cancellationToken);
                if (response.IsSuccessStatusCode && HasAll(last, expected))
                {
                    return;
                }
            }
            catch (HttpRequestException ex)
            {
                last = ex.Message;
            }
            catch (TaskCanceledException ex) when (!cancellationToken.IsCancellationRequested)
            {
                last = ex.Message;
            }

            if (deadline.Elapsed > ReadableTimeout)
            {
                throw new TimeoutException(
                    $"Graphite did not render the {expected.Count} points written to '{path}' within {ReadableTimeout.TotalSeconds} s; "
                    + $"the last answer to '{target}': {(last.Length > 500 ? last[..500] + "..." : last)}{Environment.NewLine}{_log}");
            }

            await Task.Delay(PollInterval, cancellationToken);
        }
    }

    /// <summary>Whether the render answer has exactly one series holding every expected point (NaN: a null).</summary>
    private static bool HasAll(string json, Dictionary<long, double> expected)
    {
        using var document = JsonDocument.Parse(json);
        if (document.RootElement.ValueKind != JsonValueKind.Array || document.RootElement.GetArrayLength() != 1)
        {
            return false;
        }

        var found = new Dictionary<long, double>();
        foreach (var pair in document.RootElement[0].GetProperty("datapoints").EnumerateArray())
        {
            var value = pair[0].ValueKind == JsonValueKind.Null
                ? double.NaN
                : double.Parse(pair[0].GetRawText(), NumberStyles.Float, CultureInfo.InvariantCulture);
            found[pair[1].GetInt64()] = value;
        }

        return expected.All(e => found.TryGetValue(e.Key, out var v) && (v.Equals(e.Value) || (double.IsNaN(e.Value) && double.IsNaN(v))));
    }

    /// <summary><c>http.5xx;env=prod</c> as seriesByTag expressions: <c>name=http.5xx</c>, <c>env=prod</c>.</summary>
    private static IEnumerable<string> TaggedExpressions(string path)
    {
        var parts = path.Split(';');
        yield return "name=" + parts[0];
        foreach (var tag in parts.Skip(1))
        {
            yield return tag;
        }
    }

    private Process Launch(ProcessStartInfo info, string name, int port)
    {
        var process = new Process { StartInfo = info };
        process.OutputDataReceived += (_, e) => AddLine(name, e.Data);
        process.ErrorDataReceived += (_, e) => AddLine(name, e.Data);
        _log.Add($"--- starting {name} on 127.0.0.1:{port}");
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    private void AddLine(string name, string? line)
    {
        // The fixture's own polling would push everything useful out of the log.
        if (line is null || SuccessfulRequest().IsMatch(line))
        {
            return;
        }

        _log.Add($"[{name}] {line}");
    }

    private ProcessStartInfo NewStartInfo(string fileName, params string[] arguments)
    {
        var info = new ProcessStartInfo(fileName)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = _root.FullName,
        };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        // The Debian scripts run /usr/bin/python3 (with Django); these find our settings module in the folder.
        info.Environment["PYTHONPATH"] = _root.FullName;
        info.Environment["GRAPHITE_SETTINGS_MODULE"] = SettingsModule;
        info.Environment["DJANGO_SETTINGS_MODULE"] = "graphite.settings";
        info.Environment["PYTHONUNBUFFERED"] = "1";
        info.Environment["PYTHONDONTWRITEBYTECODE"] = "1";
        info.Environment["PYTHONWARNINGS"] = "ignore";
        return info;
    }

    private string WebSettings() =>
        $"""
        SECRET_KEY = 'rollbacksentinel-tests'
        STORAGE_DIR = {Py(_storage)}
        WHISPER_DIR = {Py(Path.Combine(_storage, "whisper"))}
        LOG_DIR = {Py(Path.Combine(_storage, "log", "webapp"))}
        INDEX_FILE = {Py(Path.Combine(_storage, "index"))}
        CONF_DIR = {Py(_root.FullName)}
        DATABASES = dict(default=dict(NAME={Py(Path.Combine(_storage, "graphite.db"))}, ENGINE='django.db.backends.sqlite3'))
        # Points are read from the whisper files only: no carbonlink query to a carbon-cache on the default port 7002.
        CARBONLINK_HOSTS = []
        DEFAULT_AUTO_FIELD = 'django.db.models.AutoField'
        SILENCED_SYSTEM_CHECKS = ['admin.W411', 'models.W042']
        LOG_ROTATION = False
        """;

    private string CarbonConfig(int port) =>
        $"""
        [cache]
        STORAGE_DIR = {_storage}/
        LOCAL_DATA_DIR = {Path.Combine(_storage, "whisper")}/
        CONF_DIR = {_root.FullName}/
        LOG_DIR = {Path.Combine(_storage, "log", "carbon")}/
        PID_DIR = {_root.FullName}/
        USER =
        DATABASE = whisper
        ENABLE_LOGROTATION = False
        MAX_CACHE_SIZE = inf
        MAX_UPDATES_PER_SECOND = 100000
        # The Debian default (50) would make a test writing many series wait minutes for their files.
        MAX_CREATES_PER_MINUTE = 100000
        LINE_RECEIVER_INTERFACE = 127.0.0.1
        LINE_RECEIVER_PORT = {port}
        ENABLE_UDP_LISTENER = False
        # 0: no pickle receiver; the cache query port is then an ephemeral one nobody else uses.
        PICKLE_RECEIVER_PORT = 0
        CACHE_QUERY_INTERFACE = 127.0.0.1
        CACHE_QUERY_PORT = 0
        USE_FLOW_CONTROL = False
        LOG_UPDATES = False
        LOG_CREATES = False
        LOG_LISTENER_CONN_SUCCESS = False
        ENABLE_TAGS = True
        GRAPHITE_URL = {BaseAddress.AbsoluteUri.TrimEnd('/')}
        """ + "\n";

    private static string Py(string text) => "'" + text.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("'", "\\'", StringComparison.Ordinal) + "'";

    private static string FormatValue(double value) =>
        double.IsNaN(value) ? "nan" : double.IsPositiveInfinity(value) ? "inf" : double.IsNegativeInfinity(value) ? "-inf" : value.ToString("R", CultureInfo.InvariantCulture);

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
            $"'{tool}' was not found on PATH. These tests need a real Graphite: install the Debian packages "
            + "'graphite-carbon' and 'graphite-web' (scripts/install-deps does).");
    }

    [GeneratedRegex("\"[A-Z]+ [^\"]*\" 200 \\d+$")]
    private static partial Regex SuccessfulRequest();
}
