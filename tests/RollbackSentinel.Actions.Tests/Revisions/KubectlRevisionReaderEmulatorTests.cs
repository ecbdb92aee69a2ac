using System.Globalization;
using RollbackSentinel.Actions.Helm;
using RollbackSentinel.Actions.Kubectl;
using RollbackSentinel.Actions.Processes;
using RollbackSentinel.Actions.Revisions;
using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Core.Policies;
using RollbackSentinel.Core.State;
using RollbackSentinel.Testing.Kubernetes;
using Xunit.Abstractions;

namespace RollbackSentinel.Actions.Tests.Revisions;

/// <summary>The kubectl revision reader driving the real kubectl binary against <see cref="KubernetesApiEmulator"/>.</summary>
public sealed class KubectlRevisionReaderEmulatorTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const string Kubectl = "/usr/bin/kubectl";
    private const string Ns = "shop";
    private static readonly DateTimeOffset T1 = new(2026, 11, 20, 9, 0, 0, TimeSpan.Zero);
    private static readonly DateTimeOffset T2 = new(2026, 11, 20, 9, 30, 0, TimeSpan.Zero);

    private readonly string _dir = Directory.CreateTempSubdirectory("kubectl-revisions-").FullName;
    private KubernetesApiEmulator _emulator = null!;
    private string _kubeconfig = null!;
    private RecordingRunner _runner = null!;

    public async Task InitializeAsync()
    {
        _emulator = await KubernetesApiEmulator.StartAsync();
        _kubeconfig = _emulator.WriteKubeconfig(_dir);
        _runner = new RecordingRunner(new ProcessCommandRunner(new Dictionary<string, string?> { ["HOME"] = _dir, ["KUBECONFIG"] = _kubeconfig }));
    }

    public async Task DisposeAsync()
    {
        await _emulator.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    private ITargetRevisionReader Reader() =>
        TargetRevisionReaders.Create(new KubectlRevisionReader(_runner, new KubectlOptions { Path = Kubectl, CommandTimeout = TimeSpan.FromSeconds(20) }), new HelmRevisionReader(_runner, HelmOptions.Default));

    private Policy Policy(WorkloadKind kind = WorkloadKind.Deployment, string name = "checkout", string ns = Ns) => new()
    {
        Name = "shop",
        Target = new KubectlTarget(kind, Template.Parse(name)) { Namespace = Template.Parse(ns), Context = _emulator.ContextName, Kubeconfig = _kubeconfig },
        Schedule = new IntervalSchedule(TimeSpan.FromSeconds(15)),
        Triggers = [new Trigger { Name = "errors", Condition = new ThresholdCondition("q", ComparisonOperator.GreaterThan, 1) }],
    };

    private string OwnedName(string plural, string owner, string image)
    {
        var uid = (string?)_emulator.Get(plural == "replicasets" ? "deployments" : "statefulsets", Ns, owner)?["metadata"]?["uid"]
            ?? (string?)_emulator.Get("daemonsets", Ns, owner)!["metadata"]!["uid"];
        return _emulator.List(plural, Ns)
            .Where(o => o["metadata"]!["ownerReferences"]!.AsArray().Any(r => (string?)r!["uid"] == uid))
            .Single(o => ((string?)(plural == "replicasets" ? o["spec"] : o["data"]!["spec"])!["template"]!["spec"]!["containers"]![0]!["image"]) == image)["metadata"]!["name"]!.GetValue<string>();
    }

    [Fact]
    public async Task ReadAsync_DeploymentGetsANewImage_IsANewRevisionWithItsReplicaSetsNameCreationTimeAndImages()
    {
        _emulator.CreationTime = T1;
        _emulator.AddDeployment(Ns, "checkout", ["shop:1.4"]);
        var reader = Reader();
        var policy = Policy();

        var first = await reader.ReadAsync(policy, LabelSet.Empty, CancellationToken.None);
        var again = await reader.ReadAsync(policy, LabelSet.Empty, CancellationToken.None);
        _emulator.CreationTime = T2;
        _emulator.SetImage("deployments", Ns, "checkout", "shop:1.5");
        var second = await reader.ReadAsync(policy, LabelSet.Empty, CancellationToken.None);

        Assert.NotNull(first);
        Assert.Equal($"1 ({OwnedName("replicasets", "checkout", "shop:1.4")})", first.Revision);
        Assert.Equal(T1, first.CreatedAt);
        Assert.Equal("deployment/checkout in shop: images shop:1.4", first.Description);
        Assert.False(first.Reused);
        Assert.Equal(first, again); // the same revision reads the same
        Assert.NotNull(second);
        Assert.Equal($"2 ({OwnedName("replicasets", "checkout", "shop:1.5")})", second.Revision);
        Assert.Equal(T2, second.CreatedAt);
        Assert.Equal("deployment/checkout in shop: images shop:1.5", second.Description);
        Assert.All(_emulator.Requests, r => Assert.Equal("GET", r.Method)); // reads only
    }

    [Fact]
    public async Task ReadAsync_Deployment_RunsTwoKubectlGetsWithTheTargetsContextNamespaceAndKubeconfig()
    {
        _emulator.AddDeployment(Ns, "checkout", ["shop:1.4", "shop:1.5"]);

        await Reader().ReadAsync(Policy(), LabelSet.Empty, CancellationToken.None);

        var tail = $"-o json -n {Ns} --context=emulator --kubeconfig={_kubeconfig} --";
        Assert.Equal(
            [$"{Kubectl} get {tail} deployment checkout", $"{Kubectl} get --selector=app=checkout {tail} replicasets"],
            _runner.Commands.Select(c => c.ToString()));
    }

    [Fact]
    public async Task ReadAsync_DeploymentUndoneToAnOlderTemplate_IsANewRevisionMarkedReusedWithTheOldCreationTime()
    {
        _emulator.CreationTime = T1;
        _emulator.AddDeployment(Ns, "checkout", ["shop:1.4"]);
        _emulator.CreationTime = T2;
        _emulator.SetImage("deployments", Ns, "checkout", "shop:1.5");
        _emulator.SetImage("deployments", Ns, "checkout", "shop:1.4"); // what an undo does: the old ReplicaSet becomes revision 3

        var read = await Reader().ReadAsync(Policy(), LabelSet.Empty, CancellationToken.None);

        Assert.NotNull(read);
        Assert.Equal($"3 ({OwnedName("replicasets", "checkout", "shop:1.4")})", read.Revision);
        Assert.True(read.Reused);
        Assert.Equal(T1, read.CreatedAt);
        Assert.Equal("deployment/checkout in shop: images shop:1.4", read.Description);
    }

    [Fact]
    public async Task ReadAsync_StatefulSet_IsItsUpdateRevisionsControllerRevision()
    {
        _emulator.CreationTime = T1;
        _emulator.AddStatefulSet(Ns, "db", ["pg:15"]);
        _emulator.CreationTime = T2;
        _emulator.SetImage("statefulsets", Ns, "db", "pg:16");

        var read = await Reader().ReadAsync(Policy(WorkloadKind.StatefulSet, "db"), LabelSet.Empty, CancellationToken.None);

        Assert.NotNull(read);
        var name = OwnedName("controllerrevisions", "db", "pg:16");
        Assert.Equal((string?)_emulator.Get("statefulsets", Ns, "db")!["status"]!["updateRevision"], name);
        Assert.Equal($"2 ({name})", read.Revision);
        Assert.Equal(T2, read.CreatedAt);
        Assert.Equal("statefulset/db in shop: images pg:16", read.Description);
    }

    [Fact]
    public async Task ReadAsync_DaemonSet_IsTheControllerRevisionOfItsCurrentTemplate()
    {
        _emulator.CreationTime = T1;
        _emulator.AddDaemonSet(Ns, "agent", ["agent:1", "agent:2"]);

        var read = await Reader().ReadAsync(Policy(WorkloadKind.DaemonSet, "agent"), LabelSet.Empty, CancellationToken.None);

        Assert.NotNull(read);
        Assert.Equal($"2 ({OwnedName("controllerrevisions", "agent", "agent:2")})", read.Revision);
        Assert.Equal(T1, read.CreatedAt);
        Assert.Equal("daemonset/agent in shop: images agent:2", read.Description);
    }

    [Fact]
    public async Task ReadAsync_TemplatedName_ReadsTheWorkloadTheSeriesLabelsName()
    {
        _emulator.AddDeployment(Ns, "cart", ["cart:7"]);
        _emulator.AddDeployment(Ns, "web", ["web:3"]);
        var policy = Policy(name: "{{ labels.deployment }}");

        var cart = await Reader().ReadAsync(policy, LabelSet.Of(("deployment", "cart"), ("code", "500")), CancellationToken.None);
        var missing = await Assert.ThrowsAsync<ActionFailedException>(() => Reader().ReadAsync(policy, LabelSet.Of(("service", "x")), CancellationToken.None).AsTask());

        Assert.Equal("deployment/cart in shop: images cart:7", cart!.Description);
        Assert.Contains("cannot name the workload", missing.Message, StringComparison.Ordinal);
        Assert.Contains("deployment", missing.Message, StringComparison.Ordinal);
        Assert.Equal(2, _runner.Commands.Count); // nothing ran for the series that names no workload
    }

    [Fact]
    public async Task ReadAsync_LabelThatIsNotAName_IsRefusedBeforeKubectlRuns()
    {
        var policy = Policy(name: "{{ labels.deployment }}");

        var e = await Assert.ThrowsAsync<ActionFailedException>(() => Reader().ReadAsync(policy, LabelSet.Of(("deployment", "--kubeconfig=/x")), CancellationToken.None).AsTask());

        Assert.Contains("'--kubeconfig=/x' is not a Kubernetes object name", e.Message, StringComparison.Ordinal);
        Assert.Empty(_runner.Commands);
    }

    [Fact]
    public async Task ReadAsync_WorkloadMissing_FailsWithKubectlsReason()
    {
        var e = await Assert.ThrowsAsync<ActionFailedException>(() => Reader().ReadAsync(Policy(name: "gone"), LabelSet.Empty, CancellationToken.None).AsTask());

        Assert.Contains("cannot read deployment/gone in shop", e.Message, StringComparison.Ordinal);
        Assert.Contains("NotFound", e.Message, StringComparison.Ordinal);
        Assert.Single(_runner.Commands); // never retried here: the next interval reads again
    }

    [Fact]
    public async Task ReadAsync_ArgoRolloutWebhookAndHAProxy_HaveNoRevisionsToRead()
    {
        _emulator.AddRollout(Ns, "canary", "shop:2");
        var webhook = Policy() with { Target = new WebhookTarget(Template.Parse("https://deploy.example.com/rollback")) };
        var haproxy = Policy() with { Target = new HAProxyTarget(new Uri("tcp://127.0.0.1:9999"), "app", new Dictionary<string, int> { ["blue"] = 100 }) };

        Assert.Null(await Reader().ReadAsync(Policy(WorkloadKind.Rollout, "canary"), LabelSet.Empty, CancellationToken.None));
        Assert.Null(await Reader().ReadAsync(webhook, LabelSet.Empty, CancellationToken.None));
        Assert.Null(await Reader().ReadAsync(haproxy, LabelSet.Empty, CancellationToken.None));
        Assert.Empty(_runner.Commands);
        Assert.False(TargetRevisionReaders.CanRead(Policy(WorkloadKind.Rollout).Target));
        Assert.True(TargetRevisionReaders.CanRead(Policy(WorkloadKind.DaemonSet).Target));
    }

    [Fact]
    public void LabelsFor_TemplatedTarget_KeepsOnlyTheLabelsItsTemplatesUse()
    {
        var series = LabelSet.Of(("deployment", "cart"), ("code", "500"), ("team", "a"));
        var templated = new KubectlTarget(WorkloadKind.Deployment, Template.Parse("{{ labels.deployment }}")) { Namespace = Template.Parse("shop") };
        var constant = new KubectlTarget(WorkloadKind.Deployment, Template.Parse("checkout"));
        var webhook = new WebhookTarget(Template.Parse("https://x.example.com/rollback"));

        Assert.Equal(LabelSet.Of(("deployment", "cart")), TargetRevisionReaders.LabelsFor(templated, series));
        Assert.Equal(LabelSet.Empty, TargetRevisionReaders.LabelsFor(constant, series));
        Assert.Equal(series, TargetRevisionReaders.LabelsFor(webhook, series));
    }

    /// <summary>
    /// The cost of one read for the bench notes (bench/README.md): kubectl processes per read, and how long a read takes
    /// against the emulator. Asserts the count; the times are printed, never asserted.
    /// </summary>
    [Fact]
    public async Task ReadAsync_TenReads_RunTwoKubectlProcessesEach()
    {
        _emulator.AddDeployment(Ns, "checkout", ["shop:1.4", "shop:1.5"]);
        var reader = Reader();
        var took = new List<TimeSpan>();
        for (var i = 0; i < 10; i++)
        {
            var started = System.Diagnostics.Stopwatch.GetTimestamp();
            await reader.ReadAsync(Policy(), LabelSet.Empty, CancellationToken.None);
            took.Add(System.Diagnostics.Stopwatch.GetElapsedTime(started));
        }

        Assert.Equal(20, _runner.Commands.Count);
        var sorted = took.Order().ToArray();
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"kubectl revision read: 2 processes, median {sorted[5].TotalMilliseconds:F0} ms, max {sorted[^1].TotalMilliseconds:F0} ms"));
    }
}
