namespace RollbackSentinel.Core.Policies;

/// <summary>
/// Whether two versions of a policy mean the same thing (where in a file they stand aside), so a reload
/// touches only what changed. Records compare collections by reference, hence this. Every setting the daemon
/// runs is compared: one left out here would be ignored on reload until a restart.
/// </summary>
public static class PolicyComparer
{
    public static bool SameDefinition(Policy a, Policy b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);

        // A rules rescan hands back the very objects it parsed before for every file whose bytes did not change.
        if (ReferenceEquals(a, b))
        {
            return true;
        }

        return a.Name == b.Name
            && SameTarget(a.Target, b.Target)
            && a.Schedule == b.Schedule
            && a.Cooldown == b.Cooldown
            && a.DryRun == b.DryRun
            && a.Backend == b.Backend
            && SameMap(a.Labels, b.Labels)
            && (a.Watch with { Source = null }) == (b.Watch with { Source = null })
            && (a.Gate with { Source = null }) == (b.Gate with { Source = null })
            && SameConfirm(a.Confirm, b.Confirm)
            && a.Notify == b.Notify
            && a.Triggers.Count == b.Triggers.Count
            && a.Triggers.Zip(b.Triggers).All(p => SameTrigger(p.First, p.Second));
    }

    public static bool SameTrigger(Trigger a, Trigger b) => State.PolicyStateMachine.Fingerprint(a) == State.PolicyStateMachine.Fingerprint(b);

    private static bool SameTarget(Target a, Target b) => (a, b) switch
    {
        (HAProxyTarget x, HAProxyTarget y) => x.RuntimeApi == y.RuntimeApi && x.Backend == y.Backend && x.Timeout == y.Timeout
            && SameMap(x.Weights, y.Weights) && SameMap(x.States, y.States),
        _ => a == b,
    };

    private static bool SameConfirm(ConfirmSettings? a, ConfirmSettings? b) => (a, b) switch
    {
        (null, null) => true,
        ({ } x, { } y) => x.Timeout == y.Timeout && x.OnTimeout == y.OnTimeout && x.Approvers.SequenceEqual(y.Approvers, StringComparer.Ordinal),
        _ => false,
    };

    private static bool SameMap<TValue>(IReadOnlyDictionary<string, TValue> a, IReadOnlyDictionary<string, TValue> b) =>
        a.Count == b.Count && a.All(kv => b.TryGetValue(kv.Key, out var v) && EqualityComparer<TValue>.Default.Equals(kv.Value, v));
}
