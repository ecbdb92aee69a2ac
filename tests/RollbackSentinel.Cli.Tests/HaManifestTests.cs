using System.Globalization;
using Microsoft.Extensions.Configuration;
using RollbackSentinel.Hosting;
using YamlDotNet.RepresentationModel;
using static RollbackSentinel.Cli.Tests.DeploymentManifestTests;

namespace RollbackSentinel.Cli.Tests;

/// <summary>
/// deploy/kubernetes/ha (several sentinels on one PostgreSQL, docs/ha.md), checked by reading it as
/// <see cref="DeploymentManifestTests"/> does the others: the settings it passes reach the daemon's options and
/// choose the PostgreSQL store, every node has its own stable id, the connection string comes from a Secret, the
/// probes hit the daemon's endpoints, and the disruption budget and anti-affinity keep two of three nodes up.
/// </summary>
public sealed class HaManifestTests
{
    private const string Folder = "ha";

    private static readonly List<YamlMappingNode> Docs = Documents(Folder);

    private static YamlMappingNode Single(string kind) => Assert.Single(Docs, d => Text(d, "kind") == kind);

    private static YamlMappingNode Pod => (YamlMappingNode)At(Single("StatefulSet"), "spec", "template")!;

    private static YamlMappingNode Sentinel =>
        Assert.Single(Items(Pod, "spec", "containers"), c => Text(c, "image")!.Contains("rollback-sentinel", StringComparison.Ordinal));

    private static YamlMappingNode Env(string name) => Assert.Single(Items(Sentinel, "env"), e => Text(e, "name") == name);

    private static Dictionary<string, string> Labels(YamlNode node, params string[] path) =>
        ((YamlMappingNode)At(node, path)!).Children.ToDictionary(kv => ((YamlScalarNode)kv.Key).Value!, kv => ((YamlScalarNode)kv.Value).Value!);

    [Fact]
    public void StatefulSet_ThreeNodes_EachNamedByItsPod()
    {
        var set = Single("StatefulSet");
        Assert.Equal("3", Text(set, "spec", "replicas"));

        // node.id is the pod's name (stable in a StatefulSet): Quartz's instance id and the owner of its leases.
        Assert.Null(Text(Env(RunCommand.EnvironmentPrefix + "NODE__ID"), "value"));
        Assert.Equal("metadata.name", Text(Env(RunCommand.EnvironmentPrefix + "NODE__ID"), "valueFrom", "fieldRef", "fieldPath"));

        // The headless Service it names exists and lists nodes that are not ready, so each stays reachable.
        var nodes = Assert.Single(Docs, d => Text(d, "kind") == "Service" && Text(d, "metadata", "name") == Text(set, "spec", "serviceName"));
        Assert.Equal("None", Text(nodes, "spec", "clusterIP"));
        Assert.Equal("true", Text(nodes, "spec", "publishNotReadyAddresses"));
    }

    [Fact]
    public void Sentinel_Settings_ChooseThePostgresStoreFromASecretFile_AndValidate()
    {
        var plain = Items(Sentinel, "env").Where(e => Text(e, "value") is not null)
            .ToDictionary(e => Text(e, "name")!, e => Text(e, "value"));
        Assert.All(Items(Sentinel, "env"), e => Assert.StartsWith(RunCommand.EnvironmentPrefix, Text(e, "name")!, StringComparison.Ordinal));
        var options = new ConfigurationBuilder()
            .AddInMemoryCollection(plain.Select(kv => new KeyValuePair<string, string?>(kv.Key[RunCommand.EnvironmentPrefix.Length..].Replace("__", ":", StringComparison.Ordinal), kv.Value)))
            .Build()
            .Get<SentinelOptions>()!;

        Assert.True(options.Storage.UsesPostgres);
        Assert.Null(options.Storage.Postgres.ConnectionString);
        Assert.Equal(TimeSpan.FromSeconds(5), options.CheckinIntervalValue);
        Assert.Equal(plain[RunCommand.EnvironmentPrefix + "PROMETHEUS__URL"], options.Prometheus.Url);
        Assert.DoesNotContain(options.Validate(), e => !e.Contains("does not exist", StringComparison.Ordinal));

        // The connection string file is a key of the PostgreSQL Secret, mounted read-only where the setting says.
        var file = options.Storage.Postgres.ConnectionStringFile!;
        var mount = Assert.Single(Items(Sentinel, "volumeMounts"), m => Text(m, "mountPath") == Path.GetDirectoryName(file));
        Assert.Equal("true", Text(mount, "readOnly"));
        var volume = Assert.Single(Items(Pod, "spec", "volumes"), v => Text(v, "name") == Text(mount, "name"));
        var example = Assert.Single(
            Documents(Folder).Where(d => Text(d, "kind") == "Secret"),
            d => Text(d, "metadata", "name") == Text(volume, "secret", "secretName"));
        Assert.NotNull(Text(example, "stringData", Path.GetFileName(file)));

        // The API token too: the same on every node.
        Assert.Contains(Items(Sentinel, "volumeMounts"), m => Text(m, "mountPath") == Path.GetDirectoryName(options.Http.ApiTokenFile));

        // A running rollback may finish: the grace period outlasts the daemon's shutdown timeout.
        var grace = TimeSpan.FromSeconds(int.Parse(Text(Pod, "spec", "terminationGracePeriodSeconds")!, CultureInfo.InvariantCulture));
        Assert.True(options.ShutdownTimeoutValue < grace, $"shutdownTimeout {options.ShutdownTimeout} must be shorter than terminationGracePeriodSeconds {grace}");
        Assert.Equal(["run", "--log-format", "json"], ((YamlSequenceNode)At(Sentinel, "args")!).Children.Select(c => ((YamlScalarNode)c).Value));
    }

