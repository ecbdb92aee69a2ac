using System.Net;
using System.Net.Sockets;
using System.Text;

namespace RollbackSentinel.Testing.Net;

/// <summary>
/// Answers every request with 200 and a body that never ends (chunked, or with <c>Content-Length</c> declared),
/// until the client goes away.
/// </summary>
public sealed class EndlessHttpServer : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private readonly long? _declaredLength;
    private long _bytesWritten;

    private EndlessHttpServer(TcpListener listener, long? declaredLength)
    {
        _listener = listener;
        _declaredLength = declaredLength;
        BaseAddress = new Uri($"http://127.0.0.1:{((IPEndPoint)listener.LocalEndpoint).Port}/");
        _loop = AcceptAsync();
    }

    public Uri BaseAddress { get; }

    /// <summary>Body bytes handed to the socket so far (the kernel buffers some that the client never reads).</summary>
    public long BytesWritten => Interlocked.Read(ref _bytesWritten);

    public static EndlessHttpServer Start(long? declaredLength)
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return new EndlessHttpServer(listener, declaredLength);
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        await _loop;
        _stop.Dispose();
    }

    private async Task AcceptAsync()
    {
        var connections = new List<Task>();
        try
        {
            while (true)
            {
                var client = await _listener.AcceptTcpClientAsync(_stop.Token);
                connections.Add(ServeAsync(client));
            }
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException or InvalidOperationException)
        {
            // Stopping: a loop that comes round after Stop() finds the listener no longer listening ("Not listening").
        }

        await Task.WhenAll(connections);
    }

    private async Task ServeAsync(TcpClient client)
    {
        using (client)
        {
            try
            {
                var stream = client.GetStream();
                var request = new byte[64 * 1024];
                _ = await stream.ReadAsync(request, _stop.Token); // headers and the small form body
                var head = _declaredLength is { } length
                    ? $"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
                    : "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
                await stream.WriteAsync(Encoding.ASCII.GetBytes(head), _stop.Token);
                var data = Encoding.ASCII.GetBytes(new string(' ', 16 * 1024));
                var chunk = _declaredLength is null
                    ? [.. Encoding.ASCII.GetBytes($"{data.Length:x}\r\n"), .. data, .. "\r\n"u8.ToArray()]
                    : data;
                while (true)
                {
                    await stream.WriteAsync(chunk, _stop.Token);
                    Interlocked.Add(ref _bytesWritten, chunk.Length);
                }
            }
            catch (Exception e) when (e is OperationCanceledException or IOException or SocketException or ObjectDisposedException)
            {
                // The client closed the connection (it stopped reading) or the server is stopping.
            }
        }
    }
}
