using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using RollbackSentinel.Testing.Net;
using RollbackSentinel.Testing.Prometheus;

namespace RollbackSentinel.Testing.HAProxy;

/// <summary>
/// A real HAProxy (<c>haproxy -f cfg -db</c>, in the foreground) with an HTTP frontend on a free loopback port,
/// one backend of the given servers, and its runtime API on a unix socket and/or a TCP admin port. Ready once the
/// frontend accepts connections and the admin socket answers <c>show info</c> with this process's pid. Disposing
/// kills the process and deletes its directory, also after a failed start (whose exception carries HAProxy's output).
/// </summary>
/// <example>
/// <code>
/// await using var haproxy = await HAProxyServer.StartAsync(new HAProxyServerOptions
/// {
///     Servers = [HAProxyBackendServer.At("blue", blue.BaseAddress, 0), HAProxyBackendServer.At("green", green.BaseAddress, 100)],
///     TcpAdmin = true,
/// }, ct);
/// var answer = await haproxy.SendCommandAsync("show servers state shop", ct);
/// </code>
/// </example>
public sealed class HAProxyServer : IAsyncDisposable
{
    private const int MaxStartAttempts = 5;

    /// <summary>Longest unix socket path (sun_path is 108 bytes with its terminating NUL).</summary>
    private const int MaxSocketPathBytes = 107;

    private static readonly TimeSpan ReadyPollInterval = TimeSpan.FromMilliseconds(50);
    private static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan ExitTimeout = TimeSpan.FromSeconds(10);

    private readonly DirectoryInfo _root;
    private readonly HAProxyServerOptions _options;
    private readonly BoundedLog _log = new();
    private Process? _process;
    private int _disposed;

    private HAProxyServer(DirectoryInfo root, HAProxyServerOptions options)
    {
        _root = root;
        _options = options;
        ConfigFile = Path.Combine(root.FullName, "haproxy.cfg");
        SocketPath = options.UnixSocket ? options.UnixSocketPath ?? Path.Combine(root.FullName, "admin.sock") : null;
    }

    /// <summary>The HTTP frontend, e.g. <c>http://127.0.0.1:41234/</c>.</summary>
    public Uri FrontendAddress => new($"http://127.0.0.1:{FrontendPort.ToString(CultureInfo.InvariantCulture)}/");

    public int FrontendPort { get; private set; }

    /// <summary>The backend's name, as the runtime API addresses it.</summary>
    public string Backend => _options.Backend;

    /// <summary>The admin unix socket's path, or null when there is none.</summary>
    public string? SocketPath { get; }

    /// <summary>The admin unix socket as a runtime API address (<c>unix:///tmp/.../admin.sock</c>), or null.</summary>
    public Uri? RuntimeApi => SocketPath is null ? null : new Uri("unix://" + SocketPath);

    /// <summary>The TCP admin port, or null when there is none.</summary>
    public int? TcpAdminPort { get; private set; }

    /// <summary>The TCP admin socket as a runtime API address (<c>tcp://127.0.0.1:PORT</c>), or null.</summary>
    public Uri? TcpRuntimeApi => TcpAdminPort is { } port ? new Uri($"tcp://127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}") : null;

    /// <summary>The configuration file HAProxy runs with; its text is <see cref="Config"/>.</summary>
    public string ConfigFile { get; }

    public string Config { get; private set; } = "";

    /// <summary>The HAProxy process id (also its <c>show info</c> Pid: it runs in the foreground).</summary>
    public int ProcessId { get; private set; }

    /// <summary>The last lines HAProxy wrote, for diagnosing a failing test.</summary>
    public string RecentLog => _log.ToString();

