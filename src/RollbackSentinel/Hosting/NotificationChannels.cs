using RollbackSentinel.Daemon;
using RollbackSentinel.Notifications;
using RollbackSentinel.Notifications.Alertmanager;
using RollbackSentinel.Notifications.PagerDuty;
using RollbackSentinel.Notifications.Slack;

namespace RollbackSentinel.Hosting;

/// <summary>
/// The channels the settings turn on, each an <see cref="IIncidentChannel"/> (Slack, PagerDuty, Alertmanager), and
/// what Slack's endpoints need (the request verifier and the approver check). Secrets are read from their files at start.
/// </summary>
internal static class NotificationChannels
{
    public static IServiceCollection AddNotificationChannels(this IServiceCollection services, SentinelOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var settings = options.Notifications;
        if (settings.Slack.Enabled)
        {
            var slack = new SlackOptions
            {
                ApiBaseUrl = new Uri(settings.Slack.ApiUrl),
                BotToken = ReadSecret(settings.Slack.BotTokenFile!),
                SigningSecret = settings.Slack.SigningSecretFile is { } file ? ReadSecret(file) : null,
                DefaultChannel = settings.Slack.Channel!,
            };
            services.AddSingleton(slack);
            services.AddHttpClient<SlackClient>(h => h.Timeout = Timeout.InfiniteTimeSpan).ConfigurePrimaryHttpMessageHandler(SlackClient.CreateHandler);
            services.AddSingleton<IIncidentChannel>(sp => new SlackChannel(
                sp.GetRequiredService<SlackClient>(),
                slack,
                notice => sp.GetRequiredService<PolicyRegistry>().Find(notice.Incident.Policy)?.Policy.Notify.SlackChannel));
            services.AddSingleton(sp => new SlackApprovers(sp.GetRequiredService<SlackClient>(), sp.GetRequiredService<TimeProvider>()));
            if (slack.SigningSecret is { } secret)
            {
                services.AddSingleton(sp => new SlackRequestVerifier(secret, sp.GetRequiredService<TimeProvider>()));
            }
        }

        if (settings.PagerDuty.Enabled)
        {
            var routingKey = ReadSecret(settings.PagerDuty.RoutingKeyFile!);
            services.AddHttpClient("pagerduty", h => h.Timeout = Timeout.InfiniteTimeSpan).ConfigurePrimaryHttpMessageHandler(PagerDutyChannel.CreateHandler);
            services.AddSingleton<IIncidentChannel>(sp => new PagerDutyChannel(
                sp.GetRequiredService<IHttpClientFactory>().CreateClient("pagerduty"),
                new PagerDutyOptions
                {
                    EventsUrl = new Uri(settings.PagerDuty.EventsUrl),
                    RoutingKey = routingKey,
                    RoutingKeyFor = notice => sp.GetRequiredService<PolicyRegistry>().Find(notice.Incident.Policy)?.Policy.Notify.PagerDutyRoutingKeyFile is { } file
                        ? ReadPolicySecret(sp.GetRequiredService<Rules.SecretFileAccess>(), file)
                        : null,
                },
                sp.GetRequiredService<TimeProvider>()));
        }

        if (settings.Alertmanager.Enabled)
        {
            services.AddHttpClient("alertmanager", h => h.Timeout = Timeout.InfiniteTimeSpan).ConfigurePrimaryHttpMessageHandler(AlertmanagerChannel.CreateHandler);
            services.AddSingleton<IIncidentChannel>(sp => new AlertmanagerChannel(
                sp.GetRequiredService<IHttpClientFactory>().CreateClient("alertmanager"),
                new AlertmanagerOptions { Url = new Uri(settings.Alertmanager.Url!) },
                sp.GetRequiredService<TimeProvider>()));
        }

        return services;
    }

    private static string ReadSecret(string file) => Rules.SecretFileAccess.ReadOperatorSecret(file);

    // Checked again when read (the rule was checked at load): a file swapped for a link since is still refused.
    private static string ReadPolicySecret(Rules.SecretFileAccess access, string file) =>
        access.Read(file);
}
