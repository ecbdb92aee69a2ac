namespace RollbackSentinel.Core.Metrics;

/// <summary>The metrics backends by name (a policy's <c>spec.backend</c>; null for the default one).</summary>
public interface IMetricsBackends
{
    /// <summary>
    /// The source of the backend named <paramref name="backend"/> (null: the default). A name no backend has gives a
    /// source whose every query fails with <see cref="MetricsQueryException"/> saying so: an error verdict, never a pass.
    /// </summary>
    IMetricsSource For(string? backend);
}

/// <summary>One source for every policy: the backtest of a single Prometheus, and tests.</summary>
public sealed class SingleBackend(IMetricsSource source) : IMetricsBackends
{
    public IMetricsSource For(string? backend) => source;
}
