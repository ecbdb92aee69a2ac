using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using RollbackSentinel.Core.Changes;
using RollbackSentinel.Core.Evaluation;
using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Core.Policies;
using RollbackSentinel.Core.State;
using RollbackSentinel.Daemon;
using RollbackSentinel.Telemetry;
using RollbackSentinel.Testing.Time;

namespace RollbackSentinel.Cli.Tests.Daemon;

/// <summary>
/// <c>spec.watch.detect.query</c> live: what is compared with what, when a change is recorded, what a failing query
/// or store does, and what a restart finds (the previous result read back from the backend's history).
/// </summary>
public sealed class QueryChangeDetectorTests : IDisposable
{
    private const string Query = "max by (deployment) (kube_deployment_status_observed_generation)";
    private static readonly DateTimeOffset T0 = new(2026, 12, 5, 10, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan Period = TimeSpan.FromSeconds(15);
    private static readonly TimeSpan MaxGap = TimeSpan.FromSeconds(37.5);

    private readonly ServiceProvider _services = new ServiceCollection().AddSentinelTelemetry().BuildServiceProvider();
    private readonly ManualTimeProvider _clock = new(T0);
    private readonly FakeChangeStore _store = new();
    private readonly FakeSource _source = new();
    private readonly QueryChangeDetector _detector;

    public QueryChangeDetectorTests() =>
        _detector = new QueryChangeDetector(_store, _services.GetRequiredService<SentinelMetrics>(), _clock, NullLogger<QueryChangeDetector>.Instance);

    public void Dispose() => _services.Dispose();

    private string Metrics() => Telemetry.Exposition.Collect(_services);

    private static Policy Policy(string? query = Query) => new()
    {
        Name = "shop",
        Target = new WebhookTarget(Template.Parse("http://127.0.0.1:9/rollback")),
        Schedule = new IntervalSchedule(Period),
        Triggers = [new Trigger { Name = "errors", Condition = new ThresholdCondition("q", ComparisonOperator.GreaterThan, 1) }],
        Watch = new WatchSettings { Detect = new DetectSettings { Query = query } },
    };

    private PolicyEntry Entry(DateTimeOffset? lastEvaluated = null)
    {
        var policy = Policy();
        return new PolicyEntry(policy, "shop.yaml", new PolicyRunner(policy, _clock, PolicyState.Empty with { LastEvaluatedAt = lastEvaluated }));
    }

    private static Sample Generation(string deployment, double value) => new(LabelSet.Of(("deployment", deployment)), value);

    private Task DetectAsync(PolicyEntry entry, DateTimeOffset at) =>
        _detector.DetectAsync(entry, entry.Runner.Policy, _source, at, Period, MaxGap, CancellationToken.None);

    [Fact]
    public async Task DetectAsync_FirstEvaluationOfANewPolicy_LearnsWhatIsThereAndRecordsNothing()
    {
        var entry = Entry();
        _source.Instant = [Generation("cart", 5), Generation("web", 2)];

        await DetectAsync(entry, T0);

        Assert.Empty(_store.Changes);
        Assert.Equal([Query], _source.InstantQueries.Select(q => q.Query));
        Assert.Equal(T0, _source.InstantQueries[0].At);
        Assert.Empty(_source.RangeQueries);
        Assert.Equal(new DetectMemory(Query, _source.Instant, T0), entry.Detected);
    }

    [Fact]
    public async Task DetectAsync_ValueOfOneSeriesChanges_RecordsOneQueryChangeOfThatSeriesAtTheEvaluation()
    {
        var entry = Entry();
        _source.Instant = [Generation("cart", 5), Generation("web", 2)];
        await DetectAsync(entry, T0);

        _source.Instant = [Generation("cart", 6), Generation("web", 2)];
        await DetectAsync(entry, T0 + Period);

        var change = Assert.Single(_store.Changes);
        Assert.Equal("shop", change.Policy);
        Assert.Equal(LabelSet.Of(("deployment", "cart")), change.Labels);
        Assert.Equal(ChangeSource.Query, change.Source);
        Assert.Equal("5", change.PreviousRevision);
        Assert.Equal("6", change.Revision);
        Assert.Equal(T0 + Period, change.At);
        Assert.Contains("rollback_sentinel_changes_total{policy=\"shop\",source=\"query\"} 1", Metrics(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task DetectAsync_AnswerWithNoSeries_IsNoChangeAndTheNextAnswerIsComparedWithTheLastThatHadSeries()
    {
        // Prometheus has not scraped the target yet: nothing, then the series, is not a series appearing.
        var entry = Entry();
        _source.Instant = [];
        await DetectAsync(entry, T0);
        _source.Instant = [Generation("cart", 5)];
        await DetectAsync(entry, T0 + Period);
        Assert.Empty(_store.Changes);

        // A scrape gap in the middle: compared across it.
        _source.Instant = [];
        await DetectAsync(entry, T0 + (2 * Period));
        Assert.Equal(T0 + Period, entry.Detected!.At);
        _source.Instant = [Generation("cart", 6)];
        await DetectAsync(entry, T0 + (3 * Period));

        var change = Assert.Single(_store.Changes);
        Assert.Equal(("5", "6", T0 + (3 * Period)), (change.PreviousRevision, change.Revision, change.At));
        Assert.Empty(_source.RangeQueries);
    }

    [Fact]
    public async Task DetectAsync_RevisionTheStoreHasAlready_IsNotCountedAsANewChange()
    {
        var entry = Entry();
        _store.Existing = true;
        _source.Instant = [Generation("cart", 5)];
        await DetectAsync(entry, T0);
        _source.Instant = [Generation("cart", 6)];

        await DetectAsync(entry, T0 + Period);

        Assert.Single(_store.Changes);
        Assert.DoesNotContain("rollback_sentinel_changes_total{", Metrics(), StringComparison.Ordinal);
        Assert.Equal(T0 + Period, entry.Detected!.At);
    }

    [Fact]
    public async Task DetectAsync_QueryFails_RecordsNothingCountsItAndComparesTheNextAnswerWithTheLastGoodOne()
    {
        var entry = Entry();
        _source.Instant = [Generation("cart", 5)];
        await DetectAsync(entry, T0);

        _source.Fail = true;
        await DetectAsync(entry, T0 + Period);

        Assert.Empty(_store.Changes);
        Assert.Contains("rollback_sentinel_change_detection_errors_total{policy=\"shop\"} 1", Metrics(), StringComparison.Ordinal);
        Assert.Equal(T0, entry.Detected!.At);

        // Back within the tolerated gap: compared with the answer before the failure.
        _source.Fail = false;
        _source.Instant = [Generation("cart", 6)];
        await DetectAsync(entry, T0 + (2 * Period));

        var change = Assert.Single(_store.Changes);
        Assert.Equal(("5", "6", T0 + (2 * Period)), (change.PreviousRevision, change.Revision, change.At));
    }

    [Fact]
    public async Task DetectAsync_StoreFails_ThrowsAndTheNextEvaluationFindsTheSameChangeAgain()
    {
        var entry = Entry();
        _source.Instant = [Generation("cart", 5)];
        await DetectAsync(entry, T0);
        _source.Instant = [Generation("cart", 6)];
        _store.Fail = true;

        await Assert.ThrowsAsync<InvalidOperationException>(() => DetectAsync(entry, T0 + Period));
        Assert.Equal(T0, entry.Detected!.At);

        _store.Fail = false;
        await DetectAsync(entry, T0 + (2 * Period));

        var change = Assert.Single(_store.Changes);
        Assert.Equal(("5", "6"), (change.PreviousRevision, change.Revision));
    }

    [Fact]
    public async Task DetectAsync_AfterARestart_ReadsTheGapBackFromHistoryAndDatesTheChangeWhereItAppeared()
    {
        // The daemon last committed an evaluation at T0 and comes back 10 minutes later; cart went 5 -> 6 at T0+4m.
        var entry = Entry(lastEvaluated: T0);
        var now = T0 + TimeSpan.FromMinutes(10);
        var steps = Enumerable.Range(0, 41).Select(i => T0 + (i * Period)).ToArray();
        _source.Range = [new RangeSeries(LabelSet.Of(("deployment", "cart")), steps.Select(t => new Point(t, t < T0 + TimeSpan.FromMinutes(4) ? 5 : 6)).ToArray())];
        _source.Instant = [Generation("cart", 6)];

        await DetectAsync(entry, now);

        var range = Assert.Single(_source.RangeQueries);
        Assert.Equal((Query, T0, now, Period), range);
        var change = Assert.Single(_store.Changes);
        Assert.Equal(("5", "6", T0 + TimeSpan.FromMinutes(4)), (change.PreviousRevision, change.Revision, change.At));
        Assert.Equal(new DetectMemory(Query, _source.Instant, now), entry.Detected);
    }

    [Fact]
    public async Task DetectAsync_AfterARestartWithNothingChanged_RecordsNothing()
    {
        var entry = Entry(lastEvaluated: T0);
        var now = T0 + TimeSpan.FromMinutes(1);
        _source.Range = [new RangeSeries(LabelSet.Of(("deployment", "cart")), [new Point(T0, 6), new Point(T0 + Period, 6)])];
        _source.Instant = [Generation("cart", 6)];

        await DetectAsync(entry, now);

        Assert.Empty(_store.Changes);
        Assert.Single(_source.RangeQueries);
    }

    [Fact]
    public async Task DetectAsync_PolicyWithoutDetectQuery_QueriesNothing()
    {
        var policy = Policy(query: null);
        var entry = new PolicyEntry(policy, "shop.yaml", new PolicyRunner(policy, _clock));

        await _detector.DetectAsync(entry, policy, _source, T0, Period, MaxGap, CancellationToken.None);

        Assert.Empty(_source.InstantQueries);
        Assert.Null(entry.Detected);
    }

    [Theory]
    [InlineData(60, 15, 15)]
    [InlineData(86_400, 15, 87)]
    [InlineData(10, 0.5, 1)]
    public void CatchUpStep_LongGap_TakesAtMostAThousandWholeSecondSteps(double gapSeconds, double periodSeconds, double expectedSeconds) =>
        Assert.Equal(TimeSpan.FromSeconds(expectedSeconds), QueryChangeDetector.CatchUpStep(TimeSpan.FromSeconds(gapSeconds), TimeSpan.FromSeconds(periodSeconds)));

    private sealed class FakeSource : IMetricsSource
    {
        public IReadOnlyList<Sample> Instant { get; set; } = [];

        public IReadOnlyList<RangeSeries> Range { get; set; } = [];

        public bool Fail { get; set; }

        public List<(string Query, DateTimeOffset At)> InstantQueries { get; } = [];

        public List<(string Query, DateTimeOffset Start, DateTimeOffset End, TimeSpan Step)> RangeQueries { get; } = [];

        public Task<IReadOnlyList<Sample>> QueryAsync(string query, DateTimeOffset time, CancellationToken cancellationToken)
        {
            InstantQueries.Add((query, time));
            return Fail ? throw new MetricsQueryException(MetricsErrorKind.Unreachable, query, "connection refused") : Task.FromResult(Instant);
        }

        public Task<IReadOnlyList<RangeSeries>> QueryRangeAsync(string query, DateTimeOffset start, DateTimeOffset end, TimeSpan step, CancellationToken cancellationToken)
        {
            RangeQueries.Add((query, start, end, step));
            return Task.FromResult(Range);
        }
    }

    private sealed class FakeChangeStore : IChangeStore
    {
        public List<Change> Changes { get; } = [];

        public bool Fail { get; set; }

        /// <summary>Every change is answered as stored already.</summary>
        public bool Existing { get; set; }

        public Task<RecordedChange> RecordChangeAsync(Change change, CancellationToken cancellationToken)
        {
            if (Fail)
            {
                throw new InvalidOperationException("database is locked");
            }

            var stored = change with { Id = Changes.Count + 1 };
            Changes.Add(stored);
            return Task.FromResult(new RecordedChange(stored, !Existing));
        }

        public Task<IReadOnlyList<Change>> ListChangesAsync(string? policy, DateTimeOffset? since, int limit, CancellationToken cancellationToken) =>
            Task.FromResult<IReadOnlyList<Change>>(Changes);

        public Task<ChangeHistory> LoadChangeHistoryAsync(string policy, DateTimeOffset since, CancellationToken cancellationToken) =>
            Task.FromResult(new ChangeHistory(Changes));

        public Task<Change?> GetChangeAsync(long id, CancellationToken cancellationToken) =>
            Task.FromResult(Changes.FirstOrDefault(c => c.Id == id));
    }
}
