using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using RollbackSentinel.Core.Policies;

namespace RollbackSentinel.Actions.HAProxy;

/// <summary>Why a runtime API command did not get a usable answer.</summary>
internal enum HAProxyErrorKind
{
    /// <summary>The socket could not be reached, or the connection broke: safe to retry an absolute command.</summary>
    Unreachable,

    /// <summary>No complete answer within the timeout: safe to retry an absolute command.</summary>
    TimedOut,

    /// <summary>HAProxy answered with an error ("No such server.", "Can't find backend."): retrying gets the same answer.</summary>
    Refused,

    /// <summary>The answer could not be understood.</summary>
    Malformed,
}

/// <summary>A runtime API command that failed; the message names the socket and, for a refusal, quotes HAProxy's answer.</summary>
internal sealed class HAProxyRuntimeException : Exception
{
    public HAProxyRuntimeException(HAProxyErrorKind kind, string message, Exception? innerException = null)
        : base(message, innerException) => Kind = kind;

    public HAProxyRuntimeException(string message, Exception innerException)
        : this(HAProxyErrorKind.Unreachable, message, innerException)
    {
    }

    public HAProxyRuntimeException(string message)
        : this(HAProxyErrorKind.Refused, message)
    {
    }

    public HAProxyRuntimeException()
        : this(HAProxyErrorKind.Refused, "the HAProxy runtime API command failed")
    {
    }

    public HAProxyErrorKind Kind { get; }

    /// <summary>Whether sending the same (absolute) command again may succeed.</summary>
    public bool Retryable => Kind is HAProxyErrorKind.Unreachable or HAProxyErrorKind.TimedOut;
}

/// <summary>One server of a backend as <c>show servers state</c> reports it.</summary>
/// <param name="Name">srv_name.</param>
/// <param name="Address">srv_addr:srv_port (the port when the answer has it).</param>
/// <param name="Weight">srv_uweight: the weight currently set (what <c>set weight</c> changes).</param>
/// <param name="InitialWeight">srv_iweight: the weight from the configuration.</param>
/// <param name="OperationalState">srv_op_state: 0 stopped, 1 starting, 2 running, 3 stopping.</param>
/// <param name="AdminState">srv_admin_state bits (see <see cref="HAProxyAdminFlags"/>).</param>
internal sealed record HAProxyServerStatus(string Name, string Address, int Weight, int InitialWeight, int OperationalState, HAProxyAdminFlags AdminState)
{
    /// <summary>The administrative state, as <c>set server ... state</c> sets it: any maintenance bit wins over drain.</summary>
    public HAProxyServerState State =>
        (AdminState & HAProxyAdminFlags.AnyMaint) != 0 ? HAProxyServerState.Maint
        : (AdminState & HAProxyAdminFlags.AnyDrain) != 0 ? HAProxyServerState.Drain
        : HAProxyServerState.Ready;

    /// <summary>Ready by administration but not running by checks (down, starting, stopping): said next to the state.</summary>
    public string? Health =>
        State != HAProxyServerState.Ready ? null
        : OperationalState switch
        {
            0 => "down",
            1 => "starting",
            3 => "stopping",
            _ => null,
        };

    /// <summary>"blue weight 0 ready", "green weight 100 drain", "blue weight 100 ready (down)".</summary>
    public string Describe() =>
        $"{Name} weight {Weight.ToString(CultureInfo.InvariantCulture)} {HAProxyRuntimeClient.Word(State)}{(Health is { } h ? $" ({h})" : "")}";
}

/// <summary>srv_admin_state bits (HAProxy <c>enum srv_admin</c>).</summary>
[Flags]
public enum HAProxyAdminFlags
{
    None = 0,

    /// <summary>Forced maintenance (<c>set server state maint</c>, <c>disable server</c>).</summary>
    ForcedMaint = 0x01,

    /// <summary>Maintenance inherited from a tracked server.</summary>
    InheritedMaint = 0x02,

    /// <summary>Maintenance from the configuration (<c>disabled</c>).</summary>
    ConfigMaint = 0x04,

    /// <summary>Forced drain (<c>set server state drain</c>).</summary>
    ForcedDrain = 0x08,

    /// <summary>Drain inherited from a tracked server.</summary>
    InheritedDrain = 0x10,

