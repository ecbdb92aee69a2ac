using System.Diagnostics;
using System.Globalization;
using RollbackSentinel.Testing.Net;

namespace RollbackSentinel.Cli.Tests.Daemon;

/// <summary>
/// A scrape target standing in for a service: <c>http_requests_total{code}</c> counters that grow at
/// <see cref="RequestsPerSecond"/>, with <see cref="ErrorShare"/> of them 500s. The test changes the share
/// to make a release "go bad"; the counters integrate it over real time between scrapes.
/// </summary>
internal sealed class FakeShopTarget : IAsyncDisposable
{
    private readonly object _gate = new();
    private readonly LoopbackHttpServer _server;
    private double _ok;
    private double _errors;
    private long _last = Stopwatch.GetTimestamp();

    public FakeShopTarget()
    {
        _server = LoopbackHttpServer.Start((_, _) => Task.FromResult(new CannedResponse(200, Scrape(), "text/plain; version=0.0.4")));
    }

    public double RequestsPerSecond { get; set; } = 20;

    public double ErrorShare
    {
        get
        {
            lock (_gate)
            {
                return _share;
            }
        }

        set
        {
            lock (_gate)
            {
                Advance();
                _share = value;
            }
        }
    }

    private double _share;

    /// <summary>
    /// <c>shop_deployment_generation</c>, as <c>kube_deployment_status_observed_generation</c> would say it: a test
    /// raises it to deploy, for a policy's <c>spec.watch.detect.query</c> to find.
    /// </summary>
    public int Generation
    {
        get => Volatile.Read(ref _generation);
        set => Volatile.Write(ref _generation, value);
    }

    private int _generation = 1;

    /// <summary>host:port, for a Prometheus scrape config.</summary>
    public string Address => $"{_server.BaseAddress.Host}:{_server.BaseAddress.Port}";

    public ValueTask DisposeAsync() => _server.DisposeAsync();

    private string Scrape()
    {
        lock (_gate)
        {
            Advance();
            return string.Create(CultureInfo.InvariantCulture,
                $"# TYPE http_requests_total counter\nhttp_requests_total{{code=\"200\"}} {_ok}\nhttp_requests_total{{code=\"500\"}} {_errors}\n# TYPE shop_deployment_generation gauge\nshop_deployment_generation {Generation}\n");
        }
    }

    private void Advance()
    {
        var now = Stopwatch.GetTimestamp();
        var seconds = Stopwatch.GetElapsedTime(_last, now).TotalSeconds;
        _last = now;
        _ok += RequestsPerSecond * (1 - _share) * seconds;
        _errors += RequestsPerSecond * _share * seconds;
    }
}
