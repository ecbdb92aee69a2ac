using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using RollbackSentinel.Testing.Net;

namespace RollbackSentinel.Cluster.Tests;

/// <summary>
/// A scrape target the test controls: one gauge <c>cluster_probe{policy="..."}</c> per policy, 0 until the test sets
/// it. A policy breaches when its probe is above 0.5, so the test makes exactly one policy breach at will.
/// </summary>
internal sealed class ProbeExporter : IAsyncDisposable
{
    private readonly ConcurrentDictionary<string, double> _values = new(StringComparer.Ordinal);
    private readonly LoopbackHttpServer _server;

    public ProbeExporter(IEnumerable<string> policies)
    {
        foreach (var policy in policies)
        {
            _values[policy] = 0;
        }

        _server = LoopbackHttpServer.Start((_, _) => Task.FromResult(new CannedResponse(200, Scrape(), "text/plain; version=0.0.4")));
    }

    /// <summary>host:port, for a Prometheus scrape config.</summary>
    public string Address => $"{_server.BaseAddress.Host}:{_server.BaseAddress.Port}";

    public void Set(string policy, double value) => _values[policy] = value;

    public ValueTask DisposeAsync() => _server.DisposeAsync();

    private string Scrape()
    {
        var text = new StringBuilder("# TYPE cluster_probe gauge\n");
        foreach (var (policy, value) in _values.OrderBy(v => v.Key, StringComparer.Ordinal))
        {
            text.Append(CultureInfo.InvariantCulture, $"cluster_probe{{policy=\"{policy}\"}} {value}\n");
        }

        return text.ToString();
    }
}
