using System.Collections.Concurrent;

namespace RollbackSentinel.Notifications.Slack;

/// <summary>Whether a Slack user may answer, and why (for the incident's record; names ids, no secrets).</summary>
public sealed record SlackApproval(bool Allowed, string Reason);

/// <summary>
/// Decides who may answer an incident through Slack. Approvers are Slack user ids (<c>U…</c>, <c>W…</c>) or user-group
/// ids (<c>S…</c>, the members read with <c>usergroups.users.list</c> and kept for <see cref="DefaultCacheFor"/>).
/// An empty list allows nobody: Slack answers are off until a policy names its approvers. Entries of another shape
/// (names, <c>@handles</c>) never match. When a group cannot be read, its members are not allowed (fail closed).
/// </summary>
public sealed class SlackApprovers
{
    public static readonly TimeSpan DefaultCacheFor = TimeSpan.FromSeconds(60);

    private readonly SlackClient _client;
    private readonly TimeProvider _time;
    private readonly TimeSpan _cacheFor;
    private readonly ConcurrentDictionary<string, (DateTimeOffset ReadAt, HashSet<string> Members)> _groups = new(StringComparer.Ordinal);

    internal SlackApprovers(SlackClient client, TimeProvider time, TimeSpan? cacheFor = null)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(time);
        _client = client;
        _time = time;
        _cacheFor = cacheFor ?? DefaultCacheFor;
    }

    /// <summary>Whether <paramref name="userId"/> is an approver, directly or through a group.</summary>
    public async Task<bool> IsAllowedAsync(string userId, IReadOnlyList<string> approvers, CancellationToken cancellationToken) =>
        (await CheckAsync(userId, approvers, cancellationToken).ConfigureAwait(false)).Allowed;

    /// <summary>As <see cref="IsAllowedAsync"/>, with the reason.</summary>
    public async Task<SlackApproval> CheckAsync(string userId, IReadOnlyList<string> approvers, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(approvers);
        if (!SlackInteractions.IsUserId(userId))
        {
            return new SlackApproval(false, "not a Slack user id");
        }

        if (approvers.Count == 0)
        {
            return new SlackApproval(false, "no approvers are configured for Slack answers");
        }

        if (approvers.Any(a => IsUser(a) && string.Equals(a, userId, StringComparison.Ordinal)))
        {
            return new SlackApproval(true, $"{userId} is an approver");
        }

        var unreadable = new List<string>();
        foreach (var group in approvers.Where(IsGroup).Distinct(StringComparer.Ordinal))
        {
            HashSet<string> members;
            try
            {
                members = await MembersAsync(group, cancellationToken).ConfigureAwait(false);
            }
            catch (NotificationException e)
            {
                unreadable.Add($"{group} ({e.Message})");
                continue;
            }

            if (members.Contains(userId))
            {
                return new SlackApproval(true, $"{userId} is a member of approver group {group}");
            }
        }

        var note = unreadable.Count == 0 ? "" : "; could not read " + string.Join(", ", unreadable);
        return new SlackApproval(false, $"{userId} is not an approver{note}");
    }

    /// <summary>Forgets the cached group members (e.g. after a configuration reload).</summary>
    public void Clear() => _groups.Clear();

    private async Task<HashSet<string>> MembersAsync(string group, CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        if (_groups.TryGetValue(group, out var cached) && now - cached.ReadAt < _cacheFor && now >= cached.ReadAt)
        {
            return cached.Members;
        }

        var members = (await _client.UserGroupMembersAsync(group, cancellationToken).ConfigureAwait(false)).ToHashSet(StringComparer.Ordinal);
        _groups[group] = (now, members);
        return members;
    }

    private static bool IsUser(string approver) => SlackInteractions.IsUserId(approver);

    private static bool IsGroup(string approver) =>
        approver is { Length: >= 2 and <= 32 } && approver[0] == 'S' && approver.All(ch => char.IsAsciiLetterUpper(ch) || char.IsAsciiDigit(ch));
}
