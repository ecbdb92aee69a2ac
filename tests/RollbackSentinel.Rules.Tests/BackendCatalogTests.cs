using RollbackSentinel.Rules.Tests.Support;
using static RollbackSentinel.Rules.Tests.Support.PolicyYaml;

namespace RollbackSentinel.Rules.Tests;

/// <summary><c>spec.backend</c> against the settings' backends: names that exist, queries in the backend's language.</summary>
public sealed class BackendCatalogTests : IDisposable
{
    private static readonly BackendCatalog Catalog = new(new Dictionary<string, string>
    {
        ["default"] = "prometheus",
        ["vm"] = "victoriametrics",
        ["graphite"] = "graphite",
        ["influx"] = "influxdb",
        ["dd"] = "datadog",
    });

    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private static string Availability(string query) => $"""
        - name: availability
          availability:
            query: {query}
            min: 0.95
          action: rollback
        """;

    [Fact]
    public void Load_PolicyNamingAnUnknownBackend_IsAnErrorAtSpecBackendAndOnlyThatPolicyIsLeftOut()
    {
        _dir.Write("a.yaml", Document(name: "a", spec: "backend: graphtie"));
        _dir.Write("b.yaml", Document(name: "b"));

        var rules = RuleSetLoader.Load([_dir.Path], null, Catalog);

        var error = Assert.Single(rules.Diagnostics);
        Assert.Equal((Path.Combine(_dir.Path, "a.yaml"), 9, 12, "spec.backend"), (error.File, error.Line, error.Column, error.Field));
        Assert.Contains("'graphtie' is not a backend of the settings (backends: dd, default, graphite, influx, vm)", error.Message, StringComparison.Ordinal);
        Assert.Equal(["b"], rules.Policies.Select(p => p.Name));
    }

    [Fact]
    public void Load_WithoutACatalog_TakesAnyBackendName()
    {
        // Commands without settings (plan) cannot know the backends; the daemon, validate and backtest always pass theirs.
        _dir.Write("a.yaml", Document(name: "a", spec: "backend: anything"));

        var rules = RuleSetLoader.Load([_dir.Path]);

        Assert.Empty(rules.Diagnostics);
        Assert.Equal("anything", Assert.Single(rules.Policies).Backend);
    }

    [Theory]
    [InlineData("graphite", "sumSeries(app.checkout.*.errors)")]
    [InlineData("influx", "SELECT mean(\"errors\") FROM \"http\" WHERE \"app\" = 'checkout' AND $timeFilter GROUP BY time(1m)")]
    [InlineData("dd", "sum:trace.http.request.errors{service:checkout}.as_count()")]
    [InlineData("vm", "range_median(sum(rate(http_requests_total{app=\"checkout\"}[5m])))")]
    public void Load_QueryInItsBackendsLanguage_IsAccepted(string backend, string query)
    {
        _dir.Write("a.yaml", Document(name: "a", spec: $"backend: {backend}", triggers: Availability($"'{query.Replace("'", "''", StringComparison.Ordinal)}'")));

        var rules = RuleSetLoader.Load([_dir.Path], null, Catalog);

        Assert.Empty(rules.Diagnostics);
        Assert.Equal(backend, Assert.Single(rules.Policies).Backend);
    }

    [Theory]
    [InlineData("graphite", "sum(rate(http_requests_total{code=~\"5..\"}[5m]))", "takes a Graphite target such as sumSeries(app.*.errors), but this looks like PromQL")]
    [InlineData("influx", "SELECT mean(\"errors\") FROM \"http\"", "needs $timeFilter in the query's WHERE clause")]
    [InlineData("influx", "sum(rate(x[5m]))", "takes InfluxQL: SELECT ... FROM ... WHERE $timeFilter")]
    [InlineData("dd", "sum(rate(http_requests_total[5m]))", "takes a Datadog metrics query")]
    [InlineData("default", "SELECT mean(\"x\") FROM \"y\" WHERE $timeFilter", "takes PromQL, but this is InfluxQL")]
    public void Load_QueryInAnotherLanguage_IsAnErrorAtTheQueryNamingTheBackend(string backend, string query, string expected)
    {
        _dir.Write("a.yaml", Document(name: "a", spec: $"backend: {backend}", triggers: Availability($"'{query}'")));

        var rules = RuleSetLoader.Load([_dir.Path], null, Catalog);

        var error = Assert.Single(rules.Diagnostics);
        Assert.Equal((13, 16, "spec.triggers[0].availability.query"), (error.Line, error.Column, error.Field));
        Assert.StartsWith($"backend '{backend}' ({Catalog.TypeOf(backend)}) ", error.Message, StringComparison.Ordinal);
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
        Assert.Empty(rules.Policies);
    }

    [Fact]
    public void Load_DefaultBackendOfAnotherType_JudgesPoliciesWithoutSpecBackendByIt()
    {
        var graphiteFirst = new BackendCatalog(new Dictionary<string, string> { ["default"] = "prometheus", ["graphite"] = "graphite" }, defaultBackend: "graphite");
        _dir.Write("a.yaml", Document(name: "a", triggers: Availability("'sumSeries(app.*.up)'")));
        _dir.Write("b.yaml", Document(name: "b", triggers: Availability("'avg(up{job=\"x\"})'")));

        var rules = RuleSetLoader.Load([_dir.Path], null, graphiteFirst);

        Assert.Equal(["a"], rules.Policies.Select(p => p.Name));
        Assert.Contains("backend 'graphite' (graphite)", Assert.Single(rules.Diagnostics).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_BackendNameThatCannotBeASettingsKey_IsAnError()
    {
        var result = PolicyParser.Parse("p.yaml", Document(spec: "backend: prod.eu"));

        var error = Assert.Single(result.Diagnostics);
        Assert.Equal("spec.backend", error.Field);
        Assert.Contains("is not a backend name", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Check_FileWithoutProblems_IsTheSameObject()
    {
        // A rescan hands unchanged files back as the same objects: the check must not copy them.
        var parsed = PolicyParser.Parse("p.yaml", Document(spec: "backend: vm"));

        Assert.Same(parsed, Catalog.Check(parsed));
    }

    [Fact]
    public void Catalog_DefaultNotAmongTheBackends_IsRefused()
    {
        Assert.Throws<ArgumentException>(() => new BackendCatalog(new Dictionary<string, string> { ["default"] = "prometheus" }, defaultBackend: "nope"));
    }
}
