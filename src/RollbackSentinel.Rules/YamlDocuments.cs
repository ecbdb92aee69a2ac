using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace RollbackSentinel.Rules;

/// <summary>
/// Reads the YAML of a file the sentinel checks field by field (policies, rule tests): text only, within
/// <see cref="RuleLimits"/>, duplicate keys marked for <see cref="MapReader"/>; whatever stops it is one diagnostic.
/// </summary>
internal static class YamlDocuments
{
    /// <summary>The file's documents, or null when it is not readable YAML (the reason is an error in <paramref name="ctx"/>).</summary>
    public static YamlStream? Load(ParseContext ctx, string text)
    {
        if (NotText(text) is { } binary)
        {
            ctx.Error(binary.At, string.Empty, binary.Message);
            return null;
        }

        var stream = new YamlStream();
        var parser = new Parser(new StringReader(text));
        try
        {
            // The limits are checked on the event stream, before YamlStream builds (recursively) any node.
            stream.Load(new DuplicateKeyMarkingParser(new BoundedParser(parser)));
            return stream;
        }
        catch (RuleLimitException e)
        {
            ctx.Error(e.Start, string.Empty, e.Message);
        }
        catch (YamlException e)
        {
            var (at, message) = SyntaxError(text, e);
            ctx.Error(at, string.Empty, $"YAML syntax error: {message}");
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException)
        {
            // YamlDotNet throws these instead of a YamlException for some malformed input (aaubry/YamlDotNet#541).
            ctx.Error(parser.Current?.Start ?? Mark.Empty, string.Empty, $"YAML syntax error: the YAML reader stopped here ({e.Message})");
        }

        return null;
    }

    /// <summary>
    /// The first character YAML does not allow in a file (YAML 1.2 "printable"), e.g. a NUL byte, which YamlDotNet
    /// takes for the end of the input, so a file of NULs would pass as empty.
    /// </summary>
    private static (Mark At, string Message)? NotText(string text)
    {
        var line = 1;
        var column = 1;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            string? problem = null;
            if (c == '\n')
            {
                line++;
                column = 1;
                continue;
            }

            if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                i++;
                column++;
                continue;
            }

            if (c == '\0')
            {
                problem = "binary content: a NUL byte is not allowed in a YAML file";
            }
            else if ((c < 0x20 && c is not '\t' and not '\r') || c == 0x7F || (c is >= '\u0080' and <= '\u009F' && c != '\u0085') || c is '\uFFFE' or '\uFFFF' || char.IsSurrogate(c))
            {
                problem = $"binary content: the control character U+{(int)c:X4} is not allowed in a YAML file (write it as an escape in a double-quoted string)";
            }

            if (problem is not null)
            {
                return (new Mark(i, line, column), problem);
            }

            column++;
        }

        return null;
    }

    /// <summary>
    /// YamlDotNet's message, and where it is. A tab used as indentation is reported at the start of the mapping it
    /// breaks (often 1:1); the tab itself is what the author has to find.
    /// </summary>
    private static (Mark At, string Message) SyntaxError(string text, YamlException e)
    {
        var message = Unwrap(e).Message;
        if (message.Contains("tab", StringComparison.OrdinalIgnoreCase))
        {
            var lines = text.Split('\n');
            for (var i = Math.Max(0, (int)e.Start.Line - 1); i < lines.Length; i++)
            {
                var indent = lines[i].Length - lines[i].TrimStart(' ', '\t').Length;
                var tab = lines[i].IndexOf('\t', 0, indent);
                if (tab >= 0)
                {
                    return (new Mark(0, i + 1, tab + 1), "a tab is used for indentation; YAML indents with spaces only");
                }
            }
        }

        return (e.Start, message);
    }

    private static Exception Unwrap(YamlException e) => e.InnerException is YamlException inner ? Unwrap(inner) : e;
}
