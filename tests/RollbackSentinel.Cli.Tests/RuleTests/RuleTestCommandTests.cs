using System.Text.RegularExpressions;

namespace RollbackSentinel.Cli.Tests.RuleTests;

/// <summary>
/// <c>rollback-sentinel test</c> end to end: the real command, a real promtool and Prometheus, exact output. The test files sit
/// beside one policy file in a temporary folder; paths in the output are shown relative to it and the time taken as "(Ns)".
/// </summary>
public sealed partial class RuleTestCommandTests : IDisposable
{
    /// <summary>errors (rollback, for 1m), queue (page at once, no data is a breach), latency (against the 5m before the deploy, rollback); a gate of 3 passes.</summary>
    private static readonly string Policies = PolicyYaml.WithWebhook("shop", interval: null, triggers: """
        - name: errors
          errorRate:
            errors: sum(rate(http_requests_total{code="500"}[1m]))
            total: sum(rate(http_requests_total[1m]))
            max: 0.05
            minTotal: 0.5
          for: 1m
          action: rollback
        - name: queue
          threshold:
            query: max(queue_depth)
            op: ">"
            value: 100
          noData: breach
          action: page
        - name: latency
          latency:
            query: max(request_seconds)
            baseline:
              beforeDeploy: 5m
            maxIncrease: 100ms
          for: 1m
          action: rollback
        """);

    /// <summary>40 req/s for 10m, a third of them failing from 5m30s on; a short queue; a flat latency (input_series of a test).</summary>
    private const string BadRelease = """
            input_series:
              - series: 'http_requests_total{code="200"}'
                values: '0+600x40'
              - series: 'http_requests_total{code="500"}'
                values: '0x20 0+300x19'
              - series: queue_depth
                values: '10x40'
              - series: request_seconds
                values: '0.05x40'
        """;

    private readonly RulesFolder _folder = new(("policies.yaml", Policies));

    public void Dispose() => _folder.Dispose();

    [Fact]
    public async Task Test_PassingFile_ExitsZeroWithTheSummary()
    {
        var run = await RunAsync("pass.yaml", $$"""
            rule_files: [policies.yaml]
            evaluation_interval: 15s
            tests:
              - name: a bad release rolls back
            {{BadRelease}}
                changes:
                  - {at: 2m, policy: shop, revision: v2, previousRevision: v1}
                expect:
                  - {policy: shop, trigger: errors, action: rollback, at: 6m30s}
                  - {policy: shop, trigger: queue, action: none}
                  - {policy: shop, trigger: latency, action: none}
                gates:
                  - {at: 4m, policy: shop, open: true}
                  - {at: 10m, policy: shop, open: false}
            """);

        Assert.Equal((0, "ok    pass.yaml: 1 test passed\n1 file(s), 1 test: 1 passed, 0 failed (Ns)\n", string.Empty), run);
    }

    [Fact]
    public async Task Test_FailingExpectations_ExitsOneNamingEachWithWhatHappenedInstead()
    {
        var run = await RunAsync("fail.yaml", $$"""
            rule_files: [policies.yaml]
            evaluation_interval: 15s
            tests:
              - name: a good release
            {{BadRelease}}
                changes:
                  - {at: 2m, policy: shop, revision: v2}
                expect:
                  - {policy: shop, trigger: errors, action: rollback, at: 6m}
                  - {policy: shop, trigger: queue, action: page}
                  - {policy: shop, trigger: latency, action: rollback}
                gates:
                  - {at: 10m, policy: shop, open: true}
                  - {at: 1m, policy: shop, open: false}
              - name: passes
                input_series:
                  - series: 'http_requests_total{code="200"}'
                    values: '0+600x40'
                  - series: queue_depth
                    values: '10x40'
                  - series: request_seconds
                    values: '0.05x40'
                expect: []
            """);

        Assert.Equal(
            (1,
            """
            FAIL  fail.yaml:4:11: a good release
                    fail.yaml:17:18: shop errors: expected rollback at 6m, got no decision at 6m (at other evaluations: rollback at 6m30s)
                    fail.yaml:18:18: shop queue: expected page at some evaluation, got no decision
                    fail.yaml:19:18: shop latency: expected rollback at some evaluation, got inconclusive run at 45s
                    fail.yaml:4:11: shop errors: unexpected rollback at 6m30s (every action the run takes must be listed in expect)
                    fail.yaml:21:14: gate shop at 10m: expected open, got closed: errors: firing
            FAIL  fail.yaml: 1 of 2 tests failed
            1 file(s), 2 tests: 1 passed, 1 failed (Ns)

            """,
            string.Empty),
            run);
    }

