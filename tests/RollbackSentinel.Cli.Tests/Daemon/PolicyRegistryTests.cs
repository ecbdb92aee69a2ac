using RollbackSentinel.Daemon;
using RollbackSentinel.Rules;
using RollbackSentinel.Testing.Time;

namespace RollbackSentinel.Cli.Tests.Daemon;

/// <summary>How a reload changes the running policies: only what changed, never losing the good ones.</summary>
public sealed class PolicyRegistryTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 20, 10, 0, 0, TimeSpan.Zero);

    private static FileParseResult File(string name, string yaml) => PolicyParser.Parse(name, yaml);

    private static string Policy(string name, double max = 0.05, string interval = "15s") => PolicyYaml.WithWebhook(name, $"""
        - name: errors
          errorRate:
            errors: sum(rate(errors_total[1m]))
            total: sum(rate(requests_total[1m]))
            max: {max.ToString(System.Globalization.CultureInfo.InvariantCulture)}
            minTotal: 1
          action: rollback
        """, interval);

    [Fact]
    public void Apply_FirstLoad_AddsEveryPolicyAndIsLoaded()
    {
        var registry = new PolicyRegistry(new ManualTimeProvider(T0));

        var change = registry.Apply([File("a.yaml", Policy("a")), File("b.yaml", Policy("b"))], []);

        Assert.Equal(["a", "b"], change.Added.Select(p => p.Name));
        Assert.True(registry.Loaded);
        Assert.All(registry.Files, f => Assert.True(f.Valid));
    }

    [Fact]
    public void Apply_UnchangedPolicy_KeepsItsRunnerAndState_EditedOneIsUpdatedInPlace()
    {
        var registry = new PolicyRegistry(new ManualTimeProvider(T0));
        registry.Apply([File("a.yaml", Policy("a")), File("b.yaml", Policy("b"))], []);
        var runnerA = registry.Find("a")!.Runner;
        var runnerB = registry.Find("b")!.Runner;

        // "a" is re-read unchanged (another file moved it down the list doesn't matter); "b" gets a new threshold.
        var change = registry.Apply([File("a.yaml", "# a comment moves every line\n" + Policy("a")), File("b.yaml", Policy("b", max: 0.2))], []);

        Assert.Empty(change.Added);
        Assert.Empty(change.Removed);
        Assert.Equal("b", Assert.Single(change.Changed).New.Name);
        Assert.Same(runnerA, registry.Find("a")!.Runner);
        Assert.Same(runnerB, registry.Find("b")!.Runner);

        // The new version is what the API shows at once; the runner takes it at its next evaluation (under its gate).
        Assert.Equal(0.2, ((Core.Policies.ErrorRateCondition)registry.Find("b")!.Policy.Triggers[0].Condition).Max);
        Assert.Equal(0.05, ((Core.Policies.ErrorRateCondition)runnerB.Policy.Triggers[0].Condition).Max);
        registry.Find("b")!.ApplyPendingUpdate();
        Assert.Equal(0.2, ((Core.Policies.ErrorRateCondition)runnerB.Policy.Triggers[0].Condition).Max);
    }

    [Fact]
    public void Resume_StoredVersionMovedOn_RestoresFromItAndKeepsTheHoldBacksNotYetCommitted()
    {
        var registry = new PolicyRegistry(new ManualTimeProvider(T0));
        registry.Apply([File("a.yaml", Policy("a"))], []);
        var entry = registry.Find("a")!;
        var mine = Core.State.PolicyState.Empty with { LastEvaluatedAt = T0 };
        var theirs = Core.State.PolicyState.Empty with { LastEvaluatedAt = T0.AddMinutes(1) };

        // First evaluation: restored from the store, whatever it holds.
        Assert.True(entry.Resume(new Core.Incidents.StoredPolicyState(mine, 3)));
        Assert.Equal((T0, 3L), (entry.Runner.State.LastEvaluatedAt!.Value, entry.StateVersion!.Value));
        Assert.False(entry.Resume(new Core.Incidents.StoredPolicyState(theirs, 3))); // the version it stands on: the runner's state is kept
        Assert.Equal(T0, entry.Runner.State.LastEvaluatedAt);

        // A hold-back applied, then the commit refused: the other writer's state is taken, and the hold-back applied to it.
        entry.QueueHoldBack("webhook/a", T0.AddSeconds(30));
        entry.ApplyPendingUpdate();
        entry.Forget();
        Assert.True(entry.Resume(new Core.Incidents.StoredPolicyState(theirs, 4)));
        Assert.Equal(T0.AddMinutes(1), entry.Runner.State.LastEvaluatedAt);
        Assert.Equal(T0.AddSeconds(30), entry.Runner.State.LastActionAt["webhook/a"]);

        // Once committed, the hold-back is in the stored state: a later restore does not add it again.
        entry.Committed(5);
        Assert.True(entry.Resume(new Core.Incidents.StoredPolicyState(theirs, 6)));
        Assert.False(entry.Runner.State.LastActionAt.ContainsKey("webhook/a"));
        Assert.Equal(6, entry.StateVersion);
    }

    [Fact]
    public void Apply_BrokenEdit_KeepsTheLastGoodVersionRunningAndReportsTheErrors()
    {
        var registry = new PolicyRegistry(new ManualTimeProvider(T0));
        registry.Apply([File("a.yaml", Policy("a", max: 0.05))], []);

        var change = registry.Apply([File("a.yaml", Policy("a").Replace("max: 0.05", "max: lots", StringComparison.Ordinal))], []);

        Assert.Empty(change.Added);
        Assert.Empty(change.Removed);
        Assert.Empty(change.Changed);
        Assert.Equal(0.05, ((Core.Policies.ErrorRateCondition)registry.Find("a")!.Policy.Triggers[0].Condition).Max);
        var file = Assert.Single(registry.Files);
        Assert.False(file.Valid);
        Assert.Equal(["a"], file.Policies);
        Assert.Equal(["a.yaml:16:14: spec.triggers[0].errorRate.max: must be a number, got 'lots'"], file.Errors);
    }

    [Fact]
    public void Apply_FileThatWasNeverValid_RunsNothingFromIt()
    {
        var registry = new PolicyRegistry(new ManualTimeProvider(T0));

        var change = registry.Apply([File("a.yaml", Policy("a").Replace("max: 0.05", "max: lots", StringComparison.Ordinal)), File("b.yaml", Policy("b"))], []);

        Assert.Equal(["b"], change.Added.Select(p => p.Name));
        Assert.Null(registry.Find("a"));
    }

    [Fact]
    public void Apply_FileDeleted_RemovesItsPolicies()
    {
        var registry = new PolicyRegistry(new ManualTimeProvider(T0));
        registry.Apply([File("a.yaml", Policy("a")), File("b.yaml", Policy("b"))], []);

        var change = registry.Apply([File("b.yaml", Policy("b"))], []);

        Assert.Equal("a", Assert.Single(change.Removed).Name);
        Assert.Null(registry.Find("a"));
        Assert.Equal(["b.yaml"], registry.Files.Select(f => f.File));
    }

    [Fact]
    public void Apply_SameNameInTwoFiles_LoadsTheFirstAndReportsTheSecond()
    {
        var registry = new PolicyRegistry(new ManualTimeProvider(T0));

        registry.Apply([File("a.yaml", Policy("shop")), File("b.yaml", Policy("shop", max: 0.5))], []);

        Assert.Equal("a.yaml", registry.Find("shop")!.File);
        var b = registry.Files.Single(f => f.File == "b.yaml");
        Assert.False(b.Valid);
        Assert.Equal(["b.yaml:4:9: metadata.name: policy name 'shop' is already used in a.yaml; this one is not loaded"], b.Errors);
    }

    [Fact]
    public void Apply_UnreadableFile_KeepsItsLastGoodVersion_AndAnUnreadableFolderKeepsEverything()
    {
        var registry = new PolicyRegistry(new ManualTimeProvider(T0));
        registry.Apply([File("a.yaml", Policy("a")), File("b.yaml", Policy("b"))], []);

        var unreadable = registry.Apply([File("b.yaml", Policy("b"))], [new RuleDiagnostic("a.yaml", 1, 1, string.Empty, "cannot read the file: Permission denied")]);
        var folderGone = registry.Apply([], [new RuleDiagnostic("rules", 1, 1, string.Empty, "no such file or folder")]);

        Assert.Empty(unreadable.Removed);
        Assert.Empty(folderGone.Removed);
        Assert.NotNull(registry.Find("a"));
        Assert.NotNull(registry.Find("b"));
        Assert.Equal(["rules:1:1: no such file or folder"], registry.Files.Single(f => f.File == "rules").Errors);

        // The files it last read are still listed with what they run, since they keep running.
        Assert.Equal([("a.yaml", "a"), ("b.yaml", "b"), ("rules", "")], registry.Files.Select(f => (f.File, string.Join(',', f.Policies))));
    }

    [Fact]
    public void Reject_TakesThePolicyOutAndKeepsTheErrorOnItsFile()
    {
        var registry = new PolicyRegistry(new ManualTimeProvider(T0));
        registry.Apply([File("a.yaml", Policy("a"))], []);

        registry.Reject("a", "a.yaml:4:9: spec.schedule: cannot be scheduled: it will never fire");

        Assert.Null(registry.Find("a"));
        var file = Assert.Single(registry.Files);
        Assert.False(file.Valid);
        Assert.Contains("a.yaml:4:9: spec.schedule: cannot be scheduled: it will never fire", file.Errors);
        Assert.Equal("a", Assert.Single(registry.Apply([File("a.yaml", Policy("a"))], []).Added).Name);
    }

    [Fact]
    public void Apply_ScheduleChange_IsReportedAsAChange()
    {
        var registry = new PolicyRegistry(new ManualTimeProvider(T0));
        registry.Apply([File("a.yaml", Policy("a"))], []);

        var change = registry.Apply([File("a.yaml", Policy("a", interval: "30s"))], []);

        var (old, updated) = Assert.Single(change.Changed);
        Assert.NotEqual(old.Schedule, updated.Schedule);
    }

    [Theory]
    [InlineData("  confirm:\n    approvers: [U024BE7LH]\n    timeout: 15m\n    onTimeout: hold\n", "  confirm:\n    approvers: [U024BE7LH]\n    timeout: 3s\n    onTimeout: rollback\n")]
    [InlineData("", "  confirm:\n    timeout: 15m\n")]
    [InlineData("  notify:\n    slackChannel: C0SHOP\n", "  notify:\n    slackChannel: C0CART\n")]
    public void Apply_OnlyConfirmOrNotifyEdited_IsAChangeAndTheNewSettingsAreWhatRuns(string before, string after)
    {
        var registry = new PolicyRegistry(new ManualTimeProvider(T0));
        registry.Apply([File("a.yaml", Policy("a") + before)], []);
        var runner = registry.Find("a")!.Runner;

        var change = registry.Apply([File("a.yaml", Policy("a") + after)], []);

        var (old, updated) = Assert.Single(change.Changed);
        var expected = File("a.yaml", Policy("a") + after).Policies.Single();
        Assert.NotEqual((old.Confirm?.Timeout, old.Confirm?.OnTimeout, old.Notify.SlackChannel), (updated.Confirm?.Timeout, updated.Confirm?.OnTimeout, updated.Notify.SlackChannel));
        Assert.Equal((expected.Confirm?.Timeout, expected.Confirm?.OnTimeout, expected.Notify.SlackChannel), (registry.Find("a")!.Policy.Confirm?.Timeout, registry.Find("a")!.Policy.Confirm?.OnTimeout, registry.Find("a")!.Policy.Notify.SlackChannel));
        registry.Find("a")!.ApplyPendingUpdate();
        Assert.Same(runner, registry.Find("a")!.Runner);
        Assert.Equal(expected.Confirm?.Timeout, runner.Policy.Confirm?.Timeout);
    }

    [Fact]
    public void Apply_FolderThatCannotBeListed_KeepsEveryUnseenPolicyAndReportsTheFolder()
    {
        var registry = new PolicyRegistry(new ManualTimeProvider(T0));
        registry.Apply([File("rules/a.yaml", Policy("a")), File("rules/team/b.yaml", Policy("b"))], []);
        var runnerB = registry.Find("b")!.Runner;
        var listing = new RuleDiagnostic("rules/team", 1, 1, string.Empty, "cannot list the folder: Access to the path 'rules/team' is denied.");

        // rules/team could not be listed, so b.yaml was not seen: it is unknown, not deleted.
        var change = registry.Apply([File("rules/a.yaml", Policy("a", max: 0.2))], [], [listing]);

        Assert.Empty(change.Removed);
        Assert.Equal("a", Assert.Single(change.Changed).New.Name);
        Assert.Same(runnerB, registry.Find("b")!.Runner);
        Assert.Equal(
            [
                ("rules/a.yaml", true, ""),
                ("rules/team", false, "rules/team:1:1: cannot list the folder: Access to the path 'rules/team' is denied."),
                ("rules/team/b.yaml", true, ""),
            ],
            registry.Files.Select(f => (f.File, f.Valid, string.Join('|', f.Errors))));

        // Listed again and b.yaml really is gone: now it is removed, and the folder's error with it.
        change = registry.Apply([File("rules/a.yaml", Policy("a", max: 0.2))], []);

        Assert.Equal("b", Assert.Single(change.Removed).Name);
        Assert.Equal(["rules/a.yaml"], registry.Files.Select(f => f.File));
    }
}

