using RollbackSentinel.Core.Changes;
using RollbackSentinel.Core.Policies;
using RollbackSentinel.Core.State;

namespace RollbackSentinel.Core.Evaluation;

/// <summary>One evaluation of a policy: every trigger's verdicts and what the state machine made of them.</summary>
public sealed record PolicyEvaluation(Policy Policy, DateTimeOffset At, IReadOnlyList<TriggerVerdicts> Triggers, StepResult Step);

/// <summary>
/// Evaluates a policy at one instant: resolves every query, turns results into verdicts, steps the state
/// machine. The daemon and backtest both call this; they differ only in the <see cref="IQueryResolver"/>.
/// </summary>
public static class PolicyEvaluator
{
    public static async ValueTask<PolicyEvaluation> EvaluateAsync(
        Policy policy,
        PolicyState state,
        DateTimeOffset at,
        IQueryResolver resolver,
        CancellationToken cancellationToken,
        TimeSpan? maxGap = null,
        ChangeHistory? changes = null)
    {
        ArgumentNullException.ThrowIfNull(policy);
        ArgumentNullException.ThrowIfNull(resolver);

        var triggers = new List<TriggerVerdicts>(policy.Triggers.Count);
        foreach (var trigger in policy.Triggers)
        {
            var outcomes = new Dictionary<string, QueryOutcome>();
            foreach (var spec in QuerySpec.For(trigger.Condition))
            {
                outcomes[spec.Role] = await resolver.ResolveAsync(spec, at, cancellationToken).ConfigureAwait(false);
            }

            triggers.Add(new TriggerVerdicts(trigger, TriggerEvaluator.Evaluate(trigger, outcomes)));
        }

        return new PolicyEvaluation(policy, at, triggers, PolicyStateMachine.Step(policy, state, at, triggers, maxGap, changes));
    }
}
