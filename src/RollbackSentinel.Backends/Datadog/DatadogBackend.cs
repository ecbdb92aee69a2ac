using Refit;
using RollbackSentinel.Core.Metrics;

namespace RollbackSentinel.Backends.Datadog;

/// <summary>The Datadog metrics backend (type <c>datadog</c>): queries Datadog's v1 metrics query API.</summary>
public static class DatadogBackend
{
    /// <summary>The backend's type name in settings and policies.</summary>
    public const string TypeName = "datadog";

    // Transport exceptions pass through unwrapped: BackendHttp turns them into MetricsQueryExceptions that name the server.
    private static readonly RefitSettings Settings = new()
    {
        TransportExceptionFactory = (_, exception, _) => exception,
    };

    /// <inheritdoc cref="Create(HttpClient, DatadogOptions, TimeProvider)"/>
    public static IMetricsSource Create(HttpClient http, DatadogOptions options) => Create(http, options, TimeProvider.System);

    /// <summary>
    /// A Datadog source over <paramref name="http"/>, which becomes this backend's own client: its base address is set to
    /// the options' address when it has none (and must be that address when it has one). Build it on
    /// <see cref="Http.BackendHttp.CreateHandler"/>'s handler, which follows no redirect. The source also implements
    /// <see cref="IQueryChecker"/>.
    /// </summary>
    /// <param name="time">The clock of <see cref="IQueryChecker.CheckSyntaxAsync"/>'s window.</param>
    public static IMetricsSource Create(HttpClient http, DatadogOptions options, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(http);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(time);
        var problems = options.Validate();
        if (problems.Count > 0)
        {
            throw new ArgumentException("Invalid Datadog options: " + string.Join(" ", problems), nameof(options));
        }

        if (http.BaseAddress is null)
        {
            http.BaseAddress = options.BaseAddress;
        }
        else if (http.BaseAddress != options.BaseAddress)
        {
            throw new ArgumentException(
                $"The HttpClient's BaseAddress {http.BaseAddress} is not the Datadog address {options.BaseAddress}; give the backend its own client.", nameof(http));
        }

        return new DatadogSource(RestService.For<IDatadogApi>(http, Settings), options, time);
    }
}
