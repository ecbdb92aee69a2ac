using System.Text;

namespace RollbackSentinel.Prometheus;

/// <summary>Where Prometheus is and how to talk to it.</summary>
public sealed record PrometheusOptions
{
    /// <summary>Prometheus' own default listen address, on loopback.</summary>
    public static readonly Uri DefaultBaseAddress = new("http://127.0.0.1:9090/");

    /// <summary>Per-request timeout when none is configured.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(30);

    /// <summary>Longest accepted per-request timeout; a guard that waits longer is no longer guarding.</summary>
    public static readonly TimeSpan MaxTimeout = TimeSpan.FromHours(1);

    /// <summary>Largest response read, in bytes: 64 MiB, about 300,000 series of an instant vector with a few labels.</summary>
    public const long DefaultMaxResponseBytes = 64L * 1024 * 1024;

    /// <summary>The largest <see cref="MaxResponseBytes"/> accepted: one answer is held in memory whole.</summary>
    public const long MaxMaxResponseBytes = 1024L * 1024 * 1024;

    /// <summary>Most series one query may return: far more than a guard decides on, few enough to evaluate and store each time.</summary>
    public const int DefaultMaxSeries = 10_000;

    /// <summary>Longest label name or value: identifiers (deployment, pod, route, code) are far shorter.</summary>
    public const int DefaultMaxLabelLength = 1_024;

    /// <summary>
    /// The Prometheus root. A path prefix is kept (<c>http://host/prometheus/</c> queries
    /// <c>http://host/prometheus/api/v1/query</c>), with or without a trailing slash.
    /// </summary>
    public Uri BaseAddress { get; init; } = DefaultBaseAddress;

    /// <summary>
    /// Extra headers sent with every request: a tenant for multi-tenant Prometheus-compatible servers (Mimir and Cortex
    /// <c>X-Scope-OrgID</c>, a Thanos or proxy header). Values are masked like secrets in messages.
    /// </summary>
    public IReadOnlyDictionary<string, string> Headers { get; init; } = new Dictionary<string, string>();

    /// <summary>The kind of server as messages name it: Prometheus, or a compatible one (VictoriaMetrics, Mimir, Thanos).</summary>
    public string ServerKind { get; init; } = "Prometheus";

    /// <summary>
    /// Sends <c>nocache=1</c> with range queries: VictoriaMetrics otherwise aligns a cached range of 50 points or more to
    /// multiples of its step, and a backtest needs its points at exactly start + k*step.
    /// </summary>
    public bool UncachedRanges { get; init; }

    /// <summary>The settings key of the limits, named in "raise it" hints.</summary>
    public string LimitsKey { get; init; } = "prometheus.limits";

    /// <summary>Sent as <c>Authorization: Bearer ...</c>. Mutually exclusive with basic auth.</summary>
    public string? BearerToken { get; init; }

    /// <summary>Basic auth user name; basic auth is used when this is set.</summary>
    public string? Username { get; init; }

    /// <summary>Basic auth password; requires <see cref="Username"/>.</summary>
    public string? Password { get; init; }

    /// <summary>Timeout of one HTTP request, linked to the caller's cancellation token.</summary>
    public TimeSpan Timeout { get; init; } = DefaultTimeout;

    /// <summary>
    /// A response longer than this many bytes is not read further (the count is kept while streaming, so an
    /// endless body costs at most this much memory): the query fails with an error saying so.
    /// </summary>
    public long MaxResponseBytes { get; init; } = DefaultMaxResponseBytes;

    /// <summary>A result with more series than this fails the query instead of being evaluated.</summary>
    public int MaxSeries { get; init; } = DefaultMaxSeries;

    /// <summary>A label name or value longer than this (in characters) fails the query: it would be logged and stored with every verdict.</summary>
    public int MaxLabelLength { get; init; } = DefaultMaxLabelLength;

    /// <summary>Every problem with these options, empty when they are usable.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (BaseAddress is null)
        {
            errors.Add("BaseAddress is required.");
        }
        else if (!BaseAddress.IsAbsoluteUri || (BaseAddress.Scheme != Uri.UriSchemeHttp && BaseAddress.Scheme != Uri.UriSchemeHttps))
        {
            errors.Add($"BaseAddress '{BaseAddress.OriginalString}' must be an absolute http:// or https:// URL.");
        }
        else if (!string.IsNullOrEmpty(BaseAddress.UserInfo))
        {
            // Credentials in the URL end up in logs and error messages; keep them in the dedicated fields.
            errors.Add("BaseAddress must not contain credentials; set Username/Password or BearerToken instead.");
        }

        if (Timeout <= TimeSpan.Zero || Timeout > MaxTimeout)
        {
            errors.Add($"Timeout must be greater than zero and at most {MaxTimeout}; got {Timeout}.");
        }

        if (MaxResponseBytes < 1 || MaxResponseBytes > MaxMaxResponseBytes)
        {
            errors.Add($"MaxResponseBytes must be between 1 and {MaxMaxResponseBytes} (1 GiB); got {MaxResponseBytes}.");
        }

        if (MaxSeries < 1)
        {
            errors.Add($"MaxSeries must be at least 1; got {MaxSeries}.");
        }

        if (MaxLabelLength < 1)
        {
            errors.Add($"MaxLabelLength must be at least 1; got {MaxLabelLength}.");
        }

        if (!string.IsNullOrEmpty(BearerToken) && !string.IsNullOrEmpty(Username))
        {
            errors.Add("Set either BearerToken or Username/Password, not both.");
        }

        if (!string.IsNullOrEmpty(Password) && string.IsNullOrEmpty(Username))
        {
            errors.Add("Password is set but Username is not.");
        }

        errors.AddRange(Backends.Http.RequestHeaders.Problems(Headers));

        return errors;
    }

    // The generated ToString would print the token and password; options get logged at startup.
    private bool PrintMembers(StringBuilder builder)
    {
        builder.Append("BaseAddress = ").Append(BaseAddress)
            .Append(", BearerToken = ").Append(BearerToken is null ? "null" : "***")
            .Append(", Headers = [").Append(string.Join(", ", Headers.Keys)).Append(']')
            .Append(", Username = ").Append(Username ?? "null")
            .Append(", Password = ").Append(Password is null ? "null" : "***")
            .Append(", Timeout = ").Append(Timeout)
            .Append(", MaxResponseBytes = ").Append(MaxResponseBytes)
            .Append(", MaxSeries = ").Append(MaxSeries)
            .Append(", MaxLabelLength = ").Append(MaxLabelLength);
        return true;
    }
}
