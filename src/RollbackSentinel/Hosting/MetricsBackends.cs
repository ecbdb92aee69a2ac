using RollbackSentinel.Backends;
using RollbackSentinel.Backends.Datadog;
using RollbackSentinel.Backends.Graphite;
using RollbackSentinel.Backends.InfluxDb;
using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Core.Policies;
using RollbackSentinel.Prometheus;
using RollbackSentinel.Rules;

namespace RollbackSentinel.Hosting;

/// <summary>One configured backend: its name, its type and its source.</summary>
internal sealed record ConfiguredBackend(string Name, string Type, IMetricsSource Source)
{
    /// <summary>The kind of server as messages name it.</summary>
    public string Display => MetricsBackends.Display(Type);
}

/// <summary>
/// The metrics backends of the settings (<c>prometheus:</c> as <c>default</c>, and <c>backends:</c>), each built once on
/// its own <see cref="HttpClient"/>. A policy's queries go to <see cref="For"/> its <c>spec.backend</c>.
/// </summary>
internal sealed class MetricsBackends : IMetricsBackends
{
    private readonly Dictionary<string, ConfiguredBackend> _backends;
    private readonly string _default;

    private MetricsBackends(Dictionary<string, ConfiguredBackend> backends, string defaultBackend)
    {
        _backends = backends;
        _default = defaultBackend;
    }

    /// <summary>Every backend, the default one first.</summary>
    public IEnumerable<ConfiguredBackend> All => _backends.Values.OrderBy(b => BackendCatalog.SameName(b.Name, _default) ? 0 : 1).ThenBy(b => b.Name, StringComparer.OrdinalIgnoreCase);

    /// <summary>The backend policies without <c>spec.backend</c> use.</summary>
    public ConfiguredBackend Default => _backends[_default];

    /// <summary>The backend named <paramref name="name"/> (null: the default), or null.</summary>
    public ConfiguredBackend? Find(string? name) => _backends.GetValueOrDefault(name ?? _default);

    public IMetricsSource For(string? backend) =>
        Find(backend)?.Source ?? new MissingBackend(backend ?? _default, _backends.Keys);

    /// <summary>
    /// Builds every backend of <paramref name="options"/>. Secrets are read from their files now.
    /// </summary>
    /// <param name="httpFor">The <see cref="HttpClient"/> of a backend, by name (its handler must follow no redirect: <see cref="PrometheusClient.CreateHandler"/>).</param>
    /// <param name="defaultPrometheus">The default backend's options, when a command line overrides the <c>prometheus:</c> block.</param>
    /// <param name="wrap">Applied to each source (metrics of its requests).</param>
    public static MetricsBackends Create(
        SentinelOptions options,
        Func<string, HttpClient> httpFor,
        PrometheusOptions? defaultPrometheus = null,
        Func<IMetricsSource, IMetricsSource>? wrap = null,
        Action<string, string>? unusable = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(httpFor);
        wrap ??= s => s;
        var backends = new Dictionary<string, ConfiguredBackend>(StringComparer.OrdinalIgnoreCase);

        // One backend that cannot be built (an unreadable key file, options its adapter refuses) costs its own policies
        // only: their queries fail saying why (error verdicts), and every other backend guards as usual.
        void Add(string name, string type, Func<IMetricsSource> build)
        {
            IMetricsSource source;
            try
            {
                source = wrap(build());
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or InvalidOperationException)
            {
                var reason = $"backend '{name}' ({type}) cannot be used: {e.Message}";
                unusable?.Invoke(name, reason);
                source = new FailingSource(reason);
            }

            backends[name] = new ConfiguredBackend(name, type, source);
        }

        Add(BackendCatalog.DefaultName, "prometheus", () => new PrometheusClient(httpFor(BackendCatalog.DefaultName), defaultPrometheus ?? options.ToPrometheusOptions()));
        foreach (var (name, settings) in options.Backends)
        {
            var type = settings.Type ?? "(no type)";
            Add(name, type, () => CreateSource(name, type, settings, httpFor(name)));
        }

        return new MetricsBackends(backends, backends.ContainsKey(options.DefaultBackend) ? options.DefaultBackend : BackendCatalog.DefaultName);
    }

    /// <summary>The kind of server as messages name it.</summary>
    public static string Display(string type) => type switch
    {
        "prometheus" => "Prometheus",
        "victoriametrics" => "VictoriaMetrics",
        "graphite" => "Graphite",
        "influxdb" => "InfluxDB",
        "datadog" => "Datadog",
        _ => type,
    };

