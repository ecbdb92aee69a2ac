using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.Json;
using RollbackSentinel.Testing.Net;
using RollbackSentinel.Testing.Prometheus;

namespace RollbackSentinel.Testing.Alertmanager;

/// <summary>An alert as <c>GET /api/v2/alerts</c> returns it.</summary>
public sealed record AlertmanagerAlert(
    string Fingerprint,
    IReadOnlyDictionary<string, string> Labels,
    IReadOnlyDictionary<string, string> Annotations,
    DateTimeOffset StartsAt,
    DateTimeOffset EndsAt,
    DateTimeOffset UpdatedAt,
    string State,
    string? GeneratorUrl);

/// <summary>
/// A real Alertmanager (<c>prometheus-alertmanager</c>) on a free loopback port, clustering off, with one route to a
/// receiver that sends nowhere. Ready once <c>/-/ready</c> answers and <c>/api/v2/status</c> shows this fixture's
/// configuration (its receiver's name is unique, so another process that won the port is not mistaken for it).
/// Disposing kills the process and deletes its directory, also after a failed start (whose exception carries
/// Alertmanager's output).
/// </summary>
/// <example>
/// <code>
/// await using var alertmanager = await AlertmanagerServer.StartAsync(ct);
/// var channel = new AlertmanagerChannel(http, new AlertmanagerOptions { Url = alertmanager.BaseAddress }, TimeProvider.System);
/// var alerts = await alertmanager.GetAlertsAsync(ct);
/// </code>
/// </example>
public sealed class AlertmanagerServer : IAsyncDisposable
{
    private const int MaxStartAttempts = 5;
    private static readonly TimeSpan ReadyPollInterval = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan ExitTimeout = TimeSpan.FromSeconds(10);

