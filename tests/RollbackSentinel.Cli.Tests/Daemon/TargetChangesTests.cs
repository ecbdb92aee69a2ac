using Microsoft.Extensions.Logging.Abstractions;
using RollbackSentinel.Actions;
using RollbackSentinel.Actions.Revisions;
using RollbackSentinel.Core.Changes;
using RollbackSentinel.Core.Evaluation;
using RollbackSentinel.Core.Incidents;
using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Core.Policies;
using RollbackSentinel.Core.State;
using RollbackSentinel.Daemon;
using RollbackSentinel.Telemetry;
using RollbackSentinel.Testing.Time;

namespace RollbackSentinel.Cli.Tests.Daemon;

/// <summary>Target revisions becoming changes, and the sentinel's own rollbacks recorded so they never re-arm a watch window.</summary>
public sealed class TargetChangesTests : IDisposable
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 20, 10, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(30);

    private readonly ManualTimeProvider _clock = new(T0);
    private readonly InMemoryChangeStore _store = new();
    private readonly FakeReader _reader = new();
    private readonly SentinelMetrics _metrics = new();

    public void Dispose() => _metrics.Dispose();

    private TargetChanges Changes(IChangeStore? store = null) => new(_reader, store ?? _store, _metrics, _clock, NullLogger<TargetChanges>.Instance);

    private static Policy Policy(string name = "checkout", string workload = "{{ labels.deployment }}", WatchSettings? watch = null) => new()
    {
        Name = name,
        Target = new KubectlTarget(WorkloadKind.Deployment, Template.Parse(workload)) { Namespace = Template.Parse("shop") },
        Schedule = new IntervalSchedule(TimeSpan.FromSeconds(15)),
        Cooldown = TimeSpan.FromMinutes(30),
        Watch = watch ?? new WatchSettings { Detect = new DetectSettings { Interval = Interval } },
        Triggers = [new Trigger { Name = "errors", Condition = new ThresholdCondition("q", ComparisonOperator.GreaterThan, 1), Action = TriggerAction.Rollback }],
    };

    private static readonly LabelSet Cart = LabelSet.Of(("deployment", "cart"), ("code", "500"));
    private static readonly LabelSet CartOnly = LabelSet.Of(("deployment", "cart"));

    private static Incident Incident(LabelSet labels) => new()
    {
        Id = 12, Policy = "checkout", Trigger = "errors", Labels = labels, Action = TriggerAction.Rollback, Status = IncidentStatus.Acting,
        OpenedAt = T0, UpdatedAt = T0, Summary = "value 2 > 1", EvidenceJson = "{}",
    };

    [Fact]
    public async Task DetectAsync_FirstRead_RecordsTheCurrentRevisionWithItsRealCreationTimeAndTheTemplatesLabels()
    {
        _reader.Now = new TargetRevision("3 (cart-7d9f8c)", T0.AddDays(-3), "deployment/cart in shop: images cart:1.3");

        var change = await Changes().DetectAsync(Policy(), Cart, CancellationToken.None);

        Assert.NotNull(change);
        Assert.Equal(ChangeSource.Target, change.Source);
        Assert.Equal(CartOnly, change.Labels);
        Assert.Equal("3 (cart-7d9f8c)", change.Revision);
        Assert.Null(change.PreviousRevision);
        Assert.Equal(T0.AddDays(-3), change.At);
        Assert.Null(change.By);
        Assert.Equal("deployment/cart in shop: images cart:1.3", change.Description);
        Assert.Equal([(string)"cart"], _reader.Reads.Select(r => r["deployment"]));
    }

    [Fact]
    public async Task DetectAsync_WithinTheInterval_DoesNotReadAgain_AfterItReadsAndANewRevisionIsAChangeFromThePreviousOne()
    {
        var changes = Changes();
        _reader.Now = new TargetRevision("3 (cart-a)", T0.AddDays(-3), "images cart:1.3");
        await changes.DetectAsync(Policy(), Cart, CancellationToken.None);

        _clock.Advance(TimeSpan.FromSeconds(29));
        _reader.Now = new TargetRevision("4 (cart-b)", T0.AddSeconds(20), "images cart:1.4");
        var early = await changes.DetectAsync(Policy(), Cart, CancellationToken.None);
        _clock.Advance(TimeSpan.FromSeconds(1));
        var due = await changes.DetectAsync(Policy(), Cart, CancellationToken.None);
        _clock.Advance(Interval);
        var same = await changes.DetectAsync(Policy(), Cart, CancellationToken.None);

        Assert.Null(early);
        Assert.NotNull(due);
        Assert.Equal("3 (cart-a) -> 4 (cart-b)", due.What);
        Assert.Equal(T0.AddSeconds(20), due.At); // created after the previous revision was last seen: its creation time
        Assert.Null(same);
        Assert.Equal(3, _reader.Reads.Count);
        Assert.Equal(2, _store.Of("checkout").Count);
    }

    [Fact]
    public async Task DetectAsync_RevisionReusedByAnUndo_IsDatedWhenFirstSeenNotWhenItsReplicaSetWasCreated()
    {
        var changes = Changes();
        _reader.Now = new TargetRevision("4 (cart-b)", T0.AddHours(-1), "images cart:1.4");
        await changes.DetectAsync(Policy(), Cart, CancellationToken.None);
        _clock.Advance(Interval);
        _reader.Now = new TargetRevision("5 (cart-a)", T0.AddDays(-3), "images cart:1.3") { Reused = true };

        var undo = await changes.DetectAsync(Policy(), Cart, CancellationToken.None);

        Assert.NotNull(undo);
        Assert.Equal(T0 + Interval, undo.At);
        Assert.Equal("4 (cart-b)", undo.PreviousRevision);
        Assert.Null(undo.By); // a human's undo: a change like any other
    }

    [Fact]
    public async Task DetectAsync_RevisionCreatedBeforeTheOneItReplaced_IsDatedWhenFirstSeen()
    {
        // A StatefulSet undo bumps an old ControllerRevision's number: it carries no revision-history, only its old creation.
        var changes = Changes();
        _reader.Now = new TargetRevision("4 (db-b)", T0.AddHours(-1), "statefulset/db in shop: images pg:16");
        await changes.DetectAsync(Policy(), Cart, CancellationToken.None);
        _clock.Advance(Interval);
        _reader.Now = new TargetRevision("5 (db-a)", T0.AddDays(-3), "statefulset/db in shop: images pg:15");

        var undo = await changes.DetectAsync(Policy(), Cart, CancellationToken.None);

        Assert.Equal(T0 + Interval, undo?.At);
    }

    [Fact]
    public async Task DetectAsync_ReadFails_RecordsNothingAndReadsAgainOnlyAfterTheInterval()
    {
        var changes = Changes();
        _reader.Failure = "cannot read deployment/cart in shop: exit code 1: connection refused";

        var failed = await changes.DetectAsync(Policy(), Cart, CancellationToken.None);
        _clock.Advance(TimeSpan.FromSeconds(10));
        await changes.DetectAsync(Policy(), Cart, CancellationToken.None);
        _reader.Failure = null;
        _reader.Now = new TargetRevision("3 (cart-a)", T0, "images cart:1.3");
        _clock.Advance(Interval);
        var recovered = await changes.DetectAsync(Policy(), Cart, CancellationToken.None);

        Assert.Null(failed);
        Assert.Equal(2, _reader.Reads.Count);
        Assert.Equal("3 (cart-a)", recovered?.Revision);
        Assert.Single(_store.All);
    }

    [Fact]
    public async Task DetectAsync_TwoPoliciesOnTheSameDeployment_ReadItOnceAndEachRecordsItsChange()
    {
        var changes = Changes();
        _reader.Now = new TargetRevision("3 (cart-a)", T0, "images cart:1.3");

        await changes.DetectAsync(Policy("checkout"), Cart, CancellationToken.None);
        await changes.DetectAsync(Policy("checkout-latency"), Cart, CancellationToken.None);

        Assert.Single(_reader.Reads);
        Assert.Single(_store.Of("checkout"));
        Assert.Single(_store.Of("checkout-latency"));
    }

    [Fact]
    public async Task DetectAsync_AfterARestart_TakesThePreviousRevisionFromTheStoreAndRecordsNothingForTheSameOne()
    {
        _reader.Now = new TargetRevision("3 (cart-a)", T0.AddDays(-1), "images cart:1.3");
        await Changes().DetectAsync(Policy(), Cart, CancellationToken.None);

        var same = await Changes().DetectAsync(Policy(), Cart, CancellationToken.None);
        _reader.Now = new TargetRevision("4 (cart-b)", T0.AddMinutes(-2), "images cart:1.4");
        var next = await Changes().DetectAsync(Policy(), Cart, CancellationToken.None);

        Assert.Null(same);
        Assert.Equal("3 (cart-a) -> 4 (cart-b)", next?.What);
        Assert.Equal(T0.AddMinutes(-2), next?.At);
    }

    [Fact]
    public async Task RecordRollbackAsync_SentinelsRollback_IsItsChangeAndTheDetectorsNextReadRecordsNothingSoNothingReArms()
    {
        var changes = Changes();
        var policy = Policy();
        _reader.Now = new TargetRevision("3 (cart-b)", T0.AddMinutes(-5), "images cart:1.4");
        await changes.DetectAsync(policy, Cart, CancellationToken.None);
        _clock.Advance(TimeSpan.FromMinutes(4));

        Change? recorded;
        using (await changes.HoldAsync(policy, Cart, CancellationToken.None))
        {
            _reader.Now = new TargetRevision("4 (cart-a)", T0.AddDays(-3), "images cart:1.3") { Reused = true }; // the undo
            Assert.Null(await changes.DetectAsync(policy, Cart, CancellationToken.None)); // held: not read while the rollback runs
            recorded = await changes.RecordRollbackAsync(policy, Incident(Cart), ActionResult.Changed("rolled back", "rev 3", "rev 4"), null, CancellationToken.None);
        }

        _clock.Advance(Interval);
        var after = await changes.DetectAsync(policy, Cart, CancellationToken.None);

        Assert.NotNull(recorded);
        Assert.True(recorded.IsSentinelRollback);
        Assert.Equal(Change.SentinelActor, recorded.By);
        Assert.Equal("3 (cart-b) -> 4 (cart-a)", recorded.What);
        Assert.Equal(T0.AddMinutes(4), recorded.At);
        Assert.Equal(CartOnly, recorded.Labels);
        Assert.Equal("rollback by the sentinel (incident 12): images cart:1.3", recorded.Description);
        Assert.Null(after);
        Assert.Equal(2, _store.Of("checkout").Count);

        // The watch window: a breach after the rollback blames the sentinel's rollback, which never arms.
        var history = new ChangeHistory(_store.Of("checkout"));
        var judged = WatchWindow.Judge(policy, history, Cart, T0.AddMinutes(6), T0.AddMinutes(7));
        Assert.False(judged.Armed);
        Assert.Null(judged.Blamed);
        Assert.Contains("the sentinel's own rollback (3 (cart-b) -> 4 (cart-a)", judged.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task DetectAsync_AnotherPolicyOnTheRolledBackDeployment_RecordsTheRevisionAsTheSentinels()
    {
        var changes = Changes();
        _reader.Now = new TargetRevision("3 (cart-b)", T0.AddMinutes(-5), "images cart:1.4");
        await changes.DetectAsync(Policy("checkout"), Cart, CancellationToken.None);
        await changes.DetectAsync(Policy("checkout-latency"), Cart, CancellationToken.None);
        _reader.Now = new TargetRevision("4 (cart-a)", T0.AddDays(-3), "images cart:1.3") { Reused = true };
        using (await changes.HoldAsync(Policy("checkout"), Cart, CancellationToken.None))
        {
            await changes.RecordRollbackAsync(Policy("checkout"), Incident(Cart), ActionResult.Changed("rolled back", null, null), null, CancellationToken.None);
        }

        var other = await changes.DetectAsync(Policy("checkout-latency"), Cart, CancellationToken.None);

        Assert.NotNull(other);
        Assert.True(other.IsSentinelRollback);
        Assert.Equal(T0, other.At);
    }

    [Fact]
    public async Task RecordRollbackAsync_ReadBackFails_TheNextNewRevisionFoundIsTakenAsTheSentinels()
    {
        var changes = Changes();
        var policy = Policy();
        _reader.Now = new TargetRevision("3 (cart-b)", T0.AddMinutes(-5), "images cart:1.4");
        await changes.DetectAsync(policy, Cart, CancellationToken.None);
        _reader.Failure = "the API server is busy";
        using (await changes.HoldAsync(policy, Cart, CancellationToken.None))
        {
            Assert.Null(await changes.RecordRollbackAsync(policy, Incident(Cart), ActionResult.Changed("rolled back", null, null), null, CancellationToken.None));
        }

        _reader.Failure = null;
        _reader.Now = new TargetRevision("4 (cart-a)", T0.AddDays(-3), "images cart:1.3") { Reused = true };
        _clock.Advance(Interval);
        var found = await changes.DetectAsync(policy, Cart, CancellationToken.None);

        Assert.NotNull(found);
        Assert.True(found.IsSentinelRollback);
        Assert.Equal(T0, found.At);
    }

    [Fact]
    public async Task RecordRollbackAsync_WebhookTarget_RecordsWhatItMovedToPerIncidentForTheWholeSeries()
    {
        var policy = Policy() with { Target = new WebhookTarget(Template.Parse("https://deploy.example.com/rollback")) };

        var first = await Changes().RecordRollbackAsync(policy, Incident(Cart), ActionResult.Changed("webhook answered HTTP 200", null, "delivered to https://deploy.example.com:443/rollback"), null, CancellationToken.None);
        var second = await Changes().RecordRollbackAsync(policy, Incident(Cart) with { Id = 13 }, ActionResult.Changed("webhook answered HTTP 200", null, "delivered to https://deploy.example.com:443/rollback"), null, CancellationToken.None);

        Assert.Equal("delivered to https://deploy.example.com:443/rollback (incident 12)", first?.Revision);
        Assert.Equal(Cart, first?.Labels);
        Assert.True(first?.IsSentinelRollback);
        Assert.Equal("rollback by the sentinel (incident 12): webhook answered HTTP 200", first?.Description);
        Assert.Equal("delivered to https://deploy.example.com:443/rollback (incident 13)", second?.Revision);
        Assert.Empty(_reader.Reads);
        Assert.Equal(2, _store.All.Count);
    }

    [Fact]
    public async Task RecordRollbackAsync_HAProxyTarget_RecordsThePlannedWeightsForEverySeries()
    {
        var policy = Policy() with { Target = new HAProxyTarget(new Uri("tcp://127.0.0.1:9999"), "shop", new Dictionary<string, int> { ["blue"] = 100, ["green"] = 0 }) };
        var result = ActionResult.Changed("switched backend shop", "backend shop: blue weight 0 ready, green weight 100 ready", "backend shop: blue weight 100 ready, green weight 0 ready");

        var change = await Changes().RecordRollbackAsync(policy, Incident(Cart), result, null, CancellationToken.None);

        Assert.Equal("backend shop: blue weight 100 ready, green weight 0 ready (incident 12)", change?.Revision);
        Assert.Equal(LabelSet.Empty, change?.Labels);
        Assert.True(change?.IsSentinelRollback);
    }

    [Fact]
    public void Rendered_TemplatedTarget_OncePerLabelSetOfTheLastEvaluation_UntemplatedOnce_NoneWhenOffOrUnreadable()
    {
        var templated = Entry(Policy());
        var constant = Entry(Policy(workload: "checkout"));
        var off = Entry(Policy(watch: new WatchSettings { Detect = new DetectSettings { Target = false } }));
        var rollout = Entry(Policy() with { Target = new KubectlTarget(WorkloadKind.Rollout, Template.Parse("checkout")) });
        var webhook = Entry(Policy() with { Target = new WebhookTarget(Template.Parse("https://x.example.com/")) });
        Assert.Empty(ChangeDetectionService.Rendered(templated)); // not evaluated yet: no label sets known

        foreach (var e in new[] { templated, constant, off, rollout, webhook })
        {
            EvaluateWith(e, LabelSet.Of(("deployment", "cart"), ("code", "500")), LabelSet.Of(("deployment", "cart"), ("code", "503")), LabelSet.Of(("deployment", "web"), ("code", "500")), LabelSet.Of(("service", "x")));
        }

        Assert.Equal(["{deployment=\"cart\"}", "{deployment=\"web\"}"], ChangeDetectionService.Rendered(templated).Select(r => r.Labels.ToString()).Order());
        Assert.Equal([LabelSet.Empty], ChangeDetectionService.Rendered(constant).Select(r => r.Labels));
        Assert.Empty(ChangeDetectionService.Rendered(off));
        Assert.Empty(ChangeDetectionService.Rendered(rollout));
        Assert.Empty(ChangeDetectionService.Rendered(webhook));
    }

    private PolicyEntry Entry(Policy policy) => new(policy, "rules.yaml", new PolicyRunner(policy, _clock));

    private static void EvaluateWith(PolicyEntry entry, params LabelSet[] series) =>
        entry.Runner.EvaluateAsync(new InstantQueryResolver(new FixedSource(series), ChangeHistory.Empty), CancellationToken.None).AsTask().GetAwaiter().GetResult();

    private sealed class FixedSource(LabelSet[] series) : IMetricsSource
    {
        public Task<IReadOnlyList<Sample>> QueryAsync(string query, DateTimeOffset time, CancellationToken cancellationToken) =>
            Task.FromResult<IReadOnlyList<Sample>>([.. series.Select(s => new Sample(s, 0))]);

        public Task<IReadOnlyList<RangeSeries>> QueryRangeAsync(string query, DateTimeOffset start, DateTimeOffset end, TimeSpan step, CancellationToken cancellationToken) =>
            throw new NotSupportedException();
    }

    /// <summary>A target whose revision the test sets; counts reads.</summary>
    private sealed class FakeReader : ITargetRevisionReader
    {
        public TargetRevision? Now { get; set; }

        public string? Failure { get; set; }

        public List<LabelSet> Reads { get; } = [];

        public ValueTask<TargetRevision?> ReadAsync(Policy policy, LabelSet labels, CancellationToken cancellationToken)
        {
            if (!TargetRevisionReaders.CanRead(policy.Target))
            {
                return ValueTask.FromResult<TargetRevision?>(null);
            }

            Reads.Add(labels);
            return Failure is { } f ? throw new ActionFailedException(f) : ValueTask.FromResult(Now);
        }
    }
}
