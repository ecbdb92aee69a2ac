using RollbackSentinel.Actions.Kubectl;
using RollbackSentinel.Actions.Processes;
using RollbackSentinel.Core.Evaluation;
using RollbackSentinel.Core.Incidents;
using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Core.Policies;
using RollbackSentinel.Core.State;
using RollbackSentinel.Testing.Kubernetes;
using RollbackSentinel.Testing.Net;
using RollbackSentinel.Testing.Time;

namespace RollbackSentinel.Actions.Tests.Kubectl;

/// <summary>The kubectl adapter driving the real kubectl binary against <see cref="KubernetesApiEmulator"/>.</summary>
public sealed class KubectlRollbackActionTests : IAsyncLifetime
{
    private const string Kubectl = "/usr/bin/kubectl";
    private const string Ns = "shop";
    private static readonly DateTimeOffset T0 = new(2026, 11, 20, 10, 0, 0, TimeSpan.Zero);

    private readonly string _dir = Directory.CreateTempSubdirectory("kubectl-tests-").FullName;
    private KubernetesApiEmulator _emulator = null!;
    private string _kubeconfig = null!;

    public async Task InitializeAsync()
    {
        _emulator = await KubernetesApiEmulator.StartAsync();
        _kubeconfig = _emulator.WriteKubeconfig(_dir);
    }

