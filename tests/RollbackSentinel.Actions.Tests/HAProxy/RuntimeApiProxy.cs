using System.Net.Sockets;
using System.Text;

namespace RollbackSentinel.Actions.Tests.HAProxy;

/// <summary>
/// A unix socket in front of HAProxy's admin socket that records every command line it forwards, so tests can
/// say exactly what the adapter sent (and that a second run sent no <c>set</c> command). It can also misbehave
/// on purpose: hang up on the first connections without answering, or swallow <c>set</c> commands.
/// </summary>
internal sealed class RuntimeApiProxy : IAsyncDisposable
{
    private readonly string _upstream;
    private readonly Socket _listener;
    private readonly DirectoryInfo _dir;
    private readonly CancellationTokenSource _stopping = new();
    private readonly List<string> _commands = [];
    private readonly Lock _gate = new();
    private readonly Task _acceptLoop;
    private int _hangUps;

    public RuntimeApiProxy(string upstreamSocketPath)
    {
        _upstream = upstreamSocketPath;
        _dir = Directory.CreateTempSubdirectory("rs-proxy-");
        SocketPath = Path.Combine(_dir.FullName, "proxy.sock");
        _listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        _listener.Bind(new UnixDomainSocketEndPoint(SocketPath));
        _listener.Listen(16);
        _acceptLoop = AcceptLoopAsync();
    }

    public string SocketPath { get; }

    public Uri RuntimeApi => new("unix://" + SocketPath);

    /// <summary>Every command line received, in order (also those hung up on or swallowed).</summary>
    public IReadOnlyList<string> Commands
    {
        get
        {
            lock (_gate)
            {
                return [.. _commands];
            }
        }
    }

    /// <summary>The <c>set ...</c> commands received.</summary>
    public IReadOnlyList<string> SetCommands => [.. Commands.Where(c => c.StartsWith("set ", StringComparison.Ordinal))];

    /// <summary>Hang up without answering on this many of the next <c>set</c> commands.</summary>
    public int HangUpOnSets
    {
        get
        {
            lock (_gate)
            {
                return _hangUps;
            }
        }

        set
        {
            lock (_gate)
            {
                _hangUps = value;
            }
        }
    }

    /// <summary>Answer <c>set</c> commands with success ("\n") without passing them on.</summary>
    public bool SwallowSets { get; set; }

    public void Clear()
    {
        lock (_gate)
        {
            _commands.Clear();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync();
        _listener.Dispose();
        await _acceptLoop;
        _stopping.Dispose();
        _dir.Delete(recursive: true);
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stopping.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptAsync(_stopping.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            // One command per connection, handled in turn: the adapter sends one at a time.
            using (client)
            {
                try
                {
                    await HandleAsync(client, _stopping.Token);
                }
                catch (Exception e) when (e is OperationCanceledException or SocketException or IOException)
                {
                }
            }
        }
    }

    private async Task HandleAsync(Socket client, CancellationToken cancellationToken)
    {
        var line = new StringBuilder();
        var one = new byte[1];
        while (await client.ReceiveAsync(one, SocketFlags.None, cancellationToken) == 1 && one[0] != (byte)'\n')
        {
            line.Append((char)one[0]);
        }

        var command = line.ToString();
        lock (_gate)
        {
            _commands.Add(command);
        }

        var isSet = command.StartsWith("set ", StringComparison.Ordinal);
        lock (_gate)
        {
            if (isSet && _hangUps > 0)
            {
                _hangUps--;
                return;
            }
        }

        if (isSet && SwallowSets)
        {
            await client.SendAsync("\n"u8.ToArray(), SocketFlags.None, cancellationToken);
            return;
        }

        using var upstream = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await upstream.ConnectAsync(new UnixDomainSocketEndPoint(_upstream), cancellationToken);
        await upstream.SendAsync(Encoding.ASCII.GetBytes(command + "\n"), SocketFlags.None, cancellationToken);
        var buffer = new byte[8192];
        int read;
        while ((read = await upstream.ReceiveAsync(buffer, SocketFlags.None, cancellationToken)) > 0)
        {
            await client.SendAsync(buffer.AsMemory(0, read), SocketFlags.None, cancellationToken);
        }
    }
}
