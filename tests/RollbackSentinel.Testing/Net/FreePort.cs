using System.Net;
using System.Net.Sockets;

namespace RollbackSentinel.Testing.Net;

/// <summary>Free TCP ports on loopback, for servers a test starts.</summary>
public static class FreePort
{
    /// <summary>
    /// A port that was free a moment ago. Another process may take it before the caller binds it, so
    /// servers started on it retry with a new port when the bind fails.
    /// </summary>
    public static int Next()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }
}
