using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using RollbackSentinel.Testing.Net;
using RollbackSentinel.Testing.Prometheus;

namespace RollbackSentinel.Testing.InfluxDb;

/// <summary>
/// A real InfluxDB 1.x (<c>influxd</c>) on free loopback ports, with its meta, data and WAL directories in a temporary
/// folder. Both ports it binds are moved: the HTTP API and the RPC service (8088 by default, used by backup and restore),
/// so it never collides with an installed InfluxDB or another test's. Disposing kills the process and deletes the folder,
/// also after a failed start.
/// </summary>
/// <example>
/// <code>
/// await using var influx = await InfluxDbServer.StartAsync(new InfluxDbServerOptions(), ct);
/// await influx.CreateDatabaseAsync("app", ct);
/// await influx.WriteAsync("app", "http,pod=a errors=1 1700000000", ct);
/// </code>
/// </example>
public sealed class InfluxDbServer : IAsyncDisposable
{
    private const int MaxStartAttempts = 5;
    private static readonly TimeSpan ReadyPollInterval = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan ExitTimeout = TimeSpan.FromSeconds(10);

    private readonly DirectoryInfo _root;
    private readonly InfluxDbServerOptions _options;
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(10) };
    private readonly BoundedLog _log = new();
    private Process? _process;
    private int _disposed;

    private InfluxDbServer(DirectoryInfo root, InfluxDbServerOptions options)
    {
        _root = root;
        _options = options;
    }

    /// <summary>The HTTP API root, e.g. <c>http://127.0.0.1:41234/</c>.</summary>
    public Uri BaseAddress { get; private set; } = new("http://127.0.0.1/");

    /// <summary>The admin user when <see cref="InfluxDbServerOptions.AuthEnabled"/>, else null.</summary>
    public string? Username => _options.AuthEnabled ? _options.AdminUsername : null;

    /// <summary>The admin password when <see cref="InfluxDbServerOptions.AuthEnabled"/>, else null.</summary>
    public string? Password => _options.AuthEnabled ? _options.AdminPassword : null;

    /// <summary>The last lines influxd logged, for diagnosing a failing test.</summary>
    public string RecentLog => _log.ToString();

    public static async Task<InfluxDbServer> StartAsync(InfluxDbServerOptions options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        var influxd = FindOnPath("influxd");
        var server = new InfluxDbServer(Directory.CreateTempSubdirectory("rollbacksentinel-influxdb-"), options);
        try
        {
            await server.StartCoreAsync(influxd, cancellationToken);
            return server;
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    /// <summary><c>CREATE DATABASE "name"</c> (with the default retention policy <c>autogen</c>, which keeps points forever).</summary>
    public Task CreateDatabaseAsync(string name, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        return QueryAsync($"CREATE DATABASE {QuoteIdentifier(name)}", cancellationToken);
    }

    /// <summary>Creates a user with no privileges, or with READ on <paramref name="readDatabase"/>.</summary>
    public async Task CreateUserAsync(string username, string password, string? readDatabase, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(username);
        ArgumentNullException.ThrowIfNull(password);
        await QueryAsync($"CREATE USER {QuoteIdentifier(username)} WITH PASSWORD {QuoteString(password)}", cancellationToken);
        if (readDatabase is not null)
        {
            await QueryAsync($"GRANT READ ON {QuoteIdentifier(readDatabase)} TO {QuoteIdentifier(username)}", cancellationToken);
        }
    }

    /// <summary>
    /// Writes <paramref name="lineProtocol"/> (one point per line, timestamps in epoch seconds) to <paramref name="database"/>;
    /// throws with InfluxDB's message when it refuses any line (a field type conflict refuses the whole batch).
    /// </summary>
    public async Task WriteAsync(string database, string lineProtocol, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(database);
        ArgumentNullException.ThrowIfNull(lineProtocol);
        var uri = new Uri(BaseAddress, $"write?db={Uri.EscapeDataString(database)}&precision=s");
        using var request = new HttpRequestMessage(HttpMethod.Post, uri) { Content = new StringContent(lineProtocol, Encoding.UTF8, "text/plain") };
        Authorize(request);
        using var response = await _http.SendAsync(request, cancellationToken);
        if (response.StatusCode != HttpStatusCode.NoContent)
        {
            throw new InvalidOperationException(
                $"InfluxDB refused the write to '{database}' (HTTP {(int)response.StatusCode}): {await response.Content.ReadAsStringAsync(cancellationToken)}");
        }
    }

    /// <summary>Runs an InfluxQL statement as the admin (POST, so writes are allowed); throws when InfluxDB reports an error.</summary>
    public async Task<string> QueryAsync(string statement, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(statement);
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(BaseAddress, "query"))
        {
            Content = new FormUrlEncodedContent([new("q", statement)]),
        };
        Authorize(request);
        using var response = await _http.SendAsync(request, cancellationToken);
        var body = await response.Content.ReadAsStringAsync(cancellationToken);

        // A statement's own error comes back with 200 inside the results.
        if (response.StatusCode != HttpStatusCode.OK || body.Contains("\"error\"", StringComparison.Ordinal))
        {
            throw new InvalidOperationException($"InfluxDB refused '{statement}' (HTTP {(int)response.StatusCode}): {body}");
        }

        return body;
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

    private async Task StartCoreAsync(string influxd, CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            var httpPort = FreePort.Next();
            var rpcPort = FreePort.Next();
            var configFile = Path.Combine(_root.FullName, "influxdb.conf");
            await File.WriteAllTextAsync(configFile, BuildConfig(httpPort, rpcPort), cancellationToken);
            var outcome = await TryStartAsync(influxd, configFile, httpPort, rpcPort, cancellationToken);
            if (outcome == StartOutcome.Ready)
            {
                BaseAddress = new Uri($"http://127.0.0.1:{httpPort}/");
                break;
            }

            await StopProcessAsync();
            if (outcome != StartOutcome.PortTaken || attempt == MaxStartAttempts)
            {
                throw new InvalidOperationException(
                    $"influxd did not become ready on 127.0.0.1:{httpPort} (RPC 127.0.0.1:{rpcPort}; attempt {attempt}, {outcome}). Its last output:"
                    + Environment.NewLine + _log);
            }
        }

        if (_options.AuthEnabled)
        {
            // Allowed without credentials while the server has no user at all.
            await QueryAsync(
                $"CREATE USER {QuoteIdentifier(_options.AdminUsername)} WITH PASSWORD {QuoteString(_options.AdminPassword)} WITH ALL PRIVILEGES", cancellationToken);
        }
    }

    private async Task<StartOutcome> TryStartAsync(string influxd, string configFile, int httpPort, int rpcPort, CancellationToken cancellationToken)
    {
        var info = new ProcessStartInfo(influxd)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = false,
        };
        info.ArgumentList.Add("-config");
        info.ArgumentList.Add(configFile);

        // influxd reads INFLUXDB_* variables over its config file; one set in the environment must not move our ports or folders.
        foreach (var name in Environment.GetEnvironmentVariables().Keys.Cast<string>().Where(n => n.StartsWith("INFLUXDB_", StringComparison.Ordinal)))
        {
            info.Environment.Remove(name);
        }

        var process = new Process { StartInfo = info };
        process.OutputDataReceived += (_, e) => _log.Add(e.Data);
        process.ErrorDataReceived += (_, e) => _log.Add(e.Data);
        _log.Add($"--- starting influxd on 127.0.0.1:{httpPort} (RPC {rpcPort})");
        _process = process;
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        var pingUri = new Uri($"http://127.0.0.1:{httpPort}/ping");

        // /ping answers 204, and says nothing of whose server it is: another process may have won the race for the port,
        // so ours must also have logged that it listens there (a bind failure makes it exit instead).
        var listening = $"addr=127.0.0.1:{httpPort} ";
        return await ServerProcesses.WaitUntilUpAsync(
            process,
            _log,
            "influxd",
            _options.StartupTimeout,
            ReadyPollInterval,
            async ct => _log.Contains(listening) && await PingsAsync(pingUri, ct) ? StartOutcome.Ready : null,
            () => _log.Contains("address already in use"),
            cancellationToken);
    }

    private async Task<bool> PingsAsync(Uri pingUri, CancellationToken cancellationToken)
    {
        try
        {
            using var response = await _http.GetAsync(pingUri, cancellationToken);
            return response.StatusCode == HttpStatusCode.NoContent;
        }
        catch (HttpRequestException)
        {
            return false;
        }
        catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return false;
        }
    }

    private void Authorize(HttpRequestMessage request)
    {
        if (_options.AuthEnabled)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue(
                "Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{_options.AdminUsername}:{_options.AdminPassword}")));
        }
    }

    private Task StopProcessAsync() => ServerProcesses.StopAsync(Interlocked.Exchange(ref _process, null), ExitTimeout, _log, "influxd");

    private string BuildConfig(int httpPort, int rpcPort)
    {
        var root = _root.FullName;
        return string.Create(
            CultureInfo.InvariantCulture,
            $"""
            reporting-disabled = true
            bind-address = "127.0.0.1:{rpcPort}"

            [meta]
              dir = "{Path.Combine(root, "meta")}"

            [data]
              dir = "{Path.Combine(root, "data")}"
              wal-dir = "{Path.Combine(root, "wal")}"
              query-log-enabled = false

            [coordinator]
              # A test's mistaken GROUP BY time(1s) over years must fail, not eat the machine's memory.
              max-select-buckets = 100000

            [monitor]
              store-enabled = false

            [continuous_queries]
              enabled = false

            [http]
              bind-address = "127.0.0.1:{httpPort}"
              auth-enabled = {(_options.AuthEnabled ? "true" : "false")}
              log-enabled = false

            [logging]
              suppress-logo = true

            """);
    }

    private static string QuoteIdentifier(string name) =>
        "\"" + name.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal) + "\"";

    private static string QuoteString(string value) =>
        "'" + value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("'", "\\'", StringComparison.Ordinal) + "'";

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
            $"'{tool}' was not found on PATH. These tests need a real InfluxDB 1.x: install the Debian package 'influxdb' "
            + "(apt-get install -y influxdb, or scripts/install-deps), which provides influxd.");
    }
}
