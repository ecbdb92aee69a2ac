using Quartz;
using RollbackSentinel.Core.Policies;

namespace RollbackSentinel.Daemon;

/// <summary>
/// One Quartz job per policy, keyed by its name, on its interval or cron. A run that misses its slot (the
/// process was busy or stopped) is skipped, not queued: the next slot evaluates fresh data anyway.
/// </summary>
/// <remarks>
/// On a cluster (<see cref="ClusteredScheduling"/>) the jobs and triggers are shared by every node: a node starting or
/// reloading schedules a policy only when its job is missing or stored with another schedule, so it never resets the
/// slots of a policy the cluster already runs; it deletes a job when its own reload removed the policy, or when no alive
/// node has the policy any more (<see cref="OrphanedJobs"/>).
/// </remarks>
internal sealed class PolicyScheduler(ISchedulerFactory factory, TimeProvider time)
{
    public const string Group = "policies";

    /// <summary>Applies a reload; returns the policies whose schedule Quartz refused (e.g. a cron that never fires), with why.</summary>
    /// <remarks>
    /// At start the registry was empty, so nothing is removed: jobs of policies this node does not have (another node's
    /// newer or older rules) are left to the nodes that have them.
    /// </remarks>
    public async Task<IReadOnlyList<(Policy Policy, string Error)>> ApplyAsync(RegistryChange change, CancellationToken cancellationToken)
    {
        var scheduler = await factory.GetScheduler(cancellationToken).ConfigureAwait(false);
        foreach (var removed in change.Removed)
        {
            await scheduler.DeleteJob(new JobKey(removed.Name, Group), cancellationToken).ConfigureAwait(false);
        }

        // On a cluster a policy's job allows concurrent execution (see PolicyJob): Quartz then fires and completes its
        // slots without the cluster-wide lock row. In memory it does not: nothing is saved and nothing else runs it.
        var clustered = (await scheduler.GetMetadata(cancellationToken).ConfigureAwait(false)).JobStoreClustered;
        var failed = new List<(Policy, string)>();
        var toSchedule = change.Changed.Where(c => c.Old.Schedule != c.New.Schedule).Select(c => c.New).Concat(change.Added);
        foreach (var policy in toSchedule)
        {
            try
            {
                if (!await IsScheduledAsync(scheduler, policy, clustered, cancellationToken).ConfigureAwait(false))
                {
                    await ScheduleAsync(scheduler, policy, clustered, cancellationToken).ConfigureAwait(false);
                }
            }
            catch (SchedulerException e)
            {
                // One policy's schedule must not keep the others from running.
                failed.Add((policy, $"{policy.Source}: spec.schedule: cannot be scheduled: {e.Message}"));
            }
        }

        return failed;
    }

