using System.Net;
using System.Net.Sockets;

namespace RollbackSentinel.Testing.Net;

/// <summary>Free TCP ports on loopback, for servers a test starts.</summary>
public static class FreePort
{
    private static readonly HashSet<int> Given = [];

    /// <summary>
    /// A port that was free a moment ago and that this process has not handed out before, so tests running in parallel
    /// never get the same one. Another process may still take it before the caller binds it, so servers started on it
    /// retry with a new port when the bind fails.
    /// </summary>
    public static int Next()
    {
        while (true)
        {
            using var listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            var port = ((IPEndPoint)listener.LocalEndpoint).Port;
            listener.Stop();
            lock (Given)
            {
                if (Given.Add(port))
                {
                    return port;
                }
            }
        }
    }
}
