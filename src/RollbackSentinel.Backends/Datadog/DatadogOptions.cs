using System.Diagnostics.CodeAnalysis;
using System.Text;

namespace RollbackSentinel.Backends.Datadog;

/// <summary>
/// Where Datadog is and the two keys its query API wants. <see cref="BackendOptions.BaseAddress"/> follows
/// <see cref="Site"/> (<c>datadoghq.eu</c> is <c>https://api.datadoghq.eu/</c>) unless it was set to another address, which
/// is how tests point the backend at the emulator.
/// </summary>
public sealed record DatadogOptions : BackendOptions
{
    /// <summary>Datadog's US1 site, the one an account is on unless it was opened elsewhere.</summary>
    public const string DefaultSite = "datadoghq.com";

    /// <summary>The domains Datadog's sites live under (US1, US3, US5, AP1, AP2 and UK1 under the first; EU; US1-FED and US2-FED).</summary>
    private static readonly string[] SiteDomains = ["datadoghq.com", "datadoghq.eu", "ddog-gov.com"];

    private readonly string _site = DefaultSite;

    [SetsRequiredMembers]
    public DatadogOptions() => BaseAddress = SiteApiAddress(DefaultSite)!;

    /// <summary>
    /// The Datadog site the account is on, as Datadog names it (<c>datadoghq.com</c>, <c>us3.datadoghq.com</c>,
    /// <c>datadoghq.eu</c>, <c>ap1.datadoghq.com</c>, <c>ddog-gov.com</c>, ...; an <c>app.</c> prefix is ignored). The API is
    /// <c>https://api.SITE/</c>.
    /// </summary>
    public string Site
    {
        get => _site;
        init
        {
            // Follow the site only while the address is the previous site's: an address set on purpose (the emulator) stays,
            // whichever of the two an initializer or a settings binder sets first.
            if (BaseAddress == SiteApiAddress(_site) && SiteApiAddress(value) is { } address)
            {
                BaseAddress = address;
            }

            _site = value;
        }
    }

    /// <summary>Sent as <c>DD-API-KEY</c>: identifies the organization.</summary>
    public string ApiKey { get; init; } = string.Empty;

    /// <summary>Sent as <c>DD-APPLICATION-KEY</c>: the key's owner must hold the <c>timeseries_query</c> permission.</summary>
    public string ApplicationKey { get; init; } = string.Empty;

    /// <summary><c>https://api.SITE/</c>, or null when <paramref name="site"/> is not the name of a Datadog site.</summary>
    public static Uri? SiteApiAddress(string? site)
    {
        if (string.IsNullOrWhiteSpace(site))
        {
            return null;
        }

        var host = site.Trim().ToLowerInvariant();
        if (host.StartsWith("app.", StringComparison.Ordinal))
        {
            host = host["app.".Length..];
        }

        var isDatadog = SiteDomains.Any(d => host == d || host.EndsWith("." + d, StringComparison.Ordinal));
        return isDatadog && Uri.CheckHostName(host) == UriHostNameType.Dns ? new Uri($"https://api.{host}/") : null;
    }

    /// <inheritdoc />
    public override IReadOnlyList<string> Validate()
    {
        var errors = new List<string>(base.Validate());
        if (string.IsNullOrWhiteSpace(ApiKey))
        {
            errors.Add("ApiKey is required: Datadog's query API wants the organization's API key (DD-API-KEY).");
        }

        if (string.IsNullOrWhiteSpace(ApplicationKey))
        {
            errors.Add("ApplicationKey is required: Datadog's query API wants an application key (DD-APPLICATION-KEY) with the timeseries_query permission.");
        }

        if (SiteApiAddress(Site) is not { } siteAddress)
        {
            errors.Add($"Site '{Site}' is not a Datadog site; use the name Datadog gives it (datadoghq.com, us3.datadoghq.com, us5.datadoghq.com, datadoghq.eu, ap1.datadoghq.com, ddog-gov.com, ...).");
        }
        else if (BaseAddress is { IsAbsoluteUri: true } address && address != siteAddress
            && SiteDomains.Any(d => address.Host.EndsWith("." + d, StringComparison.OrdinalIgnoreCase)))
        {
            errors.Add($"BaseAddress '{address}' is another Datadog site's API than Site '{Site}' ({siteAddress}); set only the site.");
        }

        if (!string.IsNullOrEmpty(BearerToken) || !string.IsNullOrEmpty(Username))
        {
            errors.Add("Datadog authenticates with the API and application keys; a bearer token or username is not used.");
        }

        foreach (var name in Headers.Keys.Where(n => n.Equals("DD-API-KEY", StringComparison.OrdinalIgnoreCase) || n.Equals("DD-APPLICATION-KEY", StringComparison.OrdinalIgnoreCase)))
        {
            errors.Add($"Set the {name} header with the ApiKey or ApplicationKey setting, not as an extra header.");
        }

        return errors;
    }

    /// <inheritdoc />
    public override IEnumerable<string?> Secrets() => [.. base.Secrets(), ApiKey, ApplicationKey];

    // The generated ToString would print both keys.
    protected override bool PrintMembers(StringBuilder builder)
    {
        base.PrintMembers(builder);
        builder.Append(", Site = ").Append(Site)
            .Append(", ApiKey = ").Append(string.IsNullOrEmpty(ApiKey) ? "(none)" : "***")
            .Append(", ApplicationKey = ").Append(string.IsNullOrEmpty(ApplicationKey) ? "(none)" : "***");
        return true;
    }
}
