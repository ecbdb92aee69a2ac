using System.Diagnostics;
using System.Net;

namespace BlueGreenDemo;

/// <summary>One request the load generator sent through HAProxy.</summary>
/// <param name="Status">The HTTP status, or 0 when no answer came (connection failure, timeout).</param>
/// <param name="Color">Which shop answered (its <c>X-Demo-Color</c> header), or null.</param>
public sealed record RequestRecord(long Number, DateTimeOffset Start, DateTimeOffset End, int Status, string? Color, string? Error)
{
    public bool Failed => Status != (int)HttpStatusCode.OK;
}

/// <summary>
/// Steady load through HAProxy, in process: about <c>requestsPerSecond</c> GET / requests, sent on schedule
/// whatever the answers take (a slow server does not slow the load down), each one recorded with its start and
/// end time, status and color.
/// </summary>
public sealed class LoadGenerator : IAsyncDisposable
{
    private static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(5);

    private readonly Uri _target;
    private readonly double _requestsPerSecond;
    private readonly DemoClock _clock;
    private readonly HttpClient _http;
    private readonly List<RequestRecord> _records = [];
    private readonly List<Task> _inFlight = [];
    private readonly Lock _gate = new();
    private readonly CancellationTokenSource _stop = new();
    private Task? _loop;
    private long _sent;

    public LoadGenerator(Uri target, double requestsPerSecond, DemoClock clock)
    {
        _target = target;
        _requestsPerSecond = requestsPerSecond;
        _clock = clock;
        _http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 256, PooledConnectionLifetime = TimeSpan.FromMinutes(1) })
        {
            Timeout = RequestTimeout,
        };
    }

    /// <summary>Every completed request so far, in completion order.</summary>
    public IReadOnlyList<RequestRecord> Records
    {
        get
        {
            lock (_gate)
            {
                return [.. _records];
            }
        }
    }

    public void Start() => _loop ??= Task.Run(() => RunAsync(_stop.Token));

    /// <summary>Stops sending and waits for the requests in flight.</summary>
    public async Task StopAsync()
    {
        if (_loop is null)
        {
            return;
        }

        await _stop.CancelAsync();
        await _loop;
        Task[] inFlight;
        lock (_gate)
        {
            inFlight = [.. _inFlight];
        }

        await Task.WhenAll(inFlight);
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _http.Dispose();
        _stop.Dispose();
    }

    private async Task RunAsync(CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        while (!cancellationToken.IsCancellationRequested)
        {
            // Catch up on schedule: as many requests as should have been sent by now (a late tick sends more).
            var due = (long)(clock.Elapsed.TotalSeconds * _requestsPerSecond) + 1;
            while (_sent < due)
            {
                var number = ++_sent;
                var task = SendAsync(number);
                lock (_gate)
                {
                    if (_inFlight.Count > 64)
                    {
                        _inFlight.RemoveAll(t => t.IsCompleted);
                    }

                    _inFlight.Add(task);
                }
            }

            try
            {
                await Task.Delay(TimeSpan.FromMilliseconds(5), cancellationToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private async Task SendAsync(long number)
    {
        var start = _clock.Now;
        int status;
        string? color = null;
        string? error = null;
        try
        {
            // Not cancelled by stopping: a request that started is always seen to its end.
            using var response = await _http.GetAsync(_target, CancellationToken.None);
            _ = await response.Content.ReadAsStringAsync(CancellationToken.None);
            status = (int)response.StatusCode;
            color = response.Headers.TryGetValues("X-Demo-Color", out var values) ? values.FirstOrDefault() : null;
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException)
        {
            status = 0;
            error = e.GetType().Name + ": " + e.Message;
        }

        var record = new RequestRecord(number, start, _clock.Now, status, color, error);
        lock (_gate)
        {
            _records.Add(record);
        }
    }
}
