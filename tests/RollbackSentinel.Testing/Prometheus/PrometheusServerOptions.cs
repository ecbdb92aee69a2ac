namespace RollbackSentinel.Testing.Prometheus;

/// <summary>How <see cref="PrometheusServer"/> sets up its Prometheus.</summary>
public sealed record PrometheusServerOptions
{
    public static readonly TimeSpan DefaultStartupTimeout = TimeSpan.FromSeconds(30);

    /// <summary>OpenMetrics text (see <see cref="OpenMetricsWriter"/>) backfilled before Prometheus starts; null for none.</summary>
    public string? OpenMetricsHistory { get; init; }

    /// <summary>
    /// YAML list items placed under <c>scrape_configs:</c>, e.g.
    /// <c>- job_name: app\n  static_configs: [{targets: ['127.0.0.1:8080']}]</c>. Null for no scraping.
    /// </summary>
    public string? ScrapeConfigsYaml { get; init; }

    /// <summary>Extra command-line flags for prometheus, e.g. <c>--query.lookback-delta=1m</c>.</summary>
    public IReadOnlyList<string> ExtraArguments { get; init; } = [];

    /// <summary>How long to wait for <c>/-/ready</c> after each start attempt.</summary>
    public TimeSpan StartupTimeout { get; init; } = DefaultStartupTimeout;
}
