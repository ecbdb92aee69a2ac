using System.Collections.Concurrent;
using System.Security.Cryptography;

namespace RollbackSentinel.StatusPage;

/// <summary>A signed-in browser: the scope of the token it signed in with, its name for answers, and its CSRF token.</summary>
internal sealed record StatusSession(string Id, string Scope, string Name, string Csrf, DateTimeOffset Created)
{
    public DateTimeOffset LastSeen { get; set; } = Created;
}

/// <summary>
/// The status page's sessions, in memory: a random id in an HttpOnly cookie stands for the scope of the token that
/// signed in (the token itself is never kept in the browser). They end on sign-out, after
/// <see cref="IdleTimeout"/> without a request or <see cref="MaxAge"/> after sign-in, and with the process (a restart
/// asks everyone to sign in again). At most <see cref="MaxSessions"/>: the oldest goes first.
/// </summary>
internal sealed class StatusSessions(TimeProvider time)
{
    public static readonly TimeSpan IdleTimeout = TimeSpan.FromHours(8);

    public static readonly TimeSpan MaxAge = TimeSpan.FromDays(1);

    public const int MaxSessions = 1000;

    private readonly ConcurrentDictionary<string, StatusSession> _sessions = new(StringComparer.Ordinal);

    public StatusSession Create(string scope, string name)
    {
        var now = time.GetUtcNow();
        Sweep(now);
        while (_sessions.Count >= MaxSessions && _sessions.Values.MinBy(s => s.LastSeen) is { } oldest)
        {
            _sessions.TryRemove(oldest.Id, out _);
        }

        var session = new StatusSession(NewSecret(), scope, name, NewSecret(), now);
        _sessions[session.Id] = session;
        return session;
    }

    /// <summary>The live session with this id (its idle time restarts), or null.</summary>
    public StatusSession? Find(string? id)
    {
        if (string.IsNullOrEmpty(id) || !_sessions.TryGetValue(id, out var session))
        {
            return null;
        }

        var now = time.GetUtcNow();
        if (Expired(session, now))
        {
            _sessions.TryRemove(id, out _);
            return null;
        }

        session.LastSeen = now;
        return session;
    }

    public void End(string id) => _sessions.TryRemove(id, out _);

    /// <summary>Whether <paramref name="presented"/> is the session's CSRF token (compared in constant time).</summary>
    public static bool CsrfMatches(StatusSession session, string? presented) => SameSecret(session.Csrf, presented);

    /// <summary>Two secrets compared in constant time; an empty one never matches.</summary>
    public static bool SameSecret(string? expected, string? presented) =>
        !string.IsNullOrEmpty(expected) && !string.IsNullOrEmpty(presented)
        && CryptographicOperations.FixedTimeEquals(System.Text.Encoding.UTF8.GetBytes(expected), System.Text.Encoding.UTF8.GetBytes(presented));

    /// <summary>32 random bytes, URL-safe base64.</summary>
    public static string NewSecret() => Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private static bool Expired(StatusSession s, DateTimeOffset now) => now - s.LastSeen > IdleTimeout || now - s.Created > MaxAge;

    private void Sweep(DateTimeOffset now)
    {
        foreach (var s in _sessions.Values.Where(s => Expired(s, now)).ToArray())
        {
            _sessions.TryRemove(s.Id, out _);
        }
    }
}
