using Microsoft.Extensions.DependencyInjection;

namespace RollbackSentinel.Notifications.Slack;

/// <summary>Registers the Slack channel.</summary>
public static class SlackServiceCollectionExtensions
{
    /// <summary>
    /// Registers the Slack <see cref="IIncidentChannel"/> (name <c>slack</c>) with its Web API client (no redirects; each
    /// call has <see cref="SlackOptions.RequestTimeout"/>), the <see cref="SlackApprovers"/> check Slack's endpoints use,
    /// and, when <see cref="SlackOptions.SigningSecret"/> is set, the <see cref="SlackRequestVerifier"/> (without it the
    /// daemon takes no interactions). Needs a <see cref="TimeProvider"/>.
    /// </summary>
    /// <param name="services">The services.</param>
    /// <param name="options">The token, secret and default channel.</param>
    /// <param name="chooseChannel">
    /// Picks the channel of a notice's first post (per policy, say), from the services; null, or a null or empty answer,
    /// means <see cref="SlackOptions.DefaultChannel"/>.
    /// </param>
    public static IServiceCollection AddSlackChannel(
        this IServiceCollection services, SlackOptions options, Func<IServiceProvider, Func<IncidentNotice, string?>>? chooseChannel = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(options);
        services.AddSingleton(options);
        services.AddHttpClient<SlackClient>(h => h.Timeout = Timeout.InfiniteTimeSpan).ConfigurePrimaryHttpMessageHandler(SlackClient.CreateHandler);
        services.AddSingleton<IIncidentChannel>(sp => new SlackChannel(sp.GetRequiredService<SlackClient>(), options, chooseChannel?.Invoke(sp)));
        services.AddSingleton(sp => new SlackApprovers(sp.GetRequiredService<SlackClient>(), sp.GetRequiredService<TimeProvider>()));
        if (options.SigningSecret is { } secret)
        {
            services.AddSingleton(sp => new SlackRequestVerifier(secret, sp.GetRequiredService<TimeProvider>()));
        }

        return services;
    }
}
