using Quartz;
using Quartz.Extensibility;

namespace RollbackSentinel.Daemon;

/// <summary>
/// Hands Quartz the one <see cref="PolicyJob"/> for every firing. Quartz's own factory opens a dependency injection scope
/// per firing, builds the job in it and sets the job's properties from its data map by reflection; a policy job keeps
/// nothing between firings (everything it needs arrives in the execution context), so one instance serves them all, at
/// once.
/// </summary>
internal sealed class PolicyJobFactory(PolicyJob job) : IJobFactory
{
    /// <exception cref="SchedulerException">The job is not a policy job (another version's job in a shared store): it is not run as one.</exception>
    public ValueTask<JobScope> CreateJob(TriggerFiredBundle bundle, IScheduler scheduler, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(bundle);
        var detail = bundle.JobDetail;
        return detail.JobType.Type == typeof(PolicyJob)
            ? ValueTask.FromResult(new JobScope(job, null))
            : throw new SchedulerException($"Job {detail.Key} is a {detail.JobType.FullName}; this daemon runs policy jobs ({typeof(PolicyJob).FullName}) only.");
    }

    public ValueTask ReturnJob(JobScope scope, CancellationToken cancellationToken) => ValueTask.CompletedTask;
}
