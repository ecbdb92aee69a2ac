using System.Text;

namespace RollbackSentinel.Backends;

/// <summary>
/// What every metrics backend needs: where it is, how to authenticate, how long to wait and how much to read. Each
/// backend's options derive from this and add their own (an InfluxDB database, Datadog keys).
/// </summary>
public record BackendOptions
{
    /// <summary>Per-request timeout when none is configured.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(30);

    /// <summary>Longest accepted per-request timeout; a guard that waits longer is no longer guarding.</summary>
    public static readonly TimeSpan MaxTimeout = TimeSpan.FromHours(1);

    /// <summary>
    /// How far back a point still counts as the value "now" for backends that answer points rather than evaluating
    /// at an instant (Graphite, InfluxDB, Datadog): Prometheus' own lookback, 5 minutes.
    /// </summary>
    public static readonly TimeSpan DefaultLookback = TimeSpan.FromMinutes(5);

    /// <summary>Largest response read, in bytes: 64 MiB.</summary>
    public const long DefaultMaxResponseBytes = 64L * 1024 * 1024;

    /// <summary>The largest <see cref="MaxResponseBytes"/> accepted: one answer is held in memory whole.</summary>
    public const long MaxMaxResponseBytes = 1024L * 1024 * 1024;

    /// <summary>Most series one query may return.</summary>
    public const int DefaultMaxSeries = 10_000;

    /// <summary>Longest label name or value.</summary>
    public const int DefaultMaxLabelLength = 1_024;

    /// <summary>The server's root; a path prefix is kept.</summary>
    public required Uri BaseAddress { get; init; }

    /// <summary>Extra request headers (a tenant id such as <c>X-Scope-OrgID</c>). Values are treated as secrets in messages.</summary>
    public IReadOnlyDictionary<string, string> Headers { get; init; } = new Dictionary<string, string>();

    /// <summary>Sent as <c>Authorization: Bearer ...</c>. Mutually exclusive with basic auth.</summary>
    public string? BearerToken { get; init; }

    /// <summary>Basic auth user name; basic auth is used when this is set.</summary>
    public string? Username { get; init; }

    /// <summary>Basic auth password; requires <see cref="Username"/>.</summary>
    public string? Password { get; init; }

    /// <summary>Timeout of one HTTP request, linked to the caller's cancellation token.</summary>
    public TimeSpan Timeout { get; init; } = DefaultTimeout;

    /// <summary>A response longer than this is not read further: the query fails saying so.</summary>
    public long MaxResponseBytes { get; init; } = DefaultMaxResponseBytes;

    /// <summary>A result with more series than this fails the query.</summary>
    public int MaxSeries { get; init; } = DefaultMaxSeries;

    /// <summary>A label name or value longer than this fails the query.</summary>
    public int MaxLabelLength { get; init; } = DefaultMaxLabelLength;

    /// <summary>For point backends: the newest point at most this old is the value at an instant.</summary>
    public TimeSpan Lookback { get; init; } = DefaultLookback;

    /// <summary>The settings key of these options' limits, named in "raise it" hints (<c>backends.graphite.limits</c>).</summary>
    public string LimitsKey { get; init; } = "limits";

    /// <summary>Every problem with these options, empty when they are usable.</summary>
    public virtual IReadOnlyList<string> Validate()
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
            errors.Add("BaseAddress must not contain credentials; set Username/Password or BearerToken instead.");
        }

        if (Timeout <= TimeSpan.Zero || Timeout > MaxTimeout)
        {
            errors.Add($"Timeout must be greater than zero and at most {MaxTimeout}; got {Timeout}.");
        }

        if (Lookback <= TimeSpan.Zero)
        {
            errors.Add($"Lookback must be greater than zero; got {Lookback}.");
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

        errors.AddRange(Http.RequestHeaders.Problems(Headers));

        return errors;
    }

    /// <summary>
    /// The headers of every request: <see cref="Headers"/>, then the credentials as <c>Authorization</c> (bearer, else
    /// basic). <paramref name="basicCredential"/> is the encoded basic credential, a secret to mask like the others.
    /// </summary>
    public Dictionary<string, string> RequestHeaders(out string? basicCredential)
    {
        basicCredential = null;
        var headers = new Dictionary<string, string>(Headers, StringComparer.OrdinalIgnoreCase);
        if (!string.IsNullOrEmpty(BearerToken))
        {
            headers["Authorization"] = "Bearer " + BearerToken;
        }
        else if (!string.IsNullOrEmpty(Username))
        {
            basicCredential = Convert.ToBase64String(Encoding.UTF8.GetBytes($"{Username}:{Password}"));
            headers["Authorization"] = "Basic " + basicCredential;
        }

        return headers;
    }

    /// <summary>Every secret these options hold (credentials, header values): masked in any text a server sends back.</summary>
    public virtual IEnumerable<string?> Secrets() => [BearerToken, Password, .. Headers.Values];

    // The generated ToString would print the token and password; options get logged at startup.
    protected virtual bool PrintMembers(StringBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Append("BaseAddress = ").Append(BaseAddress)
            .Append(", Headers = [").Append(string.Join(", ", Headers.Keys)).Append(']')
            .Append(", BearerToken = ").Append(BearerToken is null ? "null" : "***")
            .Append(", Username = ").Append(Username ?? "null")
            .Append(", Password = ").Append(Password is null ? "null" : "***")
            .Append(", Timeout = ").Append(Timeout)
            .Append(", Lookback = ").Append(Lookback)
            .Append(", MaxResponseBytes = ").Append(MaxResponseBytes)
            .Append(", MaxSeries = ").Append(MaxSeries)
            .Append(", MaxLabelLength = ").Append(MaxLabelLength);
        return true;
    }
}
