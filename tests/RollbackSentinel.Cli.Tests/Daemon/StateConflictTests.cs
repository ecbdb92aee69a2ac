using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using RollbackSentinel.Cli.Tests.Api;
using RollbackSentinel.Core.Changes;
using RollbackSentinel.Core.Evaluation;
using RollbackSentinel.Core.Incidents;
using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Core.Policies;
using RollbackSentinel.Core.State;
using RollbackSentinel.Daemon;
using RollbackSentinel.Hosting;
using RollbackSentinel.Storage;
using RollbackSentinel.Telemetry;

namespace RollbackSentinel.Cli.Tests.Daemon;

/// <summary>
/// Policy state is loaded, stepped and committed against its version at every evaluation: a commit stepped from a
/// state another writer replaced meanwhile is refused (nothing written, no action run), and the next evaluation
/// resumes from what the other writer committed instead of overwriting it.
/// </summary>
public sealed class StateConflictTests
{
    private const string ConflictLog = "Warning RollbackSentinel.Daemon.PolicyEvaluationService[1040] Another writer committed the state of shop first: this sentinel was fenced; reloading (this evaluation committed nothing and ran no action)";

    [Fact]
    public async Task EvaluateAsync_AnotherWriterCommitsTheStateMeanwhile_IsRefusedRunsNothingAndTheNextResumesFromItsState()
    {
        var source = new BreachingSource();
        await using var sentinel = await InProcessSentinel.StartAsync(services: services =>
        {
            // Evaluations are the test's to run, one at a time; the scheduler's would race them.
            services.Remove(services.Single(d => d.ServiceType == typeof(IHostedService) && d.ImplementationType == typeof(SchedulerHost)));
            services.AddSingleton<IMetricsBackends>(new SingleBackend(source));
        });
        var evaluations = sentinel.App.Services.GetRequiredService<PolicyEvaluationService>();
        var store = sentinel.App.Services.GetRequiredService<IIncidentStore>();
        var entry = sentinel.App.Services.GetRequiredService<PolicyRegistry>().Find("shop")!;

        // A second sentinel on the same store evaluates shop while this one's evaluation waits on its queries: it sees
        // the same breach, commits its state (the trigger firing) and opens the incident.
        await using var otherStore = new SqliteIncidentStore(Path.Combine(sentinel.Root, "data", "sentinel.db"), TimeProvider.System);
        await otherStore.InitializeAsync(CancellationToken.None);
        var other = new IncidentService(otherStore, otherStore, TimeProvider.System, "sentinel-b");
        IReadOnlyList<OpenedIncident> otherOpened = [];
        source.BeforeNextQuery = async () =>
        {
            var policy = entry.Policy;
            var stored = await otherStore.LoadStateAsync("shop", CancellationToken.None);
            var runner = new PolicyRunner(policy, TimeProvider.System, stored?.State);
            await runner.EvaluateAsync(
                new InstantQueryResolver(new BreachingSource(), ChangeHistory.Empty),
                ChangeHistory.Empty,
                async (e, ct) => otherOpened = await other.CommitEvaluationAsync(
                    new EvaluationCommit("shop", e.At, e.Step.State, [], e.Step.Decisions, d => TargetIdentity.For(policy, d.Labels)) { ExpectedStateVersion = stored?.Version ?? 0 },
                    ct),
                slot: null,
                CancellationToken.None);
        };

        await evaluations.EvaluateAsync("shop", CancellationToken.None);

        var theirs = Assert.Single(otherOpened);
        Assert.Contains(ConflictLog, sentinel.Log.Entries);
        Assert.DoesNotContain(sentinel.Log.Entries, e => e.Contains("[203]", StringComparison.Ordinal));
        var exposition = Telemetry.Exposition.Collect(sentinel.App.Services);
        Assert.Contains("rollback_sentinel_store_conflicts_total{policy=\"shop\"} 1", exposition, StringComparison.Ordinal);
        Assert.Contains("rollback_sentinel_fenced_total{what=\"state\"} 1", exposition, StringComparison.Ordinal);
        Assert.Null(entry.Runner.Last); // the refused evaluation was not kept
        Assert.Equal(theirs.Incident.Id, Assert.Single(await store.ListIncidentsAsync(null, 10, CancellationToken.None)).Id);
        var afterConflict = (await store.LoadStateAsync("shop", CancellationToken.None))!;
        Assert.Equal(TriggerPhase.Firing, afterConflict.State.Get(new SeriesKey("errors", LabelSet.Empty)).Phase);

        // The next evaluation resumes from the other writer's state: the trigger is already firing, so it opens nothing
        // new, and its commit (against that version) is taken.
        await evaluations.EvaluateAsync("shop", CancellationToken.None);

        Assert.Equal(theirs.Incident.Id, Assert.Single(await store.ListIncidentsAsync(null, 10, CancellationToken.None)).Id);
        Assert.Single(sentinel.Log.Entries, e => e.Contains("[1040]", StringComparison.Ordinal));
        var resumed = (await store.LoadStateAsync("shop", CancellationToken.None))!;
        Assert.True(resumed.Version > afterConflict.Version);
        Assert.Equal(resumed.Version, entry.StateVersion);
        Assert.Equal(TriggerPhase.Firing, resumed.State.Get(new SeriesKey("errors", LabelSet.Empty)).Phase);
        Assert.Equal(afterConflict.State.Get(new SeriesKey("errors", LabelSet.Empty)).BreachingSince, resumed.State.Get(new SeriesKey("errors", LabelSet.Empty)).BreachingSince);
        Assert.NotNull(entry.Runner.Last);
    }

