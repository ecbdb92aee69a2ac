using System.Diagnostics;
using RollbackSentinel.Cli;
using RollbackSentinel.Core.Backtesting;
using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Core.Policies;
using RollbackSentinel.Core.RuleTests;
using RollbackSentinel.Prometheus;
using RollbackSentinel.Prometheus.Local;
using RollbackSentinel.Rules;

namespace RollbackSentinel.RuleTests;

/// <summary>
/// <c>rollback-sentinel test FILE...</c>: reads the rule test files and, for each test, backfills its input series into a
/// private Prometheus (<see cref="LocalPrometheus"/>), replays the policies with the backtest's engine
/// (<see cref="Backtester"/>) and judges the run (<see cref="RuleTestChecker"/>). Every test starts at time 0, as in promtool.
/// </summary>
internal static class RuleTestRunner
{
    /// <summary>Exit code on Ctrl-C or SIGTERM (128 + SIGINT, as shells report it).</summary>
    public const int Interrupted = 130;

    /// <summary>
    /// Where every test starts: the Unix epoch, as in promtool, so <c>time()</c> is the time since the test's start
    /// (a heartbeat series <c>0+15x40</c> is always fresh).
    /// </summary>
    private static readonly DateTimeOffset Start = DateTimeOffset.UnixEpoch;

    /// <summary>Tests run side by side, each with its own Prometheus; more would only queue on the CPUs.</summary>
    private static readonly int Parallel = Math.Clamp(Environment.ProcessorCount, 1, 4);

    /// <summary>A test file as it will run: its policies, or the errors of its rule files (then none of its tests runs).</summary>
    private sealed record Loaded(RuleTestFile File, IReadOnlyList<Policy> Policies, IReadOnlyList<RuleDiagnostic> RuleErrors);

    private sealed record Outcome(Loaded File, RuleTestCase Test, IReadOnlyList<RuleTestFailure> Failures);

    public static async Task<int> RunAsync(IReadOnlyList<string> paths, TextWriter output, TextWriter error, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        var (parsed, skipped, problems) = TestFiles(paths);
        if (problems.Any(d => d.Severity == DiagnosticSeverity.Error))
        {
            return await MalformedAsync(problems, error).ConfigureAwait(false);
        }

        // A rule file with errors is the test's failure, as in promtool: the other files' tests still run.
        var loaded = parsed.Select(p => p.Rules!.HasErrors
            ? new Loaded(p.File!, [], [.. p.Rules.Errors])
            : new Loaded(p.File!, [.. p.Rules.Policies.Select(x => x with { Schedule = new IntervalSchedule(p.File!.EvaluationInterval) })], [])).ToArray();
        var runs = loaded.Where(f => f.RuleErrors.Count == 0).SelectMany(f => f.File.Tests.Select(t => (File: f, Test: t))).ToArray();
        var outcomes = new List<Outcome>(loaded.Where(f => f.RuleErrors.Count > 0).SelectMany(f => f.File.Tests.Select(t => new Outcome(f, t, [new RuleTestFailure(t.Source, "not run: its rule files have errors")]))));
        if (runs.Length > 0)
        {
            var prometheus = LocalPrometheus.Find("prometheus");
            var promtool = LocalPrometheus.Find("promtool");
            if (prometheus is null || promtool is null)
            {
                var missing = string.Join(" and ", new[] { (prometheus, "prometheus"), (promtool, "promtool") }.Where(t => t.Item1 is null).Select(t => t.Item2));
                await error.WriteLineAsync($"error: {missing} not found on PATH: rule tests run their PromQL on a real Prometheus; {LocalPrometheus.InstallHint}").ConfigureAwait(false);
                return ExitCodes.Usage;
            }

            var ran = new Outcome[runs.Length];
            await System.Threading.Tasks.Parallel.ForEachAsync(
                Enumerable.Range(0, runs.Length),
                new ParallelOptions { MaxDegreeOfParallelism = Parallel, CancellationToken = ct },
                async (i, token) => ran[i] = new Outcome(runs[i].File, runs[i].Test, await RunTestAsync(runs[i].File, runs[i].Test, prometheus, promtool, token).ConfigureAwait(false)))
                .ConfigureAwait(false);
            outcomes.AddRange(ran);
        }

        await output.WriteAsync(Report(loaded, outcomes, skipped, clock.Elapsed)).ConfigureAwait(false);
        return outcomes.Any(o => o.Failures.Count > 0) ? ExitCodes.InvalidRules : ExitCodes.Ok;
    }

