using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using RollbackSentinel.Core.State;

namespace RollbackSentinel.Storage.Sqlite;

/// <summary>
/// The identity of one decision (policy, trigger, series, time), from which an incident's open key and its
/// action's idempotency key derive. Stable across restarts and versions: receivers deduplicate on it, so
/// changing the derivation would make a retried action look new.
/// </summary>
internal static class DecisionKeys
{
    public static string OpenKey(Decision decision) => Convert.ToHexStringLower(Hash(decision));

    /// <summary>128 bits of the same hash, prefixed so a receiver can tell where it came from (fits PagerDuty's dedup_key and HTTP headers).</summary>
    public static string IdempotencyKey(Decision decision) => "rs-" + Convert.ToHexStringLower(Hash(decision).AsSpan(0, 16));

    private static byte[] Hash(Decision decision)
    {
        // Length-prefixed, so no two different decisions give the same text whatever their names contain.
        var labels = decision.Labels.ToString();
        var material = string.Create(
            CultureInfo.InvariantCulture,
            $"{decision.Policy.Length}:{decision.Policy}|{decision.Trigger.Length}:{decision.Trigger}|{labels.Length}:{labels}|{DbTime.Format(decision.At)}");
        return SHA256.HashData(Encoding.UTF8.GetBytes(material));
    }
}
