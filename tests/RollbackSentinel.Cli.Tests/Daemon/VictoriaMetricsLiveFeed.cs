using System.Globalization;
using RollbackSentinel.Testing.VictoriaMetrics;

namespace RollbackSentinel.Cli.Tests.Daemon;

/// <summary>
/// The shop's traffic pushed live into a VictoriaMetrics, as vmagent would: every second the counters
/// <c>http_requests_total{job="shop",code="200"|"500"}</c> at the current time, through <c>/api/v1/import/prometheus</c>
/// (each push flushed and waited for, so it is queryable when the next one goes). <see cref="RequestsPerSecond"/> requests
/// a second, <see cref="ErrorShare"/> of them 500s. Each value is a function of its own timestamp (the counters grow by
/// exactly rate x the milliseconds between two samples), so a rate over samples after the last change of the share is
/// exact: 10/20 at 20 req/s and half of them failing.
/// </summary>
internal sealed class VictoriaMetricsLiveFeed : IAsyncDisposable
{
    private static readonly TimeSpan PushInterval = TimeSpan.FromSeconds(1);

    private readonly VictoriaMetricsServer _vm;
    private readonly object _gate = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private long _lastMs;
    private double _ok;
    private double _errors;
    private double _share;
    private Exception? _failure;

    private VictoriaMetricsLiveFeed(VictoriaMetricsServer vm, long startMs)
    {
        _vm = vm;
        _lastMs = startMs;
        _loop = Task.Run(LoopAsync);
    }

    public const double RequestsPerSecond = 20;

    /// <summary>Starts pushing, from counters at 0 now; the first push is queryable when this returns.</summary>
    public static async Task<VictoriaMetricsLiveFeed> StartAsync(VictoriaMetricsServer vm)
    {
        var now = TimeProvider.System.GetUtcNow().ToUnixTimeMilliseconds();
        await vm.LoadPrometheusTextAsync(Text(0, 0, now), CancellationToken.None);
        return new VictoriaMetricsLiveFeed(vm, now);
    }

    /// <summary>The share of failing requests from now on.</summary>
    public double ErrorShare
    {
        set
        {
            lock (_gate)
            {
                Advance(TimeProvider.System.GetUtcNow().ToUnixTimeMilliseconds());
                _share = value;
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        try
        {
            await _loop;
        }
        catch (OperationCanceledException)
        {
        }

        _stop.Dispose();
    }

    private async Task LoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            await Task.Delay(PushInterval, _stop.Token);
            string text;
            lock (_gate)
            {
                var now = TimeProvider.System.GetUtcNow().ToUnixTimeMilliseconds();
                Advance(now);
                text = Text(_ok, _errors, now);
            }

            try
            {
                await _vm.LoadPrometheusTextAsync(text, _stop.Token);
            }
            catch (Exception e) when (e is HttpRequestException or InvalidOperationException || (e is TaskCanceledException && !_stop.IsCancellationRequested))
            {
                // The daemon will miss points and the test's wait names what it waited for; keep the first cause.
                _failure ??= e;
            }
        }
    }

    /// <summary>The first push that failed, if any (for a failing test's message).</summary>
    public Exception? Failure => _failure;

    /// <summary>Grows the counters to <paramref name="nowMs"/> at the current share (under the lock).</summary>
    private void Advance(long nowMs)
    {
        if (nowMs <= _lastMs)
        {
            return;
        }

        var seconds = (nowMs - _lastMs) / 1000.0;
        _ok += RequestsPerSecond * (1 - _share) * seconds;
        _errors += RequestsPerSecond * _share * seconds;
        _lastMs = nowMs;
    }

    private static string Text(double ok, double errors, long ms) => string.Create(
        CultureInfo.InvariantCulture,
        $"http_requests_total{{job=\"shop\",code=\"200\"}} {ok:R} {ms}\nhttp_requests_total{{job=\"shop\",code=\"500\"}} {errors:R} {ms}\n");
}
