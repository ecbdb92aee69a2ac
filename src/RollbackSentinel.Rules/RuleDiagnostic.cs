namespace RollbackSentinel.Rules;

public enum DiagnosticSeverity
{
    Error,
    Warning,
}

/// <summary>One problem in a rule file, located like a compiler error: <c>file:line:column: field: message</c>.</summary>
public sealed record RuleDiagnostic(string File, int Line, int Column, string Field, string Message, DiagnosticSeverity Severity = DiagnosticSeverity.Error)
{
    public override string ToString()
    {
        var prefix = Severity == DiagnosticSeverity.Warning ? "warning: " : string.Empty;
        var field = Field.Length == 0 ? string.Empty : Field + ": ";
        return $"{File}:{Line}:{Column}: {prefix}{field}{Message}";
    }
}
