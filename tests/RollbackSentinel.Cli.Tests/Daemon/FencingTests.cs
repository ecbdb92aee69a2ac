using System.Diagnostics;
using Microsoft.Extensions.Logging;
using RollbackSentinel.Actions;
using RollbackSentinel.Cli.Tests.Api;
using RollbackSentinel.Core.Incidents;
using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Core.Policies;
using RollbackSentinel.Daemon;
using RollbackSentinel.Hosting;
using RollbackSentinel.Notifications;
using RollbackSentinel.Storage;
using RollbackSentinel.Telemetry;
using RollbackSentinel.Testing.Time;
using InMemoryIncidentStore = RollbackSentinel.Core.Tests.Incidents.InMemoryIncidentStore;

namespace RollbackSentinel.Cli.Tests.Daemon;

/// <summary>
/// Several sentinels on one store (in memory), on a hand-moved clock: a sentinel paused past its lease or claim (a GC,
/// SIGSTOP, a frozen VM) wakes up fenced: it never runs an adapter another has taken over, never publishes a channel
/// delivery another holds, and says so; a live one keeps its long action by renewing. Counts, never timings. Each
/// test runs on the in-memory store and on SQLite (each sentinel with its own connection to one file).
/// </summary>
public abstract class FencingTests : IAsyncLifetime
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 5, 10, 0, 0, TimeSpan.Zero);
    private static readonly LabelSet Cart = LabelSet.Of(("deployment", "cart"));

    /// <summary>The lease of a started action with the default <c>cluster.checkinInterval</c> (5s): 1 minute.</summary>
    private static readonly TimeSpan Lease = ActionExecutor.LeaseFor(TimeSpan.FromSeconds(5));

    private static readonly Policy Shop = new()
    {
        Name = "shop",
        Target = new WebhookTarget(Template.Parse("http://127.0.0.1:9/rollback")),
        Schedule = new IntervalSchedule(TimeSpan.FromSeconds(15)),
        Triggers = [new Trigger { Name = "errors", Condition = new ThresholdCondition("q", ComparisonOperator.GreaterThan, 1) }],
    };

    private readonly ManualTimeProvider _clock = new(T0);
    private readonly List<IDisposable> _disposables = [];

    /// <summary>A sentinel's own handle on the shared store.</summary>
    protected abstract Task<IIncidentStore> OpenStoreAsync(TimeProvider clock);

    public virtual Task InitializeAsync() => Task.CompletedTask;

    public virtual Task DisposeAsync()
    {
        foreach (var d in _disposables)
        {
            d.Dispose();
        }

        return Task.CompletedTask;
    }

    /// <summary>The sentinels share one in-memory store.</summary>
    public sealed class InMemory : FencingTests
    {
        private readonly InMemoryIncidentStore _shared = new();

        protected override Task<IIncidentStore> OpenStoreAsync(TimeProvider clock) => Task.FromResult<IIncidentStore>(_shared);
    }

    /// <summary>The sentinels share one SQLite file, each through its own store.</summary>
    public sealed class Sqlite : FencingTests
    {
        private readonly string _dir = Directory.CreateTempSubdirectory("fencing-tests-").FullName;
        private readonly List<SqliteIncidentStore> _stores = [];

        protected override async Task<IIncidentStore> OpenStoreAsync(TimeProvider clock)
        {
            var store = new SqliteIncidentStore(Path.Combine(_dir, "sentinel.db"), clock);
            _stores.Add(store);
            await store.InitializeAsync(CancellationToken.None);
            return store;
        }

        public override async Task DisposeAsync()
        {
            await base.DisposeAsync();
            foreach (var store in _stores)
            {
                await store.DisposeAsync();
            }

            Directory.Delete(_dir, recursive: true);
        }
    }

    [Fact]
    public void LeaseFor_IsAMinute_OrTwiceTheFailoverBoundWhenLonger_RenewedEveryThird()
    {
        Assert.Equal(TimeSpan.FromMinutes(1), Lease);
        Assert.Equal(TimeSpan.FromSeconds(20), ActionExecutor.RenewEvery(Lease));
        Assert.Equal(TimeSpan.FromMinutes(3), ActionExecutor.LeaseFor(TimeSpan.FromSeconds(30))); // 2 x (3 x 30s)
        Assert.True(Lease > 3 * TimeSpan.FromSeconds(5)); // longer than the failover bound it is used with
    }

    [Fact]
    public async Task StaleSentinel_PausedWhileAnotherRanTheRecordedAction_NeverRunsTheAdapter()
    {
        var a = await NodeAsync("sentinel-a");
        var b = await NodeAsync("sentinel-b");
        var opened = await OpenRollbackAsync(a);

        // sentinel-a is paused while planning; meanwhile sentinel-b's sweep runs the recorded action to the end.
        a.Adapter.DuringPlan = () => b.Executor.ExecuteRecordedAsync(Shop, opened, CancellationToken.None);
        await a.Executor.ExecuteRecordedAsync(Shop, opened, CancellationToken.None);

        Assert.Equal((0, 1), (a.Adapter.Calls, b.Adapter.Calls));
        var record = (await a.Store.LoadIncidentAsync(opened.Incident.Id, CancellationToken.None))!;
        Assert.Equal((ActionStatus.Succeeded, "webhook answered HTTP 200 (sentinel-b)"), (record.Actions[0].Status, record.Actions[0].Outcome));
        Assert.Contains(a.Log.Entries, e => e.Contains("[1160]", StringComparison.Ordinal) && e.Contains("fenced", StringComparison.Ordinal) && e.Contains($"incident {opened.Incident.Id}", StringComparison.Ordinal));
        Assert.Contains("rollback_sentinel_fenced_total{what=\"incident\"} 1", a.Collect(), StringComparison.Ordinal);
        Assert.DoesNotContain("rollback_sentinel_fenced_total", b.Collect(), StringComparison.Ordinal);
        Assert.Equal(0, a.Pager.Pages.Count + b.Pager.Pages.Count);
    }

    [Fact]
    public async Task StaleSentinel_PausedPastItsLeaseAfterStarting_AnotherInterruptedIt_NeverRunsTheAdapter_PagedOnce()
    {
        var a = await NodeAsync("sentinel-a");
        var b = await NodeAsync("sentinel-b");
        var opened = await OpenRollbackAsync(a);
        var swept = new List<ActionRecord>();

        // sentinel-a started the action and is paused right before the adapter call, past its lease; sentinel-b's lease
        // sweep finds the lease ended and interrupts the action (and pages, as for a crashed sentinel).
        a.Store.BeforeRenew = async _ =>
        {
            a.Store.BeforeRenew = null;
            _clock.Advance(Lease + TimeSpan.FromSeconds(1));
            swept.AddRange(await b.Incidents.InterruptExpiredAsync(_clock.GetUtcNow(), CancellationToken.None));
        };
        await a.Executor.ExecuteRecordedAsync(Shop, opened, CancellationToken.None);

        Assert.Equal(opened.Action.Id, Assert.Single(swept).Id);
        Assert.Equal(0, a.Adapter.Calls + b.Adapter.Calls);
        var record = (await a.Store.LoadIncidentAsync(opened.Incident.Id, CancellationToken.None))!;
        Assert.Equal((IncidentStatus.ActionInterrupted, ActionStatus.Interrupted), (record.Incident.Status, record.Actions[0].Status));
        Assert.Contains(a.Log.Entries, e => e.Contains("[1161]", StringComparison.Ordinal) && e.Contains("fenced", StringComparison.Ordinal) && e.Contains($"incident {opened.Incident.Id}", StringComparison.Ordinal));
        Assert.Contains("rollback_sentinel_fenced_total{what=\"action\"} 1", a.Collect(), StringComparison.Ordinal);
        Assert.Empty(a.Pager.Pages); // sentinel-b's sweep interrupted it: its page is the one

        // Never run again by anyone.
        Assert.False(await b.Incidents.MarkActionStartedAsync(opened.Action.Id, _clock.GetUtcNow(), Lease, CancellationToken.None));
        await b.Executor.ExecuteRecordedAsync(Shop, opened, CancellationToken.None);
        Assert.Equal(0, a.Adapter.Calls + b.Adapter.Calls);
    }

    [Fact]
    public async Task StaleSentinel_PausedPastItsLease_NobodySweptIt_InterruptsAndPagesItOnce_WithoutActing()
    {
        var a = await NodeAsync("sentinel-a");
        var opened = await OpenRollbackAsync(a);
        a.Store.BeforeApply = batch =>
        {
            if (batch.Updates.Any(u => u.Changes.Any(c => c is MoveAction { To: ActionStatus.Started })))
            {
                // Paused as it started the action (its lease dated from before the pause); no other sentinel shares the store.
                a.Store.BeforeApply = null;
                _clock.Advance(Lease + TimeSpan.FromSeconds(1));
            }

            return Task.CompletedTask;
        };

        await a.Executor.ExecuteRecordedAsync(Shop, opened, CancellationToken.None);

        Assert.Equal(0, a.Adapter.Calls);
        var record = (await a.Store.LoadIncidentAsync(opened.Incident.Id, CancellationToken.None))!;
        Assert.Equal((IncidentStatus.ActionInterrupted, ActionStatus.Interrupted), (record.Incident.Status, record.Actions[0].Status));
        var page = Assert.Single(a.Pager.Pages);
        Assert.Contains("was not run: this sentinel was fenced", page, StringComparison.Ordinal);
        Assert.Empty(await a.Store.ListStartedActionsAsync(CancellationToken.None));
        Assert.Contains("rollback_sentinel_fenced_total{what=\"action\"} 1", a.Collect(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task LiveSentinel_LongAction_RenewsItsLease_AnotherNeverInterruptsIt()
    {
        var a = await NodeAsync("sentinel-a");
        var b = await NodeAsync("sentinel-b");
        var opened = await OpenRollbackAsync(a);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        a.Adapter.Block = release.Task;

        var run = a.Executor.ExecuteRecordedAsync(Shop, opened, CancellationToken.None);
        await a.Adapter.Entered.Task.WaitAsync(TimeSpan.FromMinutes(1));

        // Ten minutes of rollback, ten times the lease: renewed every third of it, swept by the other sentinel each time.
        for (var step = 0; step < 30; step++)
        {
            _clock.Advance(ActionExecutor.RenewEvery(Lease));
            var until = _clock.GetUtcNow() + Lease;
            await WaitUntilAsync(async () => (await a.Store.ListStartedActionsAsync(CancellationToken.None)).Single().Lease!.Until == until, "the lease renewed");
            Assert.Empty(await b.Incidents.InterruptExpiredAsync(_clock.GetUtcNow(), CancellationToken.None));
        }

        release.SetResult();
        await run.WaitAsync(TimeSpan.FromMinutes(1));

        Assert.Equal((1, 0), (a.Adapter.Calls, b.Adapter.Calls));
        var record = (await a.Store.LoadIncidentAsync(opened.Incident.Id, CancellationToken.None))!;
        Assert.Equal((IncidentStatus.Resolved, ActionStatus.Succeeded), (record.Incident.Status, record.Actions[0].Status)); // a manual rollback that succeeded is done
        Assert.DoesNotContain(a.Log.Entries, e => e.Contains("fenced", StringComparison.Ordinal));
        Assert.DoesNotContain("rollback_sentinel_fenced_total", a.Collect(), StringComparison.Ordinal);
        Assert.Empty(a.Pager.Pages);
    }

    [Fact]
    public async Task StaleSentinel_RenewalRefusedWhileTheAdapterRan_ItsLateOutcomeIsNotedAndTheInterruptionStands()
    {
        var a = await NodeAsync("sentinel-a");
        var b = await NodeAsync("sentinel-b");
        var opened = await OpenRollbackAsync(a);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        a.Adapter.Block = release.Task;
        var renewals = 0;
        a.Store.BeforeRenew = async _ =>
        {
            if (++renewals == 2)
            {
                // The first renewal while the adapter runs: sentinel-a was paused past its lease, sentinel-b swept it.
                _clock.Advance(Lease);
                Assert.Single(await b.Incidents.InterruptExpiredAsync(_clock.GetUtcNow(), CancellationToken.None));
            }
        };

        var run = a.Executor.ExecuteRecordedAsync(Shop, opened, CancellationToken.None);
        await a.Adapter.Entered.Task.WaitAsync(TimeSpan.FromMinutes(1));
        _clock.Advance(ActionExecutor.RenewEvery(Lease));
        await WaitUntilAsync(() => Task.FromResult(a.Log.Entries.Any(e => e.Contains("[1162]", StringComparison.Ordinal))), "the refused renewal logged");
        release.SetResult(); // the adapter call under way cannot be taken back: it ends
        await run.WaitAsync(TimeSpan.FromMinutes(1));

        Assert.Equal(1, a.Adapter.Calls);
        var timeline = (await a.Store.GetIncidentAsync(opened.Incident.Id, CancellationToken.None))!;
        Assert.Equal((IncidentStatus.ActionInterrupted, ActionStatus.Interrupted), (timeline.Incident.Status, timeline.Actions[0].Status));
        var late = Assert.Single(timeline.Events, e => e.Kind == IncidentEventKinds.ActionFinishedLate);
        Assert.Contains("finished after it was interrupted (succeeded): webhook answered HTTP 200 (sentinel-a)", late.Message, StringComparison.Ordinal);
        Assert.Contains(a.Log.Entries, e => e.Contains("[1163]", StringComparison.Ordinal) && e.Contains("fenced", StringComparison.Ordinal));
        Assert.Contains("rollback_sentinel_fenced_total{what=\"action\"} 1", a.Collect(), StringComparison.Ordinal); // one fencing, counted once
        Assert.Empty(a.Pager.Pages); // the interruption was paged by the sweep
    }

    [Fact]
    public async Task StaleDispatcher_AnotherHoldsTheChannelDelivery_DoesNotPublishIt()
    {
        var a = await NodeAsync("sentinel-a");
        var b = await NodeAsync("sentinel-b");
        await OpenRollbackAsync(a);
        var posting = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Task? other = null;

        // sentinel-a claimed the incident and is paused past its claim before the channel's delivery; sentinel-b claims
        // the incident and is publishing the channel when sentinel-a wakes up.
        a.Store.BeforeClaimDelivery = async (_, _) =>
        {
            a.Store.BeforeClaimDelivery = null;
            _clock.Advance(NotificationDispatcher.ClaimFor + TimeSpan.FromSeconds(1));
            b.Channel.BeforePublish = async () =>
            {
                posting.TrySetResult();
                await release.Task;
            };
            other = b.Dispatcher.DispatchAsync(CancellationToken.None);
            await posting.Task.WaitAsync(TimeSpan.FromMinutes(1));
        };
        await a.Dispatcher.DispatchAsync(CancellationToken.None);
        release.SetResult();
        await other!.WaitAsync(TimeSpan.FromMinutes(1));
        await a.Dispatcher.DispatchAsync(CancellationToken.None);
        await b.Dispatcher.DispatchAsync(CancellationToken.None);

        Assert.Empty(a.Channel.Published);
        Assert.Equal([NoticeKind.RollingBack], b.Channel.Published);
        Assert.Single(a.Log.Entries, e => e.Contains("[1166]", StringComparison.Ordinal) && e.Contains("fenced", StringComparison.Ordinal));
        Assert.Contains("rollback_sentinel_fenced_total{what=\"notification\"} 1", a.Collect(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task StaleDispatcher_AnotherPublishedTheChangeWhileItWasPaused_DoesNotPublishItAgain()
    {
        var a = await NodeAsync("sentinel-a");
        var b = await NodeAsync("sentinel-b");
        await OpenRollbackAsync(a);

        // sentinel-a is paused past its claim before the delivery; sentinel-b claims the incident and tells the channel.
        a.Store.BeforeClaimDelivery = async (_, _) =>
        {
            a.Store.BeforeClaimDelivery = null;
            _clock.Advance(NotificationDispatcher.ClaimFor + TimeSpan.FromSeconds(1));
            await b.Dispatcher.DispatchAsync(CancellationToken.None);
        };
        await a.Dispatcher.DispatchAsync(CancellationToken.None); // its claim is free again, but the channel has the change
        await a.Dispatcher.DispatchAsync(CancellationToken.None);
        await b.Dispatcher.DispatchAsync(CancellationToken.None);

        Assert.Empty(a.Channel.Published);
        Assert.Equal([NoticeKind.RollingBack], b.Channel.Published);
    }

    [Fact]
    public async Task Finish_StoreFailsRecordingIt_TriedAgainWithBackoffUntilRecorded_AdapterRunOnce_SweepLeavesIt()
    {
        var a = await NodeAsync("sentinel-a");
        var opened = await OpenRollbackAsync(a);
        var failures = 0;
        a.Store.BeforeApply = batch =>
        {
            // The connection is lost each time the end of the action is recorded, three times.
            if (batch.Updates.Any(u => u.Changes.Any(c => c is MoveAction { To: ActionStatus.Succeeded })) && failures < 3)
            {
                failures++;
                throw new IOException("connection reset by peer");
            }

            return Task.CompletedTask;
        };

        var run = a.Executor.ExecuteRecordedAsync(Shop, opened, CancellationToken.None);
        foreach (var wait in new[] { 1, 2, 4 }.Select(s => TimeSpan.FromSeconds(s)))
        {
            var due = _clock.GetUtcNow() + wait;
            await WaitUntilAsync(() => Task.FromResult(_clock.HasTimerDueAt(due)), $"the retry in {wait}");

            // Past its lease, and still this process's: a sweep (this sentinel's) leaves it to the executor.
            Assert.True(a.Running.Contains(opened.Action.Id));
            Assert.Empty(await a.Incidents.InterruptExpiredAsync(_clock.GetUtcNow() + Lease + Lease, a.Running.Contains, CancellationToken.None));
            _clock.Advance(wait);
        }

        await run.WaitAsync(TimeSpan.FromMinutes(1));

        Assert.Equal(1, a.Adapter.Calls);
        var record = (await a.Store.LoadIncidentAsync(opened.Incident.Id, CancellationToken.None))!;
        Assert.Equal((ActionStatus.Succeeded, "webhook answered HTTP 200 (sentinel-a)"), (record.Actions[0].Status, record.Actions[0].Outcome));
        Assert.Equal(3, a.Log.Entries.Count(e => e.Contains("[1171]", StringComparison.Ordinal) && e.Contains($"incident {opened.Incident.Id}", StringComparison.Ordinal)));
        Assert.Single(a.Log.Entries, e => e.Contains("[1172]", StringComparison.Ordinal) && e.Contains("attempt 4", StringComparison.Ordinal));
        Assert.False(a.Running.Contains(opened.Action.Id));
        Assert.Empty(a.Pager.Pages);
    }

    [Fact]
    public async Task Finish_StoreDownUntilTheDaemonStops_LeftStarted_ThenItsOwnSweepInterruptsItOnceItsLeaseEnded()
    {
        var a = await NodeAsync("sentinel-a");
        var opened = await OpenRollbackAsync(a);
        a.Store.BeforeApply = batch => batch.Updates.Any(u => u.Changes.Any(c => c is MoveAction { To: ActionStatus.Succeeded }))
            ? throw new IOException("connection refused")
            : Task.CompletedTask;

        var run = a.Executor.ExecuteRecordedAsync(Shop, opened, CancellationToken.None);
        await WaitUntilAsync(() => Task.FromResult(_clock.HasTimerDueAt(_clock.GetUtcNow() + ActionExecutor.FinishRetryFirst)), "the first retry");
        a.Lifetime.Stop();
        await run.WaitAsync(TimeSpan.FromMinutes(1));

        Assert.Single(a.Log.Entries, e => e.Contains("[1173]", StringComparison.Ordinal) && e.Contains($"incident {opened.Incident.Id}", StringComparison.Ordinal));
        Assert.False(a.Running.Contains(opened.Action.Id));
        Assert.Equal(opened.Action.Id, Assert.Single(await a.Store.ListStartedActionsAsync(CancellationToken.None)).Action.Id);

        // Its own action, not running here: left while its lease runs, interrupted once it ended (once).
        a.Store.BeforeApply = null;
        Assert.Empty(await a.Incidents.InterruptExpiredAsync(_clock.GetUtcNow(), a.Running.Contains, CancellationToken.None));
        _clock.Advance(Lease);
        Assert.Equal(opened.Action.Id, Assert.Single(await a.Incidents.InterruptExpiredAsync(_clock.GetUtcNow(), a.Running.Contains, CancellationToken.None)).Id);
        Assert.Empty(await a.Incidents.InterruptExpiredAsync(_clock.GetUtcNow(), a.Running.Contains, CancellationToken.None));
        var record = (await a.Store.LoadIncidentAsync(opened.Incident.Id, CancellationToken.None))!;
        Assert.Equal((IncidentStatus.ActionInterrupted, ActionStatus.Interrupted), (record.Incident.Status, record.Actions[0].Status));
        Assert.Equal(1, a.Adapter.Calls);
    }

    [Fact]
    public void Finish_RefusedForAReasonThatIsNotTheStore_IsNotRetried()
    {
        Assert.True(ActionExecutor.IsStoreFailure(new IOException("reset")));
        Assert.True(ActionExecutor.IsStoreFailure(new InvalidOperationException("wrapped", new TimeoutException())));
        Assert.True(ActionExecutor.IsStoreFailure(new Microsoft.Data.Sqlite.SqliteException("disk I/O error", 10)));
        Assert.True(ActionExecutor.IsStoreFailure(new StoreConflictException("moved meanwhile")));
        Assert.False(ActionExecutor.IsStoreFailure(new InvalidOperationException("the action is not started")));
        Assert.False(ActionExecutor.IsStoreFailure(new KeyNotFoundException("no such action")));
    }

    private async Task<OpenedIncident> OpenRollbackAsync(SentinelNode node) =>
        await node.Incidents.OpenManualRollbackAsync(new ManualRollback(Shop.Name, Cart, TargetIdentity.For(Shop, Cart), "alice", "api", "bad deploy", T0), CancellationToken.None);

    /// <summary>Waits (real time, bounded far above need) for what another task does after the clock moved.</summary>
    private static async Task WaitUntilAsync(Func<Task<bool>> condition, string what)
    {
        var clock = Stopwatch.StartNew();
        while (!await condition())
        {
            Assert.True(clock.Elapsed < TimeSpan.FromMinutes(1), $"never happened: {what}");
            await Task.Delay(10);
        }
    }

    private async Task<SentinelNode> NodeAsync(string id)
    {
        var node = new SentinelNode(id, new PausingStore(await OpenStoreAsync(_clock)), _clock);
        _disposables.Add(node);
        return node;
    }

    /// <summary>One sentinel (<c>node.id</c> <paramref name="id"/>) on the shared store: its executor, dispatcher, logs and metrics.</summary>
    private sealed class SentinelNode : IDisposable
    {
        private readonly ILoggerFactory _loggers;
        private readonly SentinelMetrics _metrics;

        public SentinelNode(string id, PausingStore store, TimeProvider clock)
        {
            Store = store;
            _metrics = new SentinelMetrics();
            _loggers = LoggerFactory.Create(b => b.AddProvider(Log).SetMinimumLevel(LogLevel.Trace));
            Adapter = new CountingAdapter(id);
            Incidents = new IncidentService(store, null, clock, id);
            var options = new SentinelOptions { Node = new SentinelOptions.NodeSettings { Id = id } };
            Executor = new ActionExecutor(
                Incidents,
                [Adapter],
                [],
                new Rules.SecretFileAccess([]),
                Pager,
                new TargetChanges(new NoRevisions(), new InMemoryChangeStore(), _metrics, clock, _loggers.CreateLogger<TargetChanges>()),
                _metrics,
                clock,
                Lifetime,
                Microsoft.Extensions.Options.Options.Create(options),
                Running,
                _loggers.CreateLogger<ActionExecutor>());
            Dispatcher = new NotificationDispatcher(store, [Channel], new PolicyRegistry(clock), options, _metrics, clock, _loggers.CreateLogger<NotificationDispatcher>());
        }

        public PausingStore Store { get; }

        public RunningActions Running { get; } = new();

        public ManualLifetime Lifetime { get; } = new();

        public LogCapture Log { get; } = new();

        public CountingAdapter Adapter { get; }

        public RecordingPager Pager { get; } = new();

        public RecordingChannel Channel { get; } = new();

        public IncidentService Incidents { get; }

        public ActionExecutor Executor { get; }

        public NotificationDispatcher Dispatcher { get; }

        public string Collect() => Telemetry.Exposition.Collect(_metrics);

        public void Dispose()
        {
            Dispatcher.Dispose();
            _metrics.Dispose();
            _loggers.Dispose();
        }
    }

    /// <summary>A webhook adapter that counts its side effects; its plan can pause (a GC, SIGSTOP), its call can take long.</summary>
    internal sealed class CountingAdapter(string node) : IRollbackAction
    {
        private int _calls;

        public string Kind => "webhook";

        public Func<Task>? DuringPlan { get; set; }

        public Task? Block { get; set; }

        public TaskCompletionSource Entered { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public int Calls => Volatile.Read(ref _calls);

        public async Task<ActionPlan> PlanAsync(RollbackRequest request, CancellationToken cancellationToken)
        {
            if (DuringPlan is { } pause)
            {
                DuringPlan = null;
                await pause();
            }

            return new ActionPlan($"POST incident {request.IncidentId}");
        }

        public async Task<ActionResult> ExecuteAsync(RollbackRequest request, ActionPlan plan, bool dryRun, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _calls);
            Entered.TrySetResult();
            if (Block is { } block)
            {
                await block;
            }

            return ActionResult.Changed($"webhook answered HTTP 200 ({node})", null, "delivered");
        }
    }

    internal sealed class RecordingPager : IHumanPager
    {
        public List<string> Pages { get; } = [];

        public Task PageAsync(Incident incident, string reason, CancellationToken cancellationToken)
        {
            lock (Pages)
            {
                Pages.Add(reason);
            }

            return Task.CompletedTask;
        }
    }

    internal sealed class RecordingChannel : IIncidentChannel
    {
        public Func<Task>? BeforePublish { get; set; }

        public List<NoticeKind> Published { get; } = [];

        public string Name => "recording";

        public TimeSpan? RepublishEvery => null;

        public async Task<string?> PublishAsync(IncidentNotice notice, string? reference, CancellationToken cancellationToken)
        {
            if (BeforePublish is { } before)
            {
                BeforePublish = null;
                await before();
            }

            lock (Published)
            {
                Published.Add(notice.Kind);
                return $"ref-{Published.Count}";
            }
        }
    }

    private sealed class NoRevisions : Actions.Revisions.ITargetRevisionReader
    {
        public ValueTask<Actions.Revisions.TargetRevision?> ReadAsync(Policy policy, LabelSet labels, CancellationToken cancellationToken) => ValueTask.FromResult<Actions.Revisions.TargetRevision?>(null);
    }
}
