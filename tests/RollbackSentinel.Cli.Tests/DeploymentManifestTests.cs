using Microsoft.Extensions.Configuration;
using RollbackSentinel.Core.Policies;
using RollbackSentinel.Hosting;
using RollbackSentinel.Rules;
using YamlDotNet.RepresentationModel;

namespace RollbackSentinel.Cli.Tests;

/// <summary>
/// No Kubernetes or Docker runs here, so the shipped manifests and Dockerfile are checked by reading them:
/// every setting they pass reaches the daemon's options, the probes hit real endpoints, the rules in the
/// ConfigMap parse, and the RBAC Role allows what the kubectl adapter runs, on the workload the rules name.
/// </summary>
public sealed class DeploymentManifestTests
{
    private static readonly string Deploy = Path.Combine(RepoRoot.Path, "deploy", "kubernetes");

    public static TheoryData<string> ManifestFolders => new() { "sidecar", "central" };

    internal static List<YamlMappingNode> Documents(string folder) =>
        Directory.GetFiles(Path.Combine(Deploy, folder), "*.yaml").Order(StringComparer.Ordinal).SelectMany(file =>
        {
            var stream = new YamlStream();
            using var reader = new StreamReader(file);
            stream.Load(reader);
            return stream.Documents.Select(d => d.RootNode).OfType<YamlMappingNode>();
        }).ToList();

    internal static YamlNode? At(YamlNode node, params string[] path)
    {
        foreach (var key in path)
        {
            if (node is not YamlMappingNode map || !map.Children.TryGetValue(new YamlScalarNode(key), out var next))
            {
                return null;
            }

            node = next;
        }

        return node;
    }

    internal static string? Text(YamlNode node, params string[] path) => (At(node, path) as YamlScalarNode)?.Value;

    internal static IEnumerable<YamlMappingNode> Items(YamlNode node, params string[] path) =>
        (At(node, path) as YamlSequenceNode)?.Children.OfType<YamlMappingNode>() ?? [];

    internal static YamlMappingNode SentinelContainer(List<YamlMappingNode> docs) =>
        Assert.Single(
            docs.Where(d => Text(d, "kind") == "Deployment").SelectMany(d => Items(d, "spec", "template", "spec", "containers")),
            c => Text(c, "image")!.Contains("rollback-sentinel", StringComparison.Ordinal));

    [Theory]
    [MemberData(nameof(ManifestFolders))]
    public void Manifests_SentinelEnvironment_BindsToTheDaemonsSettingsAndValidates(string folder)
    {
        var container = SentinelContainer(Documents(folder));
        var env = Items(container, "env").ToDictionary(e => Text(e, "name")!, e => Text(e, "value"));

        // The daemon reads SENTINEL__A__B as a:b (RunCommand.Load); every variable must land on a setting.
        var settings = new ConfigurationBuilder()
            .AddInMemoryCollection(env.Select(kv => new KeyValuePair<string, string?>(kv.Key[RunCommand.EnvironmentPrefix.Length..].Replace("__", ":", StringComparison.Ordinal), kv.Value)))
            .Build();
        var options = settings.Get<SentinelOptions>()!;
        Assert.All(env.Keys, k => Assert.StartsWith(RunCommand.EnvironmentPrefix, k, StringComparison.Ordinal));
        Assert.Equal(env[RunCommand.EnvironmentPrefix + "PROMETHEUS__URL"], options.Prometheus.Url);
        Assert.Equal(env[RunCommand.EnvironmentPrefix + "HTTP__APITOKENFILE"], options.Http.ApiTokenFile);

        // The pod lets a running rollback finish: its grace period outlasts the daemon's shutdown timeout.
        var pod = Assert.Single(Documents(folder), d => Text(d, "kind") == "Deployment");
        var grace = TimeSpan.FromSeconds(int.Parse(Text(pod, "spec", "template", "spec", "terminationGracePeriodSeconds")!, System.Globalization.CultureInfo.InvariantCulture));
        Assert.True(options.ShutdownTimeoutValue < grace, $"shutdownTimeout {options.ShutdownTimeout} must be shorter than terminationGracePeriodSeconds {grace}");
        Assert.DoesNotContain(options.Validate(), e => !e.Contains("does not exist", StringComparison.Ordinal));

        // The token file is mounted from a Secret, where the setting says.
        var tokenDir = Path.GetDirectoryName(options.Http.ApiTokenFile)!;
        Assert.Contains(Items(container, "volumeMounts"), m => Text(m, "mountPath") == tokenDir);
        Assert.Equal(["run", "--log-format", "json"], ((YamlSequenceNode)At(container, "args")!).Children.Select(c => ((YamlScalarNode)c).Value));
    }