    private static IMetricsSource CreateSource(string name, string type, SentinelOptions.BackendSettings s, HttpClient http)
    {
        var limitsKey = $"backends.{name}.limits";
        switch (type)
        {
            case "prometheus" or "victoriametrics":
                return new PrometheusClient(http, new PrometheusOptions
                {
                    BaseAddress = Root(s.Url!),
                    Headers = new Dictionary<string, string>(s.Headers, StringComparer.OrdinalIgnoreCase),
                    BearerToken = Secret(s.BearerTokenFile),
                    Username = s.Username,
                    Password = Secret(s.PasswordFile),
                    Timeout = PromDuration.Parse(s.Timeout),
                    MaxResponseBytes = s.Limits.MaxResponseBytes,
                    MaxSeries = s.Limits.MaxSeries,
                    MaxLabelLength = s.Limits.MaxLabelLength,
                    ServerKind = Display(type),
                    LimitsKey = limitsKey,
                    // VictoriaMetrics aligns a cached range of 50 points or more to its step; uncached, the points are at start + k*step.
                    UncachedRanges = type == "victoriametrics",
                });
            case "graphite":
                return GraphiteBackend.Create(http, Common(new GraphiteOptions { BaseAddress = Root(s.Url!) }, name, s));
            case "influxdb":
                return InfluxDbBackend.Create(http, Common(new InfluxDbOptions { BaseAddress = Root(s.Url!), Database = s.Database!, RetentionPolicy = s.RetentionPolicy }, name, s));
            case "datadog":
                var datadog = new DatadogOptions
                {
                    ApiKey = Secret(s.ApiKeyFile) ?? string.Empty,
                    ApplicationKey = Secret(s.ApplicationKeyFile) ?? string.Empty,
                };
                datadog = s.Url is not null ? datadog with { BaseAddress = Root(s.Url) } : s.Site is not null ? datadog with { Site = s.Site } : datadog;
                return DatadogBackend.Create(http, Common(datadog, name, s));
            default:
                throw new InvalidOperationException($"backends:{name}:type: '{type}' is not a backend type this build speaks");
        }
    }

    /// <summary>The options every point backend shares, from its settings.</summary>
    internal static T Common<T>(T options, string name, SentinelOptions.BackendSettings s)
        where T : BackendOptions => options with
    {
        Headers = new Dictionary<string, string>(s.Headers, StringComparer.OrdinalIgnoreCase),
        BearerToken = Secret(s.BearerTokenFile),
        Username = s.Username,
        Password = Secret(s.PasswordFile),
        Timeout = PromDuration.Parse(s.Timeout),
        Lookback = PromDuration.Parse(s.Lookback),
        MaxResponseBytes = s.Limits.MaxResponseBytes,
        MaxSeries = s.Limits.MaxSeries,
        MaxLabelLength = s.Limits.MaxLabelLength,
        LimitsKey = $"backends.{name}.limits",
    };

    private static string? Secret(string? file) => file is null ? null : SecretFileAccess.ReadOperatorSecret(file);

    private static Uri Root(string url) => new(url.EndsWith('/') ? url : url + "/");

    /// <summary>The source of a name no backend has: every query fails saying so (an error verdict, never a pass).</summary>
    private sealed class MissingBackend(string name, IEnumerable<string> known)
        : FailingSource($"no metrics backend is named '{name}' (configured: {string.Join(", ", known.Order(StringComparer.OrdinalIgnoreCase))}); fix spec.backend or the settings' backends:");

    /// <summary>A source every query of which fails with <paramref name="message"/>.</summary>
    private class FailingSource(string message) : IMetricsSource
    {
        public Task<IReadOnlyList<Sample>> QueryAsync(string query, DateTimeOffset time, CancellationToken cancellationToken) =>
            Task.FromException<IReadOnlyList<Sample>>(new MetricsQueryException(MetricsErrorKind.Unreachable, query, message));

        public Task<IReadOnlyList<RangeSeries>> QueryRangeAsync(string query, DateTimeOffset start, DateTimeOffset end, TimeSpan step, CancellationToken cancellationToken) =>
            Task.FromException<IReadOnlyList<RangeSeries>>(new MetricsQueryException(MetricsErrorKind.Unreachable, query, message));
    }
}

/// <summary>Registers <see cref="IMetricsBackends"/>: every backend of the settings, each on a named HttpClient of its own.</summary>
internal static partial class MetricsBackendsServiceCollectionExtensions
{
    public static IServiceCollection AddMetricsBackends(this IServiceCollection services, SentinelOptions options)
    {
        foreach (var name in options.Backends.Keys.Prepend(BackendCatalog.DefaultName))
        {
            // Each client applies its own per-call timeout, so HttpClient's is off.
            services.AddHttpClient(ClientName(name), h => h.Timeout = Timeout.InfiniteTimeSpan).ConfigurePrimaryHttpMessageHandler(PrometheusClient.CreateHandler);
        }

        services.AddSingleton(sp =>
        {
            var factory = sp.GetRequiredService<IHttpClientFactory>();
            var metrics = sp.GetRequiredService<Telemetry.SentinelMetrics>();
            var time = sp.GetRequiredService<TimeProvider>();
            var log = sp.GetRequiredService<ILoggerFactory>().CreateLogger<MetricsBackends>();
            return MetricsBackends.Create(
                options,
                name => factory.CreateClient(ClientName(name)),
                wrap: s => Telemetry.MetricsSourceTelemetryExtensions.WithMetrics(s, metrics, time),
                unusable: (_, reason) => LogUnusable(log, reason));
        });
        services.AddSingleton<IMetricsBackends>(sp => sp.GetRequiredService<MetricsBackends>());
        return services;
    }

    private static string ClientName(string backend) => "backend:" + backend;

    [LoggerMessage(EventId = 207, Level = LogLevel.Error, Message = "{Reason}; its policies get error verdicts until the settings are fixed")]
    private static partial void LogUnusable(ILogger logger, string reason);
}