    /// <summary>Maintenance because its address did not resolve.</summary>
    ResolutionMaint = 0x20,

    /// <summary>Maintenance because its hostname resolution is pending.</summary>
    HostnameMaint = 0x40,

    AnyMaint = ForcedMaint | InheritedMaint | ConfigMaint | ResolutionMaint | HostnameMaint,
    AnyDrain = ForcedDrain | InheritedDrain,
}

/// <summary>
/// The HAProxy runtime API (the <c>stats socket</c>), over a unix socket (<c>unix:///run/haproxy/admin.sock</c>)
/// or TCP (<c>tcp://127.0.0.1:9999</c>). Non-interactive: one command per connection, answered and closed by HAProxy.
/// </summary>
internal sealed class HAProxyRuntimeClient
{
    /// <summary>Answers past this size are refused (a runtime API answer to the commands used here is a few lines).</summary>
    public const int MaxAnswerBytes = 4 * 1024 * 1024;

    private readonly TimeProvider _time;

    public HAProxyRuntimeClient(Uri endpoint, TimeSpan timeout, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(timeout, TimeSpan.Zero);
        if (endpoint.Scheme != "unix" && !(endpoint.Scheme == "tcp" && endpoint.Port > 0))
        {
            throw new ArgumentException($"'{endpoint}' is not a runtime API address: use unix:///path/to/socket or tcp://host:port", nameof(endpoint));
        }

        Endpoint = endpoint;
        Timeout = timeout;
        _time = time;
    }

    public Uri Endpoint { get; }

    public TimeSpan Timeout { get; }

    /// <summary>The socket as an operator writes it: <c>unix:///run/haproxy/admin.sock</c>, <c>tcp://127.0.0.1:9999</c>.</summary>
    public string Where => Endpoint.Scheme == "unix" ? "unix://" + SocketPath(Endpoint) : $"tcp://{Endpoint.Host}:{Endpoint.Port}";

