using Quartz;
using Quartz.Extensibility;

namespace RollbackSentinel.Daemon;

/// <summary>
/// Hands Quartz the one <see cref="PolicyJob"/> for every firing. Quartz's own factory opens a dependency injection scope
/// per firing, builds the job in it and sets the job's properties from its data map by reflection (about a third of the
/// scheduler's own allocation at a thousand policies per 15 s); a policy job keeps nothing between firings (everything
/// it needs arrives in the execution context), so one instance serves them all, at once.
/// </summary>
internal sealed class PolicyJobFactory(PolicyJob job) : IJobFactory
{
    /// <remarks>The daemon schedules no other job (<see cref="PolicyScheduler"/>), on a cluster either.</remarks>
    public ValueTask<JobScope> CreateJob(TriggerFiredBundle bundle, IScheduler scheduler, CancellationToken cancellationToken) =>
        ValueTask.FromResult(new JobScope(job, null));

    public ValueTask ReturnJob(JobScope scope, CancellationToken cancellationToken) => ValueTask.CompletedTask;
}
