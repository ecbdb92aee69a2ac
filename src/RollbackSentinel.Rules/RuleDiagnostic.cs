using System.Globalization;
using System.Text;

namespace RollbackSentinel.Rules;

public enum DiagnosticSeverity
{
    Error,
    Warning,
}

/// <summary>One problem in a rule file, located like a compiler error: <c>file:line:column: field: message</c>.</summary>
public sealed record RuleDiagnostic(string File, int Line, int Column, string Field, string Message, DiagnosticSeverity Severity = DiagnosticSeverity.Error)
{
    /// <summary>The longest message printed; a rule value quoted in full could otherwise fill a terminal or a log.</summary>
    public const int MaxMessageLength = 2000;

    /// <summary>
    /// One line, whatever the rule held: control characters in the file name, field and message are escaped
    /// (a newline as <c>\n</c>), so a value from a rule can never print a second line that looks like a diagnostic.
    /// </summary>
    public override string ToString()
    {
        var prefix = Severity == DiagnosticSeverity.Warning ? "warning: " : string.Empty;
        var field = Field.Length == 0 ? string.Empty : Escape(Field) + ": ";
        var message = Message.Length > MaxMessageLength ? Message[..MaxMessageLength] + $"... ({Message.Length - MaxMessageLength} more characters)" : Message;
        return $"{Escape(File)}:{Line}:{Column}: {prefix}{field}{Escape(message)}";
    }

    /// <summary>Writes control characters as escapes (<c>\n</c>, <c>\t</c>, <c>\u0000</c>) and a backslash before one as <c>\\</c>.</summary>
    public static string Escape(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (!text.Any(IsControl))
        {
            return text;
        }

        var sb = new StringBuilder(text.Length + 8);
        foreach (var c in text)
        {
            sb.Append(c switch
            {
                '\n' => "\\n",
                '\r' => "\\r",
                '\t' => "\\t",
                '\\' => "\\\\",
                _ when IsControl(c) => "\\u" + ((int)c).ToString("x4", CultureInfo.InvariantCulture),
                _ => c.ToString(),
            });
        }

        return sb.ToString();
    }

    // Also U+2028/U+2029 (line and paragraph separators), which some terminals and log viewers break lines at.
    private static bool IsControl(char c) => char.IsControl(c) || c is '\u2028' or '\u2029';
}
