using System.Text.Json.Nodes;
using RollbackSentinel.Actions.Helm;
using RollbackSentinel.Actions.Processes;
using RollbackSentinel.Core.Evaluation;
using RollbackSentinel.Core.Incidents;
using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Core.Policies;
using RollbackSentinel.Core.State;
using RollbackSentinel.Testing.Time;

namespace RollbackSentinel.Actions.Tests.Helm;

public sealed class HelmRollbackActionTests : IDisposable
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 20, 10, 0, 0, TimeSpan.Zero);

    private static readonly string[] History = ["history", "shop", "--namespace", "prod", "--kube-context", "prod-eu", "-o", "json", "--max", "50"];
    private static readonly string[] Rollback3 = ["rollback", "shop", "3", "--namespace", "prod", "--kube-context", "prod-eu", "--wait", "--timeout", "300s"];
    private readonly FakeHelm _helm = new();

    private string Rollback3Text => $"helm rollback shop 3 --namespace prod --kube-context prod-eu --wait --timeout 300s";

    public void Dispose() => _helm.Dispose();

    private static string[] Values(int revision) =>
        ["get", "values", "shop", "--namespace", "prod", "--kube-context", "prod-eu", "--revision", revision.ToString(System.Globalization.CultureInfo.InvariantCulture), "-o", "json"];

    private static JsonObject ValuesOf(string tag) => new() { ["replicas"] = 3, ["image"] = new JsonObject { ["tag"] = tag } };

    private static RollbackRequest Request(
        HelmTarget? target = null, DateTimeOffset? at = null, TimeSpan? cooldown = null, string release = "shop", string ns = "prod")
    {
        target ??= new HelmTarget(Template.Parse("{{ labels.release }}"))
        {
            Namespace = Template.Parse("{{ labels.namespace }}"),
            KubeContext = "prod-eu",
            Timeout = TimeSpan.FromMinutes(5),
        };
        var labels = LabelSet.From([new("release", release), new("namespace", ns)]);
        var policy = new Policy
        {
            Name = "shop",
            Target = target,
            Schedule = new IntervalSchedule(TimeSpan.FromSeconds(15)),
            Triggers = [new Trigger { Name = "errors", Condition = new ThresholdCondition("q", ComparisonOperator.GreaterThan, 1) }],
            Cooldown = cooldown ?? Policy.DefaultCooldown,
        };
        var verdict = new Verdict { Kind = VerdictKind.Breach, Reason = VerdictReason.ThresholdExceeded, Labels = labels, Value = 2, Threshold = 1, Summary = "value 2 > 1" };
        var decision = new Decision { Policy = "shop", Trigger = "errors", Labels = labels, At = at ?? T0, Kind = DecisionKind.Act, Action = TriggerAction.Rollback, Verdict = verdict };
        var incident = new Incident
        {
            Id = 7, Policy = "shop", Trigger = "errors", Labels = labels, Action = TriggerAction.Rollback, Status = IncidentStatus.Acting,
            OpenedAt = T0, UpdatedAt = T0, Summary = "value 2 > 1", EvidenceJson = "{}",
        };
        return RollbackRequests.From(policy, incident, decision, "rs-key-1");
    }

    private HelmRollbackAction Adapter(HelmOptions? options = null, ICommandRunner? runner = null) =>
        new(runner ?? _helm.Runner, options ?? new HelmOptions { Path = "helm", RetryBaseDelay = TimeSpan.Zero }, new ManualTimeProvider(T0));

    /// <summary>The bad release: revision 5 deployed, 4 failed, 3 the last good one.</summary>
    private void BadRelease()
    {
        _helm.Revision("shop", 1, "superseded", "shop-1.3.0", "Install complete", ValuesOf("1.3.0"))
            .Revision("shop", 2, "superseded", "shop-1.3.1", "Upgrade complete", ValuesOf("1.3.1"))
            .Revision("shop", 3, "superseded", "shop-1.4.0", "Upgrade complete", ValuesOf("1.4.0"))
            .Revision("shop", 4, "failed", "shop-1.5.0", "Upgrade \"shop\" failed: timed out waiting for the condition", ValuesOf("1.5.0"))
            .Revision("shop", 5, "deployed", "shop-1.5.0", "Upgrade complete", ValuesOf("1.5.0"));
    }

    private static void AssertCalls(IReadOnlyList<string[]> actual, params string[][] expected) =>
        Assert.Equal(expected.Select(c => string.Join(" | ", c)), actual.Select(c => string.Join(" | ", c)));

    [Fact]
    public async Task Plan_BadRevisionAfterAFailedOne_ReturnsToTheLastDeployedRevision()
    {
        BadRelease();

        var plan = await Adapter().PlanAsync(Request(), CancellationToken.None);

        Assert.Equal("roll release shop in prod back from revision 5 (shop-1.5.0) to revision 3 (shop-1.4.0)", plan.Summary);
        Assert.Equal([Rollback3Text], plan.Steps);
        Assert.Equal("revision 5 (shop-1.5.0)", plan.Before);
        Assert.Equal("5", plan.Fact("fromRevision"));
        Assert.Equal("shop-1.5.0", plan.Fact("fromChart"));
        Assert.Equal("3", plan.Fact("toRevision"));
        Assert.Equal("shop-1.4.0", plan.Fact("toChart"));
        AssertCalls(_helm.Calls, History);
    }

    [Fact]
    public async Task Execute_RollsBackOnceAndVerifies_ThenASecondRunAndASecondSentinelChangeNothing()
    {
        BadRelease();
        var adapter = Adapter();
        // Executed from the plan as stored with the incident.
        var plan = ActionPlan.FromJson((await adapter.PlanAsync(Request(), CancellationToken.None)).ToJson());
        _helm.ClearCalls();

        var result = await adapter.ExecuteAsync(Request(), plan, dryRun: false, CancellationToken.None);

        Assert.Equal(ActionEffect.Changed, result.Effect);
        Assert.Equal("revision 5 (shop-1.5.0)", result.Before);
        Assert.Equal("revision 6 = rollback to 3 (shop-1.4.0)", result.After);
        Assert.Equal("rolled release shop in prod back from revision 5 (shop-1.5.0) to revision 3 (shop-1.4.0): now revision 6 = rollback to 3 (shop-1.4.0)", result.Outcome);
        AssertCalls(_helm.Calls, History, Rollback3, History);
        var history = _helm.History("shop");
        Assert.Equal(6, history.Count);
        Assert.Equal("Rollback to 3", (string)history[5]["description"]!);
        Assert.Equal("deployed", (string)history[5]["status"]!);
        Assert.Equal("superseded", (string)history[4]["status"]!);

        // The same plan again (a retry, a restart): the release runs revision 3's chart and values already.
        _helm.ClearCalls();
        var again = await adapter.ExecuteAsync(Request(), plan, dryRun: false, CancellationToken.None);

        Assert.Equal(ActionEffect.Unchanged, again.Effect);
        Assert.Equal("release shop in prod already runs a rollback to revision 3 (revision 6 = rollback to 3 (shop-1.4.0)): nothing to do", again.Outcome);
        AssertCalls(_helm.Calls, History);

        // A second sentinel planning a minute later (within the cooldown): never a second rollback, never further back.
        _helm.ClearCalls();
        var second = await adapter.PlanAsync(Request(at: T0.AddMinutes(1)), CancellationToken.None);
        Assert.Empty(second.Steps);
        Assert.Equal("leave release shop in prod as it is: it already runs a rollback (revision 6: Rollback to 3, at 2026-11-20T10:00:30.123Z)", second.Summary);
        var secondResult = await adapter.ExecuteAsync(Request(at: T0.AddMinutes(1)), second, dryRun: false, CancellationToken.None);
        Assert.Equal(ActionEffect.Unchanged, secondResult.Effect);
        AssertCalls(_helm.Calls, History);
        Assert.Equal(6, _helm.History("shop").Count);
    }

    [Fact]
    public async Task Execute_ReleaseAlreadyAtTheTargetsChartAndValues_IsUnchanged()
    {
        BadRelease();
        var adapter = Adapter();
        var plan = await adapter.PlanAsync(Request(), CancellationToken.None);
        // Someone upgraded back to 1.4.0 with 3's values by hand meanwhile.
        var revisions = _helm.History("shop");
        revisions[4]["status"] = "superseded";
        _helm.Save();
        _helm.Revision("shop", 6, "deployed", "shop-1.4.0", "Upgrade complete", ValuesOf("1.4.0"));
        _helm.ClearCalls();

        var result = await adapter.ExecuteAsync(Request(), plan, dryRun: false, CancellationToken.None);

        Assert.Equal(ActionEffect.Unchanged, result.Effect);
        Assert.Equal("revision 6 (shop-1.4.0)", result.Before);
        Assert.Equal("revision 6 (shop-1.4.0)", result.After);
        AssertCalls(_helm.Calls, History, Values(3), Values(6));
    }

    [Fact]
    public async Task Execute_SameChartButOtherValues_IsAMovedOnFailure()
    {
        BadRelease();
        var adapter = Adapter();
        var plan = await adapter.PlanAsync(Request(), CancellationToken.None);
        _helm.History("shop")[4]["status"] = "superseded";
        _helm.Save();
        _helm.Revision("shop", 6, "deployed", "shop-1.4.0", "Upgrade complete", new JsonObject { ["replicas"] = 5, ["image"] = new JsonObject { ["tag"] = "1.4.0" } });
        _helm.ClearCalls();

        var result = await adapter.ExecuteAsync(Request(), plan, dryRun: false, CancellationToken.None);

        Assert.Equal(ActionEffect.Failed, result.Effect);
        Assert.StartsWith("the release moved on since the incident was decided (now revision 6 (shop-1.4.0)", result.Outcome);
        AssertCalls(_helm.Calls, History, Values(3), Values(6));
    }

    [Fact]
    public async Task Execute_ReleaseMovedOn_FailsAndDoesNothing()
    {
        BadRelease();
        var adapter = Adapter();
        var plan = await adapter.PlanAsync(Request(), CancellationToken.None);
        _helm.History("shop")[4]["status"] = "superseded";
        _helm.Save();
        _helm.Revision("shop", 6, "deployed", "shop-1.6.0", "Upgrade complete", ValuesOf("1.6.0"));
        _helm.ClearCalls();

        var result = await adapter.ExecuteAsync(Request(), plan, dryRun: false, CancellationToken.None);

        Assert.Equal(ActionEffect.Failed, result.Effect);
        Assert.Equal("the release moved on since the incident was decided (now revision 6 (shop-1.6.0); the plan was to roll back revision 5 to 3): nothing done", result.Outcome);
        Assert.Equal("revision 6 (shop-1.6.0)", result.Before);
        AssertCalls(_helm.Calls, History);
    }

    [Fact]
    public async Task Plan_NoEarlierDeployedRevision_FailsClearly()
    {
        _helm.Revision("shop", 1, "failed", "shop-1.0.0", "Install failed")
            .Revision("shop", 2, "deployed", "shop-1.0.1", "Install complete");

        var e = await Assert.ThrowsAsync<ActionFailedException>(() => Adapter().PlanAsync(Request(), CancellationToken.None));

        Assert.Equal("release shop in prod has no earlier deployed revision to roll back to (it runs revision 2 (shop-1.0.1); none of the 1 revisions before it in the last 50 was deployed)", e.Message);
        AssertCalls(_helm.Calls, History);
    }

    [Fact]
    public async Task Plan_PendingOperationNewerThanTheDeployedRevision_Fails()
    {
        BadRelease();
        _helm.Revision("shop", 6, "pending-upgrade", "shop-1.6.0", "Preparing upgrade");

        var e = await Assert.ThrowsAsync<ActionFailedException>(() => Adapter().PlanAsync(Request(), CancellationToken.None));

        Assert.Equal("release shop in prod has an operation in progress (revision 6 is pending-upgrade: Preparing upgrade); not acting while Helm is busy with it", e.Message);
    }

    [Fact]
    public async Task Plan_NoDeployedRevision_Fails()
    {
        _helm.Revision("shop", 1, "superseded", "shop-1.0.0", "Install complete")
            .Revision("shop", 2, "failed", "shop-1.0.1", "Upgrade failed");

        var e = await Assert.ThrowsAsync<ActionFailedException>(() => Adapter().PlanAsync(Request(), CancellationToken.None));

        Assert.Equal("release shop in prod has no deployed revision (latest: revision 2, failed: Upgrade failed)", e.Message);
    }

    [Fact]
    public async Task Execute_HelmRollbackFails_ReportsHelmsErrorAndNeverRetriesTheRollback()
    {
        BadRelease();
        var adapter = Adapter();
        var plan = await adapter.PlanAsync(Request(), CancellationToken.None);
        _helm.Fail("rollback", "timed out waiting for the condition", recordFailedRevision: true);
        _helm.ClearCalls();

        var result = await adapter.ExecuteAsync(Request(), plan, dryRun: false, CancellationToken.None);

        Assert.Equal(ActionEffect.Failed, result.Effect);
        Assert.Equal(
            "helm rollback of release shop in prod to revision 3 failed (exit code 1: Error: timed out waiting for the condition); "
            + "latest is revision 6, failed: Rollback \"shop\" failed: timed out waiting for the condition",
            result.Outcome);
        Assert.Equal("revision 5 (shop-1.5.0)", result.Before);
        AssertCalls(_helm.Calls, History, Rollback3, History);

        // Run again: the latest revision is a failed rollback, so nothing is attempted: humans must look.
        var again = await adapter.ExecuteAsync(Request(), plan, dryRun: false, CancellationToken.None);
        Assert.Equal(ActionEffect.Failed, again.Effect);
        Assert.Equal(
            "release shop in prod: a rollback failed at 2026-11-20T10:00:30.123Z (revision 6, failed: Rollback \"shop\" failed: timed out waiting for the condition); "
            + "a sentinel does not roll back again after a failed rollback: humans must look",
            again.Outcome);
        Assert.Single(_helm.CallsOf("rollback"));
    }

    [Fact]
    public async Task Execute_HelmRollbackHangs_IsStoppedAndReportedAsTimedOut()
    {
        BadRelease();
        var target = new HelmTarget(Template.Parse("shop")) { Namespace = Template.Parse("prod"), KubeContext = "prod-eu", Timeout = TimeSpan.FromSeconds(1) };
        // The reads run under CommandTimeout too: 15 s, so the python stand-in's start-up on a loaded machine (seen past
        // 2 s in CI) never times a read out; the hung rollback is stopped after its 1 s wait plus that.
        var adapter = Adapter(new HelmOptions { Path = "helm", RetryBaseDelay = TimeSpan.Zero, CommandTimeout = TimeSpan.FromSeconds(15) });
        var plan = await adapter.PlanAsync(Request(target), CancellationToken.None);
        _helm.Hang("rollback");
        _helm.ClearCalls();

        var result = await adapter.ExecuteAsync(Request(target), plan, dryRun: false, CancellationToken.None);

        Assert.Equal(ActionEffect.Failed, result.Effect);
        Assert.StartsWith($"helm rollback of release shop in prod to revision 3 timed out or could not run: 'helm rollback shop 3 --namespace prod --kube-context prod-eu --wait --timeout 1s' did not finish within", result.Outcome);
        Assert.EndsWith("latest is revision 5, deployed: Upgrade complete", result.Outcome);
        // A read that times out is retried (by design), so on a very loaded machine a read may appear more than once.
        var calls = _helm.Calls.Select(c => string.Join(" | ", c)).ToList();
        var history = string.Join(" | ", History);
        var rollback = "rollback | shop | 3 | --namespace | prod | --kube-context | prod-eu | --wait | --timeout | 1s";
        Assert.Single(calls, c => c == rollback);
        var at = calls.IndexOf(rollback);
        Assert.NotEmpty(calls[..at]);
        Assert.All(calls[..at], c => Assert.Equal(history, c));
        Assert.NotEmpty(calls[(at + 1)..]);
        Assert.All(calls[(at + 1)..], c => Assert.Equal(history, c));
    }

    [Fact]
    public async Task Execute_DryRun_OnlyReadsAndShowsTheExactCommand()
    {
        BadRelease();
        var adapter = Adapter();
        var plan = await adapter.PlanAsync(Request(), CancellationToken.None);

        var result = await adapter.ExecuteAsync(Request(), plan, dryRun: true, CancellationToken.None);

        Assert.Equal(ActionEffect.DryRun, result.Effect);
        Assert.Equal($"dry-run: would roll release shop in prod back from revision 5 (shop-1.5.0) to revision 3 (shop-1.4.0): {Rollback3Text}", result.Outcome);
        Assert.Empty(_helm.CallsOf("rollback"));
        AssertCalls(_helm.Calls, History, History);
        Assert.Equal(5, _helm.History("shop").Count);
    }

    [Fact]
    public async Task HelmMissing_FailsNamingIt()
    {
        BadRelease();
        using var empty = new FakeHelm();
        File.Delete(Path.Combine(empty.Directory, "helm"));
        var runner = new ProcessCommandRunner(new Dictionary<string, string?> { ["PATH"] = empty.Directory });
        var adapter = Adapter(new HelmOptions { Path = Path.Combine(empty.Directory, "helm"), RetryBaseDelay = TimeSpan.Zero }, runner);

        var e = await Assert.ThrowsAsync<ActionFailedException>(() => adapter.PlanAsync(Request(), CancellationToken.None));
        Assert.StartsWith($"cannot run '{Path.Combine(empty.Directory, "helm")}'", e.Message);

        var plan = await Adapter().PlanAsync(Request(), CancellationToken.None);
        var result = await adapter.ExecuteAsync(Request(), plan, dryRun: false, CancellationToken.None);
        Assert.Equal(ActionEffect.Failed, result.Effect);
        Assert.Contains("(is it installed and on PATH?)", result.Outcome);
    }

    [Fact]
    public async Task Reads_AreRetried_AndAReadThatKeepsFailingSaysWhy()
    {
        BadRelease();
        _helm.Fail("history", "Kubernetes cluster unreachable: connection refused", times: 2);

        var plan = await Adapter().PlanAsync(Request(), CancellationToken.None);

        Assert.Equal("3", plan.Fact("toRevision"));
        AssertCalls(_helm.Calls, History, History, History);

        _helm.Fail("history", "Kubernetes cluster unreachable: connection refused");
        _helm.ClearCalls();
        var e = await Assert.ThrowsAsync<ActionFailedException>(() => Adapter().PlanAsync(Request(), CancellationToken.None));
        Assert.Equal($"'helm {string.Join(' ', History)}' failed: exit code 1: Error: Kubernetes cluster unreachable: connection refused", e.Message);
        Assert.Equal(3, _helm.Calls.Count);
    }

    [Fact]
    public async Task Plan_WithoutNamespaceContextOrTimeout_UsesNoGlobalFlagsAndTheDefaultWait()
    {
        BadRelease();
        var target = new HelmTarget(Template.Parse("shop"));
        var adapter = Adapter(new HelmOptions { Path = "helm", RetryBaseDelay = TimeSpan.Zero, DefaultWaitTimeout = TimeSpan.FromMinutes(2) });

        var plan = await adapter.PlanAsync(Request(target), CancellationToken.None);

        Assert.Equal("roll release shop back from revision 5 (shop-1.5.0) to revision 3 (shop-1.4.0)", plan.Summary);
        Assert.Equal([$"helm rollback shop 3 --wait --timeout 120s"], plan.Steps);
        AssertCalls(_helm.Calls, ["history", "shop", "-o", "json", "--max", "50"]);
    }

    [Fact]
    public async Task Plan_ReleaseLabelMissing_FailsNamingTheTemplate()
    {
        var target = new HelmTarget(Template.Parse("{{ labels.app }}"));

        var e = await Assert.ThrowsAsync<ActionFailedException>(() => Adapter().PlanAsync(Request(target), CancellationToken.None));

        Assert.StartsWith("cannot name the helm release: ", e.Message);
        Assert.Empty(_helm.Calls);
    }

    // 1. The bad revision may look exactly like the target: the current revision being the planned one decides.

    [Fact]
    public async Task Execute_BadRevisionDiffersOnlyInAppVersion_StillRollsBack()
    {
        // CI bumped appVersion (the image) but not the chart version; the values are the same.
        _helm.Revision("shop", 1, "superseded", "shop-1.3.0", "Install complete", ValuesOf("1.3.0"))
            .Revision("shop", 2, "superseded", "shop-1.4.0", "Upgrade complete", ValuesOf("1.4.0"), appVersion: "2.0.0")
            .Revision("shop", 3, "deployed", "shop-1.4.0", "Upgrade complete", ValuesOf("1.4.0"), appVersion: "2.1.0");
        var adapter = Adapter();
        var plan = await adapter.PlanAsync(Request(), CancellationToken.None);
        Assert.Equal("2.1.0", plan.Fact("fromAppVersion"));
        Assert.Equal("2.0.0", plan.Fact("toAppVersion"));
        _helm.ClearCalls();

        var result = await adapter.ExecuteAsync(Request(), plan, dryRun: false, CancellationToken.None);

        Assert.Equal(ActionEffect.Changed, result.Effect);
        Assert.Equal("rolled release shop in prod back from revision 3 (shop-1.4.0) to revision 2 (shop-1.4.0): now revision 4 = rollback to 2 (shop-1.4.0)", result.Outcome);
        AssertCalls(
            _helm.Calls,
            History,
            ["rollback", "shop", "2", "--namespace", "prod", "--kube-context", "prod-eu", "--wait", "--timeout", "300s"],
            History);
        Assert.Equal("2.0.0", (string)_helm.History("shop")[3]["app_version"]!);
    }

    [Fact]
    public async Task Execute_BadRevisionIdenticalInChartAppVersionAndValues_StillRollsBack()
    {
        // An image changed inside the chart's templates without any version bump: history cannot tell them apart.
        BadRelease();
        var revisions = _helm.History("shop");
        revisions[4]["chart"] = "shop-1.4.0";
        revisions[4]["app_version"] = "1.4.0";
        revisions[4]["values"] = ValuesOf("1.4.0");
        _helm.Save();
        var adapter = Adapter();
        var plan = await adapter.PlanAsync(Request(), CancellationToken.None);
        _helm.ClearCalls();

        var result = await adapter.ExecuteAsync(Request(), plan, dryRun: false, CancellationToken.None);

        Assert.Equal(ActionEffect.Changed, result.Effect);
        AssertCalls(_helm.Calls, History, Rollback3, History);
    }

    [Fact]
    public async Task Execute_NewerRevisionWithTheTargetsChartAndValuesButAnotherAppVersion_IsAMovedOnFailure()
    {
        BadRelease();
        var adapter = Adapter();
        var plan = await adapter.PlanAsync(Request(), CancellationToken.None);
        _helm.History("shop")[4]["status"] = "superseded";
        _helm.Save();
        _helm.Revision("shop", 6, "deployed", "shop-1.4.0", "Upgrade complete", ValuesOf("1.4.0"), appVersion: "1.5.0");
        _helm.ClearCalls();

        var result = await adapter.ExecuteAsync(Request(), plan, dryRun: false, CancellationToken.None);

        Assert.Equal(ActionEffect.Failed, result.Effect);
        Assert.Equal("the release moved on since the incident was decided (now revision 6 (shop-1.4.0); the plan was to roll back revision 5 to 3): nothing done", result.Outcome);
        AssertCalls(_helm.Calls, History);
        Assert.Empty(_helm.CallsOf("rollback"));
    }

    // 2. A failed upgrade: the cluster runs (part of) it while the previous revision is still marked deployed.

    [Fact]
    public async Task Plan_LatestRevisionFailedAfterTheDeployedOne_RollsBackToThatDeployedRevision()
    {
        _helm.Revision("shop", 1, "superseded", "shop-1.3.0", "Install complete", ValuesOf("1.3.0"))
            .Revision("shop", 2, "superseded", "shop-1.4.0", "Upgrade complete", ValuesOf("1.4.0"))
            .Revision("shop", 3, "deployed", "shop-1.5.0", "Upgrade complete", ValuesOf("1.5.0"))
            .Revision("shop", 4, "failed", "shop-1.6.0", "Upgrade \"shop\" failed: context deadline exceeded", ValuesOf("1.6.0"));
        var adapter = Adapter();

        var plan = ActionPlan.FromJson((await adapter.PlanAsync(Request(), CancellationToken.None)).ToJson());

        Assert.Equal("roll release shop in prod back from revision 4 (shop-1.6.0, failed) to revision 3 (shop-1.5.0)", plan.Summary);
        Assert.Equal([Rollback3Text], plan.Steps);
        Assert.Equal("4", plan.Fact("fromRevision"));
        Assert.Equal("3", plan.Fact("toRevision"));

        _helm.ClearCalls();
        var result = await adapter.ExecuteAsync(Request(), plan, dryRun: false, CancellationToken.None);

        Assert.Equal(ActionEffect.Changed, result.Effect);
        Assert.Equal("rolled release shop in prod back from revision 4 (shop-1.6.0, failed) to revision 3 (shop-1.5.0): now revision 5 = rollback to 3 (shop-1.5.0)", result.Outcome);
        AssertCalls(_helm.Calls, History, Rollback3, History);
        var history = _helm.History("shop");
        Assert.Equal("superseded", (string)history[2]["status"]!);
        Assert.Equal("failed", (string)history[3]["status"]!);
        Assert.Equal("deployed", (string)history[4]["status"]!);

        // Again: the release runs the rollback to 3 now.
        _helm.ClearCalls();
        var again = await adapter.ExecuteAsync(Request(), plan, dryRun: false, CancellationToken.None);
        Assert.Equal(ActionEffect.Unchanged, again.Effect);
        AssertCalls(_helm.Calls, History);
    }

    [Fact]
    public async Task Plan_LatestRevisionIsAFailedRollback_RefusesToRollBackAgain()
    {
        BadRelease();
        _helm.Revision("shop", 6, "failed", "shop-1.4.0", "Rollback to 3", ValuesOf("1.4.0"));

        var e = await Assert.ThrowsAsync<ActionFailedException>(() => Adapter().PlanAsync(Request(), CancellationToken.None));

        Assert.Equal(
            "release shop in prod: a rollback to revision 3 failed at 2026-11-20T09:06:00.123Z (revision 6, failed: Rollback to 3); "
            + "a sentinel does not roll back again after a failed rollback: humans must look",
            e.Message);
        AssertCalls(_helm.Calls, History);
    }

    [Fact]
    public async Task Execute_ARollbackFailedSinceThePlan_DoesNothing()
    {
        BadRelease();
        var adapter = Adapter();
        var plan = await adapter.PlanAsync(Request(), CancellationToken.None);
        // A human's rollback to 3 timed out meanwhile; 5 is still marked deployed (Helm's --wait failure).
        _helm.Revision("shop", 6, "failed", "shop-1.4.0", "Release \"shop\" failed: timed out waiting for the condition", ValuesOf("1.4.0"));
        _helm.ClearCalls();

        var result = await adapter.ExecuteAsync(Request(), plan, dryRun: false, CancellationToken.None);

        Assert.Equal(ActionEffect.Failed, result.Effect);
        Assert.StartsWith("release shop in prod: a rollback failed at 2026-11-20T09:06:00.123Z (revision 6, failed: Release \"shop\" failed:", result.Outcome);
        AssertCalls(_helm.Calls, History);
    }

    [Fact]
    public async Task Plan_PendingOperationAfterAFailedRevision_Fails()
    {
        BadRelease();
        _helm.Revision("shop", 6, "failed", "shop-1.6.0", "Upgrade \"shop\" failed: timed out")
            .Revision("shop", 7, "pending-upgrade", "shop-1.6.1", "Preparing upgrade");

        var e = await Assert.ThrowsAsync<ActionFailedException>(() => Adapter().PlanAsync(Request(), CancellationToken.None));

        Assert.Equal("release shop in prod has an operation in progress (revision 7 is pending-upgrade: Preparing upgrade); not acting while Helm is busy with it", e.Message);
    }

    // 3. A rollback already running is a no-op only while it is younger than the cooldown.

    [Fact]
    public async Task Plan_CurrentRevisionIsARollback_IsANoopOnlyWithinTheCooldown()
    {
        BadRelease();
        _helm.History("shop")[4]["status"] = "superseded";
        _helm.Save();
        _helm.Revision("shop", 6, "deployed", "shop-1.4.0", "Rollback to 3", ValuesOf("1.4.0"), updated: T0.AddMinutes(-10));
        var clock = new ManualTimeProvider(T0);
        var cooldown = TimeSpan.FromMinutes(30);

        var young = await Adapter().PlanAsync(Request(at: clock.GetUtcNow(), cooldown: cooldown), CancellationToken.None);
        Assert.Empty(young.Steps);
        Assert.Equal("true", young.Fact("noop"));
        Assert.Equal("leave release shop in prod as it is: it already runs a rollback (revision 6: Rollback to 3, at 2026-11-20T09:50:00.123Z)", young.Summary);

        // 10:20:00, 29m59.877s after the rollback (Helm's fraction of a second counts): still younger than the cooldown.
        clock.Advance(TimeSpan.FromMinutes(20));
        Assert.Equal("true", (await Adapter().PlanAsync(Request(at: clock.GetUtcNow(), cooldown: cooldown), CancellationToken.None)).Fact("noop"));

        // One second later: no longer younger than the cooldown.
        clock.Advance(TimeSpan.FromSeconds(1));
        var e = await Assert.ThrowsAsync<ActionFailedException>(() => Adapter().PlanAsync(Request(at: clock.GetUtcNow(), cooldown: cooldown), CancellationToken.None));
        Assert.Equal(
            "release shop in prod runs a rollback (revision 6: Rollback to 3, at 2026-11-20T09:50:00.123Z, 30m before the decision), older than the cooldown (30m); "
            + "a sentinel never steps further back through history: humans must look",
            e.Message);

        // A shorter cooldown makes the same rollback old.
        var shorter = await Assert.ThrowsAsync<ActionFailedException>(
            () => Adapter().PlanAsync(Request(at: T0, cooldown: TimeSpan.FromMinutes(5)), CancellationToken.None));
        Assert.Contains("older than the cooldown (5m)", shorter.Message, StringComparison.Ordinal);
        Assert.Empty(_helm.CallsOf("rollback"));
    }

    [Fact]
    public async Task Plan_RollbackWithAnUnreadableTime_IsTreatedAsOld()
    {
        BadRelease();
        _helm.History("shop")[4]["status"] = "superseded";
        _helm.Save();
        _helm.Revision("shop", 6, "deployed", "shop-1.4.0", "Rollback to 3", ValuesOf("1.4.0"));
        _helm.History("shop")[5]["updated"] = "yesterday";
        _helm.Save();

        var e = await Assert.ThrowsAsync<ActionFailedException>(() => Adapter().PlanAsync(Request(), CancellationToken.None));

        Assert.StartsWith("release shop in prod runs a rollback (revision 6: Rollback to 3, at yesterday), older than the cooldown (30m)", e.Message);
    }

    [Theory]
    [InlineData("2026-11-20T09:50:00.123456789Z", "2026-11-20T09:50:00.123Z")]
    [InlineData("2026-11-20T10:50:00.123456789+01:00", "2026-11-20T09:50:00.123Z")]
    [InlineData("2026-11-20T09:50:00Z", "2026-11-20T09:50:00Z")]
    [InlineData("2026-11-20T09:50:00.5Z", "2026-11-20T09:50:00.500Z")]
    public void HelmTimes_AreReadWithNanosecondsAndOffsets(string helm, string expected)
    {
        var parsed = HelmRevision.ParseTime(helm);

        Assert.NotNull(parsed);
        Assert.Equal(expected, RollbackSentinel.Core.Evaluation.Rfc3339.Format(parsed.Value));
    }

    // 4. Two sentinels at the same moment: the second helm rollback fails, the first one's revision is there.

    [Theory]
    [InlineData("pending-rollback")]
    [InlineData("deployed")]
    public async Task Execute_AnotherRollbackToTheSameRevisionWonTheRace_IsUnchanged(string status)
    {
        BadRelease();
        var adapter = Adapter();
        var plan = await adapter.PlanAsync(Request(), CancellationToken.None);
        _helm.Fail("rollback", "another operation (install/upgrade/rollback) is in progress", concurrent: status);
        _helm.ClearCalls();

        var result = await adapter.ExecuteAsync(Request(), plan, dryRun: false, CancellationToken.None);

        Assert.Equal(ActionEffect.Unchanged, result.Effect);
        Assert.Equal(
            $"another rollback to 3 is in progress or done: revision 6, {status}, at 2026-11-20T10:00:30.123Z "
            + "(helm rollback of release shop in prod to revision 3 failed (exit code 1: Error: another operation (install/upgrade/rollback) is in progress))",
            result.Outcome);
        Assert.Equal("revision 5 (shop-1.5.0)", result.Before);
        Assert.Equal("revision 6 = rollback to 3 (shop-1.4.0)", result.After);
        AssertCalls(_helm.Calls, History, Rollback3, History);
    }

    [Fact]
    public async Task Execute_OwnRollbackStoppedWhilePending_IsAFailure()
    {
        BadRelease();
        // helm made its pending revision, then was stopped (the runner's timeout): that revision may be this run's own.
        var adapter = Adapter(runner: new RollbackRace(_helm, "Rollback to 3", answer: null));
        var plan = await adapter.PlanAsync(Request(), CancellationToken.None);

        var result = await adapter.ExecuteAsync(Request(), plan, dryRun: false, CancellationToken.None);

        Assert.Equal(ActionEffect.Failed, result.Effect);
        Assert.Equal(
            "helm rollback of release shop in prod to revision 3 timed out or could not run: stopped; latest is revision 6, pending-rollback: Rollback to 3",
            result.Outcome);
    }

    [Fact]
    public async Task Execute_RollbackLostTheRaceToARollbackElsewhere_IsAFailure()
    {
        BadRelease();
        var busy = new CommandOutput(1, "", "Error: another operation (install/upgrade/rollback) is in progress");
        var adapter = Adapter(runner: new RollbackRace(_helm, "Rollback to 2", busy));
        var plan = await adapter.PlanAsync(Request(), CancellationToken.None);

        var result = await adapter.ExecuteAsync(Request(), plan, dryRun: false, CancellationToken.None);

        Assert.Equal(ActionEffect.Failed, result.Effect);
        Assert.Equal(
            "helm rollback of release shop in prod to revision 3 failed (exit code 1: Error: another operation (install/upgrade/rollback) is in progress); "
            + "latest is revision 6, pending-rollback: Rollback to 2",
            result.Outcome);
    }

    // 5. The stored plan names the target it was made for.

    [Fact]
    public async Task Execute_PlanForAnotherNamespaceOrContext_FailsAndDoesNothing()
    {
        BadRelease();
        var adapter = Adapter();
        var plan = ActionPlan.FromJson((await adapter.PlanAsync(Request(), CancellationToken.None)).ToJson());
        Assert.Equal("prod-eu", plan.Fact("kubeContext"));
        _helm.ClearCalls();

        var otherNamespace = await adapter.ExecuteAsync(Request(ns: "staging"), plan, dryRun: false, CancellationToken.None);
        Assert.Equal(ActionEffect.Failed, otherNamespace.Effect);
        Assert.Equal(
            "the plan was made for release shop in prod (kube context prod-eu) but the policy now names release shop in staging (kube context prod-eu): nothing done",
            otherNamespace.Outcome);

        var target = new HelmTarget(Template.Parse("{{ labels.release }}")) { Namespace = Template.Parse("{{ labels.namespace }}"), KubeContext = "prod-us" };
        var otherContext = await adapter.ExecuteAsync(Request(target), plan, dryRun: false, CancellationToken.None);
        Assert.Equal(ActionEffect.Failed, otherContext.Effect);
        Assert.Equal(
            "the plan was made for release shop in prod (kube context prod-eu) but the policy now names release shop in prod (kube context prod-us): nothing done",
            otherContext.Outcome);

        var noContext = new HelmTarget(Template.Parse("{{ labels.release }}")) { Namespace = Template.Parse("{{ labels.namespace }}") };
        var defaultContext = await adapter.ExecuteAsync(Request(noContext), plan, dryRun: false, CancellationToken.None);
        Assert.Equal(ActionEffect.Failed, defaultContext.Effect);
        Assert.EndsWith("but the policy now names release shop in prod: nothing done", defaultContext.Outcome);

        Assert.Empty(_helm.Calls);
        Assert.Equal(5, _helm.History("shop").Count);
    }

    [Fact]
    public async Task Execute_PlanStoredWithoutAContext_ComparesReleaseAndNamespaceOnly()
    {
        BadRelease();
        var adapter = Adapter();
        var stored = await adapter.PlanAsync(Request(), CancellationToken.None);
        var facts = new Dictionary<string, string>(stored.Facts);
        facts.Remove("kubeContext");
        var plan = stored with { Facts = facts };

        var result = await adapter.ExecuteAsync(Request(), plan, dryRun: true, CancellationToken.None);

        Assert.Equal(ActionEffect.DryRun, result.Effect);
    }

    // 6. Release and namespace come from series labels: checked before anything runs.

    [Theory]
    [InlineData("--kube-context=evil")]
    [InlineData("-n")]
    [InlineData("shop\n")]
    [InlineData("Shop")]
    [InlineData("shop_1")]
    [InlineData("shop.")]
    [InlineData("a..b")]
    [InlineData("shop -n kube-system")]
    [InlineData("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")]
    public async Task BadReleaseNames_AreRefusedBeforeRunningHelm(string release)
    {
        BadRelease();
        var adapter = Adapter();
        var plan = await adapter.PlanAsync(Request(), CancellationToken.None);
        _helm.ClearCalls();

        var e = await Assert.ThrowsAsync<ActionFailedException>(() => adapter.PlanAsync(Request(release: release), CancellationToken.None));
        Assert.StartsWith($"the helm release {System.Text.Json.JsonSerializer.Serialize(release)} (from '{{{{ labels.release }}}}') is not a valid Helm release name", e.Message);

        var result = await adapter.ExecuteAsync(Request(release: release), plan, dryRun: false, CancellationToken.None);
        Assert.Equal(ActionEffect.Failed, result.Effect);
        Assert.Equal(e.Message, result.Outcome);
        Assert.Empty(_helm.Calls);
    }

    [Theory]
    [InlineData("--all-namespaces")]
    [InlineData("-")]
    [InlineData("prod.eu")]
    [InlineData("Prod")]
    [InlineData("prod\n")]
    [InlineData("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")]
    public async Task BadNamespaces_AreRefusedBeforeRunningHelm(string ns)
    {
        var e = await Assert.ThrowsAsync<ActionFailedException>(() => Adapter().PlanAsync(Request(ns: ns), CancellationToken.None));

        Assert.StartsWith($"the helm namespace {System.Text.Json.JsonSerializer.Serialize(ns)} (from '{{{{ labels.namespace }}}}') is not a valid Kubernetes namespace", e.Message);
        Assert.Empty(_helm.Calls);
    }

    [Fact]
    public async Task LongestValidNames_AreAccepted()
    {
        var release = "a" + new string('-', 49) + "b.c";
        var ns = new string('n', 63);
        Assert.Equal(53, release.Length);
        _helm.Revision(release, 1, "superseded", "shop-1.0.0", "Install complete")
            .Revision(release, 2, "deployed", "shop-1.0.1", "Upgrade complete");

        var plan = await Adapter().PlanAsync(Request(release: release, ns: ns), CancellationToken.None);

        Assert.Equal("1", plan.Fact("toRevision"));
    }

    /// <summary>
    /// A runner whose helm rollback only finds a <c>pending-rollback</c> revision with <paramref name="description"/> in
    /// the history, then answers <paramref name="answer"/> or, when null, is stopped (as on the runner's timeout).
    /// </summary>
    private sealed class RollbackRace(FakeHelm helm, string description, CommandOutput? answer) : ICommandRunner
    {
        public async Task<CommandOutput> RunAsync(CommandLine command, TimeSpan timeout, CancellationToken cancellationToken)
        {
            if (command.Arguments[0] != "rollback")
            {
                return await helm.Runner.RunAsync(command, timeout, cancellationToken);
            }

            helm.Revision("shop", 6, "pending-rollback", "shop-1.4.0", description, ValuesOf("1.4.0"));
            return answer ?? throw new ActionFailedException("stopped");
        }
    }
}
