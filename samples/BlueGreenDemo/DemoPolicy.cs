using RollbackSentinel.Core.Policies;
using RollbackSentinel.Rules;

namespace BlueGreenDemo;

/// <summary>What the demo needs to know of the policy in rules/demo, read with the sentinel's own parser.</summary>
public sealed record DemoPolicy(
    string Name,
    string File,
    string SocketPath,
    string Backend,
    IReadOnlyDictionary<string, int> RollbackWeights,
    TimeSpan Interval,
    string ErrorTrigger,
    TimeSpan For,
    TimeSpan WatchFor,
    int MinPasses)
{
    /// <summary>Loads the only policy of <paramref name="rulesDirectory"/>; it must roll back through HAProxy over a unix socket.</summary>
    public static DemoPolicy Load(string rulesDirectory)
    {
        if (!Directory.Exists(rulesDirectory))
        {
            throw new DirectoryNotFoundException($"the demo's rules folder {rulesDirectory} does not exist");
        }

        var set = RuleSetLoader.Load([rulesDirectory]);
        if (set.HasErrors)
        {
            throw new InvalidOperationException("the demo's rules have errors:" + Environment.NewLine + string.Join(Environment.NewLine, set.Errors));
        }

        if (set.Policies.Count != 1)
        {
            throw new InvalidOperationException($"{rulesDirectory} should hold exactly one policy, it holds {set.Policies.Count}");
        }

        var policy = set.Policies[0];
        if (policy.Target is not HAProxyTarget haproxy || haproxy.RuntimeApi.Scheme != "unix")
        {
            throw new InvalidOperationException($"the demo policy {policy.Name} must roll back through haproxy over a unix socket (runtimeApi: unix:///...)");
        }

        if (policy.Schedule is not IntervalSchedule { Interval: var interval })
        {
            throw new InvalidOperationException($"the demo policy {policy.Name} must use schedule.interval");
        }

        var errors = policy.Triggers.FirstOrDefault(t => t.Condition is ErrorRateCondition && t.Action == TriggerAction.Rollback)
            ?? throw new InvalidOperationException($"the demo policy {policy.Name} has no errorRate trigger with action rollback");
        return new DemoPolicy(
            policy.Name,
            policy.Source?.File ?? rulesDirectory,
            haproxy.RuntimeApi.AbsolutePath,
            haproxy.Backend,
            haproxy.Weights,
            interval,
            errors.Name,
            errors.For,
            policy.Watch.For,
            policy.Gate.MinPasses);
    }
}
