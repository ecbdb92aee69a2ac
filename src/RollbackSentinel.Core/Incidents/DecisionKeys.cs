using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using RollbackSentinel.Core.State;

namespace RollbackSentinel.Core.Incidents;

/// <summary>
/// The identity of one decision (policy, trigger, series, time), from which an incident's open key and its action's
/// idempotency key derive. Stable across restarts, versions and stores: receivers (webhooks, PagerDuty) deduplicate on
/// it, so changing the derivation would make a retried action look new.
/// </summary>
/// <remarks>
/// The format, fixed: SHA-256 over the UTF-8 text
/// <c>{len}:{policy}|{len}:{trigger}|{len}:{labels}|{time}</c>, where each <c>len</c> is the decimal length of the
/// text after it (so no two decisions give the same text whatever their names hold), <c>labels</c> is
/// <see cref="Metrics.LabelSet.ToString"/> (sorted <c>{a="1", b="2"}</c>), and <c>time</c> is the decision time in UTC
/// as <see cref="TimeFormat"/> (every tick, e.g. <c>2026-11-20T14:32:45.1234567Z</c>). The open key is the whole hash
/// in lower-case hex; the idempotency key is <c>rs-</c> and the first 16 bytes in hex. Keys made before this format was
/// owned by Core used the same text (it was the SQLite store's time format), so they are unchanged.
/// </remarks>
public static class DecisionKeys
{
    /// <summary>How the decision time is written into the key: UTC, fixed width, every tick.</summary>
    public const string TimeFormat = "yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'";

    /// <summary>The incident's open key: one incident per decision.</summary>
    public static string OpenKey(Decision decision) => Convert.ToHexStringLower(Hash(decision));

    /// <summary>128 bits of the same hash, prefixed so a receiver can tell where it came from (fits PagerDuty's dedup_key and HTTP headers).</summary>
    public static string IdempotencyKey(Decision decision) => "rs-" + Convert.ToHexStringLower(Hash(decision).AsSpan(0, 16));

    /// <summary>
    /// The open key of a manual rollback: every request opens its own incident, so a random <paramref name="nonce"/>
    /// (drawn once per request, kept across retries of its write) makes it unique.
    /// </summary>
    public static string ManualOpenKey(ManualRollback request, Guid nonce)
    {
        ArgumentNullException.ThrowIfNull(request);
        return string.Create(CultureInfo.InvariantCulture, $"manual/{request.Policy}/{request.Labels}/{request.At.UtcTicks}/{nonce:N}");
    }

    /// <summary>
    /// The idempotency key of a manual rollback's action, as before: <c>rs-manual-{policy}-{incident id}</c>. The id is
    /// only known once the incident is stored, so the key is written with <see cref="OpenIncident.IncidentIdToken"/> in
    /// its place and every store replaces it with the new incident's id as it inserts (the contract suite checks it).
    /// Stored keys are read back, never derived again.
    /// </summary>
    public static string ManualIdempotencyKey(string policy)
    {
        ArgumentNullException.ThrowIfNull(policy);
        return $"rs-manual-{policy}-{OpenIncident.IncidentIdToken}";
    }

    /// <summary>The key text of a time (<see cref="TimeFormat"/>).</summary>
    public static string FormatTime(DateTimeOffset time) => time.UtcDateTime.ToString(TimeFormat, CultureInfo.InvariantCulture);

    private static byte[] Hash(Decision decision)
    {
        ArgumentNullException.ThrowIfNull(decision);
        var labels = decision.Labels.ToString();
        var material = string.Create(
            CultureInfo.InvariantCulture,
            $"{decision.Policy.Length}:{decision.Policy}|{decision.Trigger.Length}:{decision.Trigger}|{labels.Length}:{labels}|{FormatTime(decision.At)}");
        return SHA256.HashData(Encoding.UTF8.GetBytes(material));
    }
}
