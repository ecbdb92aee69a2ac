using RollbackSentinel.Hosting;
using RollbackSentinel.Prometheus;

namespace RollbackSentinel.Cli;

/// <summary>
/// The metrics backends of a command that queries them (<c>backtest</c>, <c>validate --backend-check</c>): those of the
/// settings (<c>--config</c>), with <c>--prometheus</c> standing in for the <c>prometheus:</c> block. Counts the HTTP
/// requests each one sent, for the command's summary.
/// </summary>
internal sealed class CliBackends : IDisposable
{
    private readonly List<HttpClient> _clients = [];
    private readonly Dictionary<string, CountingHandler> _counters = new(StringComparer.OrdinalIgnoreCase);

    private CliBackends(SentinelOptions settings, PrometheusOptions? prometheus)
    {
        Backends = MetricsBackends.Create(settings, name =>
        {
            var counter = new CountingHandler(PrometheusClient.CreateHandler());
            _counters[name] = counter;
            var http = new HttpClient(counter) { Timeout = Timeout.InfiniteTimeSpan };
            _clients.Add(http);
            return http;
        }, prometheus);
    }

    public MetricsBackends Backends { get; }

    /// <summary>
    /// The backends of <paramref name="settings"/>, or null when they are misconfigured (each problem printed).
    /// <paramref name="prometheus"/> (from <c>--prometheus</c>) replaces the <c>prometheus:</c> block.
    /// </summary>
    public static CliBackends? Open(SentinelOptions settings, PrometheusOptions? prometheus, TextWriter error)
    {
        var problems = settings.BackendProblems();
        foreach (var p in problems)
        {
            error.WriteLine($"error: settings: {p}");
        }

        if (problems.Count > 0)
        {
            return null;
        }

        try
        {
            return new CliBackends(settings, prometheus);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or InvalidOperationException)
        {
            error.WriteLine($"error: settings: {e.Message}");
            return null;
        }
    }

    /// <summary>The requests sent to each backend that was asked anything: "2 Prometheus request(s)", "3 Graphite request(s) (graphite)".</summary>
    public string RequestSummary(IEnumerable<string?> used)
    {
        var names = used.Select(n => Backends.Find(n)?.Name ?? n ?? Backends.Default.Name).Distinct(StringComparer.OrdinalIgnoreCase).Order(StringComparer.OrdinalIgnoreCase).ToList();
        if (names.Count == 0)
        {
            names.Add(Backends.Default.Name);
        }

        var one = names.Count == 1;
        return string.Join(", ", names.Select(n => Backends.Find(n) is { } b
            ? $"{(_counters.TryGetValue(n, out var c) ? c.Count : 0)} {b.Display} request(s){(one ? string.Empty : $" ({n})")}"
            : $"0 requests ({n}: not configured)"));
    }

    public void Dispose()
    {
        foreach (var client in _clients)
        {
            client.Dispose();
        }
    }

    private sealed class CountingHandler(HttpMessageHandler inner) : DelegatingHandler(inner)
    {
        private int _count;

        public int Count => Volatile.Read(ref _count);

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _count);
            return base.SendAsync(request, cancellationToken);
        }
    }
}
