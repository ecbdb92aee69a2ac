using System.Diagnostics;

namespace RollbackSentinel.Cli.Tests.RuleTests;

/// <summary>
/// <c>rollback-sentinel test</c> when something is wrong: a detect query Prometheus refuses, policy files beside the
/// tests, broken rule files, a prometheus that cannot run or start. Runs that start processes are run as a child
/// process with a private TMPDIR, so what they leave behind is told apart from the rest of the machine.
/// </summary>
public sealed partial class RuleTestCommandTests
{
    /// <summary>A policy whose detect query is refused by Prometheus when foo and baz have the same labels (abs drops the name).</summary>
    private const string DetectingPolicy = """
        apiVersion: rollback-sentinel/v1
        kind: RollbackPolicy
        metadata:
          name: detecting
        spec:
          target:
            webhook:
              url: http://127.0.0.1:9/rollback
          watch:
            detect:
              query: count by (version) (abs({__name__=~"foo|baz"}))
          triggers:
            - name: queue
              threshold:
                query: max(queue_depth)
                op: ">"
                value: 100
              action: page
        """;

    private const string QuietTest = "rule_files: [policies.yaml]\nevaluation_interval: 15s\ntests:\n  - name: quiet\n    input_series: [{series: queue_depth, values: '1x4'}]\n";

    [Fact]
    public async Task Test_DetectQueryThatFails_FailsTheTestAsNotFaithful()
    {
        File.WriteAllText(Path.Combine(_folder.Path, "detecting.yaml"), DetectingPolicy);

        var run = await RunAsync("detect.yaml", """
            rule_files: [detecting.yaml]
            evaluation_interval: 15s
            tests:
              - name: foo and baz collide
                input_series:
                  - {series: 'foo{version="v1"}', values: '1x8'}
                  - {series: 'baz{version="v1"}', values: '1x8'}
                  - {series: queue_depth, values: '10x8'}
            """);

        Assert.Equal(
            (1,
            """
            FAIL  detect.yaml:4:11: foo and baz collide
                    detect.yaml:4:11: the run is not faithful: policy 'detecting': spec.watch.detect.query failed, so the backtest went on without the changes it would find: Prometheus failed to execute query "count by (version) (abs({__name__=~"foo|baz"}))": vector cannot contain metrics with the same labelset (errorType execution, HTTP 422).
            FAIL  detect.yaml: 1 of 1 test failed
            1 file(s), 1 test: 0 passed, 1 failed (Ns)

            """,
            string.Empty),
            run);
    }

    [Fact]
    public async Task Test_FolderOfTestsBesideThePolicies_RunsOnlyTheRuleTestFiles()
    {
        File.WriteAllText(Path.Combine(_folder.Path, "quiet.yaml"), QuietTest);

        var run = Normalize(await CliRun.RunAsync("test", _folder.Path));

        Assert.Equal((0, "ok    quiet.yaml: 1 test passed\n1 file(s), 1 test: 1 passed, 0 failed (Ns); skipped 1 file(s) that are not rule tests\n", string.Empty), run);
    }

    [Fact]
    public async Task Test_FolderWithoutRuleTests_ExitsTwo()
    {
        var run = Normalize(await CliRun.RunAsync("test", _folder.Path));

        Assert.Equal(
            (2, string.Empty, $"{_folder.Path}:1:1: no rule test files (*.yaml, *.yml holding rule_files and tests) in this folder; 1 other file(s) skipped\nerror: 1 problem(s) in the test files; no test was run (see docs/rule-tests.md)\n"),
            run);
    }

