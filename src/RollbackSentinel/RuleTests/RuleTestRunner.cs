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

    private sealed record Loaded(RuleTestFile File, IReadOnlyList<Policy> Policies);

    private sealed record Outcome(Loaded File, RuleTestCase Test, IReadOnlyList<RuleTestFailure> Failures);

    public static async Task<int> RunAsync(IReadOnlyList<string> paths, TextWriter output, TextWriter error, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        var (files, listing) = TestFiles(paths);
        var parsed = files.Select(RuleTestFileParser.Read).ToArray();
        var problems = listing.Concat(parsed.SelectMany(p => p.Diagnostics)).ToList();
        if (problems.Any(d => d.Severity == DiagnosticSeverity.Error))
        {
            return await MalformedAsync(problems, error).ConfigureAwait(false);
        }

        var loaded = new List<Loaded>();
        var brokenRules = false;
        foreach (var file in parsed.Select(p => p.File!))
        {
            var rules = RuleSetLoader.Load(file.RuleFiles.Select(Readable));
            if (rules.ListingErrors.Count > 0 || (!rules.HasErrors && rules.Policies.Count == 0))
            {
                problems.Add(new RuleDiagnostic(file.File, 1, 1, "rule_files", rules.ListingErrors.Count > 0
                    ? string.Join("; ", rules.ListingErrors.Select(d => $"{d.File}: {d.Message}"))
                    : $"no policy in {string.Join(", ", file.RuleFiles.Select(Readable))}"));
                continue;
            }

            if (rules.HasErrors)
            {
                foreach (var d in rules.Errors)
                {
                    await error.WriteLineAsync(d.ToString()).ConfigureAwait(false);
                }

                await error.WriteLineAsync($"error: {file.File}: its rule files have errors (see rollback-sentinel validate)").ConfigureAwait(false);
                brokenRules = true;
                continue;
            }

            problems.AddRange(RuleTestFileParser.Check(file, rules.Policies));
            var schedule = new IntervalSchedule(file.EvaluationInterval);
            loaded.Add(new Loaded(file, rules.Policies.Select(p => p with { Schedule = schedule }).ToArray()));
        }

        if (problems.Count > 0)
        {
            return await MalformedAsync(problems, error).ConfigureAwait(false);
        }

        if (brokenRules)
        {
            return ExitCodes.InvalidRules;
        }

        var prometheus = LocalPrometheus.Find("prometheus");
        var promtool = LocalPrometheus.Find("promtool");
        if (prometheus is null || promtool is null)
        {
            var missing = string.Join(" and ", new[] { (prometheus, "prometheus"), (promtool, "promtool") }.Where(t => t.Item1 is null).Select(t => t.Item2));
            await error.WriteLineAsync($"error: {missing} not found on PATH: rule tests run their PromQL on a real Prometheus; {LocalPrometheus.InstallHint}").ConfigureAwait(false);
            return ExitCodes.Usage;
        }

        var runs = loaded.SelectMany(f => f.File.Tests.Select(t => (File: f, Test: t))).ToArray();
        var outcomes = new Outcome[runs.Length];
        await System.Threading.Tasks.Parallel.ForEachAsync(
            Enumerable.Range(0, runs.Length),
            new ParallelOptions { MaxDegreeOfParallelism = Parallel, CancellationToken = ct },
            async (i, token) => outcomes[i] = new Outcome(runs[i].File, runs[i].Test, await RunTestAsync(runs[i].File, runs[i].Test, prometheus, promtool, token).ConfigureAwait(false)))
            .ConfigureAwait(false);

        await output.WriteAsync(Report(loaded, outcomes, clock.Elapsed)).ConfigureAwait(false);
        return outcomes.Any(o => o.Failures.Count > 0) ? ExitCodes.InvalidRules : ExitCodes.Ok;
    }

    /// <summary>The files named, a folder standing for its *.yaml and *.yml files (not its subfolders), in name order.</summary>
    private static (IReadOnlyList<string> Files, IReadOnlyList<RuleDiagnostic> Problems) TestFiles(IReadOnlyList<string> paths)
    {
        var files = new List<string>();
        var problems = new List<RuleDiagnostic>();
        foreach (var path in paths)
        {
            if (Directory.Exists(path))
            {
                var found = Directory.EnumerateFiles(path)
                    .Where(f => f.EndsWith(".yaml", StringComparison.Ordinal) || f.EndsWith(".yml", StringComparison.Ordinal))
                    .Where(f => !Path.GetFileName(f).StartsWith('.'))
                    .Order(StringComparer.Ordinal)
                    .ToArray();
                files.AddRange(found);
                if (found.Length == 0)
                {
                    problems.Add(new RuleDiagnostic(path, 1, 1, string.Empty, "no rule test files (*.yaml, *.yml) in this folder"));
                }
            }
            else if (File.Exists(path))
            {
                files.Add(path);
            }
            else
            {
                problems.Add(new RuleDiagnostic(path, 1, 1, string.Empty, "no such file or folder"));
            }
        }

        return (files.Distinct(StringComparer.Ordinal).ToArray(), problems);
    }

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
        var step = file.File.EvaluationInterval;
        var series = test.Series.Select(s => new PlacedSeries(s.Name, Start, test.Interval, s.Values)).ToArray();
        await using var server = await LocalPrometheus.StartAsync(prometheus, promtool, TestHistory.OpenMetrics(series), TestHistory.StaleMarkers(series), test.Span, ct).ConfigureAwait(false);
        using var http = new HttpClient(PrometheusClient.CreateHandler()) { Timeout = Timeout.InfiniteTimeSpan };
        var client = new PrometheusClient(http, new PrometheusOptions { BaseAddress = server.BaseAddress });
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

        return RuleTestChecker.Check(test, Start, step, file.Policies, result.Decisions, states);
    }

    /// <summary>Per file "ok" or each failed test with its failures; then the totals and the time taken.</summary>
    private static string Report(IReadOnlyList<Loaded> files, IReadOnlyList<Outcome> outcomes, TimeSpan took)
    {
        var sb = new System.Text.StringBuilder();
        foreach (var file in files)
        {
            var mine = outcomes.Where(o => o.File == file).ToArray();
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
        sb.Append($"{files.Count} file(s), {Tests(outcomes.Count)}: {outcomes.Count - failures} passed, {failures} failed ({took.TotalSeconds.ToString("0.0", System.Globalization.CultureInfo.InvariantCulture)}s)\n");
        return sb.ToString();
    }

    private static string Tests(int n) => n == 1 ? "1 test" : $"{n} tests";
}
