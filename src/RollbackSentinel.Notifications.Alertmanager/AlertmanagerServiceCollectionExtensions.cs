using Microsoft.Extensions.DependencyInjection;

namespace RollbackSentinel.Notifications.Alertmanager;

/// <summary>Registers the Alertmanager channel.</summary>
public static class AlertmanagerServiceCollectionExtensions
{
    /// <summary>The name of the channel's HttpClient (its log category is <c>System.Net.Http.HttpClient.alertmanager</c>).</summary>
    public const string HttpClientName = "alertmanager";

    /// <summary>
    /// Registers the Alertmanager <see cref="IIncidentChannel"/> (name <c>alertmanager</c>) with its own HttpClient (no
    /// redirects; each attempt has <see cref="AlertmanagerOptions.Timeout"/>). Needs a <see cref="TimeProvider"/>.
    /// </summary>
    public static IServiceCollection AddAlertmanagerChannel(this IServiceCollection services, AlertmanagerOptions options)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(options);
        services.AddHttpClient(HttpClientName, h => h.Timeout = Timeout.InfiniteTimeSpan).ConfigurePrimaryHttpMessageHandler(AlertmanagerChannel.CreateHandler);
        services.AddSingleton<IIncidentChannel>(sp => new AlertmanagerChannel(
            sp.GetRequiredService<IHttpClientFactory>().CreateClient(HttpClientName),
            options,
            sp.GetRequiredService<TimeProvider>()));
        return services;
    }
}
