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

    /// <summary>
    /// The Prometheus root. A path prefix is kept (<c>http://host/prometheus/</c> queries
    /// <c>http://host/prometheus/api/v1/query</c>), with or without a trailing slash.
    /// </summary>
    public Uri BaseAddress { get; init; } = DefaultBaseAddress;

    /// <summary>Sent as <c>Authorization: Bearer ...</c>. Mutually exclusive with basic auth.</summary>
    public string? BearerToken { get; init; }

    /// <summary>Basic auth user name; basic auth is used when this is set.</summary>
    public string? Username { get; init; }

    /// <summary>Basic auth password; requires <see cref="Username"/>.</summary>
    public string? Password { get; init; }

    /// <summary>Timeout of one HTTP request, linked to the caller's cancellation token.</summary>
    public TimeSpan Timeout { get; init; } = DefaultTimeout;

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

        if (!string.IsNullOrEmpty(BearerToken) && !string.IsNullOrEmpty(Username))
        {
            errors.Add("Set either BearerToken or Username/Password, not both.");
        }

        if (!string.IsNullOrEmpty(Password) && string.IsNullOrEmpty(Username))
        {
            errors.Add("Password is set but Username is not.");
        }

        return errors;
    }

    // The generated ToString would print the token and password; options get logged at startup.
    private bool PrintMembers(StringBuilder builder)
    {
        builder.Append("BaseAddress = ").Append(BaseAddress)
            .Append(", BearerToken = ").Append(BearerToken is null ? "null" : "***")
            .Append(", Username = ").Append(Username ?? "null")
            .Append(", Password = ").Append(Password is null ? "null" : "***")
            .Append(", Timeout = ").Append(Timeout);
        return true;
    }
}