    /// <summary>Deletes the policy's job and trigger from the cluster; true if there was one.</summary>
    public async Task<bool> DeleteAsync(string policy, CancellationToken cancellationToken)
    {
        var scheduler = await factory.GetScheduler(cancellationToken).ConfigureAwait(false);
        return await scheduler.DeleteJob(new JobKey(policy, Group), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Schedules those of <paramref name="policies"/> that have no job (one query lists the jobs); returns them.</summary>
    public async Task<IReadOnlyList<Policy>> ScheduleMissingAsync(IReadOnlyList<Policy> policies, CancellationToken cancellationToken)
    {
        var scheduler = await factory.GetScheduler(cancellationToken).ConfigureAwait(false);
        var jobs = await scheduler.GetJobKeys(GroupMatcher<JobKey>.GroupEquals(Group), cancellationToken).ConfigureAwait(false);
        var existing = jobs.Select(k => k.Name).ToHashSet(StringComparer.Ordinal);
        var clustered = (await scheduler.GetMetadata(cancellationToken).ConfigureAwait(false)).JobStoreClustered;
        var scheduled = new List<Policy>();
        foreach (var policy in policies.Where(p => !existing.Contains(p.Name)))
        {
            try
            {
                await ScheduleAsync(scheduler, policy, clustered, cancellationToken).ConfigureAwait(false);
                scheduled.Add(policy);
            }
            catch (SchedulerException)
            {
                // Refused at load already (and reported there): nothing new to say.
            }
        }

        return scheduled;
    }

    /// <summary>The schedule as stored with its job, compared on start and reload (<see cref="Schedule"/>'s text: "every 15s", a cron).</summary>
    internal static string ScheduleText(Policy policy) => policy.Schedule.ToString()!;

    /// <summary>
    /// True when the policy's job and trigger are stored with this schedule (by this node earlier, or by another), and
    /// with the concurrency this store's jobs are built with (a job stored by an earlier version, which disallowed
    /// concurrent execution on a cluster too, is replaced once).
    /// </summary>
    private static async Task<bool> IsScheduledAsync(IScheduler scheduler, Policy policy, bool clustered, CancellationToken cancellationToken)
    {
        var job = await scheduler.GetJobDetail(new JobKey(policy.Name, Group), cancellationToken).ConfigureAwait(false);
        return job is not null
            && job.JobDataMap.TryGetString(PolicyJob.ScheduleKey, out var stored)
            && stored == ScheduleText(policy)
            && job.ConcurrentExecutionDisallowed == !clustered
            && await scheduler.Exists(new TriggerKey(policy.Name, Group), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Phases a single daemon spreads first runs over: a quarter second. A thousand policies at 15 s are then about 17 a
    /// phase, not 67 (whole seconds): the last of a phase no longer waits for 66 before it to start (schedule lag p50 16
    /// to 5 ms, evaluation p50 38 to 13 ms in bench/README.md, "Daemon"), for four wake-ups a second instead of one.
    /// </summary>
    internal static readonly TimeSpan InMemoryPhase = TimeSpan.FromMilliseconds(250);

    /// <summary>
    /// Phases a cluster spreads first runs over: whole seconds, so a node takes a phase's policies in one lock round and one
    /// commit (a round is a database transaction there, a monitor in memory).
    /// </summary>
    internal static readonly TimeSpan ClusteredPhase = TimeSpan.FromSeconds(1);

    /// <summary>
    /// A phase within the interval, a whole number of <paramref name="phase"/>s, the same for a policy on every start
    /// (FNV-1a of its name; string.GetHashCode is randomised per process). Grouped in phases, not spread evenly: evenly
    /// spread evaluations each wake the thread pool, which cost three times the CPU (bench/README.md).
    /// </summary>
    internal static TimeSpan Jitter(string name, TimeSpan interval, TimeSpan phase)
    {
        var phases = interval.Ticks / phase.Ticks;
        if (phases <= 1)
        {
            return TimeSpan.Zero;
        }

        var hash = 2166136261u;
        foreach (var c in name)
        {
            hash = unchecked((hash ^ c) * 16777619u);
        }

        return phase * (long)(hash % (ulong)phases);
    }

    /// <summary>
    /// The first slot of an interval policy: <paramref name="now"/> rounded up to the next whole second, plus the
    /// policy's <see cref="Jitter"/>. Every policy of one phase, whenever its node loaded it, fires at the same
    /// instants, so Quartz acquires and fires them in one batch (on a cluster: one lock round, one commit).
    /// </summary>
    internal static DateTimeOffset FirstSlot(DateTimeOffset now, string name, TimeSpan interval, TimeSpan phase)
    {
        var ticks = now.UtcTicks;
        var whole = ticks % TimeSpan.TicksPerSecond == 0 ? ticks : ticks - (ticks % TimeSpan.TicksPerSecond) + TimeSpan.TicksPerSecond;
        return new DateTimeOffset(whole, TimeSpan.Zero).Add(Jitter(name, interval, phase));
    }

    private Task ScheduleAsync(IScheduler scheduler, Policy policy, bool clustered, CancellationToken cancellationToken)
    {
        var job = JobBuilder.Create<PolicyJob>()
            .WithIdentity(policy.Name, Group)
            .DisallowConcurrentExecution(!clustered)
            .UsingJobData(PolicyJob.PolicyKey, policy.Name)
            .UsingJobData(PolicyJob.ScheduleKey, ScheduleText(policy))
            .Build();
        // Spread first runs over the interval (stable per policy), so a thousand policies loaded together do
        // not all query Prometheus in the same second, forever. In phases from a whole second: policies of one phase
        // share one fire time, and Quartz takes them in one round (on a cluster one lock round instead of one each).
        var trigger = TriggerBuilder.Create().WithIdentity(policy.Name, Group);
        trigger = policy.Schedule is IntervalSchedule spread
            ? trigger.StartAt(FirstSlot(time.GetUtcNow(), policy.Name, spread.Interval, clustered ? ClusteredPhase : InMemoryPhase))
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

        // Replaces the job and its trigger in one step: on a cluster another node may be scheduling the same policy now.
        return scheduler.ScheduleJob(job, [trigger.Build()], ScheduleJobOptions.Replacing, cancellationToken).AsTask();
    }
}

/// <summary>
/// Evaluates one policy: one evaluation of a policy at a time, on one node at a time.
/// </summary>
/// <remarks>
/// <para>
/// In memory (one daemon) the job disallows concurrent execution (<see cref="PolicyScheduler"/> builds it so): a run
/// that goes on past the next slot (a slow action) makes Quartz hold that slot back.
/// </para>
/// <para>
/// On a cluster it does not, deliberately: a job that disallows concurrent execution makes every firing round and every
/// completion take Quartz's one cluster-wide lock row (<c>TRIGGER_ACCESS</c>), which serialised a thousand policies at
/// 15 s over three nodes until the slots ran late (bench/README.md); a job that allows it is claimed by a
/// compare-and-swap on its trigger's row and completed without the lock (Quartz 4.6+). The slot of a policy is still
/// fired on exactly one node: the claim of a firing is one row update. Two evaluations of one policy (queries, decision,
/// commit) normally do not overlap: a slot comes one interval after the last, an evaluation's queries are cut off at
/// <c>evaluationTimeoutShare</c> (0.8) of the interval. They can overlap when an evaluation runs past the next slot: a
/// slot that started late on a busy node, the store answering slowly (its calls are not in the query budget), an
/// irregular cron schedule whose budget is set from a longer gap, a node frozen mid-evaluation. Then the later commit is refused by the state's version (event 1040, counted as fenced)
/// and that evaluation decides nothing; the next slot evaluates afresh. What the job does after its commit, an action it
/// started, may still run when the next slot is evaluated on another node (on its own node that slot is skipped:
/// <see cref="PolicyEvaluationService"/>'s gate); the action holds its own lease, and the next evaluation sees the
/// incident it belongs to.
/// </para>
/// </remarks>
internal sealed class PolicyJob(
    PolicyEvaluationService evaluations,
    PolicyRegistry registry,
    ForeignPolicyRuns foreign,
    OrphanedJobs orphans,
    Telemetry.SentinelMetrics metrics,
    TimeProvider time,
    IHostApplicationLifetime lifetime) : IJob
{
    public const string PolicyKey = "policy";

    /// <summary>The schedule the job was stored with (<see cref="PolicyScheduler.ScheduleText"/>).</summary>
    public const string ScheduleKey = "schedule";

    public async ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken)
    {
        if (context.ScheduledFireTimeUtc is { } slot)
        {
            metrics.RecordScheduleLag(time.GetUtcNow() - slot);
        }

        var name = context.MergedJobDataMap.GetString(PolicyKey)!;

        if (registry.Find(name) is null)
        {
            // Another node's rules have it (a rollout in progress): its job stays for them; this node skips the slot. When
            // no alive node has it (it was removed everywhere while the nodes were down), its job goes.
            foreign.Record(name);
            await orphans.DeleteIfOrphanedAsync(name, firstSlot: context.PreviousFireTimeUtc is null, cancellationToken).ConfigureAwait(false);
        }

        // Quartz does not cancel running jobs on shutdown; the host's stopping signal does.
        using var stopping = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, lifetime.ApplicationStopping);
        await evaluations.EvaluateAsync(name, context.ScheduledFireTimeUtc, stopping.Token).ConfigureAwait(false);
    }
}
