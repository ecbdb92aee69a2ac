using Microsoft.Extensions.Logging;
using Microsoft.Extensions.DependencyInjection;
using Quartz;
using RollbackSentinel.Daemon;

namespace RollbackSentinel.Cli.Tests.Cluster;

/// <summary>
/// One node of a Quartz cluster in this process: a container of its own with the daemon's clustered configuration
/// (<see cref="ClusteredScheduling.UseClusteredStore"/>), as a sentinel process builds it.
/// </summary>
internal sealed class QuartzNode : IAsyncDisposable
{
    private readonly ServiceProvider _services;

    private QuartzNode(string id, ServiceProvider services, IScheduler scheduler)
    {
        Id = id;
        _services = services;
        Scheduler = scheduler;
    }

    public string Id { get; }

    public IScheduler Scheduler { get; }

    public ISchedulerFactory Factory => _services.GetRequiredService<ISchedulerFactory>();

    /// <param name="start">False: the scheduler is built (its schema checked) but left in standby, firing nothing.</param>
    public static async Task<QuartzNode> StartAsync(
        string id, string connectionString, TimeSpan checkinInterval, RunLog? runs = null, bool start = true, ILoggerProvider? logs = null, int threads = 8)
    {
        var services = new ServiceCollection();
        services.AddLogging(l =>
        {
            l.SetMinimumLevel(LogLevel.Debug);
            if (logs is not null)
            {
                l.AddProvider(logs);
            }
        });
        services.AddSingleton(TimeProvider.System);
        services.AddSingleton(new NodeName(id));
        services.AddSingleton(runs ?? new RunLog());
        services.AddTransient<RecordingJob>();
        services.AddQuartz(q =>
        {
            q.UseDefaultThreadPool(pool => pool.MaxConcurrency = threads);
            q.UseClusteredStore(id, checkinInterval, () => connectionString);
        });
        var provider = services.BuildServiceProvider();
        try
        {
            var scheduler = await provider.GetRequiredService<ISchedulerFactory>().GetScheduler();
            if (start)
            {
                await scheduler.Start();
            }

            return new QuartzNode(id, provider, scheduler);
        }
        catch
        {
            await provider.DisposeAsync();
            throw;
        }
    }

    /// <summary>Schedules <see cref="RecordingJob"/> <paramref name="name"/>: every <paramref name="interval"/> from <paramref name="startAt"/>, each run taking <paramref name="runFor"/>.</summary>
    public Task ScheduleRecordingJobAsync(string name, TimeSpan interval, TimeSpan runFor, DateTimeOffset startAt)
    {
        var job = JobBuilder.Create<RecordingJob>()
            .WithIdentity(name, PolicyScheduler.Group)
            .UsingJobData(RecordingJob.RunForKey, ((long)runFor.TotalMilliseconds).ToString(System.Globalization.CultureInfo.InvariantCulture))
            .Build();
        var trigger = TriggerBuilder.Create()
            .WithIdentity(name, PolicyScheduler.Group)
            .StartAt(startAt)
            .WithSimpleSchedule(s => s.WithInterval(interval).RepeatForever().WithMisfireInstruction(SimpleTriggerMisfireInstruction.NextWithRemainingCount))
            .Build();
        return Scheduler.ScheduleJob(job, [trigger], ScheduleJobOptions.Replacing).AsTask();
    }

    public async ValueTask DisposeAsync()
    {
        // A node whose database went away cannot say goodbye: bound the wait, then drop everything.
        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try
        {
            // WaitAsync too: Quartz's scheduler thread retries a failed store call without looking at the token, and
            // Shutdown waits for it (a CI run hung here for 20 minutes, in ReleaseAcquiredTrigger's retry loop).
            await Scheduler.Shutdown(waitForJobsToComplete: false, bound.Token).AsTask().WaitAsync(bound.Token);
        }
        catch (Exception e) when (e is OperationCanceledException or SchedulerException or System.Data.Common.DbException)
        {
        }

        try
        {
            await _services.DisposeAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(30));
        }
        catch (TimeoutException)
        {
            // The same retry loop, reached through the container: the test's database is dropped next anyway.
        }
    }
}

internal sealed record NodeName(string Id);

/// <summary>One run of a job: on which node, from when to when (null: still running).</summary>
internal sealed record Run(string Job, string Node, DateTimeOffset Start, DateTimeOffset? End);

/// <summary>Every run of every <see cref="RecordingJob"/>, shared by the nodes of one test.</summary>
internal sealed class RunLog
{
    private readonly object _gate = new();
    private readonly List<Run> _runs = [];

    public IReadOnlyList<Run> Runs
    {
        get
        {
            lock (_gate)
            {
                return [.. _runs];
            }
        }
    }

    public int Started(string job, string node)
    {
        lock (_gate)
        {
            _runs.Add(new Run(job, node, TimeProvider.System.GetUtcNow(), null));
            return _runs.Count - 1;
        }
    }

    public void Ended(int run)
    {
        lock (_gate)
        {
            _runs[run] = _runs[run] with { End = TimeProvider.System.GetUtcNow() };
        }
    }
}

/// <summary>A job that records where and when it ran, and runs for a while, never two at once (like <see cref="PolicyJob"/>).</summary>
[DisallowConcurrentExecution]
internal sealed class RecordingJob(NodeName node, RunLog runs) : IJob
{
    public const string RunForKey = "runForMs";

    public async ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken)
    {
        var run = runs.Started(context.JobDetail.Key.Name, node.Id);
        try
        {
            await Task.Delay(TimeSpan.FromMilliseconds(long.Parse(context.MergedJobDataMap.GetString(RunForKey)!, System.Globalization.CultureInfo.InvariantCulture)), CancellationToken.None);
        }
        finally
        {
            runs.Ended(run);
        }
    }
}