    [Fact]
    public async Task Test_StaleAndMissingSamples_StaleEndsTheSeriesAtOnceMissingLeavesItForTheLookback()
    {
        var run = await RunAsync("stale.yaml", """
            rule_files: [policies.yaml]
            evaluation_interval: 15s
            tests:
              - name: a stale queue is gone at once
                input_series:
                  - series: queue_depth
                    values: '10x10 stale'
                  - series: 'http_requests_total{code="200"}'
                    values: '0+600x40'
                expect:
                  - {policy: shop, trigger: queue, action: page, at: 2m45s}
              - name: a missing sample leaves the last one visible for five minutes
                input_series:
                  - series: queue_depth
                    values: '10x10 _x30'
                  - series: 'http_requests_total{code="200"}'
                    values: '0+600x40'
                expect:
                  - {policy: shop, trigger: queue, action: page}
              - name: a series can come back after stale
                input_series:
                  - series: queue_depth
                    values: '10x10 stale _x3 10x25'
                  - series: 'http_requests_total{code="200"}'
                    values: '0+600x40'
                expect:
                  - {policy: shop, trigger: queue, action: page, at: 2m45s}
                  - {policy: shop, trigger: queue, action: resolved, at: 3m45s}
            """);

        Assert.Equal((0, "ok    stale.yaml: 3 tests passed\n1 file(s), 3 tests: 3 passed, 0 failed (Ns)\n", string.Empty), run);
    }

    [Fact]
    public async Task Test_MissingSampleExpectedToActLikeStale_FailsWithTheEvaluationItActedAt()
    {
        var run = await RunAsync("missing.yaml", """
            rule_files: [policies.yaml]
            evaluation_interval: 15s
            tests:
              - name: a missing sample is not a stale marker
                input_series:
                  - series: queue_depth
                    values: '10x10 _x30'
                expect:
                  - {policy: shop, trigger: queue, action: page, at: 2m45s}
            """);

        Assert.Equal(
            (1,
            """
            FAIL  missing.yaml:4:11: a missing sample is not a stale marker
                    missing.yaml:9:18: shop queue: expected page at 2m45s, got no decision at 2m45s (at other evaluations: page at 7m45s)
                    missing.yaml:4:11: shop queue: unexpected page at 7m45s (every action the run takes must be listed in expect)
            FAIL  missing.yaml: 1 of 1 test failed
            1 file(s), 1 test: 0 passed, 1 failed (Ns)

            """,
            string.Empty),
            run);
    }

    [Fact]
    public async Task Test_BeforeDeployBaseline_IsMeasuredBeforeTheGivenChangeAndMissingWithoutOne()
    {
        var run = await RunAsync("baseline.yaml", """
            rule_files: [policies.yaml]
            evaluation_interval: 15s
            tests:
              - name: latency against the five minutes before the deploy
                input_series:
                  - series: request_seconds
                    values: '0.05x20 0.3x20'
                  - series: queue_depth
                    values: '10x40'
                changes:
                  - {at: 5m, policy: shop, revision: v2, previousRevision: v1, by: ci}
                expect:
                  - {policy: shop, trigger: latency, action: rollback, at: 6m15s}
              - name: without a deploy there is no baseline
                input_series:
                  - series: request_seconds
                    values: '0.05x20 0.3x20'
                  - series: queue_depth
                    values: '10x40'
                expect:
                  - {policy: shop, trigger: latency, action: inconclusive run, at: 45s}
                  - {policy: shop, trigger: latency, action: none}
            """);

        Assert.Equal((0, "ok    baseline.yaml: 2 tests passed\n1 file(s), 2 tests: 2 passed, 0 failed (Ns)\n", string.Empty), run);
    }