    [Fact]
    public async Task Test_PolicyFileNamedExplicitly_IsReadAsATestFileAndMalformed()
    {
        var run = Normalize(await CliRun.RunAsync("test", Path.Combine(_folder.Path, "policies.yaml")));

        Assert.Equal(
            (2,
            string.Empty,
            """
            policies.yaml:1:1: rule_files: missing required field 'rule_files'
            policies.yaml:1:1: tests: missing required field 'tests'
            policies.yaml:1:1: apiVersion: unknown field 'apiVersion'; allowed here: evaluation_interval, rule_files, tests
            policies.yaml:2:1: kind: unknown field 'kind'; allowed here: evaluation_interval, rule_files, tests
            policies.yaml:3:1: metadata: unknown field 'metadata'; allowed here: evaluation_interval, rule_files, tests
            policies.yaml:5:1: spec: unknown field 'spec'; allowed here: evaluation_interval, rule_files, tests
            error: 6 problem(s) in the test files; no test was run (see docs/rule-tests.md)

            """),
            run);
    }

    [Fact]
    public async Task Test_BrokenRuleFile_FailsItsFilesTestsRunsTheOthersAndLeavesNothingBehind()
    {
        File.WriteAllText(Path.Combine(_folder.Path, "broken-policy.yaml"), Policies.Replace("action: page", "action: pgae", StringComparison.Ordinal));
        var tests = Directory.CreateDirectory(Path.Combine(_folder.Path, "tests")).FullName;
        File.WriteAllText(Path.Combine(tests, "a-broken.yaml"), "rule_files: [../broken-policy.yaml]\nevaluation_interval: 15s\ntests:\n  - name: one\n    input_series: [{series: queue_depth, values: '1x4'}]\n  - name: two\n    input_series: [{series: queue_depth, values: '1x4'}]\n");
        File.WriteAllText(Path.Combine(tests, "b-good.yaml"), QuietTest.Replace("policies.yaml", "../policies.yaml", StringComparison.Ordinal));

        var run = await RunChildAsync(null, "test", "tests/");

        Assert.Equal(
            (1,
            """
            FAIL  tests/a-broken.yaml: its rule files have errors (as validate reports them): 2 tests not run
                    broken-policy.yaml:24:15: spec.triggers[1].action: must be one of rollback, page, notify, got 'pgae'
            ok    tests/b-good.yaml: 1 test passed
            2 file(s), 3 tests: 1 passed, 2 failed (Ns)

            """,
            string.Empty,
            0,
            0),
            run);
    }

    [Fact]
    public async Task Test_NonExecutablePrometheusOnPath_IsSkippedAsAShellDoes()
    {
        File.WriteAllText(Path.Combine(_folder.Path, "quiet.yaml"), QuietTest);
        var fake = FakeTools(("prometheus", "#!/bin/sh\nexit 1\n", UnixFileMode.UserRead | UnixFileMode.UserWrite), ("promtool", "#!/bin/sh\nexit 1\n", UnixFileMode.UserRead | UnixFileMode.UserWrite));

        var skipped = await RunChildAsync(fake + Path.PathSeparator + ToolFolders(), "test", "quiet.yaml");
        var alone = await RunChildAsync(fake, "test", "quiet.yaml");

        Assert.Equal((0, "ok    quiet.yaml: 1 test passed\n1 file(s), 1 test: 1 passed, 0 failed (Ns)\n", string.Empty, 0, 0), skipped);
        Assert.Equal((2, string.Empty, $"error: prometheus and promtool not found on PATH: {NotFoundAdvice}\n", 0, 0), alone);
    }

    [Fact]
    public async Task Test_PrometheusThatCannotBeRun_ExitsTwoWithACleanMessage()
    {
        File.WriteAllText(Path.Combine(_folder.Path, "quiet.yaml"), QuietTest);
        var fake = FakeTools(("prometheus", "not a program\n", UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute));

        var run = await RunChildAsync(fake + Path.PathSeparator + ToolFolders(), "test", "quiet.yaml");

        Assert.Equal(
            (2, string.Empty, $"error: cannot run fake-tools/prometheus: Exec format error; {LocalPrometheusHint}\n", 0, 0),
            run);
    }

