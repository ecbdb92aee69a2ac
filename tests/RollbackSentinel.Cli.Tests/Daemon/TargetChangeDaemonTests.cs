using System.Text.Json;
using RollbackSentinel.Testing.Kubernetes;
using RollbackSentinel.Testing.Net;

namespace RollbackSentinel.Cli.Tests.Daemon;

/// <summary>
/// Changes found on the target itself, through the daemon process and the real kubectl against
/// <see cref="KubernetesApiEmulator"/>: a new ReplicaSet is a change (<c>GET /api/v1/changes</c> shows it with source
/// <c>target</c>), and the sentinel's own rollback is recorded as its change, which the detector's later reads never
/// record again.
/// </summary>
[Collection(IncidentDaemonCollection.Name)]
public sealed class TargetChangeDaemonTests
{
    private const string Ns = "shop";
    private static readonly TimeSpan Generous = TimeSpan.FromSeconds(60);

    private static string Target(string kubeconfig, string context) =>
        $"    kubectl:\n      name: checkout\n      namespace: {Ns}\n      context: {context}\n      kubeconfig: {kubeconfig}\n      timeout: 30s";

    private static string Settings(string kubeDir) => $"secrets:\n  allowedDirectories: [{kubeDir}]\n";

    private static Dictionary<string, string> Environment(SentinelWorkspace workspace) => new() { ["HOME"] = workspace.Root };

    private static async Task<JsonElement[]> TargetChangesAsync(SentinelApi api, string policy) =>
        [.. (await api.GetJsonAsync($"api/v1/changes?policy={policy}")).EnumerateArray().Where(c => c.GetProperty("source").GetString() == "target")];

    private static string ReplicaSetOf(KubernetesApiEmulator emulator, string image) =>
        emulator.List("replicasets", Ns).Single(rs => (string?)rs["spec"]!["template"]!["spec"]!["containers"]![0]!["image"] == image)["metadata"]!["name"]!.GetValue<string>();

    [Fact]
    public async Task Run_EmulatorGetsANewReplicaSet_TheRealKubectlFindsItAsATargetChange()
    {
        await using var emulator = await KubernetesApiEmulator.StartAsync();
        var deployedAt = new DateTimeOffset(2026, 11, 1, 8, 0, 0, TimeSpan.Zero);
        emulator.CreationTime = deployedAt;
        emulator.AddDeployment(Ns, "checkout", ["shop:1.4"]);

        // No Prometheus at all: detection does not wait on evaluations (which fail here).
        using var workspace = new SentinelWorkspace(new Uri($"http://127.0.0.1:{FreePort.Next()}/"), Settings("__KUBE__"));
        var kubeDir = Directory.CreateDirectory(Path.Combine(workspace.Root, "kube")).FullName;
        File.WriteAllText(workspace.ConfigPath, File.ReadAllText(workspace.ConfigPath).Replace("__KUBE__", kubeDir, StringComparison.Ordinal));
        var kubeconfig = emulator.WriteKubeconfig(kubeDir);
        workspace.WriteRule("checkout.yaml", $"""
            apiVersion: rollback-sentinel/v1
            kind: RollbackPolicy
            metadata:
              name: checkout
            spec:
              target:
            {Target(kubeconfig, emulator.ContextName)}
              schedule:
                interval: 5s
              watch:
                detect:
                  interval: 1s
              triggers:
                - name: errors
                  threshold:
                    query: sum(rate(errors_total[1m]))
                    op: ">"
                    value: 1
                  action: rollback
            """);
        await using var sentinel = await SentinelProcess.StartAsync(workspace, ["run", "--config", workspace.ConfigPath], Environment(workspace));
        using var api = new SentinelApi(workspace.BaseAddress);

        // The first read records what runs now, with its real creation time (what a beforeDeploy baseline needs).
        var first = await Eventually.WaitAsync(async () => (await TargetChangesAsync(api, "checkout")).FirstOrDefault() is { ValueKind: JsonValueKind.Object } c ? (object)c : null, Generous, "the first target change");
        var initial = (JsonElement)first;
        Assert.Equal($"1 ({ReplicaSetOf(emulator, "shop:1.4")})", initial.GetProperty("revision").GetString());
        Assert.Equal("2026-11-01T08:00:00Z", initial.GetProperty("at").GetString());
        Assert.Equal(JsonValueKind.Null, initial.GetProperty("previousRevision").ValueKind);

        var newAt = new DateTimeOffset(2026, 11, 20, 9, 30, 0, TimeSpan.Zero);
        emulator.CreationTime = newAt;
        emulator.SetImage("deployments", Ns, "checkout", "shop:1.5");

        var found = (JsonElement)await Eventually.WaitAsync(
            async () => (await TargetChangesAsync(api, "checkout")).FirstOrDefault(c => c.GetProperty("revision").GetString()!.StartsWith("2 (", StringComparison.Ordinal)) is { ValueKind: JsonValueKind.Object } c ? (object)c : null,
            Generous,
            "the new ReplicaSet as a change");
        Assert.Equal("checkout", found.GetProperty("policy").GetString());
        Assert.Equal("target", found.GetProperty("source").GetString());
        Assert.Equal($"2 ({ReplicaSetOf(emulator, "shop:1.5")})", found.GetProperty("revision").GetString());
        Assert.Equal(initial.GetProperty("revision").GetString(), found.GetProperty("previousRevision").GetString());
        Assert.Equal("2026-11-20T09:30:00Z", found.GetProperty("at").GetString());
        Assert.Equal(JsonValueKind.Null, found.GetProperty("by").ValueKind);
        Assert.Equal("deployment/checkout in shop: images shop:1.5", found.GetProperty("description").GetString());
        Assert.Empty(found.GetProperty("labels").EnumerateObject());
        Assert.Equal(2, (await TargetChangesAsync(api, "checkout")).Length);
        Assert.All(emulator.Requests, r => Assert.Equal("GET", r.Method)); // detection only reads
    }

