using System.Globalization;
using System.Text.Json;
using RollbackSentinel.Testing.Datadog;
using static RollbackSentinel.Cli.Tests.Backtest.ScenarioHistory;

namespace RollbackSentinel.Cli.Tests.Backtest;

/// <summary>
/// The Datadog API emulator (<see cref="DatadogApiEmulator"/>, not Datadog itself) holding the good and bad error-rate
/// scenarios of <see cref="ScenarioHistory"/>, and settings naming it as the backend <c>dd</c>
/// (<c>type: datadog, url: EMULATOR, apiKeyFile, applicationKeyFile</c>). The <c>prometheus:</c> block points at a port
/// nothing listens on.
/// </summary>
/// <remarks>
/// Metrics <c>http.requests</c> and <c>http.errors</c> with the tag <c>app:good</c> or <c>app:bad</c>: per-second rates (as
/// Datadog's <c>.as_rate()</c> shows a count), one point every 15 s from T0 to T0+40m, each for the 15 s interval ending
/// at its time. The emulator answers every stored point in [from, to] at its own time (no rollup), so the value at t is
/// the point at t: the scenario's interval ending at t.
/// </remarks>
public sealed class DatadogEmulatorScenarioHistory : IAsyncLifetime
{
    private DirectoryInfo? _folder;

    public DatadogApiEmulator Emulator { get; } = DatadogApiEmulator.Start();

    public string SettingsPath { get; private set; } = string.Empty;

    public async Task InitializeAsync()
    {
        foreach (var app in new[] { "good", "bad" })
        {
            var points = new List<(DateTimeOffset, double?)>();
            var errors = new List<(DateTimeOffset, double?)>();
            for (var t = T0; t <= End; t += Scrape)
            {
                points.Add((t, 10));
                errors.Add((t, app == "bad" && t > DeployAt ? 2 : 0.05));
            }

            Emulator.AddPoints("http.requests", [$"app:{app}"], [.. points]);
            Emulator.AddPoints("http.errors", [$"app:{app}"], [.. errors]);
        }

        _folder = Directory.CreateTempSubdirectory("sentinel-datadog-settings-");
        var apiKeyFile = Path.Combine(_folder.FullName, "dd-api-key");
        var applicationKeyFile = Path.Combine(_folder.FullName, "dd-application-key");
        await File.WriteAllTextAsync(apiKeyFile, Emulator.ApiKey + "\n");
        await File.WriteAllTextAsync(applicationKeyFile, Emulator.ApplicationKey + "\n");
        SettingsPath = Path.Combine(_folder.FullName, "sentinel.yaml");
        await File.WriteAllTextAsync(SettingsPath, $"""
            prometheus:
              url: http://127.0.0.1:{Testing.Net.FreePort.Next()}
            backends:
              dd:
                type: datadog
                url: {Emulator.BaseAddress}
                apiKeyFile: {apiKeyFile}
                applicationKeyFile: {applicationKeyFile}

            """);
    }

    public async Task DisposeAsync()
    {
        await Emulator.DisposeAsync();
        _folder?.Delete(recursive: true);
    }
}

/// <summary><c>backtest --config</c> with a policy on a datadog backend, run against the Datadog API emulator.</summary>
public sealed class DatadogBacktestEmulatorTests(DatadogEmulatorScenarioHistory datadog) : IClassFixture<DatadogEmulatorScenarioHistory>
{
    private const string Window = "2026-11-20T10:00:00Z";
    private const string WindowEnd = "2026-11-20T10:40:00Z";

    private static string ErrorRatePolicy(string name, string errors, string total) =>
        PolicyYaml.WithWebhook(name, $"""
            - name: error-rate-spike
              errorRate:
                errors: {errors}
                total: {total}
                max: 0.05
                minTotal: 0.5
              for: 2m
              action: rollback
            """).Replace("\nspec:\n", "\nspec:\n  backend: dd\n", StringComparison.Ordinal);

    private static string ErrorRatePolicy(string app) => ErrorRatePolicy(app, $"sum:http.errors{{app:{app}}}", $"sum:http.requests{{app:{app}}}");

