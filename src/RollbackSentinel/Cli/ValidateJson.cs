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
    public static string Write(RuleSet rules, IReadOnlyList<RuleDiagnostic> diagnostics)
    {
        var document = new Document(
            // Rule test files (rollback-sentinel test) are not rule files: listed apart, as the text output counts them.
            rules.Files.Where(f => !f.IsRuleTest).Select(f => new FileEntry(
                f.File,
                f.Policies.Select(p => p.Name).ToArray(),
                diagnostics.Count(d => d.File == f.File && d.Severity == DiagnosticSeverity.Error),
                diagnostics.Count(d => d.File == f.File && d.Severity == DiagnosticSeverity.Warning))).ToArray(),
            rules.Files.Where(f => f.IsRuleTest).Select(f => f.File).ToArray(),
            rules.Policies.Select(p => new PolicyEntry(
                p.Name,
                p.Source?.File,
                p.Source?.Line,
                p.Source?.Column,
                p.Triggers.Select(t => t.Name).ToArray(),
                p.DryRun)).ToArray(),
            diagnostics.Select(d => new DiagnosticEntry(
                d.File,
                d.Line,
                d.Column,
                d.Field,
                d.Severity == DiagnosticSeverity.Error ? "error" : "warning",
                d.Message)).ToArray(),
            diagnostics.Count(d => d.Severity == DiagnosticSeverity.Error),
            diagnostics.Count(d => d.Severity == DiagnosticSeverity.Warning));
        return JsonSerializer.Serialize(document, CliJsonContext.Default.Document);
    }

    internal sealed record Document(
        IReadOnlyList<FileEntry> Files,
        IReadOnlyList<string> SkippedRuleTests,
        IReadOnlyList<PolicyEntry> Policies,
        IReadOnlyList<DiagnosticEntry> Diagnostics,
        int Errors,
        int Warnings);

    internal sealed record FileEntry(string File, IReadOnlyList<string> Policies, int Errors, int Warnings);

    internal sealed record PolicyEntry(string Name, string? File, int? Line, int? Column, IReadOnlyList<string> Triggers, bool DryRun);

    internal sealed record DiagnosticEntry(string File, int Line, int Column, string? Field, string Severity, string Message);
}