    [Fact]
    public async Task Run_SentinelRollsTheDeploymentBack_ItsRollbackIsItsOwnChangeAndLaterReadsRecordNothingNew()
    {
        await using var emulator = await KubernetesApiEmulator.StartAsync();
        await using var live = await LiveShop.StartAsync();
        emulator.CreationTime = TimeProvider.System.GetUtcNow().AddDays(-3);
        emulator.AddDeployment(Ns, "checkout", ["shop:1.4"]);
        emulator.CreationTime = TimeProvider.System.GetUtcNow().AddMinutes(-2); // a deploy two minutes ago: rollbacks are armed
        emulator.SetImage("deployments", Ns, "checkout", "shop:1.5");

        using var workspace = new SentinelWorkspace(live.Prometheus.BaseAddress, Settings("__KUBE__"));
        var kubeDir = Directory.CreateDirectory(Path.Combine(workspace.Root, "kube")).FullName;
        File.WriteAllText(workspace.ConfigPath, File.ReadAllText(workspace.ConfigPath).Replace("__KUBE__", kubeDir, StringComparison.Ordinal));
        var kubeconfig = emulator.WriteKubeconfig(kubeDir);
        workspace.WriteRule("shop.yaml", live.Policy(target: Target(kubeconfig, emulator.ContextName), watch: "{detect: {interval: 1s}}"));
        await using var sentinel = await SentinelProcess.StartAsync(workspace, ["run", "--config", workspace.ConfigPath], Environment(workspace));
        using var api = new SentinelApi(workspace.BaseAddress);
        var good = ReplicaSetOf(emulator, "shop:1.4");
        var bad = ReplicaSetOf(emulator, "shop:1.5");
        await Eventually.WaitAsync(async () => (await TargetChangesAsync(api, "shop")).Length == 1, Generous, "the deploy found on the target");
        await api.WaitForPassAsync(Generous);

        live.Shop.ErrorShare = 0.5;
        var timeline = await api.WaitForIncidentAsync(Generous, () => sentinel.Log, "acted", "actionfailed");

        var action = Assert.Single(timeline.GetProperty("actions").EnumerateArray());
        Assert.True(action.GetProperty("status").GetString() == "succeeded", action.ToString() + sentinel.Log);
        Assert.Equal("shop:1.4", emulator.Image("deployments", Ns, "checkout"));
        // Recorded right after the action completed, while the detector is still held off the Deployment.
        var changes = (JsonElement[])await Eventually.WaitAsync(
            async () => await TargetChangesAsync(api, "shop") is { Length: 2 } both ? (object)both : null, Generous, "the rollback recorded as a change");
        var rollback = changes[0]; // newest first
        Assert.Equal($"3 ({good})", rollback.GetProperty("revision").GetString());
        Assert.Equal($"2 ({bad})", rollback.GetProperty("previousRevision").GetString());
        Assert.Equal("rollback-sentinel", rollback.GetProperty("by").GetString());
        Assert.StartsWith("rollback by the sentinel (incident ", rollback.GetProperty("description").GetString(), StringComparison.Ordinal);
        Assert.Equal($"2 ({bad})", changes[1].GetProperty("revision").GetString());
        Assert.Equal(JsonValueKind.Null, changes[1].GetProperty("by").ValueKind);

        // The detector goes on reading the rolled-back Deployment (the same revision): nothing new is recorded.
        var readsThen = emulator.Requests.Count(r => r.Method == "GET" && r.Path.EndsWith("/replicasets", StringComparison.Ordinal));
        await Eventually.WaitAsync(
            () => Task.FromResult(emulator.Requests.Count(r => r.Method == "GET" && r.Path.EndsWith("/replicasets", StringComparison.Ordinal)) >= readsThen + 3),
            Generous,
            "three more detector reads");
        var after = await TargetChangesAsync(api, "shop");
        Assert.Equal(changes.Select(c => c.GetProperty("id").GetInt64()), after.Select(c => c.GetProperty("id").GetInt64()));
        Assert.Single(await api.IncidentsAsync());
    }
}
