using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace RollbackSentinel.Notifications.Slack;

/// <summary>Whether a request is Slack's; when not, why (never a secret nor the expected signature).</summary>
public sealed record SlackVerification(bool Valid, string Reason)
{
    public static readonly SlackVerification Ok = new(true, "signature valid");

    public static SlackVerification Refused(string reason) => new(false, reason);
}

/// <summary>
/// Checks Slack's request signature (v0): <c>X-Slack-Signature: v0=hex(HMAC-SHA256(signingSecret,
/// "v0:" + X-Slack-Request-Timestamp + ":" + rawBody))</c>. Refuses a missing header, a timestamp that is not a
/// number of seconds, a timestamp more than five minutes from now either way (a replay), and a signature that does
/// not match (compared in constant time). Give it the body exactly as received, before any form decoding.
/// </summary>
public sealed class SlackRequestVerifier
{
    public const string SignatureHeader = "X-Slack-Signature";
    public const string TimestampHeader = "X-Slack-Request-Timestamp";
    public const string Version = "v0";

    /// <summary>How far a request's timestamp may be from now, either way.</summary>
    public static readonly TimeSpan MaxClockSkew = TimeSpan.FromMinutes(5);

    private readonly byte[] _secret;
    private readonly TimeProvider _time;

    public SlackRequestVerifier(string signingSecret, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(time);
        if (string.IsNullOrWhiteSpace(signingSecret))
        {
            throw new ArgumentException("The Slack signing secret is empty.", nameof(signingSecret));
        }

        _secret = Encoding.UTF8.GetBytes(signingSecret);
        _time = time;
    }

    /// <summary>Checks a request whose body is text (it is hashed as UTF-8).</summary>
    public SlackVerification Verify(string? timestamp, string? signature, string rawBody)
    {
        ArgumentNullException.ThrowIfNull(rawBody);
        return Verify(timestamp, signature, Encoding.UTF8.GetBytes(rawBody));
    }

    /// <param name="timestamp">The <c>X-Slack-Request-Timestamp</c> header, null when absent.</param>
    /// <param name="signature">The <c>X-Slack-Signature</c> header, null when absent.</param>
    /// <param name="rawBody">The body's bytes exactly as received.</param>
    public SlackVerification Verify(string? timestamp, string? signature, ReadOnlySpan<byte> rawBody)
    {
        if (string.IsNullOrEmpty(timestamp))
        {
            return SlackVerification.Refused($"missing {TimestampHeader} header");
        }

        if (string.IsNullOrEmpty(signature))
        {
            return SlackVerification.Refused($"missing {SignatureHeader} header");
        }

        if (timestamp.Length > 12 || !long.TryParse(timestamp, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds))
        {
            return SlackVerification.Refused($"{TimestampHeader} is not a number of seconds");
        }

        var now = _time.GetUtcNow().ToUnixTimeSeconds();
        if (Math.Abs(now - seconds) > (long)MaxClockSkew.TotalSeconds)
        {
            return SlackVerification.Refused($"{TimestampHeader} is more than {MaxClockSkew.TotalMinutes.ToString(CultureInfo.InvariantCulture)} minutes from now (a replay, or a clock off)");
        }

        const string prefix = Version + "=";
        if (!signature.StartsWith(prefix, StringComparison.Ordinal) || signature.Length != prefix.Length + (SHA256.HashSizeInBytes * 2))
        {
            return SlackVerification.Refused($"{SignatureHeader} is not a v0 HMAC-SHA256 signature");
        }

        byte[] given;
        try
        {
            given = Convert.FromHexString(signature.AsSpan(prefix.Length));
        }
        catch (FormatException)
        {
            return SlackVerification.Refused($"{SignatureHeader} is not a v0 HMAC-SHA256 signature");
        }

        var expected = Hash(_secret, timestamp, rawBody);
        return CryptographicOperations.FixedTimeEquals(expected, given)
            ? SlackVerification.Ok
            : SlackVerification.Refused($"{SignatureHeader} does not match the body (wrong signing secret, or the body was changed)");
    }

    /// <summary>The header value Slack sends for this body: <c>v0=&lt;lowercase hex&gt;</c>. For tests and emulators.</summary>
    public static string Sign(string signingSecret, string timestamp, ReadOnlySpan<byte> rawBody)
    {
        ArgumentNullException.ThrowIfNull(signingSecret);
        ArgumentNullException.ThrowIfNull(timestamp);
        return Version + "=" + Convert.ToHexStringLower(Hash(Encoding.UTF8.GetBytes(signingSecret), timestamp, rawBody));
    }

    /// <summary>The header value for a text body (hashed as UTF-8).</summary>
    public static string Sign(string signingSecret, string timestamp, string rawBody)
    {
        ArgumentNullException.ThrowIfNull(rawBody);
        return Sign(signingSecret, timestamp, Encoding.UTF8.GetBytes(rawBody));
    }

    private static byte[] Hash(byte[] secret, string timestamp, ReadOnlySpan<byte> rawBody)
    {
        var head = Encoding.UTF8.GetBytes(Version + ":" + timestamp + ":");
        var basestring = new byte[head.Length + rawBody.Length];
        head.CopyTo(basestring, 0);
        rawBody.CopyTo(basestring.AsSpan(head.Length));
        return HMACSHA256.HashData(secret, basestring);
    }
}
