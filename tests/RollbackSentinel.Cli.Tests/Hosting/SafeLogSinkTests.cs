using System.Globalization;
using System.Text.Json;
using RollbackSentinel.Core.Secrets;
using RollbackSentinel.Hosting;
using Serilog.Core;
using Serilog.Events;
using Serilog.Formatting;
using Serilog.Formatting.Display;
using Serilog.Formatting.Json;
using Serilog.Parsing;

namespace RollbackSentinel.Cli.Tests.Hosting;

/// <summary>What the daemon's log sink passes on: secrets redacted everywhere in an event, control characters escaped in text.</summary>
public sealed class SafeLogSinkTests
{
    private const string TextTemplate = "{Timestamp:yyyy-MM-ddTHH:mm:ss.fffzzz} {Level:u3} {Message:lj}{NewLine}{Exception}";
    private static readonly DateTimeOffset At = new(2026, 12, 5, 7, 0, 0, TimeSpan.Zero);

    private readonly SecretRegistry _secrets = new();

    public SafeLogSinkTests() => _secrets.Register("hunter2-secret");

    [Fact]
    public void Text_SecretsInTemplatePropertiesStructuresAndException_AreRedacted()
    {
        var text = Format(
            text: true,
            "Call with hunter2-secret failed for {Who}: {Detail}",
            new InvalidOperationException("body: {\"key\":\"hunter2-secret\"}"),
            ("Who", new ScalarValue("bob hunter2-secret")),
            ("Detail", new StructureValue([new LogEventProperty("Body", new ScalarValue("echo hunter2-secret")), new LogEventProperty("Url", new ScalarValue(new Uri("https://x.example/?k=hunter2-secret")))])));

        Assert.DoesNotContain("hunter2-secret", text, StringComparison.Ordinal);
        Assert.Equal("2026-12-05T07:00:00.000+00:00 ERR Call with [REDACTED] failed for bob [REDACTED]: {\"Body\":\"echo [REDACTED]\",\"Url\":\"https://x.example/?k=[REDACTED]\"}", text.Split(Environment.NewLine)[0]);
        Assert.Contains("    System.InvalidOperationException: body: {\"key\":\"[REDACTED]\"}", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Text_ControlCharactersInPropertiesAndTemplate_AreEscapedOnOneLine()
    {
        var text = Format(text: true, "reason {Reason}\nforged in template", null, ("Reason", new ScalarValue("a\r\nb\u2028c\u0085d\u001b[31me\u202Ef\tg")));

        Assert.Equal("2026-12-05T07:00:00.000+00:00 ERR reason a\\r\\nb\\u2028c\\u0085d\\u001b[31me\\u202ef\\tg\\nforged in template" + Environment.NewLine, text);
    }

    [Fact]
    public void Text_ExceptionWithForgedLine_EveryLineIsIndented()
    {
        var text = Format(text: true, "failed", new InvalidOperationException("first\n2026-12-05T07:00:00.000+00:00 CRT forged"));

        var lines = text.Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("2026-12-05T07:00:00.000+00:00 ERR failed", lines[0]);
        Assert.All(lines.Skip(1), l => Assert.StartsWith("    ", l, StringComparison.Ordinal));
        Assert.Contains("    2026-12-05T07:00:00.000+00:00 CRT forged", lines);
    }

    [Fact]
    public void Json_NewlinesStayEscapedOnOneLineAndSecretsAreRedacted()
    {
        var json = Format(text: false, "reason {Reason}", new InvalidOperationException("with hunter2-secret"), ("Reason", new ScalarValue("x\n2026-12-05 CRT forged hunter2-secret")));

        Assert.Single(json.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.DoesNotContain("hunter2-secret", json, StringComparison.Ordinal);
        using var parsed = JsonDocument.Parse(json);
        Assert.Equal("x\n2026-12-05 CRT forged [REDACTED]", parsed.RootElement.GetProperty("Properties").GetProperty("Reason").GetString());
        Assert.Equal("reason \"x\n2026-12-05 CRT forged [REDACTED]\"", parsed.RootElement.GetProperty("RenderedMessage").GetString());
        Assert.Equal("System.InvalidOperationException: with [REDACTED]", parsed.RootElement.GetProperty("Exception").GetString());
    }

    private string Format(bool text, string template, Exception? exception, params (string Name, LogEventPropertyValue Value)[] properties)
    {
        var capture = new Capture(text ? new MessageTemplateTextFormatter(TextTemplate, CultureInfo.InvariantCulture) : new JsonFormatter(renderMessage: true));
        var sink = new SafeLogSink(capture, escapeControlCharacters: text, _secrets);
        sink.Emit(new LogEvent(At, LogEventLevel.Error, exception, new MessageTemplateParser().Parse(template), properties.Select(p => new LogEventProperty(p.Name, p.Value))));
        return capture.Output.ToString();
    }

    /// <summary>The sink the daemon's console stands for: renders what it is given.</summary>
    private sealed class Capture(ITextFormatter formatter) : ILogEventSink
    {
        public StringWriter Output { get; } = new(CultureInfo.InvariantCulture);

        public void Emit(LogEvent logEvent) => formatter.Format(logEvent, Output);
    }
}