    private readonly DirectoryInfo _root;
    private readonly AlertmanagerServerOptions _options;
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(5) };
    private readonly BoundedLog _log = new();
    private Process? _process;
    private int _disposed;

    private AlertmanagerServer(DirectoryInfo root, AlertmanagerServerOptions options)
    {
        _root = root;
        _options = options;
        DataDirectory = Path.Combine(root.FullName, "data");
        ConfigFile = Path.Combine(root.FullName, "alertmanager.yml");
        ReceiverName = "rs-null-" + Guid.NewGuid().ToString("N")[..12];
    }

    /// <summary>The server root, e.g. <c>http://127.0.0.1:41234/</c>.</summary>
    public Uri BaseAddress { get; private set; } = new("http://127.0.0.1/");

    /// <summary>The --storage.path directory (silences, notification log); removed on dispose.</summary>
    public string DataDirectory { get; }

    public string ConfigFile { get; }

    /// <summary>The one receiver every alert is routed to; it has no integrations, so nothing is sent anywhere.</summary>
    public string ReceiverName { get; }

    /// <summary>The last lines Alertmanager logged, for diagnosing a failing test.</summary>
    public string RecentLog => _log.ToString();

    public static Task<AlertmanagerServer> StartAsync(CancellationToken cancellationToken) => StartAsync(new AlertmanagerServerOptions(), cancellationToken);

    public static async Task<AlertmanagerServer> StartAsync(AlertmanagerServerOptions options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        var executable = options.Executable ?? FindAlertmanager();
        var server = new AlertmanagerServer(Directory.CreateTempSubdirectory("rs-alertmanager-"), options);
        try
        {
            await server.StartCoreAsync(executable, cancellationToken);
            return server;
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// <c>GET /api/v2/alerts</c>, by default with every kind of alert Alertmanager still lists (active, silenced,
    /// inhibited, unprocessed); it drops a resolved alert (endsAt passed) from this list at once.
    /// <paramref name="filter"/> is matchers such as <c>incident="42"</c>.
    /// </summary>
    public async Task<IReadOnlyList<AlertmanagerAlert>> GetAlertsAsync(CancellationToken cancellationToken, params string[] filter)
    {
        ArgumentNullException.ThrowIfNull(filter);
        var query = "active=true&silenced=true&inhibited=true&unprocessed=true"
            + string.Concat(filter.Select(f => "&filter=" + Uri.EscapeDataString(f)));
        var json = await _http.GetStringAsync(new Uri(BaseAddress, "api/v2/alerts?" + query), cancellationToken);
        using var document = JsonDocument.Parse(json);
        return [.. document.RootElement.EnumerateArray().Select(Parse)];
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

    private static AlertmanagerAlert Parse(JsonElement a)
    {
        static Dictionary<string, string> Map(JsonElement e, string name) =>
            e.TryGetProperty(name, out var m) && m.ValueKind == JsonValueKind.Object
                ? m.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString() ?? "", StringComparer.Ordinal)
                : [];
        static DateTimeOffset Time(JsonElement e, string name) =>
            DateTimeOffset.Parse(e.GetProperty(name).GetString()!, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal);

        return new AlertmanagerAlert(
            a.GetProperty("fingerprint").GetString()!,
            Map(a, "labels"),
            Map(a, "annotations"),
            Time(a, "startsAt"),
            Time(a, "endsAt"),
            Time(a, "updatedAt"),
            a.GetProperty("status").GetProperty("state").GetString()!,
            a.TryGetProperty("generatorURL", out var g) && g.ValueKind == JsonValueKind.String ? g.GetString() : null);
    }

    private async Task StartCoreAsync(string executable, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(DataDirectory);
        await File.WriteAllTextAsync(ConfigFile, BuildConfig(), cancellationToken);

        for (var attempt = 1; ; attempt++)
        {
            var port = FreePort.Next();
            var outcome = await TryStartAsync(executable, port, cancellationToken);
            if (outcome == StartOutcome.Ready)
            {
                BaseAddress = new Uri($"http://127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}/");
                return;
            }

            await StopProcessAsync();
            if (outcome != StartOutcome.PortTaken || attempt == MaxStartAttempts)
            {
                throw new InvalidOperationException(
                    $"Alertmanager did not become ready on 127.0.0.1:{port} (attempt {attempt}, {outcome}). Its last output:"
                    + Environment.NewLine + _log);
            }
        }
    }

    private async Task<StartOutcome> TryStartAsync(string executable, int port, CancellationToken cancellationToken)
    {
        var info = new ProcessStartInfo(executable)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = false,
        };
        string[] arguments =
        [
            $"--config.file={ConfigFile}",
            $"--storage.path={DataDirectory}",
            $"--web.listen-address=127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}",

            // Empty: no gossip listener, so no second port to collide on and no peers to wait for.
            "--cluster.listen-address=",
            .. _options.ExtraArguments,
        ];
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        var process = new Process { StartInfo = info };
        process.OutputDataReceived += (_, e) => _log.Add(e.Data);
        process.ErrorDataReceived += (_, e) => _log.Add(e.Data);
        _log.Add($"--- starting {executable} on 127.0.0.1:{port}");
        _process = process;
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        var readyUri = new Uri($"http://127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}/-/ready");
        // Ready, and ours: another process may have won the race for the port.
        return await ServerProcesses.WaitUntilUpAsync(
            process,
            _log,
            "alertmanager",
            _options.StartupTimeout,
            ReadyPollInterval,
            async ct => !await IsReadyAsync(readyUri, ct) ? null : await RunsOurConfigAsync(port, ct) ? StartOutcome.Ready : StartOutcome.PortTaken,
            () => _log.Contains("address already in use"),
            cancellationToken);
    }

    private Task<bool> IsReadyAsync(Uri readyUri, CancellationToken cancellationToken) => ServerProcesses.IsReadyAsync(_http, readyUri, cancellationToken);

    private async Task<bool> RunsOurConfigAsync(int port, CancellationToken cancellationToken)
    {
        try
        {
            var json = await _http.GetStringAsync(new Uri($"http://127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}/api/v2/status"), cancellationToken);
            using var document = JsonDocument.Parse(json);
            return document.RootElement.TryGetProperty("config", out var config)
                && config.TryGetProperty("original", out var original)
                && (original.GetString() ?? "").Contains(ReceiverName, StringComparison.Ordinal);
        }
        catch (Exception ex) when (ex is HttpRequestException or JsonException or InvalidOperationException
            || (ex is TaskCanceledException && !cancellationToken.IsCancellationRequested))
        {
            return false;
        }
    }

    private Task StopProcessAsync() => ServerProcesses.StopAsync(Interlocked.Exchange(ref _process, null), ExitTimeout, _log, "alertmanager");

    private string BuildConfig()
    {
        static string Seconds(TimeSpan t) => ((long)Math.Ceiling(t.TotalSeconds)).ToString(CultureInfo.InvariantCulture) + "s";
        return "global:\n"
            + $"  resolve_timeout: {Seconds(_options.ResolveTimeout)}\n"
            + "route:\n"
            + $"  receiver: {ReceiverName}\n"
            + $"  group_wait: {Seconds(_options.GroupWait)}\n"
            + "  group_interval: 1s\n"
            + "  repeat_interval: 1h\n"
            + "receivers:\n"
            + $"  - name: {ReceiverName}\n";
    }

    private static string FindAlertmanager()
    {
        var path = Environment.GetEnvironmentVariable("PATH") ?? string.Empty;
        var candidates = path.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .SelectMany(d => new[] { Path.Combine(d, "prometheus-alertmanager"), Path.Combine(d, "alertmanager") })
            .Append("/usr/bin/prometheus-alertmanager");
        foreach (var candidate in candidates)
        {
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        throw new InvalidOperationException(
            "Neither 'prometheus-alertmanager' nor 'alertmanager' was found on PATH. These tests need a real Alertmanager: install the Debian package "
            + "'prometheus-alertmanager' (apt-get install -y prometheus-alertmanager, or scripts/install-deps).");
    }
}