    /// <summary>
    /// The test files: each file named (strictly: a policy file named here is a malformed test file), and in each folder
    /// named its *.yaml and *.yml files that are rule test files (not its subfolders), in name order; the folder's
    /// other files (policies kept beside their tests) are skipped and counted. Listed as the rules loader lists folders.
    /// </summary>
    private static (IReadOnlyList<RuleTestFileParseResult> Files, int Skipped, IReadOnlyList<RuleDiagnostic> Problems) TestFiles(IReadOnlyList<string> paths)
    {
        var files = new List<RuleTestFileParseResult>();
        var problems = new List<RuleDiagnostic>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var skipped = 0;
        foreach (var path in paths)
        {
            var listing = RuleSetLoader.List([path], recursive: false);
            problems.AddRange(listing.Problems);
            files.AddRange(listing.Named.Where(f => seen.Add(Path.GetFullPath(f))).Select(f => RuleTestFileParser.Read(f, LoadRules)));
            var found = 0;
            var others = 0;
            foreach (var file in listing.Found.Where(f => seen.Add(Path.GetFullPath(f))))
            {
                if (RuleTestFileParser.ReadIfRuleTest(file, LoadRules) is { } test)
                {
                    files.Add(test);
                    found++;
                }
                else
                {
                    others++;
                }
            }

            skipped += others;
            if (listing.Folders.Count > 0 && found == 0 && listing.Problems.Count == 0)
            {
                problems.Add(new RuleDiagnostic(path, 1, 1, string.Empty,
                    "no rule test files (*.yaml, *.yml holding rule_files and tests) in this folder" + (others > 0 ? $"; {others} other file(s) skipped" : string.Empty)));
            }
        }

        return (files, skipped, [.. problems, .. files.SelectMany(f => f.Diagnostics)]);
    }

    /// <summary>A test file's rule files, named as a reader would write them.</summary>
    private static RuleSet LoadRules(IReadOnlyList<string> ruleFiles) => RuleSetLoader.Load(ruleFiles.Select(Readable));

    private static async Task<int> MalformedAsync(IReadOnlyList<RuleDiagnostic> problems, TextWriter error)
    {
        foreach (var d in problems.OrderBy(d => d.File, StringComparer.Ordinal).ThenBy(d => d.Line).ThenBy(d => d.Column))
        {
            await error.WriteLineAsync(d.ToString()).ConfigureAwait(false);
        }

        var errors = problems.Count(d => d.Severity == DiagnosticSeverity.Error);
        await error.WriteLineAsync($"error: {errors} problem(s) in the test files; no test was run (see docs/rule-tests.md)").ConfigureAwait(false);
        return ExitCodes.Usage;
    }

    /// <summary>"rules/tests/../checkout-api.yaml" as "rules/checkout-api.yaml" (relative paths stay relative).</summary>
    private static string Readable(string path) =>
        Path.IsPathRooted(path) ? Path.GetFullPath(path) : Path.GetRelativePath(Environment.CurrentDirectory, Path.GetFullPath(path));

    /// <summary>One test on its own Prometheus, holding only its series: backfilled, replayed, judged, removed.</summary>
    private static async Task<IReadOnlyList<RuleTestFailure>> RunTestAsync(Loaded file, RuleTestCase test, string prometheus, string promtool, CancellationToken ct)
    {
        var series = test.Series.Select(s => new PlacedSeries(s.Name, Start, test.Interval, s.Values)).ToArray();
        LocalPrometheus server;
        try
        {
            server = await LocalPrometheus.StartAsync(prometheus, promtool, TestHistory.OpenMetrics(series), TestHistory.StaleMarkers(series), test.Span, ct).ConfigureAwait(false);
        }
        catch (LocalPrometheusException e) when (!e.InstallProblem)
        {
            return [new RuleTestFailure(test.Source, $"the run could not start: {e.Message}")];
        }

        IReadOnlyList<RuleTestFailure> failures;
        try
        {
            failures = await ReplayAsync(file, test, server.BaseAddress, ct).ConfigureAwait(false);
        }
        catch
        {
            await server.DisposeQuietlyAsync().ConfigureAwait(false);
            throw;
        }

        try
        {
            await server.DisposeAsync().ConfigureAwait(false);
        }
        catch (LocalPrometheusException e)
        {
            return [.. failures, new RuleTestFailure(test.Source, e.Message)];
        }

        return failures;
    }

