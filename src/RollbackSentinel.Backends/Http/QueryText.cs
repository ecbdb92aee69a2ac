using System.Text;

namespace RollbackSentinel.Backends.Http;

/// <summary>Renders a query for an error message: one line, quoted, cut when very long.</summary>
internal static class QueryText
{
    public const int MaxLength = 300;

    public static string ForMessage(string query)
    {
        // Rules keep long PromQL on several YAML lines; one line reads better in a log or a page.
        var sb = new StringBuilder(Math.Min(query.Length, MaxLength) + 2);
        var pendingSpace = false;
        var kept = 0;
        foreach (var c in query.Trim())
        {
            if (char.IsWhiteSpace(c))
            {
                pendingSpace = true;
                continue;
            }

            if (kept == MaxLength)
            {
                return $"\"{sb}...\" ({query.Length} characters)";
            }

            if (pendingSpace)
            {
                sb.Append(' ');
                pendingSpace = false;
                kept++;
            }

            sb.Append(c);
            kept++;
        }

        return $"\"{sb}\"";
    }
}
