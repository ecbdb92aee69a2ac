using System.Net;
using System.Text;

namespace RollbackSentinel.Backends.Graphite;

/// <summary>What graphite-web said in an error answer, as one line.</summary>
/// <param name="Message">The line: <c>Invalid parameters (Received request for unknown function: nosuchfunc)...</c>, <c>ValueError: Invalid tagspec foo</c>.</param>
/// <param name="ExceptionType">For a 500 page, the Python exception's type (<c>ValueError</c>); else null.</param>
internal sealed record GraphiteError(string Message, string? ExceptionType)
{
    /// <summary>
    /// Python exceptions graphite-web raises while reading or applying a target's functions to their arguments (a bad
    /// tag expression, a wrong argument type, an invalid regular expression): the target is wrong, not the server.
    /// Anything else on a 500 page (an I/O error, a database error) is the server's own failure.
    /// </summary>
    private static readonly HashSet<string> TargetErrorTypes = new(StringComparer.Ordinal)
    {
        "ValueError", "TypeError", "InputParameterError", "ParseException", "pyparsing.ParseException",
        "error", "re.error", "IndexError", "KeyError", "ZeroDivisionError",
    };

    /// <summary>Whether a 500 page says the target is wrong (a bad argument), rather than that the server failed.</summary>
    public bool BlamesTarget => ExceptionType is { } type && TargetErrorTypes.Contains(type);
}

/// <summary>
/// Reads graphite-web's error answers: a 400 is one line of (HTML-escaped) text, <c>Invalid parameters (...)</c>; a 500 is
/// its "Graphite encountered an unexpected error" page with a Python traceback whose last line is the exception.
/// </summary>
internal static class GraphiteErrorText
{
    private const int MaxMessageLength = 300;
    private const int MaxBytesRead = 256 * 1024;

    /// <summary>graphite-web's message, or null when the body is not one of its error answers (a proxy's HTML page, nothing).</summary>
    public static GraphiteError? Parse(ReadOnlySpan<byte> body)
    {
        var text = Encoding.UTF8.GetString(body[..Math.Min(body.Length, MaxBytesRead)]);
        var pre = text.LastIndexOf("<pre>", StringComparison.OrdinalIgnoreCase);
        if (pre >= 0 && text.Contains("Graphite encountered an unexpected error", StringComparison.Ordinal))
        {
            var end = text.IndexOf("</pre>", pre, StringComparison.OrdinalIgnoreCase);
            var traceback = text[(pre + "<pre>".Length)..(end < 0 ? text.Length : end)];
            var last = traceback.Split('\n').Select(l => l.Trim()).LastOrDefault(l => l.Length > 0);
            if (last is null)
            {
                return null;
            }

            var line = OneLine(WebUtility.HtmlDecode(last));
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            var type = colon > 0 && line[..colon].All(c => char.IsLetterOrDigit(c) || c is '_' or '.') ? line[..colon] : null;
            return new GraphiteError(line, type);
        }

        var trimmed = text.TrimStart();
        if (trimmed.Length == 0 || trimmed[0] == '<')
        {
            return null;
        }

        var first = trimmed.Split('\n')[0].Trim();
        return new GraphiteError(OneLine(WebUtility.HtmlDecode(first)), null);
    }

    private static string OneLine(string text)
    {
        var line = string.Join(' ', text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries));
        return line.Length <= MaxMessageLength ? line : string.Concat(line.AsSpan(0, MaxMessageLength), "...");
    }
}