/// <summary>
/// First runs are spread over the interval in phases, the same way on every start: quarter seconds for a single daemon,
/// whole seconds on a cluster (one lock round per phase there).
/// </summary>
public sealed class PolicySchedulerJitterTests
{
    public static TheoryData<double, int> Phases => new() { { 250, 60 }, { 1000, 15 } };

    [Theory]
    [MemberData(nameof(Phases))]
    public void Jitter_IsWholePhasesWithinTheIntervalAndStableForAName(double phaseMs, int expectedPhases)
    {
        var interval = TimeSpan.FromSeconds(15);
        var phase = TimeSpan.FromMilliseconds(phaseMs);
        var phases = Enumerable.Range(0, 1000).Select(i => PolicyScheduler.Jitter($"service-{i}", interval, phase)).ToArray();

        Assert.All(phases, p => Assert.True(p >= TimeSpan.Zero && p < interval && p.Ticks % phase.Ticks == 0, p.ToString()));
        Assert.Equal(expectedPhases, phases.Distinct().Count());
        Assert.Equal(PolicyScheduler.Jitter("checkout", interval, phase), PolicyScheduler.Jitter("checkout", interval, phase));
        Assert.Equal(TimeSpan.Zero, PolicyScheduler.Jitter("checkout", phase, phase));
    }

