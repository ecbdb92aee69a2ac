using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using Quartz;
using RollbackSentinel.Daemon;
using RollbackSentinel.Hosting;
using RollbackSentinel.Rules;
using RollbackSentinel.Testing.Time;

namespace RollbackSentinel.Cli.Tests.Daemon;

/// <summary>PolicyScheduler on the in-memory store a single daemon runs (the clustered store: ClusteredSchedulingTests).</summary>
public sealed class PolicySchedulerTests : IAsyncLifetime
{
    // Quartz as the daemon registers it on SQLite (ClusteredScheduling.AddPolicyScheduling): its in-memory store.
    private readonly ServiceProvider _services = new ServiceCollection().AddLogging()
        .AddQuartz(q => q.ConfigureScheduler(s => s.InstanceName = $"policy-scheduler-tests-{Guid.NewGuid():N}")).BuildServiceProvider();

    private IScheduler _scheduler = null!;
    private ISchedulerFactory _factory = null!;

    public async Task InitializeAsync()
    {
        _factory = _services.GetRequiredService<ISchedulerFactory>();
        _scheduler = await _factory.GetScheduler();
        Assert.False((await _scheduler.GetMetadata()).JobStoreClustered);
    }

    public async Task DisposeAsync()
    {
        await _scheduler.Shutdown(waitForJobsToComplete: false);
        await _services.DisposeAsync();
    }

    [Fact]
    public async Task InMemory_PolicyJobsDisallowConcurrentExecution_SoASlowRunHoldsTheNextSlotBack()
    {
        var time = new ManualTimeProvider(new DateTimeOffset(2026, 12, 5, 16, 0, 0, TimeSpan.Zero));
        var loaded = new PolicyRegistry(time).Apply(
            [PolicyParser.Parse("a.yaml", PolicyYaml.WithWebhook("checkout", PolicyYaml.ErrorRateTrigger, "15s"))],
            []);

        Assert.Empty(await new PolicyScheduler(_factory, time).ApplyAsync(loaded, CancellationToken.None));

        var job = await _scheduler.GetJobDetail(new JobKey("checkout", PolicyScheduler.Group));
        Assert.NotNull(job);
        Assert.True(job.ConcurrentExecutionDisallowed);
        Assert.Equal("every 15s", job.JobDataMap.GetString(PolicyJob.ScheduleKey));
    }

    [Fact]
    public async Task InMemory_TheDaemonsScheduler_TakesEveryTriggerDueAtOnceUpToItsThreads()
    {
        // A thousand policies at 15 s are 67 firings on each whole second; one a round, the last waited for the scheduler
        // thread to fire the 66 before it. The scheduler as the daemon registers it (AddPolicyScheduling, SQLite).
        await using var services = new ServiceCollection().AddLogging()
            .AddPolicyScheduling(new SentinelOptions(), DaemonHost.MaxConcurrentEvaluations).BuildServiceProvider();

        var scheduler = services.GetRequiredService<IOptions<QuartzSchedulerOptions>>().Value;

        Assert.Equal(DaemonHost.MaxConcurrentEvaluations, scheduler.MaxBatchSize);
        Assert.Equal(TimeSpan.Zero, scheduler.BatchTriggerAcquisitionFireAheadTimeWindow);
    }

    [Fact]
    public async Task TheDaemonsJobFactory_HandsTheOnePolicyJobToEveryFiring_AndRefusesAnyOtherJob()
    {
        // The instance is only compared: every firing is vetoed below, so PolicyJob.Execute never runs.
        var job = (PolicyJob)RuntimeHelpers.GetUninitializedObject(typeof(PolicyJob));
        await using var services = new ServiceCollection().AddLogging()
            .AddPolicyScheduling(new SentinelOptions(), 4).AddSingleton(job).BuildServiceProvider();
        var scheduler = await services.GetRequiredService<ISchedulerFactory>().GetScheduler();
        var fired = new VetoEverything();
        scheduler.ListenerManager.AddTriggerListener(fired, [GroupMatcher<TriggerKey>.AnyGroup()]);
        await scheduler.Start();
        try
        {
            foreach (var name in new[] { "a", "b", "c" })
            {
                await scheduler.ScheduleJob(JobBuilder.Create<PolicyJob>().WithIdentity(name).Build(), TriggerBuilder.Create().WithIdentity(name).StartNow().Build());
            }

            await scheduler.ScheduleJob(JobBuilder.Create<OtherJob>().WithIdentity("other").Build(), TriggerBuilder.Create().WithIdentity("other").StartNow().Build());

            var waited = System.Diagnostics.Stopwatch.StartNew();
            while ((fired.Instances.Count < 3 || await scheduler.GetTriggerState(new TriggerKey("other")) != TriggerState.Error) && waited.Elapsed < TimeSpan.FromSeconds(30))
            {
                await Task.Delay(20);
            }

            Assert.Equal(3, fired.Instances.Count);
            Assert.All(fired.Instances, instance => Assert.Same(job, instance));
            Assert.Equal(TriggerState.Error, await scheduler.GetTriggerState(new TriggerKey("other")));
            Assert.False(OtherJob.Ran);
        }
        finally
        {
            await scheduler.Shutdown(waitForJobsToComplete: false);
        }
    }

    private sealed class OtherJob : IJob
    {
        public static volatile bool Ran;

        public ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken)
        {
            Ran = true;
            return ValueTask.CompletedTask;
        }
    }

    private sealed class VetoEverything : ITriggerListener
    {
        public ConcurrentQueue<IJob> Instances { get; } = new();

        public string Name => "veto-everything";

        public ValueTask TriggerFired(ITrigger trigger, IJobExecutionContext context, CancellationToken cancellationToken) => ValueTask.CompletedTask;

        public ValueTask<bool> VetoJobExecution(ITrigger trigger, IJobExecutionContext context, CancellationToken cancellationToken)
        {
            Instances.Enqueue(context.JobInstance);
            return ValueTask.FromResult(true);
        }

        public ValueTask TriggerMisfired(ITrigger trigger, IScheduler scheduler, CancellationToken cancellationToken) => ValueTask.CompletedTask;

        public ValueTask TriggerSkipped(ITrigger trigger, IScheduler scheduler, CancellationToken cancellationToken) => ValueTask.CompletedTask;

        public ValueTask TriggerComplete(ITrigger trigger, IJobExecutionContext context, SchedulerInstruction triggerInstructionCode, CancellationToken cancellationToken) => ValueTask.CompletedTask;

        public ValueTask TriggerRetriesExhausted(ITrigger trigger, IJobExecutionContext context, JobExecutionException exception, CancellationToken cancellationToken) => ValueTask.CompletedTask;
    }
}
