using System.Collections.Specialized;
using System.Net;
using System.Text;
using System.Web;

namespace RollbackSentinel.Testing.Net;

/// <summary>A request as the fake server received it.</summary>
public sealed record RecordedRequest(string Method, string PathAndQuery, IReadOnlyDictionary<string, string> Headers, string Body)
{
    /// <summary>The body read as <c>application/x-www-form-urlencoded</c>.</summary>
    public IReadOnlyDictionary<string, string> Form
    {
        get
        {
            var form = HttpUtility.ParseQueryString(Body);
            return form.AllKeys.Where(k => k is not null).ToDictionary(k => k!, k => form[k] ?? string.Empty, StringComparer.Ordinal);
        }
    }

    /// <summary>A header's value, or null when absent. Names are case-insensitive.</summary>
    public string? Header(string name) => Headers.TryGetValue(name, out var value) ? value : null;
}

/// <summary>What the fake server answers.</summary>
public sealed record CannedResponse(int StatusCode, string Body, string ContentType = "application/json")
{
    /// <summary>More response headers (e.g. Retry-After).</summary>
    public IReadOnlyDictionary<string, string> Headers { get; init; } = new Dictionary<string, string>();
}

/// <summary>
/// A tiny HTTP server on a free loopback port for what a real server cannot be made to do on demand:
/// check headers, answer HTML, answer slowly. The handler's token is cancelled on dispose, so a slow
/// handler (<c>await Task.Delay(5s, ct)</c>) ends at once and disposal is prompt.
/// </summary>
public sealed class LoopbackHttpServer : IAsyncDisposable
{
    private const int MaxStartAttempts = 5;

    private readonly HttpListener _listener;
    private readonly Func<RecordedRequest, CancellationToken, Task<CannedResponse>> _handler;
    private readonly CancellationTokenSource _stopping = new();
    private readonly List<RecordedRequest> _requests = [];
    private readonly List<Task> _inFlight = [];
    private readonly Lock _gate = new();
    private readonly Task _acceptLoop;

    private LoopbackHttpServer(HttpListener listener, Uri baseAddress, Func<RecordedRequest, CancellationToken, Task<CannedResponse>> handler)
    {
        _listener = listener;
        _handler = handler;
        BaseAddress = baseAddress;
        _acceptLoop = AcceptLoopAsync();
    }

    /// <summary>The server root, e.g. <c>http://127.0.0.1:41234/</c>; any path below it is served.</summary>
    public Uri BaseAddress { get; }

    /// <summary>The requests received so far, in arrival order.</summary>
    public IReadOnlyList<RecordedRequest> Requests
    {
        get
        {
            lock (_gate)
            {
                return [.. _requests];
            }
        }
    }

    /// <summary>Starts a server that answers every request with <paramref name="response"/>.</summary>
    public static LoopbackHttpServer Start(CannedResponse response) => Start((_, _) => Task.FromResult(response));

    public static LoopbackHttpServer Start(Func<RecordedRequest, CancellationToken, Task<CannedResponse>> handler)
    {
        ArgumentNullException.ThrowIfNull(handler);
        for (var attempt = 1; ; attempt++)
        {
            var baseAddress = new Uri($"http://127.0.0.1:{FreePort.Next()}/");
            var listener = new HttpListener();
            listener.Prefixes.Add(baseAddress.AbsoluteUri);
            try
            {
                listener.Start();
                return new LoopbackHttpServer(listener, baseAddress, handler);
            }
            catch (HttpListenerException) when (attempt < MaxStartAttempts)
            {
                // The port was taken between FreePort.Next and Start.
                listener.Close();
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_stopping.IsCancellationRequested)
        {
            return;
        }

        await _stopping.CancelAsync();
        _listener.Close();
        await _acceptLoop;
        Task[] inFlight;
        lock (_gate)
        {
            inFlight = [.. _inFlight];
        }

        await Task.WhenAll(inFlight);
        _stopping.Dispose();
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stopping.IsCancellationRequested)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception ex) when (ex is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                // The listener was closed by DisposeAsync.
                return;
            }

            lock (_gate)
            {
                _inFlight.RemoveAll(t => t.IsCompleted);
                _inFlight.Add(HandleAsync(context));
            }
        }
    }

    private async Task HandleAsync(HttpListenerContext context)
    {
        var response = context.Response;
        try
        {
            var request = await RecordAsync(context.Request);
            CannedResponse canned;
            try
            {
                canned = await _handler(request, _stopping.Token);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                canned = new CannedResponse(500, $"fake server handler failed: {ex}", "text/plain");
            }

            var bytes = Encoding.UTF8.GetBytes(canned.Body);
            foreach (var (name, value) in canned.Headers)
            {
                response.AddHeader(name, value);
            }

            response.StatusCode = canned.StatusCode;
            response.ContentType = canned.ContentType;
            response.ContentLength64 = bytes.Length;
            await response.OutputStream.WriteAsync(bytes, _stopping.Token);
            response.Close();
        }
        catch (Exception ex) when (ex is OperationCanceledException or HttpListenerException or IOException or ObjectDisposedException)
        {
            // Stopping, or the client gave up (e.g. its timeout fired): drop the connection.
            try
            {
                response.Abort();
            }
            catch (ObjectDisposedException)
            {
            }
        }
    }

    private async Task<RecordedRequest> RecordAsync(HttpListenerRequest request)
    {
        string body;
        using (var reader = new StreamReader(request.InputStream, request.ContentEncoding))
        {
            body = await reader.ReadToEndAsync(_stopping.Token);
        }

        var recorded = new RecordedRequest(
            request.HttpMethod,
            request.Url?.PathAndQuery ?? request.RawUrl ?? string.Empty,
            ToDictionary(request.Headers),
            body);
        lock (_gate)
        {
            _requests.Add(recorded);
        }

        return recorded;
    }

    private static Dictionary<string, string> ToDictionary(NameValueCollection headers) =>
        headers.AllKeys
            .Where(k => k is not null)
            .ToDictionary(k => k!, k => headers[k] ?? string.Empty, StringComparer.OrdinalIgnoreCase);
}