    private static string At(int minutes, int seconds = 0) =>
        T0.AddMinutes(minutes).AddSeconds(seconds).UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    private async Task<CliRun> BacktestAsync(string yaml)
    {
        using var rules = new RulesFolder(("policy.yaml", yaml));
        return await CliRun.RunAsync(
            "backtest", "--rules", rules.Path, "--config", datadog.SettingsPath, "--from", Window, "--to", WindowEnd,
            "--format", "json", "--deployed-at", At(10));
    }

    [Fact]
    public async Task GoodDeploy_PrintsNoDecision()
    {
        var run = await BacktestAsync(ErrorRatePolicy("good"));

        Assert.True(run.ExitCode == 0, run.Error);
        Assert.Equal(string.Empty, run.Output);
        Assert.Contains("backtest: 1 policy, 2 Datadog request(s), ", run.Error);
    }

    [Fact]
    public async Task BadDeploy_RollsBackWhenTheBreachHasHeldForTwoMinutes_AsOnPrometheus()
    {
        // The first bad point is at 10:10:15 (it carries 10:10:00-10:10:15): 2/10 = 0.2 > 0.05 from then on, with no
        // window to average it into. The breach holds, and for: 2m fires at 10:12:15, as on Prometheus.
        var run = await BacktestAsync(ErrorRatePolicy("bad"));

        Assert.True(run.ExitCode == 0, run.Error);
        using var doc = JsonDocument.Parse(Assert.Single(run.OutputLines));
        var r = doc.RootElement;
        Assert.Equal("bad", r.GetProperty("policy").GetString());
        Assert.Equal("error-rate-spike", r.GetProperty("trigger").GetString());
        Assert.Equal(At(12, 15), r.GetProperty("at").GetString());
        Assert.Equal("rollback", r.GetProperty("action").GetString());
        Assert.Equal(0.2, r.GetProperty("value").GetDouble(), 6);
        Assert.Equal(0.05, r.GetProperty("threshold").GetDouble(), 6);
        Assert.Equal("{}", r.GetProperty("labels").GetRawText());
        Assert.Equal(At(10, 15), r.GetProperty("since").GetString());
        Assert.StartsWith("error ratio 0.2 (2/10) > max 0.05", r.GetProperty("summary").GetString());
        Assert.Contains("backtest: 1 policy, 2 Datadog request(s), ", run.Error);

        // One request per query, from the first instant minus the lookback (5m) to the last, with both keys.
        var calls = datadog.Emulator.Calls.Where(c => c.Query is "sum:http.errors{app:bad}" or "sum:http.requests{app:bad}").ToList();
        Assert.Equal(2, calls.Count);
        Assert.All(calls, c =>
        {
            Assert.Equal(200, c.Status);
            Assert.Equal(datadog.Emulator.ApiKey, c.ApiKey);
            Assert.Equal(datadog.Emulator.ApplicationKey, c.ApplicationKey);
            Assert.Equal(T0.AddMinutes(-5).ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture), c.From);
            Assert.Equal(End.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture), c.To);
        });
    }

    [Fact]
    public async Task QueryDatadogRejects_ExitsThreeQuotingTheQueryAndDatadogsParseError()
    {
        // No space aggregator "median" (avg, sum, min, max): the rules pass validate (it cannot know Datadog's grammar), and
        // Datadog (and the emulator) answer 400 {"errors":["Error parsing query: ..."]}. The backtest stops at once, exit 3.
        var run = await BacktestAsync(ErrorRatePolicy("bad", "median:http.errors{app:bad}", "sum:http.requests{app:bad}"));

        Assert.True(run.ExitCode == 3, $"exit {run.ExitCode}: {run.Error}");
        Assert.Equal(string.Empty, run.Output);
        Assert.Contains("error: Datadog rejected query \"median:http.errors{app:bad}\": Error parsing query: ", run.Error);
        Assert.Contains("Rule 'aggregator' didn't match at 'median:http.errors{app:bad}' (line 1, column 1). (HTTP 400).", run.Error);
        Assert.DoesNotContain(datadog.Emulator.ApiKey, run.Error);
        Assert.DoesNotContain(datadog.Emulator.ApplicationKey, run.Error);
    }
}
