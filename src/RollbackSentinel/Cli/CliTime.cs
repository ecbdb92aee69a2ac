using RollbackSentinel.Core.Evaluation;
using RollbackSentinel.Core.Policies;

namespace RollbackSentinel.Cli;

/// <summary>
/// The time flags of the CLI (<c>--from</c>, <c>--to</c>, <c>--deployed-at</c>): an RFC 3339 time, <c>now</c>, or a
/// duration before now (<c>-1h</c>, <c>-90m</c>, <c>-2d</c>).
/// </summary>
internal static class CliTime
{
    public const string Forms = "an RFC 3339 time such as 2026-11-22T10:00:00Z, 'now', or a duration before now such as -1h";

    public static bool TryParse(string text, DateTimeOffset now, out DateTimeOffset time)
    {
        time = default;
        var trimmed = text.Trim();
        if (trimmed.Equals("now", StringComparison.OrdinalIgnoreCase))
        {
            time = now;
            return true;
        }

        if (trimmed.StartsWith('-') && PromDuration.TryParse(trimmed[1..], out var ago, out _) && ago > TimeSpan.Zero)
        {
            time = now - ago;
            return true;
        }

        return Rfc3339.TryParse(trimmed, out time);
    }
}
