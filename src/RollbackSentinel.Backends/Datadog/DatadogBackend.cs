using RollbackSentinel.Backends.Http;
using RollbackSentinel.Core.Metrics;

namespace RollbackSentinel.Backends.Datadog;

/// <summary>The Datadog metrics backend (type <c>datadog</c>): queries Datadog's v1 metrics query API.</summary>
public static class DatadogBackend
{
    /// <summary>The backend's type name in settings and policies.</summary>
    public const string TypeName = "datadog";

    /// <inheritdoc cref="Create(HttpClient, DatadogOptions, TimeProvider)"/>
    public static IMetricsSource Create(HttpClient http, DatadogOptions options) => Create(http, options, TimeProvider.System);

    /// <summary>
    /// A Datadog source sending through <paramref name="http"/> (it may be shared; its base address is not used). Build it on
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

        return new DatadogSource(RefitClients.For<IDatadogApi>(http, options.BaseAddress), options, time);
    }
}
