using RollbackSentinel.Cli.Tests.Backtest;

namespace RollbackSentinel.Cli.Tests;

/// <summary>
/// <c>validate --config</c> checks each policy's <c>spec.backend</c> against the settings' <c>backends:</c> and each query
/// against its backend's language, at the line of the field; with <c>--backend-check</c> a real VictoriaMetrics parses the
/// queries of the policies on it.
/// </summary>
public sealed class ValidateBackendsTests(VictoriaMetricsScenarioHistory vm) : IClassFixture<VictoriaMetricsScenarioHistory>
{
    /// <summary>A policy on <paramref name="backend"/>: spec.backend is on line 6, the threshold query on line 15, column 16.</summary>
    private static string Policy(string backend, string query) => PolicyYaml.WithWebhook("checkout", $"""
        - name: errors
          threshold:
            query: {query}
            op: ">"
            value: 1
          action: notify
        """).Replace("\nspec:\n", $"\nspec:\n  backend: {backend}\n", StringComparison.Ordinal);

    private static async Task<CliRun> ValidateAsync(string settingsYaml, string policy, params string[] extra)
    {
        using var rules = new RulesFolder(("p.yaml", policy));
        var settings = Path.Combine(rules.Path, "..", Path.GetFileName(rules.Path) + "-sentinel.yaml");
        await File.WriteAllTextAsync(settings, settingsYaml);
        try
        {
            var run = await CliRun.RunAsync(["validate", rules.Path, "--config", settings, .. extra]);
            return run with { Error = run.Error.Replace(Path.Combine(rules.Path, "p.yaml"), "p.yaml", StringComparison.Ordinal) };
        }
        finally
        {
            File.Delete(settings);
        }
    }

    [Fact]
    public async Task Validate_PolicyNamingABackendTheSettingsLack_IsAnErrorAtSpecBackend()
    {
        var settings = "backends:\n  vm:\n    type: victoriametrics\n    url: http://127.0.0.1:1\n";

        var run = await ValidateAsync(settings, Policy("graphite", "sum(rate(http_requests_total[1m]))"));

        Assert.Equal(1, run.ExitCode);
        Assert.Equal(
            "p.yaml:6:12: spec.backend: 'graphite' is not a backend of the settings (backends: default, vm); add it under backends: in the settings (validate and backtest read them with --config), or fix the name",
            run.Error.Trim());
        Assert.Contains("1 file(s), 0 valid policies with 0 trigger(s): 1 error(s), 0 warning(s)", run.Output);
    }

    [Fact]
    public async Task Validate_InfluxQueryWithoutTimeFilter_IsAnErrorAtTheQuery()
    {
        var settings = "backends:\n  influx:\n    type: influxdb\n    url: http://127.0.0.1:1\n    database: x\n";

        var run = await ValidateAsync(settings, Policy("influx", "SELECT count(\"value\") FROM \"requests\" WHERE \"code\" = '500'"));

        Assert.Equal(1, run.ExitCode);
        Assert.Equal(
            "p.yaml:15:16: spec.triggers[0].threshold.query: backend 'influx' (influxdb) needs $timeFilter in the query's WHERE clause, where the time range of each evaluation goes (WHERE \"app\" = 'checkout' AND $timeFilter)",
            run.Error.Trim());
    }

    [Fact]
    public async Task Validate_BackendCheck_VictoriaMetricsRejectsABadQueryAtItsLine()
    {
        var settings = $"backends:\n  vm:\n    type: victoriametrics\n    url: {vm.BaseAddress}\n";

        var bad = await ValidateAsync(settings, Policy("vm", "sum(rate(http_requests_total[1m])) by by (app)"), "--backend-check");
        var good = await ValidateAsync(settings, Policy("vm", "median_over_time(http_requests_total[5m])"), "--backend-check");

        Assert.Equal(1, bad.ExitCode);
        Assert.StartsWith("p.yaml:15:16: spec.triggers[0].threshold.query: VictoriaMetrics rejects the query: ", bad.Error);
        Assert.Single(bad.Error.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.True(good.ExitCode == 0, good.Error); // MetricsQL only: Prometheus would reject it
    }
}