    public static async Task<HAProxyServer> StartAsync(HAProxyServerOptions options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        var haproxy = options.Executable ?? FindHAProxy();
        var server = new HAProxyServer(Directory.CreateTempSubdirectory("rs-haproxy-"), options);
        try
        {
            if (server.SocketPath is { } path && Encoding.UTF8.GetByteCount(path) > MaxSocketPathBytes)
            {
                throw new InvalidOperationException($"the unix socket path {path} is longer than {MaxSocketPathBytes} bytes: choose a shorter UnixSocketPath");
            }

            await server.StartCoreAsync(haproxy, cancellationToken);
            return server;
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// Sends one runtime API command (non-interactive: HAProxy answers and closes) over the unix socket, or the TCP
    /// admin port when there is no unix socket, and returns the raw answer.
    /// </summary>
    public async Task<string> SendCommandAsync(string command, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(command);
        EndPoint endPoint = SocketPath is { } path ? new UnixDomainSocketEndPoint(path)
            : TcpAdminPort is { } port ? new IPEndPoint(IPAddress.Loopback, port)
            : throw new InvalidOperationException("this HAProxy has no admin socket: set UnixSocket or TcpAdmin");
        return await SendAsync(endPoint, command, cancellationToken);
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        await StopProcessAsync();
        await ServerProcesses.DeleteDirectoryAsync(_root);
    }

    private async Task StartCoreAsync(string haproxy, CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            FrontendPort = _options.FrontendPort ?? FreePort.Next();
            TcpAdminPort = _options.TcpAdmin ? _options.TcpAdminPort ?? FreePort.Next() : null;
            Config = BuildConfig();
            await File.WriteAllTextAsync(ConfigFile, Config, cancellationToken);

            var outcome = await TryStartAsync(haproxy, cancellationToken);
            if (outcome == StartOutcome.Ready)
            {
                return;
            }

            await StopProcessAsync();
            var retryable = outcome == StartOutcome.PortTaken && _options.FrontendPort is null && (!_options.TcpAdmin || _options.TcpAdminPort is null);
            if (!retryable || attempt == MaxStartAttempts)
            {
                throw new InvalidOperationException(
                    $"HAProxy did not become ready (attempt {attempt}, {outcome}; frontend 127.0.0.1:{FrontendPort}"
                    + (SocketPath is null ? "" : $", socket {SocketPath}")
                    + (TcpAdminPort is { } p ? $", admin 127.0.0.1:{p}" : "")
                    + "). Its last output:" + Environment.NewLine + _log
                    + Environment.NewLine + "Its configuration:" + Environment.NewLine + Config);
            }
        }
    }

    private async Task<StartOutcome> TryStartAsync(string haproxy, CancellationToken cancellationToken)
    {
        var info = new ProcessStartInfo(haproxy)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
        };
        info.ArgumentList.Add("-f");
        info.ArgumentList.Add(ConfigFile);
        info.ArgumentList.Add("-db");
        var process = new Process { StartInfo = info };
        process.OutputDataReceived += (_, e) => _log.Add(e.Data);
        process.ErrorDataReceived += (_, e) => _log.Add(e.Data);
        _log.Add($"--- starting {haproxy} -f {ConfigFile} -db (frontend 127.0.0.1:{FrontendPort})");
        _process = process;
        process.Start();
        ProcessId = process.Id;
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        return await ServerProcesses.WaitUntilUpAsync(
            process,
            _log,
            "haproxy",
            _options.StartupTimeout,
            ReadyPollInterval,
            async ct => await IsReadyAsync(ct) ? StartOutcome.Ready : null,
            () => _log.Contains("cannot bind socket") || _log.Contains("Address already in use"),
            cancellationToken);
    }

    /// <summary>The frontend accepts connections and every admin socket answers as this process.</summary>
    private async Task<bool> IsReadyAsync(CancellationToken cancellationToken)
    {
        if (!await AcceptsAsync(new IPEndPoint(IPAddress.Loopback, FrontendPort), cancellationToken))
        {
            return false;
        }

        var expected = $"Pid: {ProcessId.ToString(CultureInfo.InvariantCulture)}";
        if (SocketPath is { } path && !await AnswersAsAsync(new UnixDomainSocketEndPoint(path), expected, cancellationToken))
        {
            return false;
        }

        return TcpAdminPort is not { } port || await AnswersAsAsync(new IPEndPoint(IPAddress.Loopback, port), expected, cancellationToken);
    }

