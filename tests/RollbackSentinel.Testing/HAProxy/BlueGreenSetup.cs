using RollbackSentinel.Testing.Net;

namespace RollbackSentinel.Testing.HAProxy;

/// <summary>
/// A real HAProxy (backend <c>shop</c>) in front of two loopback servers that answer their color, "blue" and
/// "green", with the given weights: the setting of every blue/green rollback test. Everything stops on dispose.
/// </summary>
public sealed class BlueGreenSetup : IAsyncDisposable
{
    private BlueGreenSetup(LoopbackHttpServer blue, LoopbackHttpServer green, HAProxyServer haproxy)
    {
        Blue = blue;
        Green = green;
        HAProxy = haproxy;
        Client = new HttpClient { BaseAddress = haproxy.FrontendAddress };
    }

    public LoopbackHttpServer Blue { get; }

    public LoopbackHttpServer Green { get; }

    public HAProxyServer HAProxy { get; }

    /// <summary>A client of HAProxy's frontend.</summary>
    public HttpClient Client { get; }

    public static async Task<BlueGreenSetup> StartAsync(int blueWeight, int greenWeight, CancellationToken cancellationToken = default)
    {
        var blue = LoopbackHttpServer.Start(new CannedResponse(200, "blue", "text/plain"));
        var green = LoopbackHttpServer.Start(new CannedResponse(200, "green", "text/plain"));
        try
        {
            var haproxy = await HAProxyServer.StartAsync(
                new HAProxyServerOptions { Servers = [HAProxyBackendServer.At("blue", blue.BaseAddress, blueWeight), HAProxyBackendServer.At("green", green.BaseAddress, greenWeight)] },
                cancellationToken);
            return new BlueGreenSetup(blue, green, haproxy);
        }
        catch
        {
            await blue.DisposeAsync();
            await green.DisposeAsync();
            throw;
        }
    }

    /// <summary>The color that answered one request through HAProxy.</summary>
    public Task<string> ColorAsync() => Client.GetStringAsync(new Uri("/", UriKind.Relative));

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await HAProxy.DisposeAsync();
        await Blue.DisposeAsync();
        await Green.DisposeAsync();
    }
}
