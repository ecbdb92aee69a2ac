namespace RollbackSentinel.Api;

/// <summary>
/// The limits on what people type (reasons, names, labels) and on request bodies, shared by the API, the Slack
/// endpoints and the CLI verbs (which check before sending). A value past a limit is refused with a message that
/// names the field and the limit; nothing is cut short silently. Documented in docs/architecture.md and docs/chatops.md.
/// </summary>
internal static class InputLimits
{
    /// <summary>Who asks or answers (<c>by</c>, the <c>X-Sentinel-User</c> header, a Slack handle): one line.</summary>
    public const int MaxBy = 200;

    /// <summary>Why (<c>reason</c>): may span lines (tabs and line breaks are kept; text logs escape them).</summary>
    public const int MaxReason = 2000;

    /// <summary>A change's revision (and previous revision): one line.</summary>
    public const int MaxRevision = 200;

    /// <summary>A change's description: may span lines, like a reason.</summary>
    public const int MaxDescription = 2000;

    /// <summary>How many labels a manual rollback, a change or a gate's filter may name.</summary>
    public const int MaxLabels = 32;

    /// <summary>A label name (Prometheus syntax: <c>[a-zA-Z_][a-zA-Z0-9_]*</c>).</summary>
    public const int MaxLabelName = 128;

    /// <summary>A label value: one line.</summary>
    public const int MaxLabelValue = 1024;

    /// <summary>A policy name in a path or a Slack command.</summary>
    public const int MaxPolicyName = 253;

    /// <summary>The largest JSON body the API reads: room for every field at its limit, far below a memory problem.</summary>
    public const long MaxApiBody = 64 * 1024;

    /// <summary>
    /// The largest body Slack may POST (an interaction carries the whole message it came from, URL-encoded):
    /// room for the largest message we post.
    /// </summary>
    public const long MaxSlackBody = 512 * 1024;

    /// <summary>Channels a person may name through the API (<c>slack</c> is only for answers Slack signed).</summary>
    public static readonly IReadOnlyList<string> ApiChannels = ["api", "cli"];

    /// <summary>The problem with a one-line name (<c>by</c>), or null when it is fine.</summary>
    public static string? CheckName(string field, string? value, int max = MaxBy) =>
        value is null ? null
        : value.Length > max ? $"'{field}' is {value.Length} characters long; the limit is {max}"
        : value.Any(c => char.IsControl(c) || c is '\u2028' or '\u2029') ? $"'{field}' must be one line without control characters (no line breaks, tabs or escapes)"
        : null;

    /// <summary>The problem with a reason, or null when it is fine: line breaks and tabs are allowed, other control characters are not.</summary>
    public static string? CheckReason(string field, string? value, int max = MaxReason) =>
        value is null ? null
        : value.Length > max ? $"'{field}' is {value.Length} characters long; the limit is {max}"
        : value.Any(c => char.IsControl(c) && c is not ('\n' or '\r' or '\t')) ? $"'{field}' must not contain control characters other than line breaks and tabs"
        : null;

    /// <summary>The problem with a set of labels, or null when they are fine.</summary>
    public static string? CheckLabels(string field, IReadOnlyDictionary<string, string>? labels)
    {
        if (labels is null)
        {
            return null;
        }

        if (labels.Count > MaxLabels)
        {
            return $"'{field}' has {labels.Count} labels; the limit is {MaxLabels}";
        }

        foreach (var (name, value) in labels)
        {
            if (name.Length is 0 or > MaxLabelName || !(char.IsAsciiLetter(name[0]) || name[0] == '_') || !name.All(c => char.IsAsciiLetterOrDigit(c) || c == '_'))
            {
                return $"'{field}': '{Shorten(name)}' is not a label name ([a-zA-Z_][a-zA-Z0-9_]*, at most {MaxLabelName} characters)";
            }

            // JSON lets a value be null ({"labels":{"deployment":null}}), which the type does not say.
            if (value is null)
            {
                return $"'{field}.{name}' must be a string, got null";
            }

            if (CheckName($"{field}.{name}", value, MaxLabelValue) is { } problem)
            {
                return problem;
            }
        }

        return null;
    }

    /// <summary>The problem with a channel named through the API or CLI, or null when it is fine.</summary>
    public static string? CheckChannel(string field, string? value) =>
        value is null || ApiChannels.Contains(value) ? null : $"'{field}' must be one of {string.Join(", ", ApiChannels)}, got '{Shorten(value)}'";

    /// <summary>A value quoted back to the caller, cut to a readable length and kept on one line.</summary>
    public static string Shorten(string value)
    {
        var oneLine = new string(value.Take(40).Select(c => char.IsControl(c) ? '?' : c).ToArray());
        return value.Length > 40 ? oneLine + "…" : oneLine;
    }
}
