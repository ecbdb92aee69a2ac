using System.CommandLine;
using System.Diagnostics;
using RollbackSentinel.Core.Backtesting;
using RollbackSentinel.Core.Evaluation;
using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Core.Policies;
using RollbackSentinel.Core.State;
using RollbackSentinel.Output;
using RollbackSentinel.Prometheus;
using RollbackSentinel.Rules;
using RollbackSentinel.Web.History;
using RollbackSentinel.Web.Reports;

namespace RollbackSentinel.Cli;

/// <summary>
/// <c>backtest</c>: replays every policy over a window of real Prometheus history, deciding exactly as the
/// daemon would, and prints what it would have done.
/// </summary>
internal static class BacktestCommand
{
    /// <summary>A guard against a window and step that would make millions of evaluations by mistake.</summary>
    public const int MaxEvaluationsPerPolicy = 200_000;

    public static Command Create()
    {
        var rulesOption = new Option<string[]>("--rules")
        {
            Description = "Rule files or folders.",
            Required = true,
            AllowMultipleArgumentsPerToken = true,
        };
        var prometheus = new PrometheusOptionsBinding("The Prometheus holding the history (the default backend; with --config, instead of its prometheus: block).", required: false);
        var config = new Option<FileInfo?>("--config")
        {
            Description = "The daemon's settings (YAML): its metrics backends (prometheus: and backends:), each policy's spec.backend is queried.",
        };
        var from = new Option<string>("--from") { Description = "Window start: RFC 3339 (2026-11-22T10:00:00Z), now, or a duration before now (-1h).", Required = true };
        var to = new Option<string>("--to") { Description = "Window end: RFC 3339, now, or a duration before now (-10m).", Required = true };
        var step = new Option<string?>("--step") { Description = "Evaluate every step (e.g. 15s) instead of each policy's own schedule." };
        var deployedAt = new Option<string?>("--deployed-at")
        {
            Description = "A change of every series of every policy at this time (RFC 3339, now, or -30m): arms rollback triggers for spec.watch.for after it; beforeDeploy baselines end there.",
        };
        var changesFile = new Option<FileInfo?>("--changes")
        {
            Description = "Known changes: a file of JSON lines in the API's change format ({\"policy\":..,\"at\":..,\"labels\":{..},\"revision\":..}); lines of other policies are ignored.",
        };
        var format = new Option<string>("--format")
        {
            Description = "table (for people), json (one line per action) or html (a self-contained report with a plot per trigger; to standard output unless --output is given).",
            DefaultValueFactory = _ => "table",
        };
        format.AcceptOnlyFromAmong("table", "json", "html");
        var outputFile = new Option<FileInfo?>("--output")
        {
            Description = "Write the table, JSON lines or HTML report to FILE (replaced at once when complete) instead of standard output.",
        };

        var command = new Command("backtest", "Replay policies over Prometheus history and print the decisions they would have made.")
        {
            rulesOption, from, to, step, deployedAt, changesFile, format, outputFile, config,
        };
        prometheus.AddTo(command);

        command.SetAction(async (result, ct) =>
        {
            var output = result.InvocationConfiguration.Output;
            var error = result.InvocationConfiguration.Error;

            var now = TimeProvider.System.GetUtcNow();
            if (TryReadWindow(result.GetRequiredValue(from), result.GetRequiredValue(to), result.GetValue(step), result.GetValue(deployedAt), now, error) is not { } window)
            {
                return ExitCodes.Usage;
            }

            if (result.GetValue(changesFile) is { } file)
            {
                if (await ReadChangesAsync(file, error, ct).ConfigureAwait(false) is not { } given)
                {
                    return ExitCodes.Usage;
                }

                window = window with { Changes = given };
            }

            // Checked before the replay, so a long backtest is not thrown away for a typo in the path.
            var outputPath = result.GetValue(outputFile);
            if (outputPath is not null && OutputFile.CheckWritable(outputPath.FullName) is { } unwritable)
            {
                await error.WriteLineAsync($"error: --output: cannot write {outputPath.FullName}: {unwritable}").ConfigureAwait(false);
                return ExitCodes.Usage;
            }

            var configFile = result.GetValue(config);
            if (configFile is null && result.GetValue(prometheus.Url) is null)
            {
                await error.WriteLineAsync("error: give --prometheus URL (the Prometheus holding the history), or --config with the daemon's settings naming its backends").ConfigureAwait(false);
                return ExitCodes.Usage;
            }

            var options = result.GetValue(prometheus.Url) is null ? null : prometheus.Bind(result, error);
            if (options is null && result.GetValue(prometheus.Url) is not null)
            {
                return ExitCodes.Usage;
            }

            Hosting.SentinelOptions settings;
            try
            {
                settings = RunCommand.Load(configFile?.FullName, new Dictionary<string, string?>());
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or YamlDotNet.Core.YamlException or InvalidOperationException)
            {
                await error.WriteLineAsync($"error: cannot read the settings: {e.Message}").ConfigureAwait(false);
                return ExitCodes.Usage;
            }

            using var backends = CliBackends.Open(settings, options, error);
            if (backends is null)
            {
                return ExitCodes.Usage;
            }

            var rules = RuleSetLoader.Load(result.GetRequiredValue(rulesOption), null, settings.ToBackendCatalog());
            foreach (var d in rules.Diagnostics)
            {
                await error.WriteLineAsync(d.ToString()).ConfigureAwait(false);
            }

            if (rules.HasErrors)
            {
                await error.WriteLineAsync("error: the rules have errors; fix them (see 'rollback-sentinel validate') before backtesting").ConfigureAwait(false);
                return ExitCodes.InvalidRules;
            }

            if (rules.Policies.Count == 0)
            {
                await error.WriteLineAsync("error: no policies found in the given rules").ConfigureAwait(false);
                return ExitCodes.InvalidRules;
            }

            var names = rules.Policies.Select(p => p.Name).ToHashSet(StringComparer.Ordinal);
            var others = (window.Changes ?? []).Where(c => !names.Contains(c.Policy)).ToArray();
            if (others.Length > 0)
            {
                var which = string.Join(", ", others.Select(c => c.Policy).Distinct().Order(StringComparer.Ordinal).Take(5));
                await error.WriteLineAsync($"backtest: ignoring {others.Length} change(s) of policies not in the rules ({which}{(others.Select(c => c.Policy).Distinct().Count() > 5 ? ", ..." : string.Empty)})").ConfigureAwait(false);
            }

            var backtester = new Backtester(backends.Backends, CronOccurrences.Between);
            foreach (var policy in rules.Policies)
            {
                if (backtester.CountEvaluations(policy, window, MaxEvaluationsPerPolicy) > MaxEvaluationsPerPolicy)
                {
                    await error.WriteLineAsync(
                        $"error: policy '{policy.Name}' would be evaluated more than {MaxEvaluationsPerPolicy} times in this window: use a shorter window or a larger --step").ConfigureAwait(false);
                    return ExitCodes.Usage;
                }
            }

            var clock = Stopwatch.StartNew();
            var formatName = result.GetValue(format);

            // Every evaluation's verdicts are kept only for the report's plots.
            var recorder = formatName == "html" ? new ReplayRecorder() : null;
            BacktestResult backtest;
            try
            {
                using var progress = TerminalProgress.For(error, TimeProvider.System);
                backtest = await backtester.RunAsync(rules.Policies, window, ct, progress, recorder is null ? null : recorder.Observe).ConfigureAwait(false);
            }
            catch (MetricsQueryException e)
            {
                await error.WriteLineAsync($"error: {e.Message}").ConfigureAwait(false);
                return ExitCodes.BackendFailure;
            }

            foreach (var warning in backtest.Warnings)
            {
                await error.WriteLineAsync($"warning: {warning}").ConfigureAwait(false);
            }

            var stats = $"{rules.Policies.Count} polic{(rules.Policies.Count == 1 ? "y" : "ies")}, {backends.RequestSummary(rules.Policies.Select(p => p.Backend))}, {clock.Elapsed.TotalSeconds:0.00}s";
            using var buffer = outputPath is null ? null : new StringWriter { NewLine = "\n" };
            var target = buffer ?? output;
            if (formatName == "json")
            {
                foreach (var d in backtest.Decisions.Where(d => d.Kind == DecisionKind.Act))
                {
                    await target.WriteLineAsync(BacktestJsonWriter.Format(d)).ConfigureAwait(false);
                }

                // stdout stays one decision per line; the changes those decisions were judged against go with the summary.
                await error.WriteAsync(BacktestTableWriter.FormatChanges(backtest)).ConfigureAwait(false);
                await error.WriteLineAsync($"backtest: {stats}").ConfigureAwait(false);
            }
            else if (recorder is not null)
            {
                var info = new BacktestReportInfo { GeneratedAt = TimeProvider.System.GetUtcNow(), Rules = result.GetRequiredValue(rulesOption) };
                await target.WriteAsync(BacktestReport.Render(backtest, window, rules.Policies, recorder, info)).ConfigureAwait(false);
                await error.WriteLineAsync($"backtest: {stats}").ConfigureAwait(false);
            }
            else
            {
                await target.WriteAsync(BacktestTableWriter.Format(backtest, window)).ConfigureAwait(false);
                await target.WriteLineAsync(stats).ConfigureAwait(false);
            }

            if (outputPath is not null)
            {
                try
                {
                    await OutputFile.WriteAsync(outputPath.FullName, buffer!.ToString(), ct).ConfigureAwait(false);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    await error.WriteLineAsync($"error: --output: cannot write {outputPath.FullName}: {e.Message}").ConfigureAwait(false);
                    return ExitCodes.Usage;
                }

                var policies = rules.Policies.Count;
                var decisions = backtest.Decisions.Count;
                await error.WriteLineAsync(
                    $"wrote {(recorder is null ? formatName : "report")} to {outputPath.FullName} ({policies} polic{(policies == 1 ? "y" : "ies")}, {decisions} decision{(decisions == 1 ? string.Empty : "s")})")
                    .ConfigureAwait(false);
            }

            return ExitCodes.Ok;
        });
        return command;
    }

