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
        var format = new Option<string>("--format")
        {
            Description = "text: one line per problem on stderr and a summary; json: one JSON document on stdout (files, policies, diagnostics).",
            DefaultValueFactory = _ => "text",
        };
        format.AcceptOnlyFromAmong("text", "json");
        var config = new Option<FileInfo?>("--config")
        {
            Description = "The daemon's settings (YAML): secret files named by rules must be in its secrets.allowedDirectories " +
                $"(without it, the default: {SecretFileAccess.DefaultDirectory}).",
        };
        var backendCheck = new Option<bool>("--backend-check")
        {
            Description = "Also ask each policy's backend (from --config; --prometheus for the default one) to parse each of its queries, where the backend can.",
        };
        var command = new Command(
            "validate",
            "Check rule files: report every error with file, line, column and field.")
        { paths, format, config, backendCheck };
        prometheus.AddTo(command);
        command.SetAction(async (result, ct) =>
        {
            var output = result.InvocationConfiguration.Output;
            var error = result.InvocationConfiguration.Error;
            Hosting.SentinelOptions settings;
            try
            {
                settings = RunCommand.Load(result.GetValue(config)?.FullName, new Dictionary<string, string?>());
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or YamlDotNet.Core.YamlException or InvalidOperationException)
            {
                await error.WriteLineAsync($"error: cannot read the settings: {e.Message}").ConfigureAwait(false);
                return ExitCodes.Usage;
            }

            // The same checks as the daemon's: a rule naming a file outside the allowed directories, or a backend the
            // settings lack (or a query in another backend's language), is an error here too.
            var given = result.GetRequiredValue(paths);
            var settingsProblems = settings.BackendProblems();
            foreach (var p in settingsProblems)
            {
                await error.WriteLineAsync($"error: settings: {p}").ConfigureAwait(false);
            }

            if (settingsProblems.Count > 0)
            {
                return ExitCodes.Usage;
            }

            var catalog = settings.ToBackendCatalog();
            var rules = RuleSetLoader.Load(given, Hosting.SecretFiles.SecretFileAccess(settings), catalog);
            var diagnostics = rules.Diagnostics.ToList();
            diagnostics.AddRange(FoldersWithoutRules(given, rules));

            var checkAll = result.GetValue(backendCheck);
            if (checkAll || result.GetValue(prometheus.Url) is not null)
            {
                var options = result.GetValue(prometheus.Url) is null ? null : prometheus.Bind(result, error);
                if (options is null && result.GetValue(prometheus.Url) is not null)
                {
                    return ExitCodes.Usage;
                }

                using var backends = CliBackends.Open(settings, options, error);
                if (backends is null)
                {
                    return ExitCodes.Usage;
                }

                // --prometheus alone checks the default backend's queries against that Prometheus, as it always did.
                var queries = rules.Files.SelectMany(f => f.Queries)
                    .Where(q => checkAll || BackendCatalog.SameName(catalog.Resolve(q.Backend), catalog.DefaultBackend) && catalog.TypeOf(q.Backend) is "prometheus")
                    .Where(q => catalog.TypeOf(q.Backend) is not null);
                try
                {
                    diagnostics.AddRange(await CheckQueriesAsync(queries, backends.Backends, ct).ConfigureAwait(false));
                }
                catch (BackendCheckException e)
                {
                    await error.WriteLineAsync($"error: cannot check queries against {e.Backend}: {e.InnerException!.Message}").ConfigureAwait(false);
                    return ExitCodes.BackendFailure;
                }
            }

            var sorted = diagnostics.OrderBy(d => d.File, StringComparer.Ordinal).ThenBy(d => d.Line).ThenBy(d => d.Column).ToList();
            var errors = diagnostics.Count(d => d.Severity == DiagnosticSeverity.Error);
            var warnings = diagnostics.Count - errors;
            if (result.GetValue(format) == "json")
            {
                await output.WriteLineAsync(ValidateJson.Write(rules, sorted)).ConfigureAwait(false);
            }
            else
            {
                foreach (var d in sorted)
                {
                    await error.WriteLineAsync(d.ToString()).ConfigureAwait(false);
                }

                var triggers = rules.Policies.Sum(p => p.Triggers.Count);
                var skipped = rules.Files.Count(f => f.IsRuleTest);
                await output.WriteLineAsync(
                    $"{rules.Files.Count(f => !f.IsRuleTest)} file(s), {rules.Policies.Count} valid polic{(rules.Policies.Count == 1 ? "y" : "ies")} with {triggers} trigger(s): " +
                    $"{errors} error(s), {warnings} warning(s){(skipped > 0 ? $"; skipped {skipped} rule test file(s)" : string.Empty)}").ConfigureAwait(false);
            }

            // A mistyped path in CI must not pass as "nothing wrong": no rule file at all is an error (reported above;
            // a folder of only rule test files is one too).
            return errors > 0 || rules.Files.Count == 0 ? ExitCodes.InvalidRules : ExitCodes.Ok;
        });
        return command;
    }

    /// <summary>An error for each given folder in which no rule file was found (and nothing else was reported): rule test files are not rule files.</summary>
    private static IEnumerable<RuleDiagnostic> FoldersWithoutRules(IEnumerable<string> given, RuleSet rules)
    {
        foreach (var path in given.Where(Directory.Exists))
        {
            var prefix = path.EndsWith(Path.DirectorySeparatorChar) ? path : path + Path.DirectorySeparatorChar;
            var inside = rules.Files.Where(f => f.File.StartsWith(prefix, StringComparison.Ordinal)).ToArray();
            var found = inside.Any(f => !f.IsRuleTest)
                || rules.Diagnostics.Any(d => d.File == path || d.File.StartsWith(prefix, StringComparison.Ordinal));
            if (!found)
            {
                yield return new RuleDiagnostic(path, 1, 1, string.Empty, inside.Length == 0
                    ? "no rule files (*.yaml, *.yml) in this folder"
                    : $"no rule files (*.yaml, *.yml) in this folder, only rule test files ({inside.Length} skipped)");
            }
        }
    }

    private static async Task<List<RuleDiagnostic>> CheckQueriesAsync(IEnumerable<QueryLocation> queries, Hosting.MetricsBackends backends, CancellationToken ct)
    {
        var found = new List<RuleDiagnostic>();
        var checkedQueries = new Dictionary<(string Backend, string Query), string?>();
        foreach (var q in queries)
        {
            if (backends.Find(q.Backend) is not { Source: IQueryChecker checker } backend)
            {
                continue;
            }

            if (!checkedQueries.TryGetValue((backend.Name, q.Query), out var problem))
            {
                try
                {
                    problem = checkedQueries[(backend.Name, q.Query)] = await checker.CheckSyntaxAsync(q.Query, ct).ConfigureAwait(false);
                }
                catch (MetricsQueryException e)
                {
                    throw new BackendCheckException(BackendCatalog.SameName(backend.Name, BackendCatalog.DefaultName) ? backend.Display : $"{backend.Display} ({backend.Name})", e);
                }
            }

            if (problem is not null)
            {
                found.Add(new RuleDiagnostic(q.File, q.Line, q.Column, q.Field, $"{backend.Display} rejects the query: {problem}"));
            }
        }

        return found;
    }

    /// <summary>A backend could not say anything about a query (unreachable, refused the credentials).</summary>
    private sealed class BackendCheckException(string backend, MetricsQueryException inner) : Exception(inner.Message, inner)
    {
        public string Backend { get; } = backend;
    }
}