    [Fact]
    public async Task Test_Gates_OpenAfterMinPassesSinceTheChangeClosedWhileFiring()
    {
        var run = await RunAsync("gates.yaml", $$"""
            rule_files: [policies.yaml]
            evaluation_interval: 15s
            tests:
              - name: gates around a deploy
            {{BadRelease}}
                changes:
                  - {at: 2m, policy: shop, revision: v2}
                expect:
                  - {policy: shop, trigger: errors, action: rollback}
                gates:
                  - {at: 2m30s, policy: shop, open: true}
                  - {at: 3m, policy: shop, open: true}
                  - {at: 7m, policy: shop, open: true}
            """);

        Assert.Equal(
            (1,
            """
            FAIL  gates.yaml:4:11: gates around a deploy
                    gates.yaml:19:14: gate shop at 2m30s: expected open, got closed: errors: 2 of 3 passing evaluations since v2; queue: 2 of 3 passing evaluations since v2; latency: 2 of 3 passing evaluations since v2
                    gates.yaml:21:14: gate shop at 7m: expected open, got closed: errors: firing
            FAIL  gates.yaml: 1 of 1 test failed
            1 file(s), 1 test: 0 passed, 1 failed (Ns)

            """,
            string.Empty),
            run);
    }

    [Fact]
    public async Task Test_MalformedFile_ExitsTwoWithEveryErrorAsFileLineColumnAndRunsNothing()
    {
        var run = await RunAsync("bad.yaml", """
            rule_files: [policies.yaml]
            evaluation_interval: 15s
            tests:
              - name: broken
                intervall: 15s
                input_series:
                  - series: 'http_requests_total{code="200"}'
                    values: '0+600x40 1+2y3'
                  - series: 'http_requests_total{code=200}'
                    values: '1x40'
                  - values: '1x40'
                changes:
                  - {policy: shop, revision: v2}
                expect:
                  - {policy: shop, trigger: errors, action: rollbak}
                  - {policy: shop, trigger: errors, action: rollback, at: 10s}
                  - {policy: shop, trigger: errors, action: rollback, at: 20m}
                gates:
                  - {at: 1m, policy: shop, open: maybe}
            """);

        Assert.Equal(
            (2,
            string.Empty,
            """
            bad.yaml:5:5: tests[0].intervall: unknown field 'intervall' (did you mean 'interval'?)
            bad.yaml:8:27: tests[0].input_series[0].values: '1+2y3' is not a value: expected a number, a+bxn, a-bxn, axn, _, _xn or stale
            bad.yaml:9:43: tests[0].input_series[1].series: 'http_requests_total{code=200}' is not a series: expected the quoted value of 'code'
            bad.yaml:11:9: tests[0].input_series[2].series: missing required field 'series' (metric{label="value"})
            bad.yaml:13:9: tests[0].changes[0].at: missing required field 'at'
            bad.yaml:15:49: tests[0].expect[0].action: must be one of rollback, page, notify, would rollback, would page, would notify, suppressed, inconclusive run, resolved, none, got 'rollbak'
            bad.yaml:16:63: tests[0].expect[1].at: 10s is not an evaluation: they are every 15s (evaluation_interval), e.g. 0s or 15s
            bad.yaml:19:38: tests[0].gates[0].open: must be true or false, got 'maybe'
            error: 8 problem(s) in the test files; no test was run (see docs/rule-tests.md)

            """),
            run);
    }

    [Fact]
    public async Task Test_NamesNotInTheRuleFiles_AreReportedWithTheOtherErrorsAtTheirFullPaths()
    {
        var run = await RunAsync("names.yaml", """
            rule_files: [policies.yaml]
            tests:
              - name: names
                input_series:
                  - series: up
                    values: '1x10 y'
                changes:
                  - {at: 1m, policy: shopp}
                expect:
                  - {policy: shops, trigger: errors, action: rollback}
                  - {policy: shop, trigger: error, action: none}
                gates:
                  - {at: 1m, policy: shap, open: true}
            """);

        Assert.Equal(
            (2,
            string.Empty,
            """
            names.yaml:6:23: tests[0].input_series[0].values: 'y' is not a value: expected a number, a+bxn, a-bxn, axn, _, _xn or stale
            names.yaml:8:26: tests[0].changes[0].policy: no policy 'shopp' in the rule files (they have: shop)
            names.yaml:10:18: tests[0].expect[0].policy: no policy 'shops' in the rule files (they have: shop)
            names.yaml:11:33: tests[0].expect[1].trigger: policy 'shop' has no trigger 'error' (it has: errors, queue, latency)
            names.yaml:13:26: tests[0].gates[0].policy: no policy 'shap' in the rule files (they have: shop)
            error: 5 problem(s) in the test files; no test was run (see docs/rule-tests.md)

            """),
            run);
    }

