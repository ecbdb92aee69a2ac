using Microsoft.Extensions.Logging.Abstractions;
using RollbackSentinel.Core.Evaluation;
using RollbackSentinel.Core.Incidents;
using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Core.Policies;
using RollbackSentinel.Core.State;
using RollbackSentinel.Daemon;
using RollbackSentinel.Hosting;
using RollbackSentinel.Notifications;
using RollbackSentinel.Storage;
using RollbackSentinel.Testing.Time;

namespace RollbackSentinel.Cli.Tests.Daemon;

/// <summary>
/// The dispatcher against a real store and a recording channel: each state change is published once, a channel that
/// fails gets it on a later run however long after, and a channel that asks to be left alone (a rate limit) is.
/// </summary>
public sealed class NotificationDispatcherTests : IAsyncLifetime
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 22, 10, 0, 0, TimeSpan.Zero);
    private readonly string _dir = Directory.CreateTempSubdirectory("dispatcher-tests-").FullName;
    private readonly ManualTimeProvider _clock = new(T0);
    private readonly RecordingChannel _channel = new();
    private SqliteIncidentStore _store = null!;
    private IncidentService _incidents = null!;
    private NotificationDispatcher _dispatcher = null!;
    private readonly RollbackSentinel.Telemetry.SentinelMetrics _metrics = new();

    public async Task InitializeAsync()
    {
        _store = new SqliteIncidentStore(Path.Combine(_dir, "sentinel.db"), _clock);
        await _store.InitializeAsync(CancellationToken.None);
        _incidents = new IncidentService(_store, null, _clock, "sentinel-a");
        _dispatcher = Dispatcher(_store, _channel, "sentinel-a");
    }

    /// <summary>A dispatcher of the sentinel <paramref name="node"/> (its <c>node.id</c>).</summary>
    private NotificationDispatcher Dispatcher(SqliteIncidentStore store, IIncidentChannel channel, string node) =>
        new(store, [channel], new PolicyRegistry(_clock), new SentinelOptions { Node = new SentinelOptions.NodeSettings { Id = node } }, _metrics, _clock, NullLogger<NotificationDispatcher>.Instance);

    public async Task DisposeAsync()
    {
        _dispatcher.Dispose();
        _metrics.Dispose();
        await _store.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    private async Task<OpenedIncident> PageAsync()
    {
        var labels = LabelSet.Of(("deployment", "checkout"));
        var verdict = new Verdict { Kind = VerdictKind.Breach, Reason = VerdictReason.ThresholdExceeded, Labels = labels, Value = 0.2, Threshold = 0.05, Summary = "error ratio 0.2 > max 0.05" };
        var decision = new Decision { Policy = "shop", Trigger = "errors", Labels = labels, At = T0, Kind = DecisionKind.Act, Action = TriggerAction.Page, Verdict = verdict, Since = T0 };
        var commit = new EvaluationCommit("shop", T0, PolicyState.Empty, [], [decision], _ => "webhook", TimeSpan.FromMinutes(15));
        return Assert.Single(await _incidents.CommitEvaluationAsync(commit, CancellationToken.None));
    }

    [Fact]
    public async Task EachStateChange_IsPublishedOnce_ToTheSameReference()
    {
        var opened = await PageAsync();

        await _dispatcher.DispatchAsync(CancellationToken.None);
        await _dispatcher.DispatchAsync(CancellationToken.None);
        await _incidents.AnswerAsync(new Acknowledgment(opened.Incident.Id, "alice", "api", Answers.Deny, T0.AddMinutes(1)), null, CancellationToken.None);
        await _dispatcher.DispatchAsync(CancellationToken.None);
        await _dispatcher.DispatchAsync(CancellationToken.None);

        Assert.Equal([(NoticeKind.AwaitingConfirmation, null), (NoticeKind.Denied, "ref-1")], _channel.Published.Select(p => (p.Kind, p.Reference)));
        Assert.Equal("denied by alice via api", _channel.Published[1].AnsweredBy);
    }

    [Fact]
    public async Task AChannelThatFails_GetsTheChangeOnALaterRun_HoweverLongAfter()
    {
        var opened = await PageAsync();
        await _dispatcher.DispatchAsync(CancellationToken.None);
        _channel.FailNext = 1;
        await _incidents.AnswerAsync(new Acknowledgment(opened.Incident.Id, "alice", "api", Answers.Deny, T0.AddMinutes(1)), null, CancellationToken.None);

        await _dispatcher.DispatchAsync(CancellationToken.None); // fails
        _clock.Advance(TimeSpan.FromHours(2));
        await _dispatcher.DispatchAsync(CancellationToken.None); // delivered, two hours later
        await _dispatcher.DispatchAsync(CancellationToken.None);

        Assert.Equal([NoticeKind.AwaitingConfirmation, NoticeKind.Denied], _channel.Published.Select(p => p.Kind));
        Assert.Equal(1, _channel.Failures);
    }

    [Fact]
    public async Task TheStoreFailsToRecordAPublication_TheNextRunRecordsItFirst_UpdatesTheSameMessage_NeverRepostsIt()
    {
        var failing = new PausingStore(_store);
        var failures = 0;
        failing.BeforeSaveNotification = _ => failures++ == 0 ? throw new InvalidOperationException("store down") : Task.CompletedTask;
        using var dispatcher = new NotificationDispatcher(failing, [_channel], new PolicyRegistry(_clock), new SentinelOptions { Node = new SentinelOptions.NodeSettings { Id = "sentinel-a" } }, _metrics, _clock, NullLogger<NotificationDispatcher>.Instance);
        var opened = await PageAsync();

        await dispatcher.DispatchAsync(CancellationToken.None); // published, not recorded
        _clock.Advance(TimeSpan.FromSeconds(5));
        await dispatcher.DispatchAsync(CancellationToken.None); // recorded first: the same state is not published again
        var recorded = Assert.Single(await _store.GetNotificationsAsync(opened.Incident.Id, CancellationToken.None));
        Assert.Equal("ref-1", recorded.Reference);
        await _incidents.AnswerAsync(new Acknowledgment(opened.Incident.Id, "alice", "api", Answers.Deny, T0.AddMinutes(1)), null, CancellationToken.None);
        await dispatcher.DispatchAsync(CancellationToken.None);
        await dispatcher.DispatchAsync(CancellationToken.None);

        Assert.Equal([(NoticeKind.AwaitingConfirmation, null), (NoticeKind.Denied, "ref-1")], _channel.Published.Select(p => (p.Kind, p.Reference)));
        Assert.True(failures >= 2);
    }

    [Fact]
    public async Task ARollbackInterruptedByAnotherSentinel_UpdatesTheMessage_SayingItWasInterrupted()
    {
        var labels = LabelSet.Of(("deployment", "checkout"));
        var verdict = new Verdict { Kind = VerdictKind.Breach, Reason = VerdictReason.ThresholdExceeded, Labels = labels, Value = 0.2, Threshold = 0.05, Summary = "error ratio 0.2 > max 0.05" };
        var decision = new Decision { Policy = "shop", Trigger = "errors", Labels = labels, At = T0, Kind = DecisionKind.Act, Action = TriggerAction.Rollback, Verdict = verdict, Since = T0 };
        var commit = new EvaluationCommit("shop", T0, PolicyState.Empty, [], [decision], _ => "deployment/checkout", TimeSpan.FromMinutes(15));
        var opened = Assert.Single(await _incidents.CommitEvaluationAsync(commit, CancellationToken.None));
        Assert.True(await _incidents.MarkActionStartedAsync(opened.Action.Id, T0, TimeSpan.FromSeconds(30), CancellationToken.None));
        await _dispatcher.DispatchAsync(CancellationToken.None);

        // sentinel-a dies mid-action; sentinel-b finds its lease ended and interrupts it.
        _clock.Advance(TimeSpan.FromMinutes(1));
        Assert.Single(await new IncidentService(_store, null, _clock, "sentinel-b").InterruptExpiredAsync(_clock.GetUtcNow(), CancellationToken.None));
        var otherChannel = new RecordingChannel();
        using var other = Dispatcher(_store, otherChannel, "sentinel-b");
        await other.DispatchAsync(CancellationToken.None);

        var update = Assert.Single(otherChannel.Notices);
        Assert.Equal(NoticeKind.RollbackFailed, update.Kind);
        Assert.Contains("interrupted", update.Action, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AChannelThatAsksForQuiet_IsLeftAloneUntilItsRetryAfter()
    {
        await PageAsync();
        _channel.FailNext = 1;
        _channel.RetryAfter = TimeSpan.FromMinutes(2);

        await _dispatcher.DispatchAsync(CancellationToken.None); // rate limited for 2 minutes
        _clock.Advance(TimeSpan.FromMinutes(1));
        await _dispatcher.DispatchAsync(CancellationToken.None); // still quiet: not even tried
        Assert.Equal((1, 0), (_channel.Failures, _channel.Published.Count));

        _clock.Advance(TimeSpan.FromMinutes(1));
        await _dispatcher.DispatchAsync(CancellationToken.None);

        Assert.Equal([NoticeKind.AwaitingConfirmation], _channel.Published.Select(p => p.Kind));
    }

    [Fact]
    public async Task AChannelThatRepublishes_GetsOpenIncidentsAgainOnlyAsOftenAsItAsks()
    {
        _channel.RepublishEvery = TimeSpan.FromMinutes(1);
        await PageAsync();

        await _dispatcher.DispatchAsync(CancellationToken.None);
        _clock.Advance(TimeSpan.FromSeconds(30));
        await _dispatcher.DispatchAsync(CancellationToken.None); // too soon: not re-published
        _clock.Advance(TimeSpan.FromSeconds(31));
        await _dispatcher.DispatchAsync(CancellationToken.None);

        Assert.Equal([(NoticeKind.AwaitingConfirmation, null), (NoticeKind.AwaitingConfirmation, "ref-1")], _channel.Published.Select(p => (p.Kind, p.Reference)));
    }

    [Fact]
    public async Task DispatchAsync_AnotherSentinelHoldsTheLease_IsNotPostedTwice()
    {
        // Two sentinels on one store, each with the same channel: while one posts an incident, the other leaves it alone.
        await using var otherStore = new SqliteIncidentStore(Path.Combine(_dir, "sentinel.db"), _clock);
        await otherStore.InitializeAsync(CancellationToken.None);
        var otherChannel = new RecordingChannel();
        using var other = Dispatcher(otherStore, otherChannel, "sentinel-b");
        await PageAsync();
        var posting = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _channel.BeforePublish = async () =>
        {
            posting.TrySetResult();
            await release.Task;
        };

        var first = _dispatcher.DispatchAsync(CancellationToken.None);
        await posting.Task;
        await other.DispatchAsync(CancellationToken.None); // sentinel-a's lease holds
        release.SetResult();
        await first;
        await other.DispatchAsync(CancellationToken.None); // told already
        await _dispatcher.DispatchAsync(CancellationToken.None);

        Assert.Equal([NoticeKind.AwaitingConfirmation], _channel.Published.Select(p => p.Kind));
        Assert.Empty(otherChannel.Published);
    }

    [Fact]
    public async Task DispatchAsync_AnotherSentinelsLeaseEnded_TakesOverWhatItLeftUntold()
    {
        await using var otherStore = new SqliteIncidentStore(Path.Combine(_dir, "sentinel.db"), _clock);
        await otherStore.InitializeAsync(CancellationToken.None);
        var otherChannel = new RecordingChannel();
        using var other = Dispatcher(otherStore, otherChannel, "sentinel-b");
        await PageAsync();

        // sentinel-a claimed and died before telling anyone (a run that ends hands its claims back; a dead process cannot).
        Assert.Single(await _store.ClaimToNotifyAsync(false, 500, new Core.Incidents.ActionLease("sentinel-a", T0 + NotificationDispatcher.ClaimFor), T0, CancellationToken.None));
        await other.DispatchAsync(CancellationToken.None); // still sentinel-a's
        Assert.Empty(otherChannel.Published);

        _clock.Advance(NotificationDispatcher.ClaimFor);
        await other.DispatchAsync(CancellationToken.None);
        await _dispatcher.DispatchAsync(CancellationToken.None);

        Assert.Equal([NoticeKind.AwaitingConfirmation], otherChannel.Published.Select(p => p.Kind));
        Assert.Empty(_channel.Published);
    }

    [Fact]
    public async Task DispatchAsync_AChannelFailed_HandsTheClaimBackAtTheEndOfTheRun()
    {
        await using var otherStore = new SqliteIncidentStore(Path.Combine(_dir, "sentinel.db"), _clock);
        await otherStore.InitializeAsync(CancellationToken.None);
        var otherChannel = new RecordingChannel();
        using var other = Dispatcher(otherStore, otherChannel, "sentinel-b");
        await PageAsync();
        _channel.FailNext = 1;

        await _dispatcher.DispatchAsync(CancellationToken.None); // claimed, but the channel failed: not told, lease released
        await other.DispatchAsync(CancellationToken.None); // no need to wait for sentinel-a's lease to end
        await _dispatcher.DispatchAsync(CancellationToken.None);

        Assert.Equal([NoticeKind.AwaitingConfirmation], otherChannel.Published.Select(p => p.Kind));
        Assert.Empty(_channel.Published);
        Assert.Equal(1, _channel.Failures);
    }

    [Fact]
    public async Task StoredStates_KeepTheFormatEarlierVersionsStored_AnOldOneIsNotPublishedAgain_AnUnreadableOneIs()
    {
        var opened = await PageAsync();
        await _dispatcher.DispatchAsync(CancellationToken.None);
        var deadline = T0 + TimeSpan.FromMinutes(15);
        var stored = Assert.Single(await _store.GetNotificationsAsync(opened.Incident.Id, CancellationToken.None));
        Assert.Equal($"AwaitingConfirmation||{deadline.UtcTicks}", stored.State);

        // As after an upgrade: the incident is looked at again, and the channel last showed what it shows now.
        await ForgetNotifiedAsync();
        await _dispatcher.DispatchAsync(CancellationToken.None);
        Assert.Single(_channel.Published);

        // A state no version could read is a state the channel has not shown: it is told again, nothing stops.
        await _store.SaveNotificationAsync(stored with { State = "AwaitingConfirmation|" }, CancellationToken.None);
        await ForgetNotifiedAsync();
        await _dispatcher.DispatchAsync(CancellationToken.None);

        Assert.Equal([(NoticeKind.AwaitingConfirmation, null), (NoticeKind.AwaitingConfirmation, "ref-1")], _channel.Published.Select(p => (p.Kind, p.Reference)));
        Assert.Equal($"AwaitingConfirmation||{deadline.UtcTicks}", Assert.Single(await _store.GetNotificationsAsync(opened.Incident.Id, CancellationToken.None)).State);
    }

    private async Task ForgetNotifiedAsync()
    {
        await using var connection = new Microsoft.Data.Sqlite.SqliteConnection(
            new Microsoft.Data.Sqlite.SqliteConnectionStringBuilder { DataSource = Path.Combine(_dir, "sentinel.db"), Pooling = false }.ConnectionString);
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "UPDATE incidents SET notified_seq = 0";
        await command.ExecuteNonQueryAsync();
    }

    [Fact]
    public async Task StartUp_ExclusiveStore_ReleasesADeadProcesssNotificationLeases()
    {
        await PageAsync();
        Assert.Single(await _store.ClaimToNotifyAsync(false, 500, new Core.Incidents.ActionLease("old-pod", T0 + NotificationDispatcher.ClaimFor), T0, CancellationToken.None));
        await _dispatcher.DispatchAsync(CancellationToken.None);
        Assert.Empty(_channel.Published); // the dead pod's lease holds

        Assert.True(_store.ExclusiveToOneProcess);
        await _store.ReleaseAllNotificationLeasesAsync(CancellationToken.None); // what DaemonStartup does with an exclusive store
        await _dispatcher.DispatchAsync(CancellationToken.None);

        Assert.Equal([NoticeKind.AwaitingConfirmation], _channel.Published.Select(p => p.Kind));
    }

    private sealed class RecordingChannel : IIncidentChannel
    {
        /// <summary>Runs before each publication (a channel that takes its time).</summary>
        public Func<Task>? BeforePublish { get; set; }

        public List<(NoticeKind Kind, string? Reference, string? AnsweredBy)> Published { get; } = [];

        public List<IncidentNotice> Notices { get; } = [];

        public int FailNext { get; set; }

        public int Failures { get; private set; }

        public TimeSpan? RetryAfter { get; set; }

        public string Name => "recording";

        public TimeSpan? RepublishEvery { get; set; }

        public async Task<string?> PublishAsync(IncidentNotice notice, string? reference, CancellationToken cancellationToken)
        {
            if (BeforePublish is { } before)
            {
                await before();
            }

            if (FailNext > 0)
            {
                FailNext--;
                Failures++;
                throw new NotificationException("recording: down") { RetryAfter = RetryAfter };
            }

            Published.Add((notice.Kind, reference, notice.AnsweredBy));
            Notices.Add(notice);
            return $"ref-{Published.Count}";
        }
    }
}