    [Fact]
    public async Task Test_PrometheusThatFailsToStart_FailsEachTestExitsOneAndLeavesNothingBehind()
    {
        File.WriteAllText(Path.Combine(_folder.Path, "quiet.yaml"), QuietTest.Replace("  - name: quiet\n", "  - name: quiet\n    input_series: [{series: queue_depth, values: '1x4'}]\n  - name: also quiet\n", StringComparison.Ordinal));
        var fake = FakeTools(("prometheus", "#!/bin/sh\necho 'level=error msg=\"no way\"' >&2\nexit 3\n", UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute));

        var run = await RunChildAsync(fake + Path.PathSeparator + ToolFolders(), "test", "quiet.yaml");

        Assert.Equal(
            (1,
            """
            FAIL  quiet.yaml:4:11: quiet
                    quiet.yaml:4:11: the run could not start: prometheus exited with code 3 before it was ready; its last output: level=error msg="no way"
            FAIL  quiet.yaml:6:11: also quiet
                    quiet.yaml:6:11: the run could not start: prometheus exited with code 3 before it was ready; its last output: level=error msg="no way"
            FAIL  quiet.yaml: 2 of 2 tests failed
            1 file(s), 2 tests: 0 passed, 2 failed (Ns)

            """,
            string.Empty,
            0,
            0),
            run);
    }

    private const string NotFoundAdvice = "rule tests run their PromQL on a real Prometheus; install Prometheus, which brings both (Debian and Ubuntu: apt-get install prometheus; or the release archive from https://prometheus.io/download/) and put them on PATH";

    private const string LocalPrometheusHint = "install Prometheus, which brings both (Debian and Ubuntu: apt-get install prometheus; or the release archive from https://prometheus.io/download/) and put them on PATH";

    /// <summary>The folders of the real prometheus and promtool.</summary>
    private static string ToolFolders() =>
        string.Join(Path.PathSeparator, new[] { "prometheus", "promtool" }.Select(t => Path.GetDirectoryName(Which(t))!).Distinct(StringComparer.Ordinal));

    private static string Which(string tool) =>
        (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(Path.PathSeparator).Select(d => Path.Combine(d, tool)).First(File.Exists);

    /// <summary>A folder of fake tools beside the test files, each with its content and mode.</summary>
    private string FakeTools(params (string Name, string Content, UnixFileMode Mode)[] tools)
    {
        var folder = Directory.CreateDirectory(Path.Combine(_folder.Path, "fake-tools")).FullName;
        foreach (var (name, content, mode) in tools)
        {
            var path = Path.Combine(folder, name);
            File.WriteAllText(path, content);
            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(path, mode);
            }
        }

        return folder;
    }

    /// <summary>
    /// Runs the CLI as a child process in the test folder with a private TMPDIR (and <paramref name="path"/> as PATH when
    /// given): exit code, output and error as <see cref="Normalize"/> gives them, then what it left behind: its
    /// temporary folders, and the prometheus processes whose storage is in its TMPDIR.
    /// </summary>
    private async Task<(int ExitCode, string Output, string Error, int Folders, int Processes)> RunChildAsync(string? path, params string[] args)
    {
        var tmp = Directory.CreateDirectory(Path.Combine(_folder.Path, "tmp")).FullName;
        var program = SentinelCommand.Program == "dotnet" ? Which("dotnet") : SentinelCommand.Program;
        var info = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = _folder.Path };
        foreach (var a in SentinelCommand.With(args))
        {
            info.ArgumentList.Add(a);
        }

        info.Environment["TMPDIR"] = tmp;
        if (path is not null)
        {
            info.Environment["PATH"] = path;
        }

        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(3));
        var (code, output, error) = Normalize(new CliRun(process.ExitCode, await stdout, await stderr));
        var folders = Directory.GetDirectories(tmp, "rollback-sentinel-test-*").Length;
        var processes = Process.GetProcessesByName("prometheus").Count(p => CommandLine(p.Id).Contains(tmp, StringComparison.Ordinal));
        return (code, output, error, folders, processes);
    }
}