    /// <summary>A unix socket address's file path (<c>unix:///a/b.sock</c> -> <c>/a/b.sock</c>; <c>unix://./b.sock</c> -> <c>./b.sock</c>).</summary>
    public static string SocketPath(Uri endpoint)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        var path = Uri.UnescapeDataString(endpoint.AbsolutePath);
        return string.IsNullOrEmpty(endpoint.Host) ? path : endpoint.Host + path;
    }

    /// <summary>
    /// Sends one command line and returns the whole answer (read until HAProxy closes the connection).
    /// Throws <see cref="HAProxyRuntimeException"/> (Unreachable or TimedOut) when there is no complete answer:
    /// HAProxy ends every answer with an empty line, so a connection closed with no byte at all is not an answer.
    /// </summary>
    public async Task<string> SendAsync(string command, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(command);
        if (command.Contains('\n', StringComparison.Ordinal) || command.Contains('\r', StringComparison.Ordinal))
        {
            throw new ArgumentException("a runtime API command is one line", nameof(command));
        }

        using var deadline = new CancellationTokenSource(Timeout, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, deadline.Token);
        try
        {
            using var socket = await ConnectAsync(linked.Token).ConfigureAwait(false);
            await socket.SendAsync(Encoding.ASCII.GetBytes(command + "\n"), SocketFlags.None, linked.Token).ConfigureAwait(false);
            using var answer = new MemoryStream();
            var buffer = new byte[16 * 1024];
            while (true)
            {
                var read = await socket.ReceiveAsync(buffer, SocketFlags.None, linked.Token).ConfigureAwait(false);
                if (read == 0)
                {
                    break;
                }

                if (answer.Length + read > MaxAnswerBytes)
                {
                    throw new HAProxyRuntimeException(HAProxyErrorKind.Malformed, $"HAProxy runtime API {Where} answered '{command}' with more than {MaxAnswerBytes} bytes");
                }

                answer.Write(buffer, 0, read);
            }

            if (answer.Length == 0)
            {
                // HAProxy ends every answer with an empty line, so even a success says "\n": nothing at all means
                // the connection was closed before the command was answered (a reload, a proxy in between).
                throw new HAProxyRuntimeException(HAProxyErrorKind.Unreachable, $"HAProxy runtime API {Where} closed the connection without answering '{command}'");
            }

            return Encoding.UTF8.GetString(answer.GetBuffer(), 0, (int)answer.Length);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new HAProxyRuntimeException(HAProxyErrorKind.TimedOut, $"HAProxy runtime API {Where} did not answer '{command}' within {PromDuration.Format(Timeout)}");
        }
        catch (SocketException e)
        {
            throw new HAProxyRuntimeException(HAProxyErrorKind.Unreachable, Unreachable(e), e);
        }
        catch (IOException e)
        {
            throw new HAProxyRuntimeException(HAProxyErrorKind.Unreachable, $"HAProxy runtime API {Where}: the connection broke: {e.Message}", e);
        }
    }

    /// <summary>
    /// <c>show servers state BACKEND</c>: the backend's servers, in configuration order. An unknown backend is a
    /// Refused <see cref="HAProxyRuntimeException"/> quoting HAProxy ("Can't find backend.").
    /// </summary>
    public async Task<IReadOnlyList<HAProxyServerStatus>> ShowServersStateAsync(string backend, CancellationToken cancellationToken)
    {
        var command = "show servers state " + CheckName(backend, "backend");
        return ParseServersState(await SendAsync(command, cancellationToken).ConfigureAwait(false), backend, Where);
    }

    /// <summary><c>set weight BACKEND/SERVER W</c> (absolute, 0-256).</summary>
    public Task SetWeightAsync(string backend, string server, int weight, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(weight);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(weight, 256);
        return RunSetAsync(SetWeightCommand(backend, server, weight), cancellationToken);
    }

    /// <summary><c>set server BACKEND/SERVER state ready|drain|maint</c>.</summary>
    public Task SetStateAsync(string backend, string server, HAProxyServerState state, CancellationToken cancellationToken) =>
        RunSetAsync(SetStateCommand(backend, server, state), cancellationToken);

    /// <summary>Sends a command whose success is an empty answer; any text back is HAProxy refusing it.</summary>
    public async Task RunSetAsync(string command, CancellationToken cancellationToken)
    {
        var answer = (await SendAsync(command, cancellationToken).ConfigureAwait(false)).Trim();
        if (answer.Length > 0)
        {
            throw new HAProxyRuntimeException(HAProxyErrorKind.Refused, $"HAProxy runtime API {Where} refused '{command}': {OneLine(answer)}");
        }
    }

    public static string SetWeightCommand(string backend, string server, int weight) =>
        $"set weight {CheckName(backend, "backend")}/{CheckName(server, "server")} {weight.ToString(CultureInfo.InvariantCulture)}";

    public static string SetStateCommand(string backend, string server, HAProxyServerState state) =>
        $"set server {CheckName(backend, "backend")}/{CheckName(server, "server")} state {Word(state)}";

    /// <summary>ready, drain, maint: as the runtime API and policies write them.</summary>
    public static string Word(HAProxyServerState state) => state switch
    {
        HAProxyServerState.Ready => "ready",
        HAProxyServerState.Drain => "drain",
        HAProxyServerState.Maint => "maint",
        _ => throw new ArgumentOutOfRangeException(nameof(state), state, null),
    };

    /// <summary>
    /// HAProxy names are letters, digits and <c>-_.:</c>; anything else (a space, <c>;</c>, a newline) would split
    /// or inject a command, so it is refused before sending.
    /// </summary>
    public static string CheckName(string name, string what)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (name.Length == 0 || !name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or ':'))
        {
            throw new ArgumentException($"'{name}' is not a valid HAProxy {what} name (letters, digits, '-', '_', '.', ':')", what);
        }

        return name;
    }

    /// <summary>Parses a <c>show servers state</c> answer (version line, <c># column names</c> header, one line per server).</summary>
    public static IReadOnlyList<HAProxyServerStatus> ParseServersState(string answer, string backend, string where)
    {
        ArgumentNullException.ThrowIfNull(answer);
        var lines = answer.Split('\n', StringSplitOptions.TrimEntries).Where(l => l.Length > 0).ToList();
        if (lines.Count == 0)
        {
            throw new HAProxyRuntimeException(HAProxyErrorKind.Malformed, $"HAProxy runtime API {where} answered 'show servers state {backend}' with nothing");
        }

        if (!int.TryParse(lines[0], NumberStyles.None, CultureInfo.InvariantCulture, out var version))
        {
            // "Can't find backend.", "Permission denied.", "Unknown command..."
            throw new HAProxyRuntimeException(HAProxyErrorKind.Refused, $"HAProxy runtime API {where} refused 'show servers state {backend}': {OneLine(answer.Trim())}");
        }

        if (version != 1)
        {
            throw new HAProxyRuntimeException(HAProxyErrorKind.Malformed, $"HAProxy runtime API {where} answered 'show servers state' in format {version}; only format 1 is understood");
        }

        var header = lines.Count > 1 && lines[1].StartsWith('#') ? lines[1][1..].Split(' ', StringSplitOptions.RemoveEmptyEntries) : null;
        if (header is null)
        {
            throw new HAProxyRuntimeException(HAProxyErrorKind.Malformed, $"HAProxy runtime API {where} answered 'show servers state' without its '# be_id be_name ...' header");
        }

        int Column(string name)
        {
            var index = Array.IndexOf(header, name);
            return index >= 0 ? index : throw new HAProxyRuntimeException(HAProxyErrorKind.Malformed, $"HAProxy runtime API {where}: 'show servers state' has no column {name}");
        }

        var beName = Column("be_name");
        var srvName = Column("srv_name");
        var srvAddr = Column("srv_addr");
        var opState = Column("srv_op_state");
        var adminState = Column("srv_admin_state");
        var uweight = Column("srv_uweight");
        var iweight = Column("srv_iweight");
        var port = Array.IndexOf(header, "srv_port");
        var servers = new List<HAProxyServerStatus>();
        foreach (var line in lines.Skip(2))
        {
            var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length < header.Length - 1 || fields.Length <= Math.Max(port, new[] { beName, srvName, srvAddr, opState, adminState, uweight, iweight }.Max()))
            {
                throw new HAProxyRuntimeException(HAProxyErrorKind.Malformed, $"HAProxy runtime API {where}: cannot read server line '{line}'");
            }

            if (fields[beName] != backend)
            {
                continue;
            }

            var address = port >= 0 && fields[port] is { } p && p != "-" && p != "0" ? $"{fields[srvAddr]}:{p}" : fields[srvAddr];
            servers.Add(new HAProxyServerStatus(
                fields[srvName],
                address,
                Number(fields[uweight], line, where),
                Number(fields[iweight], line, where),
                Number(fields[opState], line, where),
                (HAProxyAdminFlags)Number(fields[adminState], line, where)));
        }

        return servers;
    }

    private static int Number(string field, string line, string where) =>
        int.TryParse(field, NumberStyles.None, CultureInfo.InvariantCulture, out var n)
            ? n
            : throw new HAProxyRuntimeException(HAProxyErrorKind.Malformed, $"HAProxy runtime API {where}: '{field}' is not a number in server line '{line}'");

    private async Task<Socket> ConnectAsync(CancellationToken cancellationToken)
    {
        Socket socket;
        EndPoint endPoint;
        if (Endpoint.Scheme == "unix")
        {
            socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            endPoint = new UnixDomainSocketEndPoint(SocketPath(Endpoint));
        }
        else
        {
            endPoint = IPAddress.TryParse(Endpoint.Host.Trim('[', ']'), out var ip) ? new IPEndPoint(ip, Endpoint.Port) : new DnsEndPoint(Endpoint.Host, Endpoint.Port);
            socket = ip is null ? new Socket(SocketType.Stream, ProtocolType.Tcp) : new Socket(ip.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            socket.NoDelay = true;
        }

        try
        {
            await socket.ConnectAsync(endPoint, cancellationToken).ConfigureAwait(false);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private string Unreachable(SocketException e)
    {
        if (Endpoint.Scheme == "unix")
        {
            var path = SocketPath(Endpoint);
            var why = e.SocketErrorCode switch
            {
                _ when !File.Exists(path) && !Directory.Exists(path) => "no such socket file",
                SocketError.ConnectionRefused => "nothing listens on it (connection refused)",
                SocketError.AccessDenied => "permission denied",
                _ => e.Message,
            };
            return $"cannot connect to the HAProxy runtime API {Where}: {why}";
        }

        return $"cannot connect to the HAProxy runtime API {Where}: {(e.SocketErrorCode == SocketError.ConnectionRefused ? "connection refused" : e.Message)}";
    }

    private static string OneLine(string text)
    {
        var one = string.Join(" ", text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        return one.Length > 300 ? one[..300] + "..." : one;
    }
}
