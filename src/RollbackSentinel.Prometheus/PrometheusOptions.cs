using System.Diagnostics.CodeAnalysis;
using RollbackSentinel.Backends;

namespace RollbackSentinel.Prometheus;

/// <summary>
/// Where Prometheus (or a server of its API: VictoriaMetrics, Mimir, Cortex, Thanos) is and how to talk to it. The
/// address, credentials, headers, timeout and limits, and their checks, are every backend's (<see cref="BackendOptions"/>).
/// </summary>
public sealed record PrometheusOptions : BackendOptions
{
    /// <summary>Prometheus' own default listen address, on loopback.</summary>
    public static readonly Uri DefaultBaseAddress = new("http://127.0.0.1:9090/");

    /// <summary>Prometheus on its default address, its limits named <c>prometheus.limits</c> in hints.</summary>
    [SetsRequiredMembers]
    public PrometheusOptions()
    {
        BaseAddress = DefaultBaseAddress;
        LimitsKey = "prometheus.limits";
    }

    /// <summary>The kind of server as messages name it: Prometheus, or a compatible one (VictoriaMetrics, Mimir, Thanos).</summary>
    public string ServerKind { get; init; } = "Prometheus";

    /// <summary>
    /// Sends <c>nocache=1</c> with range queries: VictoriaMetrics otherwise aligns a cached range of 50 points or more to
    /// multiples of its step, and a backtest needs its points at exactly start + k*step.
    /// </summary>
    public bool UncachedRanges { get; init; }
}
