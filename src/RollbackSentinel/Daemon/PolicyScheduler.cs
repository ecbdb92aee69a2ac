using Quartz;
using RollbackSentinel.Core.Policies;

namespace RollbackSentinel.Daemon;

/// <summary>
/// One Quartz job per policy, keyed by its name, on its interval or cron. A run that misses its slot (the
/// process was busy or stopped) is skipped, not queued: the next slot evaluates fresh data anyway.
/// </summary>
internal sealed class PolicyScheduler(ISchedulerFactory factory)
{
    public const string Group = "policies";

    public async Task ApplyAsync(RegistryChange change, CancellationToken cancellationToken)
    {
        var scheduler = await factory.GetScheduler(cancellationToken).ConfigureAwait(false);
        foreach (var removed in change.Removed)
        {
            await scheduler.DeleteJob(new JobKey(removed.Name, Group), cancellationToken).ConfigureAwait(false);
        }

        foreach (var (old, updated) in change.Changed.Where(c => c.Old.Schedule != c.New.Schedule))
        {
            await scheduler.DeleteJob(new JobKey(old.Name, Group), cancellationToken).ConfigureAwait(false);
            await ScheduleAsync(scheduler, updated, cancellationToken).ConfigureAwait(false);
        }

        foreach (var added in change.Added)
        {
            await ScheduleAsync(scheduler, added, cancellationToken).ConfigureAwait(false);
        }
    }

    private static Task ScheduleAsync(IScheduler scheduler, Policy policy, CancellationToken cancellationToken)
    {
        var job = JobBuilder.Create<PolicyJob>()
            .WithIdentity(policy.Name, Group)
            .UsingJobData(PolicyJob.PolicyKey, policy.Name)
            .Build();
        var trigger = TriggerBuilder.Create().WithIdentity(policy.Name, Group).StartNow();
        trigger = policy.Schedule switch
        {
            IntervalSchedule i => trigger.WithSimpleSchedule(s => s
                .WithInterval(i.Interval)
                .RepeatForever()
                .WithMisfireInstruction(SimpleTriggerMisfireInstruction.NextWithRemainingCount)),
            CronSchedule c => trigger.WithCronSchedule(c.Expression, s => s
                .InTimeZone(TimeZoneInfo.Utc)
                .WithMisfireInstruction(CronTriggerMisfireInstruction.DoNothing)),
            _ => throw new ArgumentOutOfRangeException(nameof(policy), policy.Schedule, "unknown schedule"),
        };

        return scheduler.ScheduleJob(job, trigger.Build(), cancellationToken: cancellationToken).AsTask();
    }
}

/// <summary>Evaluates one policy. Quartz never runs two of the same policy at once.</summary>
[DisallowConcurrentExecution]
internal sealed class PolicyJob(PolicyEvaluationService evaluations, Telemetry.SentinelMetrics metrics, TimeProvider time) : IJob
{
    public const string PolicyKey = "policy";

    public async ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken)
    {
        if (context.ScheduledFireTimeUtc is { } slot)
        {
            metrics.RecordScheduleLag(time.GetUtcNow() - slot);
        }

        var name = context.MergedJobDataMap.GetString(PolicyKey)!;
        await evaluations.EvaluateAsync(name, cancellationToken).ConfigureAwait(false);
    }
}