    [Fact]
    public async Task EvaluateAsync_StoredVersionUnchanged_ReadsOnlyTheVersion_AMovedVersionReadsTheState()
    {
        await using var sentinel = await InProcessSentinel.StartAsync(services: services =>
        {
            services.Remove(services.Single(d => d.ServiceType == typeof(IHostedService) && d.ImplementationType == typeof(SchedulerHost)));
            services.AddSingleton<IMetricsBackends>(new SingleBackend(new BreachingSource()));
        });
        var evaluations = sentinel.App.Services.GetRequiredService<PolicyEvaluationService>();
        var store = sentinel.App.Services.GetRequiredService<IIncidentStore>();
        var entry = sentinel.App.Services.GetRequiredService<PolicyRegistry>().Find("shop")!;
        await evaluations.EvaluateAsync("shop", CancellationToken.None);
        var first = await store.LoadStateVersionAsync("shop", CancellationToken.None);

        // The stored state becomes unreadable at the same version: an evaluation that deserialised it would fail.
        Corrupt(sentinel.Root, bumpVersion: false);
        await evaluations.EvaluateAsync("shop", CancellationToken.None);
        var second = await store.LoadStateVersionAsync("shop", CancellationToken.None);

        Assert.DoesNotContain(sentinel.Log.Entries, e => e.Contains("[203]", StringComparison.Ordinal));
        Assert.Equal((first + 1, (long?)(first + 1)), (second, entry.StateVersion));
        Assert.NotNull(await store.LoadStateAsync("shop", CancellationToken.None)); // overwritten by the runner's state

        // Another writer's version: the state is read, and this one cannot be.
        Corrupt(sentinel.Root, bumpVersion: true);
        await evaluations.EvaluateAsync("shop", CancellationToken.None);

        Assert.Single(sentinel.Log.Entries, e => e.Contains("[203]", StringComparison.Ordinal));
        Assert.Equal(second + 1, await store.LoadStateVersionAsync("shop", CancellationToken.None));
    }

    private static void Corrupt(string root, bool bumpVersion)
    {
        using var connection = new Microsoft.Data.Sqlite.SqliteConnection(new Microsoft.Data.Sqlite.SqliteConnectionStringBuilder { DataSource = Path.Combine(root, "data", "sentinel.db"), Pooling = false }.ConnectionString);
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = $"UPDATE policy_state SET state = 'not json'{(bumpVersion ? ", version = version + 1" : "")} WHERE policy = 'shop'";
        Assert.Equal(1, command.ExecuteNonQuery());
    }

    [Fact]
    public async Task CommitEvaluationAsync_TwoCommitsFromTheSameStateVersion_TheSecondIsRefusedAndWritesNothing()
    {
        var dir = Directory.CreateTempSubdirectory("state-conflict-").FullName;
        try
        {
            var at = new DateTimeOffset(2026, 12, 5, 10, 0, 0, TimeSpan.Zero);
            await using var store = new SqliteIncidentStore(Path.Combine(dir, "sentinel.db"), TimeProvider.System);
            await store.InitializeAsync(CancellationToken.None);
            var a = new IncidentService(store, store, TimeProvider.System, "sentinel-a");
            var b = new IncidentService(store, store, TimeProvider.System, "sentinel-b");
            var first = PolicyState.Empty with { LastEvaluatedAt = at };
            var labels = LabelSet.Of(("deployment", "checkout"));
            var verdict = new Verdict { Kind = VerdictKind.Breach, Reason = VerdictReason.ThresholdExceeded, Labels = labels, Value = 0.2, Threshold = 0.05, Summary = "error ratio 0.2 > max 0.05" };
            var decision = new Decision { Policy = "shop", Trigger = "errors", Labels = labels, At = at.AddSeconds(15), Kind = DecisionKind.Act, Action = TriggerAction.Page, Verdict = verdict, Since = at };

            await a.CommitEvaluationAsync(new EvaluationCommit("shop", at, first, [], [], _ => "webhook") { ExpectedStateVersion = 0 }, CancellationToken.None);
            await Assert.ThrowsAsync<PolicyStateConflictException>(() => b.CommitEvaluationAsync(
                new EvaluationCommit("shop", at.AddSeconds(15), PolicyState.Empty with { LastEvaluatedAt = at.AddSeconds(15) }, [], [decision], _ => "webhook") { ExpectedStateVersion = 0 },
                CancellationToken.None));

            var stored = (await store.LoadStateAsync("shop", CancellationToken.None))!;
            Assert.Equal(at, stored.State.LastEvaluatedAt);
            Assert.Empty(await store.ListIncidentsAsync(null, 10, CancellationToken.None));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>Every query answers 5 (above the policy's threshold of 1); a hook may run once before the next answer.</summary>
    private sealed class BreachingSource : IMetricsSource
    {
        private Func<Task>? _beforeNextQuery;

        public Func<Task>? BeforeNextQuery
        {
            set => Volatile.Write(ref _beforeNextQuery, value);
        }

        public async Task<IReadOnlyList<Sample>> QueryAsync(string query, DateTimeOffset time, CancellationToken cancellationToken)
        {
            if (Interlocked.Exchange(ref _beforeNextQuery, null) is { } before)
            {
                await before();
            }

            return [new Sample(LabelSet.Empty, 5)];
        }

        public Task<IReadOnlyList<RangeSeries>> QueryRangeAsync(string query, DateTimeOffset start, DateTimeOffset end, TimeSpan step, CancellationToken cancellationToken) =>
            Task.FromResult<IReadOnlyList<RangeSeries>>([]);
    }
}