    [Fact]
    public async Task Test_AtAfterTheLastEvaluationAndAMissingRuleFile_ExitTwo()
    {
        var late = await RunAsync("late.yaml", """
            rule_files: [policies.yaml]
            tests:
              - name: late
                input_series:
                  - {series: up, values: '1x10'}
                gates:
                  - {at: 20m, policy: shop, open: true}
            """);
        var missing = await RunAsync("missing-rules.yaml", "rule_files: [nope.yaml]\ntests:\n  - name: t\n    input_series: [{series: up, values: '1'}]\n");

        Assert.Equal(
            (2, string.Empty, "late.yaml:7:14: tests[0].gates[0].at: 20m is after the test's last evaluation, at 10m (the end of its longest input series)\nerror: 1 problem(s) in the test files; no test was run (see docs/rule-tests.md)\n"),
            late);
        Assert.Equal(
            (2, string.Empty, "missing-rules.yaml:1:14: rule_files[0]: nope.yaml: no such file or folder\nerror: 1 problem(s) in the test files; no test was run (see docs/rule-tests.md)\n"),
            missing);
    }

    [Fact]
    public async Task Test_Folder_RunsEveryYamlFileInIt()
    {
        var folder = Directory.CreateDirectory(Path.Combine(_folder.Path, "tests")).FullName;
        File.WriteAllText(Path.Combine(folder, "a.yaml"), "rule_files: [../policies.yaml]\nevaluation_interval: 15s\ntests:\n  - name: quiet\n    input_series:\n      - {series: queue_depth, values: '10x8'}\n");
        File.WriteAllText(Path.Combine(folder, "b.yml"), "rule_files: [../policies.yaml]\nevaluation_interval: 15s\ntests:\n  - name: pages\n    input_series:\n      - {series: queue_depth, values: '500x8'}\n    expect:\n      - {policy: shop, trigger: queue, action: page, at: 0s}\n");
        File.WriteAllText(Path.Combine(folder, "notes.txt"), "not a test");

        var run = Normalize(await CliRun.RunAsync("test", folder + "/"));

        Assert.Equal((0, "ok    tests/a.yaml: 1 test passed\nok    tests/b.yml: 1 test passed\n2 file(s), 2 tests: 2 passed, 0 failed (Ns)\n", string.Empty), run);
    }

    [Fact]
    public async Task Test_WithoutPrometheusOnPath_ExitsTwoSayingHowToInstallIt()
    {
        File.WriteAllText(Path.Combine(_folder.Path, "pass.yaml"), "rule_files: [policies.yaml]\ntests:\n  - name: t\n    input_series: [{series: up, values: '1'}]\n");

        // An empty folder as the whole PATH: neither prometheus nor promtool can be found (dotnet is run by its full path).
        var run = await RunChildAsync(Directory.CreateDirectory(Path.Combine(_folder.Path, "empty-path")).FullName, "test", "pass.yaml");

        Assert.Equal((2, string.Empty, $"error: prometheus and promtool not found on PATH: {NotFoundAdvice}\n", 0, 0), run);
    }

    [Fact]
    public async Task Test_Run_LeavesNoPrometheusAndNoTemporaryFolderBehind()
    {
        File.WriteAllText(Path.Combine(_folder.Path, "pass.yaml"), "rule_files: [policies.yaml]\ntests:\n  - name: t\n    input_series: [{series: queue_depth, values: '1x4'}]\n");

        var run = await RunChildAsync(null, "test", "pass.yaml");

        Assert.Equal((0, "ok    pass.yaml: 1 test passed\n1 file(s), 1 test: 1 passed, 0 failed (Ns)\n", string.Empty, 0, 0), run);
    }

    private static string CommandLine(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/cmdline").Replace('\0', ' ');
        }
        catch (IOException)
        {
            return string.Empty;
        }
    }

    /// <summary>Writes the test file beside the policies and runs <c>test</c> on it.</summary>
    private async Task<(int ExitCode, string Output, string Error)> RunAsync(string name, string yaml)
    {
        File.WriteAllText(Path.Combine(_folder.Path, name), yaml.ReplaceLineEndings("\n") + "\n");
        return Normalize(await CliRun.RunAsync("test", Path.Combine(_folder.Path, name)));
    }

    private (int, string, string) Normalize(CliRun run)
    {
        string Clean(string s) => Seconds().Replace(s.Replace(_folder.Path + "/", string.Empty, StringComparison.Ordinal), "(Ns)");
        return (run.ExitCode, Clean(run.Output), Clean(run.Error));
    }

    [GeneratedRegex(@"\(\d+\.\ds\)")]
    private static partial Regex Seconds();
}