    [Theory]
    [MemberData(nameof(ManifestFolders))]
    public void Manifests_Probes_HitTheDaemonsHealthEndpointsOnItsPort(string folder)
    {
        var container = SentinelContainer(Documents(folder));
        var env = Items(container, "env").ToDictionary(e => Text(e, "name")!, e => Text(e, "value"));
        var listen = new Uri(env.GetValueOrDefault(RunCommand.EnvironmentPrefix + "HTTP__LISTEN") ?? "http://0.0.0.0:8080"); // the image's default
        var port = Assert.Single(Items(container, "ports"));

        Assert.Equal(listen.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), Text(port, "containerPort"));
        Assert.Equal("/healthz", Text(container, "livenessProbe", "httpGet", "path"));
        Assert.Equal("/healthz", Text(container, "startupProbe", "httpGet", "path"));
        Assert.Equal(Text(port, "name"), Text(container, "livenessProbe", "httpGet", "port"));
        Assert.Equal(Text(port, "name"), Text(container, "startupProbe", "httpGet", "port"));

        // No readiness probe: /readyz is 503 while the sentinel guards nothing, and as a sidecar's readiness that
        // would take the app's pod out of its Service (centrally, it would hide the API needed to see why).
        Assert.Null(At(container, "readinessProbe"));
        Assert.Equal("true", Text(container, "securityContext", "readOnlyRootFilesystem"));

