using RollbackSentinel.Backends.Http;
using RollbackSentinel.Core.Metrics;

namespace RollbackSentinel.Backends.InfluxDb;

/// <summary>The InfluxDB 1.x backend (type name <c>influxdb</c>): InfluxQL over <c>/query</c> as an <see cref="IMetricsSource"/>.</summary>
public static class InfluxDbBackend
{
    /// <summary>The name the settings use for this backend's type.</summary>
    public const string TypeName = "influxdb";

    /// <summary>
    /// The handler to build the <see cref="HttpClient"/> on: it follows no redirect, so a query (and its credentials) is
    /// never sent to a server nobody configured.
    /// </summary>
    public static HttpMessageHandler CreateHandler() => BackendHttp.CreateHandler();

    /// <summary>
    /// A source that queries InfluxDB at <see cref="BackendOptions.BaseAddress"/>; it also implements
    /// <see cref="IQueryChecker"/>. Every failure surfaces as a <see cref="MetricsQueryException"/>, except the caller's
    /// own cancellation, which propagates as <see cref="OperationCanceledException"/>.
    /// </summary>
    /// <param name="http">
    /// The client to send through (it may be shared; its base address is not used). Its own <see cref="HttpClient.Timeout"/> still applies; keep it at least <see cref="BackendOptions.Timeout"/>
    /// (or infinite). Build it on <see cref="CreateHandler"/>.
    /// </param>
    /// <param name="options">Validated here: invalid options throw <see cref="ArgumentException"/> listing every problem.</param>
    public static IMetricsSource Create(HttpClient http, InfluxDbOptions options)
    {
        ArgumentNullException.ThrowIfNull(http);
        ArgumentNullException.ThrowIfNull(options);
        var problems = options.Validate();
        if (problems.Count > 0)
        {
            throw new ArgumentException("Invalid InfluxDB options: " + string.Join(" ", problems), nameof(options));
        }

        // Refit resolves its routes under the root, path prefix included (http://host/prefix/...), and sends through the
        // given client, which may be shared.
        var root = options.BaseAddress.AbsoluteUri.EndsWith('/') ? options.BaseAddress : new Uri(options.BaseAddress.AbsoluteUri + "/");
        return new InfluxDbSource(RefitClients.For<IInfluxDbApi>(http, root), options);
    }
}
