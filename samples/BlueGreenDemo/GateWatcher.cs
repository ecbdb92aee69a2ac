using System.Diagnostics;

namespace BlueGreenDemo;

/// <summary>One answer of the gate that differed from the one before (open after closed, or closed after open), and when it came.</summary>
public sealed record GateEvent(DateTimeOffset At, GateReading Reading);

/// <summary>
/// Polls a policy's gate (<c>GET /api/v1/gates/{policy}</c>) in the background, as a pipeline waiting to promote would,
/// and keeps each answer that differs from the one before (the first answer, then every open/closed switch), and how
/// long the answers took.
/// </summary>
public sealed class GateWatcher : IAsyncDisposable
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(250);

    private readonly SentinelDaemon _sentinel;
    private readonly string _policy;
    private readonly DemoClock _clock;
    private readonly CancellationTokenSource _stop;
    private readonly List<GateEvent> _events = [];
    private readonly List<TimeSpan> _answerTimes = [];
    private readonly Lock _lock = new();
    private Task _polling = Task.CompletedTask;
    private string? _lastError;
    private bool _disposed;

    private GateWatcher(SentinelDaemon sentinel, string policy, DemoClock clock, CancellationToken cancellationToken)
    {
        _sentinel = sentinel;
        _policy = policy;
        _clock = clock;
        _stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
    }

    public static GateWatcher Start(SentinelDaemon sentinel, string policy, DemoClock clock, CancellationToken cancellationToken)
    {
        var watcher = new GateWatcher(sentinel, policy, clock, cancellationToken);
        watcher._polling = Task.Run(() => watcher.PollAsync(watcher._stop.Token), CancellationToken.None);
        return watcher;
    }

    public IReadOnlyList<GateEvent> Events
    {
        get
        {
            lock (_lock)
            {
                return [.. _events];
            }
        }
    }

    /// <summary>The last answer, or the last error when the gate could not be read.</summary>
    public string Last
    {
        get
        {
            lock (_lock)
            {
                return _lastError ?? (_events.Count == 0 ? "no answer yet" : _events[^1].Reading.Describe());
            }
        }
    }

    /// <summary>How many answers, and the median and slowest time to answer (the request, seen from the demo).</summary>
    public (int Answers, TimeSpan Median, TimeSpan Slowest) AnswerTimes
    {
        get
        {
            lock (_lock)
            {
                var sorted = _answerTimes.Order().ToArray();
                return sorted.Length == 0 ? (0, TimeSpan.Zero, TimeSpan.Zero) : (sorted.Length, sorted[sorted.Length / 2], sorted[^1]);
            }
        }
    }

    /// <summary>The first time the gate answered open.</summary>
    public GateEvent? FirstOpen => Events.FirstOrDefault(e => e.Reading.Open);

    /// <summary>The first time the gate answered closed after <paramref name="after"/> (having been open).</summary>
    public GateEvent? FirstClosedAfter(DateTimeOffset after) => Events.FirstOrDefault(e => e.At >= after && !e.Reading.Open);

    public async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        await _stop.CancelAsync();
        try
        {
            await _polling;
        }
        catch (OperationCanceledException)
        {
            // Stopped.
        }

        _stop.Dispose();
    }

    private async Task PollAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            var asked = Stopwatch.StartNew();
            try
            {
                var reading = await _sentinel.GateAsync(_policy, cancellationToken);
                var at = _clock.Now;
                lock (_lock)
                {
                    _answerTimes.Add(asked.Elapsed);
                    _lastError = null;
                    if (_events.Count == 0 || _events[^1].Reading.Open != reading.Open)
                    {
                        _events.Add(new GateEvent(at, reading));
                    }
                }
            }
            catch (Exception e) when (e is HttpRequestException or System.Text.Json.JsonException or KeyNotFoundException or InvalidOperationException
                || (e is TaskCanceledException && !cancellationToken.IsCancellationRequested))
            {
                lock (_lock)
                {
                    _lastError = e.Message;
                }
            }

            await Task.Delay(PollInterval, cancellationToken);
        }
    }
}