    /// <summary>The changes of <c>--changes FILE</c>, or null when it cannot be read or has a bad line (each one printed).</summary>
    private static async Task<IReadOnlyList<Core.Changes.Change>?> ReadChangesAsync(FileInfo file, TextWriter error, CancellationToken ct)
    {
        string text;
        try
        {
            text = await File.ReadAllTextAsync(file.FullName, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            await error.WriteLineAsync($"error: --changes: cannot read {file.FullName}: {e.Message}").ConfigureAwait(false);
            return null;
        }

        var (changes, errors) = BacktestChangesFile.Parse(file.ToString(), text);
        if (errors.Count == 0)
        {
            return changes;
        }

        foreach (var e in errors.Take(BacktestChangesFile.MaxReportedErrors))
        {
            await error.WriteLineAsync(e).ConfigureAwait(false);
        }

        var more = errors.Count > BacktestChangesFile.MaxReportedErrors ? $" ({errors.Count - BacktestChangesFile.MaxReportedErrors} more not shown)" : string.Empty;
        await error.WriteLineAsync($"error: --changes: {errors.Count} problem(s) in {file}{more}: each line is one change as JSON, such as {Example}").ConfigureAwait(false);
        return null;
    }

    private const string Example = "{\"policy\":\"checkout-api\",\"labels\":{\"deployment\":\"cart\"},\"at\":\"2026-11-20T14:20:00Z\",\"revision\":\"v42\",\"by\":\"ci\"}";

    private static BacktestWindow? TryReadWindow(string fromText, string toText, string? stepText, string? deployedText, DateTimeOffset now, TextWriter error)
    {
        var ok = true;
        if (!CliTime.TryParse(fromText, now, out var from))
        {
            error.WriteLine($"error: --from: '{fromText}' is not {CliTime.Forms}");
            ok = false;
        }

        if (!CliTime.TryParse(toText, now, out var to))
        {
            error.WriteLine($"error: --to: '{toText}' is not {CliTime.Forms}");
            ok = false;
        }

        TimeSpan? step = null;
        if (stepText is not null)
        {
            if (!PromDuration.TryParse(stepText, out var s, out var why) || s < TimeSpan.FromSeconds(1))
            {
                error.WriteLine($"error: --step: {why ?? $"'{stepText}' must be at least 1s"}");
                ok = false;
            }

            step = s;
        }

        DateTimeOffset? deployedAt = null;
        if (deployedText is not null)
        {
            if (!CliTime.TryParse(deployedText, now, out var d))
            {
                error.WriteLine($"error: --deployed-at: '{deployedText}' is not {CliTime.Forms}");
                ok = false;
            }

            deployedAt = d;
        }

        if (ok && to <= from)
        {
            error.WriteLine($"error: the window is empty: --to ({Rfc3339.Format(to)}) must be after --from ({Rfc3339.Format(from)})");
            ok = false;
        }

        return ok ? new BacktestWindow(from, to, step, deployedAt) : null;
    }
}
