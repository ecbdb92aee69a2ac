using Microsoft.Extensions.DependencyInjection;

namespace RollbackSentinel.Notifications.PagerDuty;

/// <summary>Registers the PagerDuty channel.</summary>
public static class PagerDutyServiceCollectionExtensions
{
    /// <summary>The name of the channel's HttpClient (its log category is <c>System.Net.Http.HttpClient.pagerduty</c>).</summary>
    public const string HttpClientName = "pagerduty";

    /// <summary>
    /// Registers the PagerDuty <see cref="IIncidentChannel"/> (name <c>pagerduty</c>) with its own HttpClient (no redirects;
    /// each attempt has <see cref="PagerDutyOptions.Timeout"/>). <paramref name="options"/> is called once, when the
    /// channel is first resolved (a <see cref="PagerDutyOptions.RoutingKeyFor"/> may read other services). Needs a <see cref="TimeProvider"/>.
    /// </summary>
    public static IServiceCollection AddPagerDutyChannel(this IServiceCollection services, Func<IServiceProvider, PagerDutyOptions> options)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(options);
        services.AddHttpClient(HttpClientName, h => h.Timeout = Timeout.InfiniteTimeSpan).ConfigurePrimaryHttpMessageHandler(PagerDutyChannel.CreateHandler);
        services.AddSingleton<IIncidentChannel>(sp => new PagerDutyChannel(
            sp.GetRequiredService<IHttpClientFactory>().CreateClient(HttpClientName),
            options(sp),
            sp.GetRequiredService<TimeProvider>()));
        return services;
    }

    /// <summary>As <see cref="AddPagerDutyChannel(IServiceCollection, Func{IServiceProvider, PagerDutyOptions})"/>, with fixed options.</summary>
    public static IServiceCollection AddPagerDutyChannel(this IServiceCollection services, PagerDutyOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return services.AddPagerDutyChannel(_ => options);
    }
}