    private static async Task<bool> AcceptsAsync(IPEndPoint endPoint, CancellationToken cancellationToken)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(ProbeTimeout);
        try
        {
            await socket.ConnectAsync(endPoint, timeout.Token);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return false;
        }
    }

    private static async Task<bool> AnswersAsAsync(EndPoint endPoint, string expected, CancellationToken cancellationToken)
    {
        try
        {
            var info = await SendAsync(endPoint, "show info", cancellationToken);
            return info.Split('\n').Any(l => l.Trim() == expected);
        }
        catch (Exception e) when (e is SocketException or IOException || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            return false;
        }
    }

    private static async Task<string> SendAsync(EndPoint endPoint, string command, CancellationToken cancellationToken)
    {
        using var socket = endPoint is UnixDomainSocketEndPoint
            ? new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified)
            : new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(ProbeTimeout);
        await socket.ConnectAsync(endPoint, timeout.Token);
        await socket.SendAsync(Encoding.ASCII.GetBytes(command + "\n"), SocketFlags.None, timeout.Token);
        using var answer = new MemoryStream();
        var buffer = new byte[8192];
        int read;
        while ((read = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token)) > 0)
        {
            answer.Write(buffer, 0, read);
        }

        return Encoding.UTF8.GetString(answer.GetBuffer(), 0, (int)answer.Length);
    }

    private string BuildConfig()
    {
        static string N(int n) => n.ToString(CultureInfo.InvariantCulture);
        var sb = new StringBuilder()
            .Append("global\n");
        if (SocketPath is { } path)
        {
            sb.Append($"  stats socket {path} mode 600 level admin\n");
        }

        if (TcpAdminPort is { } adminPort)
        {
            sb.Append($"  stats socket ipv4@127.0.0.1:{N(adminPort)} level admin\n");
        }

        foreach (var line in _options.ExtraGlobal)
        {
            sb.Append("  ").Append(line).Append('\n');
        }

        sb.Append("\ndefaults\n")
            .Append("  mode http\n")
            .Append("  timeout connect 2s\n")
            .Append("  timeout client 10s\n")
            .Append("  timeout server 10s\n");
        foreach (var line in _options.ExtraDefaults)
        {
            sb.Append("  ").Append(line).Append('\n');
        }

        sb.Append("\nfrontend fe\n")
            .Append($"  bind 127.0.0.1:{N(FrontendPort)}\n")
            .Append($"  default_backend {_options.Backend}\n")
            .Append($"\nbackend {_options.Backend}\n")
            .Append($"  balance {_options.Balance}\n");
        foreach (var line in _options.ExtraBackend)
        {
            sb.Append("  ").Append(line).Append('\n');
        }

        foreach (var server in _options.Servers)
        {
            sb.Append($"  server {server.Name} {server.Address} weight {N(server.Weight)}");
            if (_options.HealthChecks)
            {
                sb.Append(" check inter 100ms fall 1 rise 1");
            }

            if (server.Disabled)
            {
                sb.Append(" disabled");
            }

            sb.Append('\n');
        }

        return sb.ToString();
    }

    private Task StopProcessAsync() => ServerProcesses.StopAsync(Interlocked.Exchange(ref _process, null), ExitTimeout, _log, "haproxy");

    private static string FindHAProxy()
    {
        var path = Environment.GetEnvironmentVariable("PATH") ?? string.Empty;
        foreach (var candidate in path.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries).Select(d => Path.Combine(d, "haproxy")).Append("/usr/sbin/haproxy"))
        {
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        throw new InvalidOperationException(
            "'haproxy' was not found on PATH nor at /usr/sbin/haproxy. These tests need a real HAProxy: install the Debian package "
            + "'haproxy' (apt-get install -y haproxy, or scripts/install-deps).");
    }
}
