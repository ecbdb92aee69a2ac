using System.Text.Json;

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
        var json = JsonSerializer.Serialize(value);
        forms.Add(json[1..^1]);
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

    /// <summary>Whether the text holds a known secret.</summary>
    public bool Contains(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return _values.Any(v => text.Contains(v, StringComparison.Ordinal));
    }
}
