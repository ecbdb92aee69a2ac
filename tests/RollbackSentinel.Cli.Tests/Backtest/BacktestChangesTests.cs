using System.Text.Json;
using static RollbackSentinel.Cli.Tests.Backtest.ScenarioHistory;

namespace RollbackSentinel.Cli.Tests.Backtest;

/// <summary>
/// <c>backtest</c> applies the daemon's watch windows on a real Prometheus holding <see cref="ScenarioHistory"/>: a
/// rollback trigger acts only within <c>spec.watch.for</c> after a change of its series, from <c>--deployed-at</c>,
/// <c>--changes FILE</c> or <c>spec.watch.detect.query</c>, and otherwise pages, saying why. Times are relative to
/// T0 = 2026-11-20T10:00:00Z; the deploy is at T0+10m; "bad" errors from the deploy on (first breach T0+10m15s, fires
/// at T0+12m15s), "detected" cart from T0+15m on (first breach T0+15m15s, fires at T0+17m15s).
/// </summary>
public sealed class BacktestChangesTests(ScenarioHistory prometheus) : IClassFixture<ScenarioHistory>, IDisposable
{
    private const string Window = "2026-11-20T10:00:00Z";
    private const string WindowEnd = "2026-11-20T10:40:00Z";

    private readonly string _folder = Directory.CreateTempSubdirectory("sentinel-changes-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private static string ErrorRatePolicy(string name, string app, string watch = "", string by = "") =>
        WithWatch(
            PolicyYaml.WithWebhook(name, $"""
                - name: error-rate-spike
                  errorRate:
                    errors: sum {by}(rate(http_requests_total{"{"}app="{app}",code=~"5.."{"}"}[1m]))
                    total: sum {by}(rate(http_requests_total{"{"}app="{app}"{"}"}[1m]))
                    max: 0.05
                    minTotal: 0.5
                  for: 2m
                  action: rollback
                """),
            watch);

    /// <summary>The policy with a <c>spec.watch</c> block (given as its lines under <c>watch:</c>, indented by 4).</summary>
    private static string WithWatch(string yaml, string watch) =>
        watch.Length == 0 ? yaml : yaml.Replace("spec:\n", $"spec:\n  watch:\n{watch}", StringComparison.Ordinal);

    private const string DetectCart = "    detect:\n      query: max by (deployment) (kube_deployment_status_observed_generation{app=\"detected\"})\n";

    private string ChangesFile(params string[] lines)
    {
        var path = Path.Combine(_folder, "changes.jsonl");
        File.WriteAllText(path, string.Join('\n', lines) + "\n");
        return path;
    }

    private async Task<CliRun> BacktestAsync(string yaml, string format, params string[] extra)
    {
        using var rules = new RulesFolder(("policy.yaml", yaml));
        return await CliRun.RunAsync(
        [
            "backtest", "--rules", rules.Path, "--prometheus", prometheus.BaseAddress.ToString(),
            "--from", Window, "--to", WindowEnd, "--format", format, .. extra,
        ]);
    }

    private static JsonElement Line(CliRun run)
    {
        Assert.True(run.ExitCode == 0, $"exit {run.ExitCode}: {run.Error}");
        using var doc = JsonDocument.Parse(Assert.Single(run.OutputLines));
        return doc.RootElement.Clone();
    }

    [Fact]
    public async Task Backtest_ErrorsWithNoChangeKnown_PagesInsteadOfRollingBack()
    {
        var run = await BacktestAsync(ErrorRatePolicy("bad", "bad"), "json");

        var r = Line(run);
        Assert.Equal(("2026-11-20T10:12:15Z", "page", true), (r.GetProperty("at").GetString(), r.GetProperty("action").GetString(), r.GetProperty("disarmed").GetBoolean()));
        Assert.Equal("no change of bad is known: a rollback would not undo the cause", r.GetProperty("reason").GetString());
        Assert.Equal(r.GetProperty("reason").GetString(), r.GetProperty("disarmedReason").GetString());
        Assert.Equal(JsonValueKind.Null, r.GetProperty("change").ValueKind);
        Assert.Contains("Changes: none known, so rollback triggers take spec.watch.outside (page by default)", run.Error);
    }

    [Fact]
    public async Task Backtest_ErrorsWithNoChangeKnown_TableShowsThePageAndWhyTheRollbackIsDisarmed()
    {
        var run = await BacktestAsync(ErrorRatePolicy("bad", "bad"), "table");

        Assert.Equal(0, run.ExitCode);
        var row = Assert.Single(run.OutputLines, l => l.StartsWith("2026-11-20T10:12:15Z", StringComparison.Ordinal));
        Assert.Contains("  page (rollback disarmed: no change of bad is known: a rollback would not undo the cause)  0.2", row);
        Assert.EndsWith("  page: error ratio 0.2 (2/10) > max 0.05 (breaching for 2m)", row);
        Assert.True(run.Output.IndexOf("Changes: none known", StringComparison.Ordinal) < run.Output.IndexOf("Decisions", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Backtest_ErrorsThreeHoursAfterAGivenChangeWithWatchForOneHour_PagesDisarmedSayingWhy()
    {
        var changes = ChangesFile(
            """{"id":41,"policy":"bad","labels":{},"at":"2026-11-20T07:10:00Z","source":"api","revision":"v42","previousRevision":"v41","by":"ci","description":"release 42","recordedAt":"2026-11-20T07:10:02Z"}""",
            """{"policy":"not-in-the-rules","at":"2026-11-20T10:09:00Z"}""");

        var run = await BacktestAsync(ErrorRatePolicy("bad", "bad", watch: "    for: 1h\n"), "json", "--changes", changes);

        var r = Line(run);
        Assert.Equal(("page", true), (r.GetProperty("action").GetString(), r.GetProperty("disarmed").GetBoolean()));
        Assert.Equal("no change of bad within 1h (last: v41 -> v42, 3h ago): a rollback would not undo the cause", r.GetProperty("reason").GetString());
        Assert.Equal(
            """{"id":41,"policy":"bad","labels":{},"at":"2026-11-20T07:10:00Z","source":"api","revision":"v42","previousRevision":"v41","by":"ci","description":"release 42","recordedAt":"2026-11-20T07:10:02Z"}""",
            r.GetProperty("change").GetRawText());
        Assert.Contains("backtest: ignoring 1 change(s) of policies not in the rules (not-in-the-rules)", run.Error);
        var changeRow = Assert.Single(run.Error.Split('\n'), l => l.StartsWith("2026-11-20T07:10:00Z", StringComparison.Ordinal));
        Assert.Equal(["2026-11-20T07:10:00Z", "bad", "all", "api", "v41 -> v42", "ci"], changeRow.Split("  ", StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
    }

    [Fact]
    public async Task Backtest_ErrorsRightAfterAGivenChange_RollsBackBlamingIt()
    {
        var changes = ChangesFile("""{"policy":"bad","at":"2026-11-20T10:09:00Z","revision":"v43","by":"ci"}""");

        var run = await BacktestAsync(ErrorRatePolicy("bad", "bad", watch: "    for: 1h\n"), "json", "--changes", changes);

        var r = Line(run);
        Assert.Equal(("rollback", false, JsonValueKind.Null), (r.GetProperty("action").GetString(), r.GetProperty("disarmed").GetBoolean(), r.GetProperty("reason").ValueKind));
        Assert.Equal(("v43", "2026-11-20T10:09:00Z"), (r.GetProperty("change").GetProperty("revision").GetString(), r.GetProperty("change").GetProperty("at").GetString()));
    }

    [Fact]
    public async Task Backtest_ErrorsFiveMinutesAfterAChangeFoundByTheDetectQuery_RollsBackBlamingIt()
    {
        var run = await BacktestAsync(ErrorRatePolicy("detected", "detected", watch: DetectCart, by: "by (deployment) "), "json");

        var r = Line(run);
        Assert.Equal(
            ("2026-11-20T10:17:15Z", "rollback", false, """{"deployment":"cart"}"""),
            (r.GetProperty("at").GetString(), r.GetProperty("action").GetString(), r.GetProperty("disarmed").GetBoolean(), r.GetProperty("labels").GetRawText()));
        Assert.Equal(JsonValueKind.Null, r.GetProperty("reason").ValueKind);
        Assert.Equal(
            """{"id":0,"policy":"detected","labels":{"deployment":"cart"},"at":"2026-11-20T10:10:00Z","source":"query","revision":"6","previousRevision":"5","by":null,"description":"{deployment=\"cart\"} changed from 5 to 6","recordedAt":null}""",
            r.GetProperty("change").GetRawText());

        // The change is listed with the summary; search's generation never changed, so it is not a change.
        var changeRow = Assert.Single(run.Error.Split('\n'), l => l.StartsWith("2026-11-20T10:10:00Z", StringComparison.Ordinal));
        Assert.Equal(["2026-11-20T10:10:00Z", "detected", "{deployment=\"cart\"}", "query", "5 -> 6", "-"], changeRow.Split("  ", StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        Assert.DoesNotContain("search", run.Error);
        Assert.Contains("1 policy, 3 Prometheus request(s)", run.Error);
    }

    [Fact]
    public async Task Backtest_ChangeFoundByTheDetectQuery_TableListsItBeforeTheDecisionsAndBlamesIt()
    {
        var run = await BacktestAsync(ErrorRatePolicy("detected", "detected", watch: DetectCart, by: "by (deployment) "), "table");

        Assert.Equal(0, run.ExitCode);
        var changes = run.Output.IndexOf("Changes\nAT  ", StringComparison.Ordinal);
        var decisions = run.Output.IndexOf("Decisions\nAT  ", StringComparison.Ordinal);
        Assert.True(changes > 0 && decisions > changes, run.Output);
        Assert.Contains("2026-11-20T10:10:00Z  detected  {deployment=\"cart\"}  query   5 -> 6    -", run.Output);
        var row = Assert.Single(run.OutputLines, l => l.StartsWith("2026-11-20T10:17:15Z", StringComparison.Ordinal));
        Assert.Contains("  rollback  ", row);
        Assert.EndsWith("(breaching for 2m); change: since 6, deployed 7m ago", row);
    }

    [Fact]
    public async Task Backtest_BeforeDeployBaselineFromADetectedChange_IsTheAverageBeforeThatChange()
    {
        // Stable p95 before the deploy: 0.05 + 0.05*(9.5-5)/(9.8-5) = 0.096875; the canary is slow from the deploy on,
        // which the generation (7 -> 8 at T0+10m) shows. No --deployed-at: the detect query is the only source.
        var yaml = WithWatch(
            PolicyYaml.WithWebhook("before-deploy", """
                - name: p95
                  latency:
                    query: histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket{app="latency",track="canary"}[2m])))
                    baseline:
                      beforeDeploy: 5m
                    maxRatio: 1.5
                    maxIncrease: 50ms
                  for: 2m
                  action: page
                """),
            "    detect:\n      query: max(kube_deployment_status_observed_generation{app=\"latency\"})\n");

        var run = await BacktestAsync(yaml, "json");

        var r = Line(run);
        Assert.Equal(("2026-11-20T10:12:15Z", "page", false), (r.GetProperty("at").GetString(), r.GetProperty("action").GetString(), r.GetProperty("disarmed").GetBoolean()));
        Assert.Equal(0.096875, r.GetProperty("baseline").GetDouble(), 6);
        Assert.Equal(0.146875, r.GetProperty("threshold").GetDouble(), 6);
        var baseline = r.GetProperty("queries").EnumerateArray().Single(q => q.GetProperty("role").GetString() == "baseline");
        Assert.Equal("2026-11-20T10:05:00Z..2026-11-20T10:10:00Z", baseline.GetProperty("at").GetString());
        Assert.Equal(("query", "8", "7"), (r.GetProperty("change").GetProperty("source").GetString(), r.GetProperty("change").GetProperty("revision").GetString(), r.GetProperty("change").GetProperty("previousRevision").GetString()));
    }

    [Fact]
    public async Task Backtest_ChangesFileWithBadLines_ExitsTwoNamingEachFileLineAndField()
    {
        var changes = ChangesFile(
            """{"policy":"bad","at":"2026-11-20T10:09:00Z"}""",
            """{"policy":"bad","at":"yesterday"}""",
            string.Empty,
            """{"at":"2026-11-20T10:09:00Z","labels":{"deployment":5}}""",
            """{"policy":"bad","at":"2026-11-20T10:09:00Z","source":"pipeline","revison":"v1"}""",
            """{"policy":"bad",""");

        var run = await BacktestAsync(ErrorRatePolicy("bad", "bad"), "json", "--changes", changes);

        Assert.Equal(2, run.ExitCode);
        Assert.Equal(string.Empty, run.Output);
        Assert.Contains($"{changes}:2: at: must be an RFC 3339 time such as 2026-11-22T10:00:00Z, got 'yesterday'", run.Error);
        Assert.Contains($"{changes}:4: policy: required", run.Error);
        Assert.Contains($"{changes}:4: labels.deployment: must be a string, got 5", run.Error);
        Assert.Contains($"{changes}:5: revison: unknown field", run.Error);
        Assert.Contains($"{changes}:5: source: must be one of api, target, query, got 'pipeline'", run.Error);
        Assert.Contains($"{changes}:6: not JSON", run.Error);
        Assert.DoesNotContain($"{changes}:1:", run.Error);
        Assert.Contains($"error: --changes: 6 problem(s) in {changes}", run.Error);

        var help = await CliRun.RunAsync("backtest", "--help");
        Assert.Contains("  2  bad command line (or a bad line in --changes FILE, or --output FILE cannot be written)\n", help.Output);
    }

    [Fact]
    public async Task Backtest_ChangesFileMissing_ExitsTwo()
    {
        var run = await BacktestAsync(ErrorRatePolicy("bad", "bad"), "json", "--changes", Path.Combine(_folder, "none.jsonl"));

        Assert.Equal(2, run.ExitCode);
        Assert.Contains($"error: --changes: cannot read {Path.Combine(_folder, "none.jsonl")}", run.Error);
    }

    [Fact]
    public async Task Backtest_DetectQueryThePrometheusRejects_WarnsAndGoesOnWithoutItsChanges()
    {
        var run = await BacktestAsync(
            ErrorRatePolicy("detected", "detected", watch: "    detect:\n      query: max(rate(kube_deployment_status_observed_generation))\n", by: "by (deployment) "),
            "json");

        var r = Line(run);
        Assert.Equal(("page", true), (r.GetProperty("action").GetString(), r.GetProperty("disarmed").GetBoolean()));
        Assert.Contains(
            "warning: policy 'detected': spec.watch.detect.query failed, so the backtest went on without the changes it would find: Prometheus rejected query \"max(rate(kube_deployment_status_observed_generation))\"",
            run.Error);
    }
}
