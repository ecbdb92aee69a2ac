using YamlDotNet.Core;

namespace RollbackSentinel.Rules;

public static partial class PolicyParser
{
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
}
