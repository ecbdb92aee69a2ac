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
    private static readonly bool[] InformationalLast = [false, true];

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

        // Informational queries (a burn rate's budget over 30 days, perhaps slow) run after every deciding query of
        // every trigger, so they cannot use up the evaluation's time budget that a deciding query needs. Two passes over
        // the specs, not a sort: this runs for every policy at every evaluation.
        var count = policy.Triggers.Count;
        var specs = new IReadOnlyList<QuerySpec>[count];
        var outcomes = new Dictionary<string, QueryOutcome>[count];
        for (var t = 0; t < count; t++)
        {
            specs[t] = QuerySpec.For(policy.Triggers[t].Condition);
            outcomes[t] = new Dictionary<string, QueryOutcome>(specs[t].Count);
        }

        foreach (var informational in InformationalLast)
        {
            for (var t = 0; t < count; t++)
            {
                foreach (var spec in specs[t])
                {
                    if (spec.Informational == informational)
                    {
                        outcomes[t][spec.Role] = await resolver.ResolveAsync(spec, at, cancellationToken).ConfigureAwait(false);
                    }
                }
            }
        }

        var triggers = new List<TriggerVerdicts>(count);
        for (var t = 0; t < count; t++)
        {
            triggers.Add(new TriggerVerdicts(policy.Triggers[t], TriggerEvaluator.Evaluate(policy.Triggers[t], outcomes[t])));
        }

        return new PolicyEvaluation(policy, at, triggers, PolicyStateMachine.Step(policy, state, at, triggers, maxGap, changes));
    }
}
