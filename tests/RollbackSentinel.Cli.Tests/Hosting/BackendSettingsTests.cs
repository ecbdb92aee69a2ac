using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Hosting;

namespace RollbackSentinel.Cli.Tests.Hosting;

/// <summary><c>backends:</c>, <c>defaultBackend:</c> and <c>prometheus.headers</c>: what the settings accept, and every refusal named by its key.</summary>
public sealed class BackendSettingsTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("sentinel-backends-");

    public void Dispose() => _dir.Delete(recursive: true);

    private SettingsLoader.Result Load(string yaml)
    {
        var config = Path.Combine(_dir.FullName, "sentinel.yaml");
        File.WriteAllText(config, $"rules: {_dir.FullName}\n" + yaml);
        return SettingsLoader.Load(config, new Dictionary<string, string?>(), environment: new Dictionary<string, string>());
    }

    private string Secret(string name, string value)
    {
        var path = Path.Combine(_dir.FullName, name);
        File.WriteAllText(path, value + "\n");
        return path;
    }

    [Fact]
    public void Load_OneBackendOfEachType_IsAcceptedAndBuilt()
    {
        var result = Load($"""
            prometheus:
              headers:
                X-Scope-OrgID: team-a
            defaultBackend: vm
            backends:
              vm: {"{"}type: victoriametrics, url: "http://vm:8428"{"}"}
              graphite: {"{"}type: graphite, url: "http://graphite:8080", lookback: 1m{"}"}
              influx: {"{"}type: influxdb, url: "http://influxdb:8086", database: app, retentionPolicy: weekly{"}"}
              dd:
                type: datadog
                site: datadoghq.eu
                apiKeyFile: {Secret("dd-api", "api-key")}
                applicationKeyFile: {Secret("dd-app", "app-key")}
            """);

        Assert.Empty(result.Problems);
        var catalog = result.Options.ToBackendCatalog();
        Assert.Equal("vm", catalog.DefaultBackend);
        Assert.Equal(["dd", "default", "graphite", "influx", "vm"], catalog.Names);
        Assert.Equal(["datadog", "prometheus", "graphite", "influxdb", "victoriametrics"], catalog.Names.Select(n => catalog.TypeOf(n)));
        Assert.Equal("team-a", result.Options.ToPrometheusOptions().Headers["X-Scope-OrgID"]);

        using var http = new HttpClient();
        var backends = MetricsBackends.Create(result.Options, _ => http);
        Assert.Equal(["vm", "dd", "default", "graphite", "influx"], backends.All.Select(b => b.Name));
        Assert.Equal(["VictoriaMetrics", "Datadog", "Prometheus", "Graphite", "InfluxDB"], backends.All.Select(b => b.Display));
        Assert.All(backends.All, b => Assert.IsAssignableFrom<IQueryChecker>(b.Source));
        Assert.Same(backends.Find("vm")!.Source, backends.For(null));
    }

    [Fact]
    public void Load_BackendSetByAnEnvironmentVariable_KeepsItsName()
    {
        // Settings keys are not case-sensitive: SENTINEL__BACKENDS__VM__URL names the file's backend "vm" in capitals.
        var config = Path.Combine(_dir.FullName, "sentinel.yaml");
        File.WriteAllText(config, $"rules: {_dir.FullName}\nbackends:\n  vm: {{type: victoriametrics, url: \"http://vm:8428\"}}\n");

        var result = SettingsLoader.Load(config, new Dictionary<string, string?>(), environment: new Dictionary<string, string> { ["SENTINEL__BACKENDS__VM__URL"] = "http://vm-2:8428" });

        Assert.Empty(result.Problems);
        var catalog = result.Options.ToBackendCatalog();
        Assert.Equal("victoriametrics", catalog.TypeOf("vm"));
        using var http = new HttpClient();
        var backends = MetricsBackends.Create(result.Options, _ => http);
        Assert.NotNull(backends.Find("vm"));
        Assert.Contains("vm-2:8428", result.Options.DescribeBackends(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task For_ANameNoBackendHas_FailsEveryQuerySayingSo()
    {
        var result = Load("backends:\n  vm: {type: victoriametrics, url: \"http://vm:8428\"}\n");
        using var http = new HttpClient();
        var backends = MetricsBackends.Create(result.Options, _ => http);

        var e = await Assert.ThrowsAsync<MetricsQueryException>(() => backends.For("gone").QueryAsync("up", DateTimeOffset.UnixEpoch, CancellationToken.None));

        Assert.Contains("no metrics backend is named 'gone' (configured: default, vm)", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Create_ABackendThatCannotBeBuilt_FailsItsOwnQueriesOnlyAndSaysWhy()
    {
        // The key file exists (the settings check passes) but is empty: Datadog's options refuse an empty key.
        var result = Load($"backends:\n  dd: {{type: datadog, apiKeyFile: {Secret("empty", "")}, applicationKeyFile: {Secret("app", "k")}}}\n");
        Assert.Empty(result.Problems);
        var unusable = new List<string>();
        using var http = new HttpClient();

        var backends = MetricsBackends.Create(result.Options, _ => http, unusable: (_, reason) => unusable.Add(reason));

        var e = await Assert.ThrowsAsync<MetricsQueryException>(() => backends.For("dd").QueryAsync("sum:x{*}", DateTimeOffset.UnixEpoch, CancellationToken.None));
        Assert.StartsWith("backend 'dd' (datadog) cannot be used: ", e.Message, StringComparison.Ordinal);
        Assert.Equal([e.Message], unusable);
        Assert.IsType<Prometheus.PrometheusClient>(backends.For(null));
    }

    [Theory]
    [InlineData("backends:\n  x: {type: datadog, apiKeyFile: /nope/a, applicationKeyFile: /nope/b, headers: {X-A: b}}\n", "backends:x: a datadog backend authenticates with apiKeyFile and applicationKeyFile only")]
    [InlineData("backends:\n  x: {type: graphite, url: \"http://g\", passwordFile: /nope/p}\n", "backends:x:passwordFile: is set but username is not")]
    [InlineData("backends:\n  x: {type: graphite, url: \"http://g\", timeout: 2h}\n", "backends:x:timeout: at most 1h")]
    [InlineData("backends:\n  x: {type: elastic, url: \"http://e:9200\"}\n", "backends:x:type: 'elastic' is not a backend type; one of prometheus, victoriametrics, graphite, influxdb, datadog")]
    [InlineData("backends:\n  x: {url: \"http://e:9200\"}\n", "backends:x:type: is required")]
    [InlineData("backends:\n  x: {type: graphite}\n", "backends:x:url: is required")]
    [InlineData("backends:\n  x: {type: graphite, url: \"graphite:8080\"}\n", "backends:x:url: 'graphite:8080' is not an http:// or https:// URL")]
    [InlineData("backends:\n  x: {type: graphite, url: \"http://u:p@graphite:8080\"}\n", "backends:x:url: must not contain credentials")]
    [InlineData("backends:\n  x: {type: influxdb, url: \"http://i:8086\"}\n", "backends:x:database: is required for an influxdb backend")]
    [InlineData("backends:\n  x: {type: datadog}\n", "backends:x: a datadog backend needs apiKeyFile and applicationKeyFile")]
    [InlineData("backends:\n  x: {type: datadog, site: datadog.example, apiKeyFile: /nope/a, applicationKeyFile: /nope/b}\n", "backends:x:site: 'datadog.example' is not a Datadog site")]
    [InlineData("backends:\n  x: {type: datadog, apiKeyFile: /nope/a, applicationKeyFile: /nope/b}\n", "backends:x:apiKeyFile: /nope/a does not exist")]
    [InlineData("backends:\n  x: {type: graphite, url: \"http://g\", lookback: 0s}\n", "backends:x:lookback: must be positive")]
    [InlineData("backends:\n  x: {type: graphite, url: \"http://g\", timeout: soon}\n", "backends:x:timeout:")]
    [InlineData("backends:\n  x: {type: graphite, url: \"http://g\", limits: {maxSeries: 0}}\n", "backends:x:limits:")]
    [InlineData("backends:\n  default: {type: graphite, url: \"http://g\"}\n", "backends:default: the name 'default' is the prometheus: block's")]
    [InlineData("backends:\n  9lives: {type: graphite, url: \"http://g\"}\n", "backends:9lives: '9lives' is not a backend name")]
    [InlineData("defaultBackend: vm\n", "defaultBackend: 'vm' is not one of backends: (none configured)")]
    public void Load_BadBackendSettings_AreRefusedNamingTheKey(string yaml, string expected)
    {
        var result = Load(yaml);

        Assert.Contains(result.Problems, p => p.Contains(expected, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("prometheus:\n  headers:\n    Authorization: Bearer x\n", "prometheus:headers: Header 'Authorization' cannot be set here")]
    [InlineData("backends:\n  vm:\n    type: victoriametrics\n    url: http://vm\n    headers:\n      \"X Org\": a\n", "backends:vm:headers: Header name 'X Org' is not a valid HTTP header name")]
    public void Load_HeaderThatCannotBeSent_IsRefused(string yaml, string expected)
    {
        Assert.Contains(Load(yaml).Problems, p => p.Contains(expected, StringComparison.Ordinal));
    }
}
