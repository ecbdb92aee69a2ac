using RollbackSentinel.Core.Incidents;
using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Core.Policies;

namespace RollbackSentinel.Daemon;

/// <summary>
/// A rollback a person asks for (API, CLI, Slack) with a reason: recorded as an incident with who, when and why,
/// then run through the policy's adapter like any other (planned once, verified, before/after recorded).
/// </summary>
internal sealed partial class ManualRollbacks(
    IncidentService incidents,
    PolicyRegistry registry,
    PendingActions pendingActions,
    NotificationDispatcher notifications,
    TimeProvider time,
    ILogger<ManualRollbacks> logger)
{
    public async Task<AnswerResult> StartAsync(string policyName, LabelSet labels, string by, string channel, string reason, CancellationToken cancellationToken)
    {
        if (registry.Find(policyName) is not { } entry)
        {
            return new AnswerResult(false, $"there is no policy '{policyName}'", null);
        }

        var policy = entry.Policy;
        if (policy.DryRun)
        {
            return new AnswerResult(false, $"policy '{policyName}' is in dry-run: it never acts, not even when asked", null);
        }

        var templates = policy.Target switch
        {
            WebhookTarget w => new Template?[] { w.Url },
            KubectlTarget k => [k.Name, k.Namespace],
            HelmTarget h => [h.Release, h.Namespace],
            _ => [],
        };
        var missing = templates.OfType<Template>().SelectMany(t => t.LabelNames).Where(n => !labels.ContainsKey(n)).Distinct().ToList();
        if (missing.Count > 0)
        {
            return new AnswerResult(false, $"the target of '{policyName}' needs the label(s) {string.Join(", ", missing)} to know what to roll back", null);
        }

        var target = TargetIdentity.For(policy, labels);
        var opened = await incidents.OpenManualRollbackAsync(new ManualRollback(policyName, labels, target, by, channel, reason, time.GetUtcNow()), cancellationToken).ConfigureAwait(false);
        LogStarted(policyName, target, by, channel, reason, opened.Incident.Id);
        pendingActions.Poke();
        notifications.Poke();
        return new AnswerResult(true, $"rolling back {target} (incident {opened.Incident.Id}), as {by} asked: {reason}", opened.Incident, opened.Action);
    }

    [LoggerMessage(EventId = 510, Level = LogLevel.Warning, Message = "Manual rollback of {Policy} ({Target}) asked by {By} via {Channel}: {Reason} (incident {Incident})")]
    private partial void LogStarted(string policy, string target, string by, string channel, string reason, long incident);
}
