using System.CommandLine;
using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Prometheus;
using RollbackSentinel.Rules;

namespace RollbackSentinel.Cli;

/// <summary>
/// <c>validate &lt;dir|file&gt;...</c>: every problem in every file as <c>file:line:column: field: message</c>;
/// exit 1 if there is any error. With <c>--prometheus</c> each query's PromQL is also checked by that server.
/// </summary>
internal static class ValidateCommand
{
    public static Command Create()
    {
        var paths = new Argument<string[]>("paths")
        {
            Description = "Rule files or folders (searched recursively for *.yaml and *.yml).",
            Arity = ArgumentArity.OneOrMore,
        };
        var prometheus = new PrometheusOptionsBinding("Also check every query's PromQL syntax against this Prometheus.", required: false);
        var command = new Command("validate", "Check rule files: report every error with file, line, column and field.") { paths };
        prometheus.AddTo(command);
        command.SetAction(async (result, ct) =>
        {
            var output = result.InvocationConfiguration.Output;
            var error = result.InvocationConfiguration.Error;
            var rules = RuleSetLoader.Load(result.GetRequiredValue(paths));
            var diagnostics = rules.Diagnostics.ToList();

            if (result.GetValue(prometheus.Url) is not null)
            {
                var options = prometheus.Bind(result, error);
                if (options is null)
                {
                    return ExitCodes.Usage;
                }

                try
                {
                    diagnostics.AddRange(await CheckQueriesAsync(rules, options, ct).ConfigureAwait(false));
                }
                catch (MetricsQueryException e)
                {
                    await error.WriteLineAsync($"error: cannot check queries against {options.BaseAddress}: {e.Message}").ConfigureAwait(false);
                    return ExitCodes.BackendFailure;
                }
            }

            foreach (var d in diagnostics.OrderBy(d => d.File, StringComparer.Ordinal).ThenBy(d => d.Line).ThenBy(d => d.Column))
            {
                await error.WriteLineAsync(d.ToString()).ConfigureAwait(false);
            }

            var errors = diagnostics.Count(d => d.Severity == DiagnosticSeverity.Error);
            var warnings = diagnostics.Count - errors;
            var triggers = rules.Policies.Sum(p => p.Triggers.Count);
            await output.WriteLineAsync(
                $"{rules.Files.Count} file(s), {rules.Policies.Count} valid polic{(rules.Policies.Count == 1 ? "y" : "ies")} with {triggers} trigger(s): " +
                $"{errors} error(s), {warnings} warning(s)").ConfigureAwait(false);
            if (rules.Files.Count == 0)
            {
                // A mistyped path in CI must not pass as "nothing wrong".
                if (diagnostics.Count == 0)
                {
                    await error.WriteLineAsync("error: no rule files (*.yaml, *.yml) found in the given paths").ConfigureAwait(false);
                }

                return ExitCodes.InvalidRules;
            }

            return errors > 0 ? ExitCodes.InvalidRules : ExitCodes.Ok;
        });
        return command;
    }

    private static async Task<List<RuleDiagnostic>> CheckQueriesAsync(RuleSet rules, PrometheusOptions options, CancellationToken ct)
    {
        using var http = new HttpClient(PrometheusClient.CreateHandler());
        var client = new PrometheusClient(http, options);
        var found = new List<RuleDiagnostic>();
        var checkedQueries = new Dictionary<string, string?>(StringComparer.Ordinal);
        foreach (var q in rules.Files.SelectMany(f => f.Queries))
        {
            if (!checkedQueries.TryGetValue(q.Query, out var problem))
            {
                problem = checkedQueries[q.Query] = await client.CheckSyntaxAsync(q.Query, ct).ConfigureAwait(false);
            }

            if (problem is not null)
            {
                found.Add(new RuleDiagnostic(q.File, q.Line, q.Column, q.Field, $"Prometheus rejects the query: {problem}"));
            }
        }

        return found;
    }
}
