using RollbackSentinel.Daemon;
using RollbackSentinel.Notifications;
using RollbackSentinel.Notifications.Alertmanager;
using RollbackSentinel.Notifications.PagerDuty;
using RollbackSentinel.Notifications.Slack;

namespace RollbackSentinel.Hosting;

/// <summary>
/// The channels the settings turn on, each an <see cref="IIncidentChannel"/> registered by its own <c>AddXxxChannel()</c>
/// (Slack, PagerDuty, Alertmanager), with what Slack's endpoints need (the request verifier and the approver check).
/// Secrets are read from their files at start.
/// </summary>
internal static class NotificationChannels
{
    public static IServiceCollection AddNotificationChannels(this IServiceCollection services, SentinelOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var settings = options.Notifications;
        if (settings.Slack.Enabled)
        {
            services.AddSlackChannel(
                new SlackOptions
                {
                    ApiBaseUrl = new Uri(settings.Slack.ApiUrl),
                    BotToken = ReadSecret(settings.Slack.BotTokenFile!),
                    SigningSecret = settings.Slack.SigningSecretFile is { } file ? ReadSecret(file) : null,
                    DefaultChannel = settings.Slack.Channel!,
                },
                sp => notice => sp.GetRequiredService<PolicyRegistry>().Find(notice.Incident.Policy)?.Policy.Notify.SlackChannel);
        }

        if (settings.PagerDuty.Enabled)
        {
            var routingKey = ReadSecret(settings.PagerDuty.RoutingKeyFile!);
            services.AddPagerDutyChannel(sp => new PagerDutyOptions
            {
                EventsUrl = new Uri(settings.PagerDuty.EventsUrl),
                RoutingKey = routingKey,
                RoutingKeyFor = notice => sp.GetRequiredService<PolicyRegistry>().Find(notice.Incident.Policy)?.Policy.Notify.PagerDutyRoutingKeyFile is { } file
                    ? ReadPolicySecret(sp.GetRequiredService<Rules.SecretFileAccess>(), file)
                    : null,
            });
        }

        if (settings.Alertmanager.Enabled)
        {
            services.AddAlertmanagerChannel(new AlertmanagerOptions { Url = new Uri(settings.Alertmanager.Url!) });
        }

        return services;
    }

    private static string ReadSecret(string file) => Rules.SecretFileAccess.ReadOperatorSecret(file);

    // Checked again when read (the rule was checked at load): a file swapped for a link since is still refused.
    private static string ReadPolicySecret(Rules.SecretFileAccess access, string file) =>
        access.Read(file);
}