    [Fact]
    public void Sentinel_Probes_ReadinessOnReadyz_LivenessOnHealthz_OnItsPort()
    {
        var port = Assert.Single(Items(Sentinel, "ports"));
        Assert.Equal("8080", Text(port, "containerPort")); // the image's http.listen

        Assert.Equal("/readyz", Text(Sentinel, "readinessProbe", "httpGet", "path"));
        Assert.Equal("/healthz", Text(Sentinel, "livenessProbe", "httpGet", "path"));
        Assert.Equal("/healthz", Text(Sentinel, "startupProbe", "httpGet", "path"));
        foreach (var probe in new[] { "readinessProbe", "livenessProbe", "startupProbe" })
        {
            Assert.Equal(Text(port, "name"), Text(Sentinel, probe, "httpGet", "port"));
        }

        // Read-only root: the daemon writes only to /data (its lock) and /tmp (kubectl's cache).
        var mounts = Items(Sentinel, "volumeMounts").Select(m => Text(m, "mountPath")).ToHashSet();
        Assert.Contains("/data", mounts);
        Assert.Contains("/tmp", mounts);
        Assert.Equal("true", Text(Sentinel, "securityContext", "readOnlyRootFilesystem"));
    }

    [Fact]
    public void Disruptions_KeepTwoOfThreeNodes_OnDifferentKubernetesNodes()
    {
        var podLabels = Labels(Pod, "metadata", "labels");

        var budget = Single("PodDisruptionBudget");
        Assert.Equal("2", Text(budget, "spec", "minAvailable"));
        Assert.Subset(podLabels.ToHashSet(), Labels(budget, "spec", "selector", "matchLabels").ToHashSet());

        var antiAffinity = Assert.Single(Items(Pod, "spec", "affinity", "podAntiAffinity", "requiredDuringSchedulingIgnoredDuringExecution"));
        Assert.Equal("kubernetes.io/hostname", Text(antiAffinity, "topologyKey"));
        Assert.Subset(podLabels.ToHashSet(), Labels(antiAffinity, "labelSelector", "matchLabels").ToHashSet());

        Assert.All(Docs.Where(d => Text(d, "kind") == "Service"), s => Assert.Subset(podLabels.ToHashSet(), Labels(s, "spec", "selector").ToHashSet()));
        Assert.Equal(Labels(Pod, "metadata", "labels"), Labels(Single("StatefulSet"), "spec", "selector", "matchLabels"));
    }

    [Fact]
    public void Kustomization_ListsEveryManifestButTheExample_AndTheImageIsTheOthers()
    {
        var kustomization = new YamlStream();
        using (var reader = new StreamReader(Path.Combine(RepoRoot.Path, "deploy", "kubernetes", Folder, "kustomization.yaml")))
        {
            kustomization.Load(reader);
        }

        var resources = Strings(kustomization.Documents[0].RootNode, "resources").Order(StringComparer.Ordinal);
        var files = Directory.GetFiles(Path.Combine(RepoRoot.Path, "deploy", "kubernetes", Folder), "*.yaml")
            .Select(Path.GetFileName)
            .Where(f => f != "kustomization.yaml" && !f!.EndsWith(".example.yaml", StringComparison.Ordinal))
            .Order(StringComparer.Ordinal);
        Assert.Equal(files, resources);

        // The Secret is made by hand (kubectl create secret), never applied from the example with its placeholder.
        Assert.DoesNotContain(resources, r => r.Contains("secret", StringComparison.OrdinalIgnoreCase));

        // Same image as central/, whose tag a test holds to the version the CLI prints.
        Assert.Equal(Text(SentinelContainer(Documents("central")), "image"), Text(Sentinel, "image"));
    }
}
