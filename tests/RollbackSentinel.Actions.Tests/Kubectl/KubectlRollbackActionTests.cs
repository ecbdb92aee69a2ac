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

    private KubectlRollbackAction Adapter(string path = Kubectl) =>
        new(
            new ProcessCommandRunner(new Dictionary<string, string?> { ["HOME"] = _dir, ["KUBECONFIG"] = _kubeconfig }),
            new KubectlOptions { Path = path, RetryBaseDelay = TimeSpan.Zero, CommandTimeout = TimeSpan.FromSeconds(20) },
            new ManualTimeProvider(T0));

    private ActionRequest Request(WorkloadKind kind = WorkloadKind.Deployment, string name = "checkout", int? toRevision = null, TimeSpan? timeout = null, string key = "rs-key-1", string? kubeconfig = null)
    {
        var target = new KubectlTarget(kind, Template.Parse(name))
        {
            Namespace = Template.Parse(Ns), Context = _emulator.ContextName, Kubeconfig = kubeconfig ?? _kubeconfig, ToRevision = toRevision, Timeout = timeout,
        };
        var policy = new Policy
        {
            Name = "shop",
            Target = target,
            Schedule = new IntervalSchedule(TimeSpan.FromSeconds(15)),
            Triggers = [new Trigger { Name = "errors", Condition = new ThresholdCondition("q", ComparisonOperator.GreaterThan, 1) }],
        };
        var verdict = new Verdict { Kind = VerdictKind.Breach, Reason = VerdictReason.ThresholdExceeded, Labels = LabelSet.Empty, Value = 2, Threshold = 1, Summary = "value 2 > 1" };
        var decision = new Decision { Policy = "shop", Trigger = "errors", Labels = LabelSet.Empty, At = T0, Kind = DecisionKind.Act, Action = TriggerAction.Rollback, Verdict = verdict };
        var incident = new Incident
        {
            Id = 7, Policy = "shop", Trigger = "errors", Labels = LabelSet.Empty, Action = TriggerAction.Rollback, Status = IncidentStatus.Acting,
            OpenedAt = T0, UpdatedAt = T0, Summary = "value 2 > 1", EvidenceJson = "{}",
        };
        return new ActionRequest(policy, incident, decision, key);
    }

    private static int TemplatePatches(IEnumerable<EmulatorRequest> requests) =>
        requests.Count(r => r.IsPatch && r.Body.Contains("\"/spec/template\"", StringComparison.Ordinal));

    private string Cmd(string args) => $"{Kubectl} {args} -n {Ns} --context=emulator --kubeconfig={_kubeconfig}";

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
        Assert.Equal([Cmd("rollout undo deployment/checkout --to-revision=2"),
            Cmd($"annotate deployment checkout --overwrite rollback-sentinel.io/rolled-back-to={plan.Facts["toHash"]} rollback-sentinel.io/rolled-back-by=rs-key-1")], plan.Steps);
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
        Assert.Equal("4", (string?)annotations[KubernetesApiEmulator.RevisionAnnotation]);
        Assert.Equal(1, TemplatePatches(_emulator.Requests));

        var again = await adapter.ExecuteAsync(request, plan, dryRun: false, CancellationToken.None);

        Assert.Equal(ActionEffect.Unchanged, again.Effect);
        Assert.Equal("deployment/checkout already runs revision 2's template; nothing to do", again.Outcome);
        Assert.Equal(1, TemplatePatches(_emulator.Requests));
        Assert.Equal(2, _emulator.Writes.Count); // the undo and the annotation, once each
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
        Assert.StartsWith("leave deployment/checkout in shop as it is: it already runs a sentinel rollback, revision 4 (", plan.Summary);

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
            $"dry-run: would roll deployment/checkout in shop back from revision 3 to revision 2: {Cmd("rollout undo deployment/checkout --to-revision=2")}; ",
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
        Assert.Equal([Cmd("""patch rollout canary --type merge --subresource status -p '{"status":{"abort":true}}'""")], plan.Steps);

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
        Assert.Equal(Cmd($"rollout undo {resource}/db --to-revision=2"), plan.Steps[0]);
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
}
