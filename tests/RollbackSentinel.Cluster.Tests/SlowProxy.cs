using System.Text;
using RollbackSentinel.Testing.Net;

namespace RollbackSentinel.Cluster.Tests;

/// <summary>
/// Prometheus as one node sees it: the real one, each answer held back by <see cref="Delay"/>. That node then always
/// has evaluations under way (queries sent, answers not yet read), so freezing it freezes evaluations mid-flight.
/// </summary>
internal sealed class SlowProxy : IAsyncDisposable
{
    private readonly HttpClient _upstream;
    private readonly LoopbackHttpServer _server;

    public SlowProxy(Uri upstream, TimeSpan delay)
    {
        Delay = delay;
        _upstream = new HttpClient { BaseAddress = upstream, Timeout = TimeSpan.FromSeconds(30) };
        _server = LoopbackHttpServer.Start(ForwardAsync);
    }

    public TimeSpan Delay { get; }

    public Uri BaseAddress => _server.BaseAddress;

    public async ValueTask DisposeAsync()
    {
        await _server.DisposeAsync();
        _upstream.Dispose();
    }

    private async Task<CannedResponse> ForwardAsync(RecordedRequest request, CancellationToken cancellationToken)
    {
        await Task.Delay(Delay, cancellationToken);
        using var forward = new HttpRequestMessage(new HttpMethod(request.Method), request.PathAndQuery.TrimStart('/'));
        if (request.Method == "POST")
        {
            forward.Content = new StringContent(request.Body, Encoding.UTF8, "application/x-www-form-urlencoded");
        }

        using var response = await _upstream.SendAsync(forward, cancellationToken);
        return new CannedResponse((int)response.StatusCode, await response.Content.ReadAsStringAsync(cancellationToken), response.Content.Headers.ContentType?.ToString() ?? "application/json");
    }
}