    [Fact]
    public void Jitter_OnACluster_IsTheWholeSecondsEveryVersionSinceTheSpreadGave()
    {
        // Nodes of two versions during a rolling upgrade must still put one policy in the same phase.
        var interval = TimeSpan.FromSeconds(15);
        foreach (var name in Enumerable.Range(0, 200).Select(i => $"service-{i}"))
        {
            var hash = 2166136261u;
            foreach (var c in name)
            {
                hash = unchecked((hash ^ c) * 16777619u);
            }

            Assert.Equal(TimeSpan.FromSeconds(hash % 15), PolicyScheduler.Jitter(name, interval, PolicyScheduler.ClusteredPhase));
        }
    }

    [Fact]
    public void Jitter_InMemory_PutsAboutASixtiethOfAThousandPoliciesInEachQuarterSecond()
    {
        var interval = TimeSpan.FromSeconds(15);
        var counts = Enumerable.Range(0, 1000)
            .GroupBy(i => PolicyScheduler.Jitter($"service-{i}", interval, PolicyScheduler.InMemoryPhase))
            .Select(g => g.Count())
            .ToArray();

        Assert.Equal(60, counts.Length);
        Assert.InRange(counts.Max(), 17, 40);
    }

    [Fact]
    public void FirstSlot_IsTheNextWholeSecondPlusThePhase_SoPoliciesOfOnePhaseShareFireTimes()
    {
        var interval = TimeSpan.FromSeconds(15);
        var phase = PolicyScheduler.InMemoryPhase;
        var second = new DateTimeOffset(2026, 12, 5, 17, 0, 3, TimeSpan.Zero);

        var names = Enumerable.Range(0, 1000).Select(i => $"service-{i}").ToArray();
        var early = names.Select(n => PolicyScheduler.FirstSlot(second.AddMilliseconds(1), n, interval, phase)).ToArray();
        var late = names.Select(n => PolicyScheduler.FirstSlot(second.AddMilliseconds(999.9), n, interval, phase)).ToArray();

        Assert.Equal(early, late);
        Assert.All(early, t => Assert.Equal(0, t.UtcTicks % phase.Ticks));
        Assert.Equal(60, early.Distinct().Count());
        Assert.Equal(second.AddSeconds(1) + PolicyScheduler.Jitter("checkout", interval, phase), PolicyScheduler.FirstSlot(second.AddTicks(1), "checkout", interval, phase));
        Assert.Equal(second + PolicyScheduler.Jitter("checkout", interval, phase), PolicyScheduler.FirstSlot(second, "checkout", interval, phase));
        Assert.Equal(TimeSpan.Zero, PolicyScheduler.FirstSlot(second.AddMilliseconds(250), "checkout", interval, phase).Offset);
        Assert.All(names.Select(n => PolicyScheduler.FirstSlot(second, n, interval, PolicyScheduler.ClusteredPhase)), t => Assert.Equal(0, t.UtcTicks % TimeSpan.TicksPerSecond));
    }
}