    public async Task DisposeAsync()
    {
        await _emulator.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    private KubectlRollbackAction Adapter(string path = Kubectl, TimeSpan? commandTimeout = null, DateTimeOffset? now = null, ICommandRunner? runner = null) =>
        new(
            runner ?? new ProcessCommandRunner(new Dictionary<string, string?> { ["HOME"] = _dir, ["KUBECONFIG"] = _kubeconfig }),
            new KubectlOptions { Path = path, RetryBaseDelay = TimeSpan.Zero, CommandTimeout = commandTimeout ?? TimeSpan.FromSeconds(20) },
            new ManualTimeProvider(now ?? T0));

    private RollbackRequest Request(
        WorkloadKind kind = WorkloadKind.Deployment, string name = "checkout", int? toRevision = null, TimeSpan? timeout = null, string key = "rs-key-1",
        string? kubeconfig = null, DateTimeOffset? decidedAt = null, string ns = Ns, LabelSet? labels = null)
    {
        var target = new KubectlTarget(kind, Template.Parse(name))
        {
            Namespace = Template.Parse(ns), Context = _emulator.ContextName, Kubeconfig = kubeconfig ?? _kubeconfig, ToRevision = toRevision, Timeout = timeout,
        };
        var policy = new Policy
        {
            Name = "shop",
            Target = target,
            Cooldown = TimeSpan.FromMinutes(30),
            Schedule = new IntervalSchedule(TimeSpan.FromSeconds(15)),
            Triggers = [new Trigger { Name = "errors", Condition = new ThresholdCondition("q", ComparisonOperator.GreaterThan, 1) }],
        };
        var verdict = new Verdict { Kind = VerdictKind.Breach, Reason = VerdictReason.ThresholdExceeded, Labels = LabelSet.Empty, Value = 2, Threshold = 1, Summary = "value 2 > 1" };
        var decision = new Decision { Policy = "shop", Trigger = "errors", Labels = LabelSet.Empty, At = decidedAt ?? T0, Kind = DecisionKind.Act, Action = TriggerAction.Rollback, Verdict = verdict };
        var incident = new Incident
        {
            Id = 7, Policy = "shop", Trigger = "errors", Labels = labels ?? LabelSet.Empty, Action = TriggerAction.Rollback, Status = IncidentStatus.Acting,
            OpenedAt = T0, UpdatedAt = T0, Summary = "value 2 > 1", EvidenceJson = "{}",
        };
        return RollbackRequests.From(policy, incident, decision, key);
    }

    private static int TemplatePatches(IEnumerable<EmulatorRequest> requests) =>
        requests.Count(r => r.IsPatch && r.Body.Contains("\"/spec/template\"", StringComparison.Ordinal));

    private string Cmd(string args, string positional) => $"{Kubectl} {args} -n {Ns} --context=emulator --kubeconfig={_kubeconfig} -- {positional}";

    private static bool IsDeploymentAnnotate(EmulatorRequest r) =>
        r.IsPatch && r.Path == $"/apis/apps/v1/namespaces/{Ns}/deployments/checkout" && r.ContentType?.StartsWith("application/merge-patch+json", StringComparison.Ordinal) == true;

    private const string At = "2026-11-20T10:00:00Z";

    [Fact]
    public async Task BadRevision3_RollsBackToRevision2_ThenASecondRunChangesNothing()
    {
        _emulator.AddDeployment(Ns, "checkout", ["shop:1.3", "shop:1.4", "shop:1.5"]);
        var adapter = Adapter();
        var request = Request();

        var plan = await adapter.PlanAsync(request, CancellationToken.None);

        Assert.Equal("roll deployment/checkout in shop back from revision 3 to revision 2", plan.Summary);
        Assert.Equal("3", plan.Facts["fromRevision"]);
        Assert.Equal("2", plan.Facts["toRevision"]);
        var markers = $"rollback-sentinel.io/rolled-back-to={plan.Facts["toHash"]} rollback-sentinel.io/rolled-back-by=rs-key-1 rollback-sentinel.io/rolled-back-at={At}";
        Assert.Equal([Cmd("annotate --overwrite", $"replicaset checkout-{plan.Facts["toHash"]} {markers}"),
            Cmd("rollout undo --to-revision=2", "deployment/checkout"),
            Cmd("annotate --overwrite", $"deployment checkout {markers}")], plan.Steps);
        Assert.Equal($"revision 3 (pod-template-hash {plan.Facts["fromHash"]}, images shop:1.5)", plan.Before);
        Assert.Equal($"template of revision 2 (pod-template-hash {plan.Facts["toHash"]}, images shop:1.4)", plan.After);
        Assert.Empty(_emulator.Writes);

        var result = await adapter.ExecuteAsync(request, plan, dryRun: false, CancellationToken.None);

        Assert.Equal(ActionEffect.Changed, result.Effect);
        Assert.Equal("rolled deployment/checkout in shop back from revision 3 to revision 2's template (now revision 4)", result.Outcome);
        Assert.Equal($"revision 3 (pod-template-hash {plan.Facts["fromHash"]}, images shop:1.5)", result.Before);
        Assert.Equal($"revision 4 (pod-template-hash {plan.Facts["toHash"]}, images shop:1.4)", result.After);
        Assert.Equal("shop:1.4", _emulator.Image("deployments", Ns, "checkout"));
        var revisions = _emulator.RevisionsByImage("deployments", Ns, "checkout");
        Assert.Equal(4, revisions["shop:1.4"]);
        Assert.Equal(3, revisions["shop:1.5"]);
        var annotations = _emulator.Get("deployments", Ns, "checkout")!["metadata"]!["annotations"]!;
        Assert.Equal(plan.Facts["toHash"], (string?)annotations[KubectlRollbackAction.RolledBackToAnnotation]);
        Assert.Equal("rs-key-1", (string?)annotations[KubectlRollbackAction.RolledBackByAnnotation]);
        Assert.Equal(At, (string?)annotations[KubectlRollbackAction.RolledBackAtAnnotation]);
        Assert.Equal("4", (string?)annotations[KubernetesApiEmulator.RevisionAnnotation]);
        var undo = Assert.Single(_emulator.Writes, w => w.ContentType?.StartsWith("application/json-patch+json", StringComparison.Ordinal) == true);
        Assert.Contains(KubectlRollbackAction.RolledBackAtAnnotation, undo.Body, StringComparison.Ordinal); // the undo carried the markers
        Assert.Equal(1, TemplatePatches(_emulator.Requests));

        var again = await adapter.ExecuteAsync(request, plan, dryRun: false, CancellationToken.None);

        Assert.Equal(ActionEffect.Unchanged, again.Effect);
        Assert.Equal("deployment/checkout already runs revision 2's template; nothing to do", again.Outcome);
        Assert.Equal(1, TemplatePatches(_emulator.Requests));
        Assert.Equal(3, _emulator.Writes.Count); // the marking, the undo and the annotation, once each
    }

    [Fact]
    public async Task AnotherSentinelPlanningAfterTheRollback_GetsANoOpPlan_AndChangesNothing()
    {
        _emulator.AddDeployment(Ns, "checkout", ["shop:1.3", "shop:1.4", "shop:1.5"]);
        var first = Adapter();
        var firstPlan = await first.PlanAsync(Request(), CancellationToken.None);
        Assert.Equal(ActionEffect.Changed, (await first.ExecuteAsync(Request(), firstPlan, false, CancellationToken.None)).Effect);
        var writes = _emulator.Writes.Count;

        var second = Adapter();
        var request = Request(key: "other-sentinel-key");
        var plan = await second.PlanAsync(request, CancellationToken.None);

        Assert.Empty(plan.Steps);
        Assert.Equal(firstPlan.Facts["toHash"], plan.Facts["toHash"]);
        Assert.Equal(plan.Facts["fromHash"], plan.Facts["toHash"]);
        Assert.Equal($"leave deployment/checkout in shop as it is: rolled back 0s ago by rs-key-1, within the cooldown (30m); it runs {plan.Before}", plan.Summary);
        Assert.StartsWith("revision 4 (", plan.Before, StringComparison.Ordinal);

        var result = await second.ExecuteAsync(request, plan, false, CancellationToken.None);

        Assert.Equal(ActionEffect.Unchanged, result.Effect);
        Assert.Equal("deployment/checkout already runs revision 4's template; nothing to do", result.Outcome);
        Assert.Equal("shop:1.4", _emulator.Image("deployments", Ns, "checkout"));
        Assert.Equal(writes, _emulator.Writes.Count);
    }

    [Fact]
    public async Task PinnedRevision_RollsBackToIt()
    {
        _emulator.AddDeployment(Ns, "checkout", ["shop:1.3", "shop:1.4", "shop:1.5"]);
        var adapter = Adapter();
        var request = Request(toRevision: 1);

        var plan = await adapter.PlanAsync(request, CancellationToken.None);
        var result = await adapter.ExecuteAsync(request, plan, false, CancellationToken.None);

        Assert.Equal("roll deployment/checkout in shop back from revision 3 to revision 1", plan.Summary);
        Assert.Equal(ActionEffect.Changed, result.Effect);
        Assert.Equal("rolled deployment/checkout in shop back from revision 3 to revision 1's template (now revision 4)", result.Outcome);
        Assert.Equal("shop:1.3", _emulator.Image("deployments", Ns, "checkout"));
        Assert.Equal(4, _emulator.RevisionsByImage("deployments", Ns, "checkout")["shop:1.3"]);
    }

    [Fact]
    public async Task PinnedRevisionThatDoesNotExist_FailsListingTheRevisionsThatDo()
    {
        _emulator.AddDeployment(Ns, "checkout", ["shop:1.3", "shop:1.4", "shop:1.5"]);

        var e = await Assert.ThrowsAsync<ActionFailedException>(() => Adapter().PlanAsync(Request(toRevision: 7), CancellationToken.None));

        Assert.Equal("revision 7 of deployment/checkout in shop does not exist; its revisions are 1, 2, 3", e.Message);
        Assert.Empty(_emulator.Writes);
    }

    [Fact]
    public async Task OnlyOneRevision_FailsWithNoEarlierRevision()
    {
        _emulator.AddDeployment(Ns, "checkout", ["shop:1.3"]);

        var e = await Assert.ThrowsAsync<ActionFailedException>(() => Adapter().PlanAsync(Request(), CancellationToken.None));

        Assert.Equal("no earlier revision to roll back to: deployment/checkout in shop is at revision 1, the oldest it records", e.Message);
    }

    [Fact]
    public async Task WorkloadMovedOnSinceThePlan_FailsAndPatchesNothing()
    {
        _emulator.AddDeployment(Ns, "checkout", ["shop:1.3", "shop:1.4", "shop:1.5"]);
        var adapter = Adapter();
        var plan = await adapter.PlanAsync(Request(), CancellationToken.None);
        _emulator.SetImage("deployments", Ns, "checkout", "shop:1.6"); // CD deployed again: revision 4

        var result = await adapter.ExecuteAsync(Request(), plan, false, CancellationToken.None);

        Assert.Equal(ActionEffect.Failed, result.Effect);
        Assert.StartsWith("deployment/checkout in shop moved on since the incident was decided: it now runs revision 4 (pod-template-hash ", result.Outcome);
        Assert.EndsWith("images shop:1.6), not revision 3 that the plan rolls back from; nothing was done", result.Outcome);
        Assert.Empty(_emulator.Writes);
        Assert.Equal("shop:1.6", _emulator.Image("deployments", Ns, "checkout"));
    }

    [Fact]
    public async Task DryRun_OnlyReads_AndNamesTheExactUndoCommand()
    {
        _emulator.AddDeployment(Ns, "checkout", ["shop:1.3", "shop:1.4", "shop:1.5"]);
        var adapter = Adapter();
        var plan = await adapter.PlanAsync(Request(), CancellationToken.None);

        var result = await adapter.ExecuteAsync(Request(), plan, dryRun: true, CancellationToken.None);

        Assert.Equal(ActionEffect.DryRun, result.Effect);
        Assert.StartsWith(
            $"dry-run: would roll deployment/checkout in shop back from revision 3 to revision 2: {plan.Steps[0]}; {Cmd("rollout undo --to-revision=2", "deployment/checkout")}; ",
            result.Outcome);
        Assert.Empty(_emulator.Writes);
        Assert.DoesNotContain(_emulator.Requests, r => r.Method != "GET");
        Assert.Equal("shop:1.5", _emulator.Image("deployments", Ns, "checkout"));
    }

    [Fact]
    public async Task RolloutThatNeverCompletes_FailsSayingSo()
    {
        _emulator.AddDeployment(Ns, "checkout", ["shop:1.3", "shop:1.4", "shop:1.5"]);
        _emulator.RolloutsComplete = false;
        var adapter = Adapter();
        var request = Request(timeout: TimeSpan.FromSeconds(2));
        var plan = await adapter.PlanAsync(request, CancellationToken.None);

        var result = await adapter.ExecuteAsync(request, plan, false, CancellationToken.None);

        Assert.Equal(ActionEffect.Failed, result.Effect);
        Assert.Equal("deployment/checkout: rolled back to revision 2, but the rollout did not complete within 2s: error: timed out waiting for the condition", result.Outcome);
        Assert.Equal("shop:1.4", _emulator.Image("deployments", Ns, "checkout"));
        Assert.Contains(_emulator.Requests, r => r.Query.Contains("watch=true", StringComparison.Ordinal));
    }

    [Fact]
    public async Task KubectlMissing_FailsNamingIt()
    {
        _emulator.AddDeployment(Ns, "checkout", ["shop:1.3", "shop:1.4", "shop:1.5"]);
        var missing = Path.Combine(_dir, "no-such-kubectl");
        var adapter = Adapter(missing);

        var e = await Assert.ThrowsAsync<ActionFailedException>(() => adapter.PlanAsync(Request(), CancellationToken.None));
        var plan = await Adapter().PlanAsync(Request(), CancellationToken.None);
        var result = await adapter.ExecuteAsync(Request(), plan, false, CancellationToken.None);

        Assert.StartsWith($"cannot run '{missing}'", e.Message);
        Assert.Equal(ActionEffect.Failed, result.Effect);
        Assert.StartsWith($"cannot run '{missing}'", result.Outcome);
        Assert.Empty(_emulator.Writes);
    }

    [Fact]
    public async Task ApiServerUnreachable_FailsWithKubectlsReason()
    {
        var port = FreePort.Next();
        var kubeconfig = Path.Combine(_dir, "unreachable");
        await File.WriteAllTextAsync(kubeconfig, (await File.ReadAllTextAsync(_kubeconfig)).Replace(_emulator.BaseAddress.AbsoluteUri.TrimEnd('/'), $"https://127.0.0.1:{port}", StringComparison.Ordinal));

        var e = await Assert.ThrowsAsync<ActionFailedException>(() => Adapter().PlanAsync(Request(kubeconfig: kubeconfig), CancellationToken.None));

        Assert.StartsWith("cannot read deployment/checkout in shop: '", e.Message);
        Assert.Contains($"127.0.0.1:{port} was refused", e.Message);
    }

    [Fact]
    public async Task ArgoRollout_IsAborted_ThenASecondRunChangesNothing()
    {
        _emulator.AddRollout(Ns, "canary", "shop:1.5");
        var adapter = Adapter();
        var request = Request(WorkloadKind.Rollout, "canary");

        var plan = await adapter.PlanAsync(request, CancellationToken.None);

        Assert.Equal("abort rollout/canary in shop", plan.Summary);
        Assert.Equal([Cmd("""patch --type merge --subresource status -p '{"status":{"abort":true}}'""", "rollout canary")], plan.Steps);

        var result = await adapter.ExecuteAsync(request, plan, false, CancellationToken.None);

        Assert.Equal(ActionEffect.Changed, result.Effect);
        Assert.Equal("aborted rollout/canary in shop", result.Outcome);
        Assert.Equal("phase Progressing, abort=false", result.Before);
        Assert.Equal("phase Progressing, abort=true", result.After);
        var patch = Assert.Single(_emulator.Writes);
        Assert.Equal("/apis/argoproj.io/v1alpha1/namespaces/shop/rollouts/canary/status", patch.Path);
        Assert.Equal("application/merge-patch+json", patch.ContentType);
        Assert.True((bool)_emulator.Get("rollouts", Ns, "canary")!["status"]!["abort"]!);

        var again = await adapter.ExecuteAsync(request, plan, false, CancellationToken.None);

        Assert.Equal(ActionEffect.Unchanged, again.Effect);
        Assert.Equal("rollout/canary is already aborted; nothing to do", again.Outcome);
        Assert.Single(_emulator.Writes);
    }

    [Theory]
    [InlineData(WorkloadKind.StatefulSet, "statefulsets")]
    [InlineData(WorkloadKind.DaemonSet, "daemonsets")]
    public async Task StatefulSetAndDaemonSet_RollBackThroughControllerRevisions(WorkloadKind kind, string plural)
    {
        if (kind == WorkloadKind.StatefulSet)
        {
            _emulator.AddStatefulSet(Ns, "db", ["db:1", "db:2", "db:3"]);
        }
        else
        {
            _emulator.AddDaemonSet(Ns, "db", ["db:1", "db:2", "db:3"]);
        }

        var adapter = Adapter();
        var request = Request(kind, "db");
        var resource = kind.ToString().ToLowerInvariant();

        var plan = await adapter.PlanAsync(request, CancellationToken.None);

        Assert.Equal($"roll {resource}/db in shop back from revision 3 to revision 2", plan.Summary);
        Assert.Equal(Cmd("rollout undo --to-revision=2", $"{resource}/db"), plan.Steps[1]);
        Assert.Equal(Cmd("annotate --overwrite", $"{resource} db rollback-sentinel.io/rolled-back-to={plan.Facts["toHash"]} rollback-sentinel.io/rolled-back-by=rs-key-1 rollback-sentinel.io/rolled-back-at={At}"), plan.Steps[0]);
        Assert.StartsWith("db-", plan.Facts["toHash"], StringComparison.Ordinal);

        var result = await adapter.ExecuteAsync(request, plan, false, CancellationToken.None);

        Assert.Equal(ActionEffect.Changed, result.Effect);
        Assert.Equal($"rolled {resource}/db in shop back from revision 3 to revision 2's template (now revision 4)", result.Outcome);
        Assert.Equal($"revision 4 (controllerrevision {plan.Facts["toHash"]}, images db:2)", result.After);
        Assert.Equal("db:2", _emulator.Image(plural, Ns, "db"));
        Assert.Equal(4, _emulator.RevisionsByImage(plural, Ns, "db")["db:2"]);

        var again = await Adapter().PlanAsync(Request(kind, "db", key: "other"), CancellationToken.None);
        Assert.Empty(again.Steps);
        Assert.Equal(ActionEffect.Unchanged, (await adapter.ExecuteAsync(request, plan, false, CancellationToken.None)).Effect);
        Assert.Equal(1, _emulator.Writes.Count(w => w.Body.Contains("$patch", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task SecondSentinelPlanningBetweenTheUndoAndTheAnnotation_GetsANoOpPlan_AndRedeploysNothing()
    {
        _emulator.AddDeployment(Ns, "checkout", ["shop:1.3", "shop:1.4", "shop:1.5"]);
        var first = Adapter();
        var firstPlan = await first.PlanAsync(Request(), CancellationToken.None);

        // Sentinel A's annotation after the undo is held, and the deployment controller lags behind the undo.
        _emulator.PauseControllers();
        var hold = _emulator.HoldNext(IsDeploymentAnnotate);
        var firstRun = first.ExecuteAsync(Request(), firstPlan, false, CancellationToken.None);
        await hold.Reached.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal("shop:1.4", _emulator.Image("deployments", Ns, "checkout")); // undone; the ReplicaSet still says revision 2

        var second = Adapter();
        var request = Request(key: "other-sentinel-key");
        var inTheLag = await second.PlanAsync(request, CancellationToken.None);

        Assert.Empty(inTheLag.Steps);
        Assert.Equal("2", inTheLag.Facts["fromRevision"]);
        Assert.StartsWith("leave deployment/checkout in shop as it is: rolled back 0s ago by rs-key-1, within the cooldown (30m); it runs revision 2 (", inTheLag.Summary);

        // The controller catches up (revision 4, revision-history 2); A's annotation is still held.
        _emulator.ResumeControllers();
        var plan = await second.PlanAsync(request, CancellationToken.None);

        Assert.Empty(plan.Steps);
        Assert.StartsWith("leave deployment/checkout in shop as it is: rolled back 0s ago by rs-key-1, within the cooldown (30m); it runs revision 4 (", plan.Summary);
        Assert.Equal(firstPlan.Facts["toHash"], plan.Facts["toHash"]);

        var secondResult = await second.ExecuteAsync(request, plan, false, CancellationToken.None);
        hold.Release();
        var firstResult = await firstRun.WaitAsync(TimeSpan.FromSeconds(60));

        Assert.Equal(ActionEffect.Unchanged, secondResult.Effect);
        Assert.Equal(ActionEffect.Changed, firstResult.Effect);
        Assert.Equal("shop:1.4", _emulator.Image("deployments", Ns, "checkout"));
        Assert.Equal(1, TemplatePatches(_emulator.Requests));
    }

    [Fact]
    public async Task StatefulSet_SecondSentinelPlanningBetweenTheUndoAndTheAnnotation_GetsANoOpPlan()
    {
        _emulator.AddStatefulSet(Ns, "db", ["db:1", "db:2", "db:3"]);
        var first = Adapter();
        var firstPlan = await first.PlanAsync(Request(WorkloadKind.StatefulSet, "db"), CancellationToken.None);
        var annotations = 0;
        var hold = _emulator.HoldNext(r => r.IsPatch && r.Path.EndsWith("/statefulsets/db", StringComparison.Ordinal)
            && r.ContentType?.StartsWith("application/merge-patch+json", StringComparison.Ordinal) == true && ++annotations == 2);
        _emulator.PauseControllers();
        var firstRun = first.ExecuteAsync(Request(WorkloadKind.StatefulSet, "db"), firstPlan, false, CancellationToken.None);
        await hold.Reached.WaitAsync(TimeSpan.FromSeconds(30));

        var inTheLag = await Adapter().PlanAsync(Request(WorkloadKind.StatefulSet, "db", key: "other"), CancellationToken.None);
        _emulator.ResumeControllers();
        var caughtUp = await Adapter().PlanAsync(Request(WorkloadKind.StatefulSet, "db", key: "other"), CancellationToken.None);
        hold.Release();

        Assert.Empty(inTheLag.Steps);
        Assert.Empty(caughtUp.Steps);
        Assert.Contains("it runs revision 4 (", caughtUp.Summary, StringComparison.Ordinal);
        Assert.Equal(ActionEffect.Changed, (await firstRun.WaitAsync(TimeSpan.FromSeconds(60))).Effect);
        Assert.Equal("db:2", _emulator.Image("statefulsets", Ns, "db"));
    }

    [Fact]
    public async Task AnnotatingAfterTheUndoFails_IsAFailure_ThoughTheMarkersCameWithTheUndo()
    {
        _emulator.AddDeployment(Ns, "checkout", ["shop:1.3", "shop:1.4", "shop:1.5"]);
        _emulator.FailNext(IsDeploymentAnnotate, 403, "Forbidden", "deployments.apps \"checkout\" is forbidden: nope");
        var adapter = Adapter();
        var plan = await adapter.PlanAsync(Request(), CancellationToken.None);

        var result = await adapter.ExecuteAsync(Request(), plan, false, CancellationToken.None);

        Assert.Equal(ActionEffect.Failed, result.Effect);
        Assert.Equal(
            "rolled deployment/checkout in shop back from revision 3 to revision 2's template (now revision 4), but annotating it as a sentinel rollback failed "
            + "(exit code 1: Error from server (Forbidden): deployments.apps \"checkout\" is forbidden: nope): "
            + $"it still carries the markers the undo copied from replicaset/checkout-{plan.Facts["toHash"]}, but check them",
            result.Outcome);
        Assert.Equal(plan.Before, result.Before);
        Assert.Equal($"revision 4 (pod-template-hash {plan.Facts["toHash"]}, images shop:1.4)", result.After);
        Assert.Equal("shop:1.4", _emulator.Image("deployments", Ns, "checkout"));
    }

    [Fact]
    public async Task MarkingAndAnnotatingBothFail_IsAFailure_SayingTheRollbackIsUnprotected()
    {
        _emulator.AddDeployment(Ns, "checkout", ["shop:1.3", "shop:1.4", "shop:1.5"]);
        _emulator.FailNext(r => r.IsPatch && r.Path.Contains("/replicasets/", StringComparison.Ordinal), 403, "Forbidden", "replicasets.apps is forbidden");
        _emulator.FailNext(IsDeploymentAnnotate, 403, "Forbidden", "deployments.apps \"checkout\" is forbidden: nope");
        var adapter = Adapter();
        var plan = await adapter.PlanAsync(Request(), CancellationToken.None);

        var result = await adapter.ExecuteAsync(Request(), plan, false, CancellationToken.None);

        Assert.Equal(ActionEffect.Failed, result.Effect);
        Assert.StartsWith("rolled deployment/checkout in shop back from revision 3 to revision 2's template (now revision 4), but annotating it as a sentinel rollback failed", result.Outcome);
        Assert.EndsWith($": the rollback is UNPROTECTED: another sentinel planning now may roll it back further, into the bad release; run '{plan.Steps[2]}'", result.Outcome);
        Assert.Equal("shop:1.4", _emulator.Image("deployments", Ns, "checkout"));
    }

    [Fact]
    public async Task SentinelRollbackOlderThanTheCooldown_IsRefusedAtPlanning()
    {
        _emulator.AddDeployment(Ns, "checkout", ["shop:1.3", "shop:1.4", "shop:1.5"]);
        var first = Adapter();
        var firstPlan = await first.PlanAsync(Request(), CancellationToken.None);
        Assert.Equal(ActionEffect.Changed, (await first.ExecuteAsync(Request(), firstPlan, false, CancellationToken.None)).Effect);
        var writes = _emulator.Writes.Count;

        var e = await Assert.ThrowsAsync<ActionFailedException>(() => Adapter().PlanAsync(Request(key: "later", decidedAt: T0.AddMinutes(31)), CancellationToken.None));

        Assert.Equal(
            $"deployment/checkout in shop runs a template that was rolled back to at {At} by sentinel action rs-key-1, 31m before this incident, longer ago than the cooldown (30m) "
            + $"(revision 4 (pod-template-hash {firstPlan.Facts["toHash"]}, images shop:1.4), revision-history 2); a sentinel never steps further back through history: humans must look",
            e.Message);
        Assert.Equal(writes, _emulator.Writes.Count);
    }

    [Fact]
    public async Task HumanUndo_IsRefusedAtPlanning()
    {
        _emulator.AddDeployment(Ns, "checkout", ["shop:1.3", "shop:1.4", "shop:1.5"]);
        var runner = new ProcessCommandRunner(new Dictionary<string, string?> { ["HOME"] = _dir, ["KUBECONFIG"] = _kubeconfig });
        var undo = await runner.RunAsync(new CommandLine(Kubectl, ["rollout", "undo", "deployment/checkout", "-n", Ns]), TimeSpan.FromSeconds(20), CancellationToken.None);
        Assert.True(undo.Succeeded, undo.Reason);
        var writes = _emulator.Writes.Count;

        var e = await Assert.ThrowsAsync<ActionFailedException>(() => Adapter().PlanAsync(Request(), CancellationToken.None));

        Assert.StartsWith("deployment/checkout in shop runs a template that was rolled back to by someone other than a sentinel (revision 4 (pod-template-hash ", e.Message);
        Assert.EndsWith("images shop:1.4), revision-history 2); a sentinel never steps further back through history: humans must look", e.Message);
        Assert.Equal(writes, _emulator.Writes.Count);
    }

    [Fact]
    public async Task PinnedRevisionRenumberedByARollback_UsesTheReplicaSetThatCarriesIt()
    {
        _emulator.AddDeployment(Ns, "checkout", ["shop:1.3", "shop:1.4", "shop:1.5"]);
        var adapter = Adapter();
        var plan = await adapter.PlanAsync(Request(toRevision: 2), CancellationToken.None);
        Assert.Equal(ActionEffect.Changed, (await adapter.ExecuteAsync(Request(toRevision: 2), plan, false, CancellationToken.None)).Effect);
        _emulator.SetImage("deployments", Ns, "checkout", "shop:1.6"); // revision 5, a day later
        var request = Request(toRevision: 2, key: "next-incident", decidedAt: T0.AddDays(1));

        var next = await adapter.PlanAsync(request, CancellationToken.None);
        var result = await adapter.ExecuteAsync(request, next, false, CancellationToken.None);

        Assert.Equal(
            "roll deployment/checkout in shop back from revision 5 to revision 4 (pinned revision 2: revision numbers change on every rollback, and revision 2's template is now revision 4)",
            next.Summary);
        Assert.Equal(ActionEffect.Changed, result.Effect);
        Assert.Equal("shop:1.4", _emulator.Image("deployments", Ns, "checkout"));
    }

    [Fact]
    public async Task StoredPlanForAnotherNamespace_IsRefused_AndNothingRuns()
    {
        _emulator.AddDeployment(Ns, "checkout", ["shop:1.3", "shop:1.4", "shop:1.5"]);
        var plan = await Adapter().PlanAsync(Request(), CancellationToken.None);
        var runner = new RecordingRunner();

        var result = await Adapter(runner: runner).ExecuteAsync(Request(ns: "shop-eu"), plan, false, CancellationToken.None);

        Assert.Equal(ActionEffect.Failed, result.Effect);
        Assert.Equal("the stored plan is for deployment/checkout in shop, but the target is deployment/checkout in shop-eu; nothing was done", result.Outcome);
        Assert.Empty(runner.Commands);
        Assert.Empty(_emulator.Writes);
    }

    [Fact]
    public async Task ReadThatTimesOut_IsRetried()
    {
        _emulator.AddDeployment(Ns, "checkout", ["shop:1.3", "shop:1.4", "shop:1.5"]);
        await Adapter().PlanAsync(Request(), CancellationToken.None); // warms kubectl's discovery cache
        const string path = $"/apis/apps/v1/namespaces/{Ns}/deployments/checkout";
        bool IsRead(EmulatorRequest r) => r.Method == "GET" && r.Path == path && r.Query.Length == 0;
        var reads = _emulator.Requests.Count(IsRead);
        _emulator.DelayNext(IsRead, TimeSpan.FromMinutes(2));

        var plan = await Adapter(commandTimeout: TimeSpan.FromSeconds(3)).PlanAsync(Request(), CancellationToken.None);

        Assert.Equal("roll deployment/checkout in shop back from revision 3 to revision 2", plan.Summary);
        Assert.Equal(reads + 2, _emulator.Requests.Count(IsRead));
    }

    [Theory]
    [InlineData("{{ labels.deployment }}", Ns, "cannot name the workload: '--kubeconfig=/x' (from label deployment=\"--kubeconfig=/x\") is not a Kubernetes object name")]
    [InlineData("checkout", "{{ labels.deployment }}", "cannot name the namespace: '--kubeconfig=/x' (from label deployment=\"--kubeconfig=/x\") is not a Kubernetes namespace")]
    public async Task LabelValueThatIsAFlag_IsRefusedBeforeAnythingRuns(string name, string ns, string expected)
    {
        _emulator.AddDeployment(Ns, "checkout", ["shop:1.3", "shop:1.4", "shop:1.5"]);
        var plan = await Adapter().PlanAsync(Request(), CancellationToken.None);
        var runner = new RecordingRunner();
        var adapter = Adapter(runner: runner);
        var request = Request(name: name, ns: ns, labels: LabelSet.Of(("deployment", "--kubeconfig=/x")));

        var e = await Assert.ThrowsAsync<ActionFailedException>(() => adapter.PlanAsync(request, CancellationToken.None));
        var result = await adapter.ExecuteAsync(request, plan, false, CancellationToken.None);

        Assert.StartsWith(expected, e.Message);
        Assert.EndsWith("; nothing was run", e.Message);
        Assert.Equal(ActionEffect.Failed, result.Effect);
        Assert.Equal(e.Message, result.Outcome);
        Assert.Empty(runner.Commands);
    }

    /// <summary>Records commands and runs none.</summary>
    private sealed class RecordingRunner : ICommandRunner
    {
        public List<CommandLine> Commands { get; } = [];

        public Task<CommandOutput> RunAsync(CommandLine command, TimeSpan timeout, CancellationToken cancellationToken)
        {
            Commands.Add(command);
            return Task.FromResult(new CommandOutput(1, "", "the recording runner runs nothing"));
        }
    }
}
