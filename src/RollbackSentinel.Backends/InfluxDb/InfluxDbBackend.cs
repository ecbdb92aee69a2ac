using Refit;
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
    /// Dedicated to this backend: its <see cref="HttpClient.BaseAddress"/> is set to the options' (or must already be
    /// that). Its own <see cref="HttpClient.Timeout"/> still applies; keep it at least <see cref="BackendOptions.Timeout"/>
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

        // Refit resolves "/query" under the client's base address, path prefix included (http://host/influx/query).
        var root = options.BaseAddress.AbsoluteUri.EndsWith('/') ? options.BaseAddress : new Uri(options.BaseAddress.AbsoluteUri + "/");
        if (http.BaseAddress is null)
        {
            http.BaseAddress = root;
        }
        else if (http.BaseAddress != root && http.BaseAddress != options.BaseAddress)
        {
            throw new ArgumentException(
                $"The HttpClient's BaseAddress {http.BaseAddress} is not the InfluxDB base address {options.BaseAddress}; give the backend its own HttpClient.",
                nameof(http));
        }

        var settings = new RefitSettings
        {
            // Refit wraps a transport failure in its ApiRequestException; BackendHttp reports the HttpRequestException
            // itself (unreachable, timed out, garbled), naming the server and the query.
            TransportExceptionFactory = (_, exception, _) => exception,
        };
        return new InfluxDbSource(RestService.For<IInfluxDbApi>(http, settings), options);
    }
}
