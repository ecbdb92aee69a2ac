using Quartz;
using RollbackSentinel.Core.Policies;

namespace RollbackSentinel.Daemon;

/// <summary>
/// One Quartz job per policy, keyed by its name, on its interval or cron. A run that misses its slot (the
/// process was busy or stopped) is skipped, not queued: the next slot evaluates fresh data anyway.
/// </summary>
internal sealed class PolicyScheduler(ISchedulerFactory factory, TimeProvider time)
{
    public const string Group = "policies";

    /// <summary>Applies a reload; returns the policies whose schedule Quartz refused (e.g. a cron that never fires), with why.</summary>
    public async Task<IReadOnlyList<(Policy Policy, string Error)>> ApplyAsync(RegistryChange change, CancellationToken cancellationToken)
    {
        var scheduler = await factory.GetScheduler(cancellationToken).ConfigureAwait(false);
        foreach (var removed in change.Removed)
        {
            await scheduler.DeleteJob(new JobKey(removed.Name, Group), cancellationToken).ConfigureAwait(false);
        }

        var failed = new List<(Policy, string)>();
        var toSchedule = change.Changed.Where(c => c.Old.Schedule != c.New.Schedule).Select(c => c.New).Concat(change.Added);
        foreach (var policy in toSchedule)
        {
            try
            {
                await scheduler.DeleteJob(new JobKey(policy.Name, Group), cancellationToken).ConfigureAwait(false);
                await ScheduleAsync(scheduler, policy, cancellationToken).ConfigureAwait(false);
            }
            catch (SchedulerException e)
            {
                // One policy's schedule must not keep the others from running.
                failed.Add((policy, $"{policy.Source}: spec.schedule: cannot be scheduled: {e.Message}"));
            }
        }

        return failed;
    }

    /// <summary>
    /// A whole-second phase within the interval, the same for a policy on every start (FNV-1a of its name;
    /// string.GetHashCode is randomised per process). Whole seconds, because evaluations grouped per second
    /// cost a third of the CPU of evaluations spread evenly (bench/README.md: the thread pool wakes per burst).
    /// </summary>
    internal static TimeSpan Jitter(string name, TimeSpan interval)
    {
        var seconds = (long)interval.TotalSeconds;
        if (seconds <= 1)
        {
            return TimeSpan.Zero;
        }

        var hash = 2166136261u;
        foreach (var c in name)
        {
            hash = unchecked((hash ^ c) * 16777619u);
        }

        return TimeSpan.FromSeconds(hash % (ulong)seconds);
    }

    private Task ScheduleAsync(IScheduler scheduler, Policy policy, CancellationToken cancellationToken)
    {
        var job = JobBuilder.Create<PolicyJob>()
            .WithIdentity(policy.Name, Group)
            .UsingJobData(PolicyJob.PolicyKey, policy.Name)
            .Build();
        // Spread first runs over the interval (stable per policy), so a thousand policies loaded together do
        // not all query Prometheus in the same second, forever.
        var trigger = TriggerBuilder.Create().WithIdentity(policy.Name, Group);
        trigger = policy.Schedule is IntervalSchedule spread
            ? trigger.StartAt(time.GetUtcNow().Add(Jitter(policy.Name, spread.Interval)))
            : trigger.StartNow();
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
internal sealed class PolicyJob(PolicyEvaluationService evaluations, Telemetry.SentinelMetrics metrics, TimeProvider time, IHostApplicationLifetime lifetime) : IJob
{
    public const string PolicyKey = "policy";

    public async ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken)
    {
        if (context.ScheduledFireTimeUtc is { } slot)
        {
            metrics.RecordScheduleLag(time.GetUtcNow() - slot);
        }

        var name = context.MergedJobDataMap.GetString(PolicyKey)!;

        // Quartz does not cancel running jobs on shutdown; the host's stopping signal does.
        using var stopping = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, lifetime.ApplicationStopping);
        await evaluations.EvaluateAsync(name, context.ScheduledFireTimeUtc, stopping.Token).ConfigureAwait(false);
    }
}
