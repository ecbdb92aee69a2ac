using System.Globalization;
using System.Text;
using RollbackSentinel.Core.Secrets;
using Serilog.Core;
using Serilog.Events;
using Serilog.Parsing;

namespace RollbackSentinel.Hosting;

/// <summary>
/// Sits in front of the log's sink so that every event, whatever wrote it (our own [LoggerMessage]s, ASP.NET Core,
/// Quartz), is written safely: known secrets (<see cref="SecretRegistry"/>) are replaced in the message template,
/// every property (strings, and anything rendered as text, inside structures too) and the exception; and, for the
/// human-readable text format, control characters (CR, LF, the rest of C0 and C1, Unicode line and paragraph
/// separators, bidirectional overrides) are escaped (<c>\n</c>, <c>\u2028</c>), so text from outside (a reason, a
/// label, a service's error body) can never start a line of its own that looks like a log line. An exception's
/// stack trace keeps its lines, each indented. The JSON format escapes control characters itself.
/// </summary>
internal sealed class SafeLogSink(ILogEventSink inner, bool escapeControlCharacters, SecretRegistry? secrets = null) : ILogEventSink
{
    private const string ExceptionIndent = "    ";

    private static readonly MessageTemplateParser Parser = new();

    private readonly SecretRegistry _secrets = secrets ?? SecretRegistry.Shared;

    public void Emit(LogEvent logEvent)
    {
        ArgumentNullException.ThrowIfNull(logEvent);
        inner.Emit(Clean(logEvent));
    }

    /// <summary>
    /// Text as it may appear in a text log line: every control character that could break the line or fool a terminal
    /// written as an escape (<c>\n</c>, <c>\r</c>, <c>\t</c>, <c>\u001b</c>, <c>\u2028</c>).
    /// </summary>
    public static string EscapeControlCharacters(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (!text.Any(NeedsEscape))
        {
            return text;
        }

        var escaped = new StringBuilder(text.Length + 16);
        foreach (var c in text)
        {
            _ = c switch
            {
                '\n' => escaped.Append("\\n"),
                '\r' => escaped.Append("\\r"),
                '\t' => escaped.Append("\\t"),
                _ when NeedsEscape(c) => escaped.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture)),
                _ => escaped.Append(c),
            };
        }

        return escaped.ToString();
    }

    private static bool NeedsEscape(char c) =>
        char.IsControl(c) // C0, DEL and C1 (NEL included)
        || c is '\u2028' or '\u2029' // line and paragraph separators
        || c is >= '\u202A' and <= '\u202E' // bidirectional embeddings and overrides
        || c is >= '\u2066' and <= '\u2069'; // bidirectional isolates

    internal LogEvent Clean(LogEvent e)
    {
        var template = e.MessageTemplate.Text;
        var cleanTemplate = Text(template);
        return new LogEvent(
            e.Timestamp,
            e.Level,
            e.Exception is null ? null : new LoggedException(ExceptionText(e.Exception)),
            ReferenceEquals(cleanTemplate, template) ? e.MessageTemplate : Parser.Parse(cleanTemplate),
            e.Properties.Select(p => new LogEventProperty(p.Key, Value(p.Value))),
            e.TraceId ?? default,
            e.SpanId ?? default);
    }

    private string Text(string text)
    {
        var redacted = _secrets.Redact(text);
        return escapeControlCharacters ? EscapeControlCharacters(redacted) : redacted;
    }

    private LogEventPropertyValue Value(LogEventPropertyValue value) => value switch
    {
        ScalarValue { Value: string s } scalar => Text(s) is var t && ReferenceEquals(t, s) ? scalar : new ScalarValue(t),
        ScalarValue { Value: null or bool or char or byte or sbyte or short or ushort or int or uint or long or ulong or float or double or decimal or DateTime or DateTimeOffset or TimeSpan or Guid or Enum } scalar => scalar,
        ScalarValue scalar => Rendered(scalar),
        SequenceValue sequence => new SequenceValue(sequence.Elements.Select(Value)),
        StructureValue structure => new StructureValue(structure.Properties.Select(p => new LogEventProperty(p.Name, Value(p.Value))), structure.TypeTag),
        DictionaryValue dictionary => new DictionaryValue(dictionary.Elements.Select(kv => new KeyValuePair<ScalarValue, LogEventPropertyValue>((ScalarValue)Value(kv.Key), Value(kv.Value)))),
        _ => value,
    };

    // Anything else (a Uri, a record) is written through its ToString(): judge that text.
    private LogEventPropertyValue Rendered(ScalarValue scalar)
    {
        var text = Convert.ToString(scalar.Value, CultureInfo.InvariantCulture) ?? "";
        var clean = Text(text);
        return ReferenceEquals(clean, text) ? scalar : new ScalarValue(clean);
    }

    private string ExceptionText(Exception exception)
    {
        var text = _secrets.Redact(exception.ToString());
        if (!escapeControlCharacters)
        {
            return text;
        }

        // The stack trace keeps its lines, but each is indented, so none of them can pass for a log line of its own.
        var lines = text.Split(["\r\n", "\n", "\r", "\u2028", "\u2029", "\u0085"], StringSplitOptions.None);
        return string.Join(Environment.NewLine, lines.Select(l => ExceptionIndent + EscapeControlCharacters(l)));
    }
}

/// <summary>An exception as it is logged: its text already cleaned by <see cref="SafeLogSink"/>.</summary>
public sealed class LoggedException : Exception
{
    private readonly string _text;

    public LoggedException()
        : this(string.Empty)
    {
    }

    public LoggedException(string message)
        : base(message) => _text = message;

    public LoggedException(string message, Exception innerException)
        : base(message, innerException) => _text = message;

    public override string ToString() => _text;
}
