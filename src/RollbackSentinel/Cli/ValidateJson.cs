using System.Text.Json;
using RollbackSentinel.Rules;

namespace RollbackSentinel.Cli;

/// <summary>
/// <c>validate --format json</c>: one JSON document for editors and CI. Messages are as found (JSON escapes
/// control characters itself); the exit code is the same as with text output. Rule test files are not in
/// <c>files</c> but in <c>skippedRuleTests</c>.
/// </summary>
internal static class ValidateJson
{
    private static readonly JsonSerializerOptions Options = new() { WriteIndented = true };

    public static string Write(RuleSet rules, IReadOnlyList<RuleDiagnostic> diagnostics)
    {
        var document = new
        {
            // Rule test files (rollback-sentinel test) are not rule files: listed apart, as the text output counts them.
            files = rules.Files.Where(f => !f.IsRuleTest).Select(f => new
            {
                file = f.File,
                policies = f.Policies.Select(p => p.Name).ToArray(),
                errors = diagnostics.Count(d => d.File == f.File && d.Severity == DiagnosticSeverity.Error),
                warnings = diagnostics.Count(d => d.File == f.File && d.Severity == DiagnosticSeverity.Warning),
            }),
            skippedRuleTests = rules.Files.Where(f => f.IsRuleTest).Select(f => f.File).ToArray(),
            policies = rules.Policies.Select(p => new
            {
                name = p.Name,
                file = p.Source?.File,
                line = p.Source?.Line,
                column = p.Source?.Column,
                triggers = p.Triggers.Select(t => t.Name).ToArray(),
                dryRun = p.DryRun,
            }),
            diagnostics = diagnostics.Select(d => new
            {
                file = d.File,
                line = d.Line,
                column = d.Column,
                field = d.Field,
                severity = d.Severity == DiagnosticSeverity.Error ? "error" : "warning",
                message = d.Message,
            }),
            errors = diagnostics.Count(d => d.Severity == DiagnosticSeverity.Error),
            warnings = diagnostics.Count(d => d.Severity == DiagnosticSeverity.Warning),
        };
        return JsonSerializer.Serialize(document, Options);
    }
}
