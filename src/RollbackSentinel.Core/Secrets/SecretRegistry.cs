
namespace RollbackSentinel.Core.Secrets;

/// <summary>
/// Every secret value the process has read (API token, Slack bot token and signing secret, PagerDuty routing
/// keys, Prometheus credentials, webhook secrets, anything read from a secret file), so that text headed for
/// the log or the store can be cleaned of them whatever its source: a service that echoes a key back in an
/// error body, an exception message, a person pasting one into a reason. <see cref="Shared"/> is the
/// process-wide one every secret read registers into; the log pipeline and the store apply it.
/// </summary>
public sealed class SecretRegistry
{
    /// <summary>What a secret is replaced with.</summary>
    public const string Marker = "[REDACTED]";

    /// <summary>
    /// Shorter values are not registered: redacting a 3-character "secret" would mangle every line it occurs in,
    /// and a credential that short protects nothing anyway.
    /// </summary>
    public const int MinimumLength = 4;

    private readonly Lock _gate = new();

    // Longest first, so a secret that contains another is replaced whole. Swapped, never mutated: readers take no lock.
    private volatile string[] _values = [];

    /// <summary>The registry of this process.</summary>
    public static SecretRegistry Shared { get; } = new();

    /// <summary>How many values (with their encoded forms) are known.</summary>
    public int Count => _values.Length;

    /// <summary>
    /// Remembers a secret (trimmed), and the forms it takes when a service echoes it inside JSON or a URL. Null,
    /// blank and very short values are ignored.
    /// </summary>
    public void Register(string? secret)
    {
        var value = secret?.Trim();
        if (value is null || value.Length < MinimumLength)
        {
            return;
        }

        var forms = new HashSet<string>(StringComparer.Ordinal) { value };
        forms.Add(JsonEscaped(value, escapeNonAscii: false));
        forms.Add(JsonEscaped(value, escapeNonAscii: true));
        forms.Add(Uri.EscapeDataString(value));
        lock (_gate)
        {
            var known = new HashSet<string>(_values, StringComparer.Ordinal);
            if (forms.IsSubsetOf(known))
            {
                return;
            }

            known.UnionWith(forms);
            _values = [.. known.OrderByDescending(v => v.Length).ThenBy(v => v, StringComparer.Ordinal)];
        }
    }

    /// <summary>
    /// The value as it reads inside a JSON string: minimally escaped (most services), or with non-ASCII and
    /// HTML-sensitive characters as <c>\uXXXX</c> too (.NET's default encoder). Written here because Core takes no
    /// serializer.
    /// </summary>
    private static string JsonEscaped(string value, bool escapeNonAscii)
    {
        var escaped = new System.Text.StringBuilder(value.Length + 8);
        foreach (var c in value)
        {
            switch (c)
            {
                case '"': escaped.Append(escapeNonAscii ? "\\u0022" : "\\\""); break;
                case '\\': escaped.Append("\\\\"); break;
                case '\n': escaped.Append("\\n"); break;
                case '\r': escaped.Append("\\r"); break;
                case '\t': escaped.Append("\\t"); break;
                case '\b': escaped.Append("\\b"); break;
                case '\f': escaped.Append("\\f"); break;
                default:
                    if (c < 0x20 || (escapeNonAscii && (c > 0x7E || c is '<' or '>' or '&' or '\'' or '+' or '`')))
                    {
                        escaped.Append("\\u").Append(((int)c).ToString("X4", System.Globalization.CultureInfo.InvariantCulture));
                    }
                    else
                    {
                        escaped.Append(c);
                    }

                    break;
            }
        }

        return escaped.ToString();
    }

    /// <summary>The text with every known secret replaced by <see cref="Marker"/>; the same instance when it holds none.</summary>
    public string Redact(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var values = _values;
        foreach (var value in values)
        {
            if (text.Contains(value, StringComparison.Ordinal))
            {
                text = text.Replace(value, Marker, StringComparison.Ordinal);
            }
        }

        return text;
    }
}