    /// <summary>The backtest's replay of the policies over the test's span on <paramref name="prometheus"/>, judged.</summary>
    private static async Task<IReadOnlyList<RuleTestFailure>> ReplayAsync(Loaded file, RuleTestCase test, Uri prometheus, CancellationToken ct)
    {
        var step = file.File.EvaluationInterval;
        using var http = new HttpClient(PrometheusClient.CreateHandler()) { Timeout = Timeout.InfiniteTimeSpan };
        var client = new PrometheusClient(http, new PrometheusOptions { BaseAddress = prometheus });
        var window = new BacktestWindow(Start, Start + test.Span, step, Changes: test.Changes.Select(c => c.ToChange(Start)).ToArray());
        var wanted = RuleTestChecker.GateEvaluations(test, Start, step);
        var states = new Dictionary<(string Policy, DateTimeOffset At), BacktestEvaluation>();
        BacktestResult result;
        try
        {
            result = await new Backtester(client, CronOccurrences.Between).RunAsync(file.Policies, window, ct, observe: e =>
            {
                if (wanted.Contains((e.Policy.Name, e.At)))
                {
                    states[(e.Policy.Name, e.At)] = e;
                }
            }).ConfigureAwait(false);
        }
        catch (MetricsQueryException e)
        {
            return [new RuleTestFailure(test.Source, $"the run stopped: Prometheus refused a query: {e.Message}")];
        }

        // What the backtest went on without (a detect query that failed) would have changed its decisions: the test
        // cannot pass on such a run.
        return [
            .. result.Warnings.Select(w => new RuleTestFailure(test.Source, $"the run is not faithful: {w}")),
            .. RuleTestChecker.Check(test, Start, step, file.Policies, result.Decisions, states),
        ];
    }

    /// <summary>
    /// Per file "ok" or each failed test with its failures (a file whose rule files have errors: them, its tests not run);
    /// then the totals, the time taken, and the files of the folders that were not rule tests.
    /// </summary>
    private static string Report(IReadOnlyList<Loaded> files, IReadOnlyList<Outcome> outcomes, int skipped, TimeSpan took)
    {
        var sb = new System.Text.StringBuilder();
        foreach (var file in files)
        {
            var mine = outcomes.Where(o => o.File == file).ToArray();
            if (file.RuleErrors.Count > 0)
            {
                sb.Append($"FAIL  {file.File.File}: its rule files have errors (as validate reports them): {Tests(mine.Length)} not run\n");
                foreach (var d in file.RuleErrors)
                {
                    sb.Append("        ").Append(d).Append('\n');
                }

                continue;
            }

            var failed = mine.Where(o => o.Failures.Count > 0).ToArray();
            foreach (var o in failed)
            {
                sb.Append($"FAIL  {o.Test.Source.File}:{o.Test.Source.Line}:{o.Test.Source.Column}: {o.Test.Name}\n");
                foreach (var f in o.Failures)
                {
                    sb.Append("        ").Append(RuleDiagnostic.Escape(f.ToString())).Append('\n');
                }
            }

            sb.Append(failed.Length == 0
                ? $"ok    {file.File.File}: {Tests(mine.Length)} passed\n"
                : $"FAIL  {file.File.File}: {failed.Length} of {Tests(mine.Length)} failed\n");
        }

        var failures = outcomes.Count(o => o.Failures.Count > 0);
        sb.Append($"{files.Count} file(s), {Tests(outcomes.Count)}: {outcomes.Count - failures} passed, {failures} failed ({took.TotalSeconds.ToString("0.0", System.Globalization.CultureInfo.InvariantCulture)}s)");
        sb.Append(skipped > 0 ? $"; skipped {skipped} file(s) that are not rule tests\n" : "\n");
        return sb.ToString();
    }

    private static string Tests(int n) => n == 1 ? "1 test" : $"{n} tests";
}