        // With a read-only root, the daemon writes only to /data and /tmp (kubectl's cache): both are volumes.
        var mounts = Items(container, "volumeMounts").Select(m => Text(m, "mountPath")).ToHashSet();
        Assert.Contains("/data", mounts);
        Assert.Contains("/tmp", mounts);
    }

    [Fact]
    public void Sidecar_RulesConfigMap_ParsesAndItsRoleAllowsWhatTheKubectlAdapterRunsOnThatDeployment()
    {
        var docs = Documents("sidecar");
        var configMap = Assert.Single(docs, d => Text(d, "kind") == "ConfigMap");
        var file = (YamlScalarNode)((YamlMappingNode)At(configMap, "data")!).Children.Values.Single();
        var parsed = PolicyParser.Parse("shop.yaml", file.Value!);
        Assert.Empty(parsed.Diagnostics.Select(d => d.ToString()));
        var target = Assert.IsType<KubectlTarget>(Assert.Single(parsed.Policies).Target);

        var deployment = Assert.Single(docs, d => Text(d, "kind") == "Deployment");
        Assert.Equal(Text(deployment, "metadata", "name"), target.Name.Text);
        Assert.Equal(Text(deployment, "metadata", "namespace"), target.Namespace!.Text);

        // kubectl rollout undo: get + patch the deployment, list its ReplicaSets; annotate: patch (the deployment,
        // and the ReplicaSet marked before the undo); rollout status: get, list and watch by name. Nothing else.
        var role = Assert.Single(docs, d => Text(d, "kind") == "Role");
        var rules = Items(role, "rules").ToList();
        var deployments = Assert.Single(rules, r => Strings(r, "resources").Contains("deployments"));
        Assert.Equal([target.Name.Text], Strings(deployments, "resourceNames"));
        Assert.Equal(["get", "list", "patch", "watch"], Strings(deployments, "verbs").Order(StringComparer.Ordinal));
        var replicaSets = Assert.Single(rules, r => Strings(r, "resources").Contains("replicasets"));
        Assert.Equal(["get", "list", "patch"], Strings(replicaSets, "verbs").Order(StringComparer.Ordinal));
        Assert.Equal(2, rules.Count);
        Assert.Equal(Text(deployment, "spec", "template", "spec", "serviceAccountName"), Text(Assert.Single(Items(Assert.Single(docs, d => Text(d, "kind") == "RoleBinding"), "subjects")), "name"));
    }

    [Fact]
    public void Dockerfile_CopiesWhatExists_RunsRealVerbs_AndSetsRealSettings()
    {
        var lines = File.ReadAllLines(Path.Combine(RepoRoot.Path, "Dockerfile"));

        // Every COPY from the build context names files that exist.
        foreach (var copy in lines.Where(l => l.StartsWith("COPY ", StringComparison.Ordinal) && !l.Contains("--from", StringComparison.Ordinal)))
        {
            var parts = copy.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            Assert.All(parts[1..^1], source => Assert.True(File.Exists(Path.Combine(RepoRoot.Path, source)) || Directory.Exists(Path.Combine(RepoRoot.Path, source)), source));
        }

        // The settings it sets are the daemon's, and the verbs it runs exist.
        var env = lines.SkipWhile(l => !l.StartsWith("ENV ", StringComparison.Ordinal)).TakeWhile(l => l.StartsWith("ENV ", StringComparison.Ordinal) || l.StartsWith("    ", StringComparison.Ordinal))
            .Select(l => l.Replace("ENV ", "", StringComparison.Ordinal).Trim().TrimEnd('\\').Trim())
            .Where(l => l.StartsWith(RunCommand.EnvironmentPrefix, StringComparison.Ordinal))
            .Select(l => l.Split('=', 2))
            .ToDictionary(p => p[0][RunCommand.EnvironmentPrefix.Length..].Replace("__", ":", StringComparison.Ordinal), p => (string?)p[1]);
        var options = new ConfigurationBuilder().AddInMemoryCollection(env).Build().Get<SentinelOptions>()!;
        Assert.Equal(("/rules", "/data/sentinel.db", "http://0.0.0.0:8080"), (options.Rules, options.Storage.Path, options.Http.Listen));
        Assert.Contains(lines, l => l.Contains("\"healthcheck\"]", StringComparison.Ordinal));
        Assert.Contains(lines, l => l == "CMD [\"run\", \"--log-format\", \"json\"]");
        Assert.Contains(lines, l => l.StartsWith("USER $APP_UID", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Manifests_ImageTag_IsTheVersionTheCliPrints()
    {
        var tags = new[] { "sidecar", "central" }.Select(f => Text(SentinelContainer(Documents(f)), "image")!.Split(':')[^1].Split(' ')[0]).ToList();

        var info = new System.Diagnostics.ProcessStartInfo(SentinelCommand.Program) { RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in SentinelCommand.With(["--version"]))
        {
            info.ArgumentList.Add(a);
        }
        using var process = System.Diagnostics.Process.Start(info)!;
        var printed = (await process.StandardOutput.ReadToEndAsync()).Trim();
        await process.WaitForExitAsync();

        // The build may append +commit; the release part is the tag.
        var version = printed.Split('+')[0];
        Assert.Matches(@"^\d+\.\d+\.\d+", version);
        Assert.All(tags, tag => Assert.Equal(version, tag));
    }

    [Fact]
    public void Dockerfile_ShipsNoRules_AndTheBuildContextLeavesOutBuildOutputAndData()
    {
        var lines = File.ReadAllLines(Path.Combine(RepoRoot.Path, "Dockerfile"));

        // The example rules include a policy that really rolls back; the image must not run them by default.
        Assert.DoesNotContain(lines, l => l.StartsWith("COPY", StringComparison.Ordinal) && l.Contains("rules", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains("SENTINEL__RULES=/rules", StringComparison.Ordinal));

        var ignored = File.ReadAllLines(Path.Combine(RepoRoot.Path, ".dockerignore")).Where(l => l.Length > 0 && !l.StartsWith('#')).ToHashSet();
        Assert.Superset(new HashSet<string> { "**/bin/", "**/obj/", "artifacts/", ".git", "data/", "*.db" }, ignored);

        // What the Dockerfile copies is not ignored.
        var copied = lines.Where(l => l.StartsWith("COPY ", StringComparison.Ordinal) && !l.Contains("--from", StringComparison.Ordinal))
            .SelectMany(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1..^1]);
        Assert.All(copied, c => Assert.DoesNotContain(c.TrimEnd('/'), ignored.Select(i => i.TrimEnd('/'))));
    }

    internal static string[] Strings(YamlNode node, string key) =>
        ((YamlSequenceNode)At(node, key)!).Children.Select(c => ((YamlScalarNode)c).Value!).ToArray();
}
