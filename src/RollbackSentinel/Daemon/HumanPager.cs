using RollbackSentinel.Core.Incidents;

namespace RollbackSentinel.Daemon;

/// <summary>Tells humans that something needs them now (a rollback failed or was interrupted).</summary>
internal interface IHumanPager
{
    Task PageAsync(Incident incident, string reason, CancellationToken cancellationToken);
}

/// <summary>
/// The pager until chat and paging channels exist: a critical log line (alert on event id 310) and a
/// counter (<c>rollback_sentinel_pages_total</c>); the incident's timeline already holds the failure.
/// </summary>
internal sealed partial class LogPager(Telemetry.SentinelMetrics metrics, ILogger<LogPager> logger) : IHumanPager
{
    public Task PageAsync(Incident incident, string reason, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(incident);
        metrics.RecordPage(incident.Policy);
        LogPage(incident.Policy, incident.Trigger, incident.Id, reason);
        return Task.CompletedTask;
    }

    [LoggerMessage(EventId = 310, Level = LogLevel.Critical, Message = "PAGE {Policy}/{Trigger} (incident {Incident}): {Reason}. Humans must look: the sentinel does not retry it")]
    private partial void LogPage(string policy, string trigger, long incident, string reason);
}
