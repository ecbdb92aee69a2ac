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

        // Informational queries (a burn rate's budget over 30 days, perhaps slow) run after every deciding query of
        // every trigger, so they cannot use up the evaluation's time budget that a deciding query needs.
        var specs = policy.Triggers.Select(t => QuerySpec.For(t.Condition)).ToArray();
        var resolved = specs.Select(s => new QueryOutcome[s.Count]).ToArray();
        var order = specs.SelectMany((s, t) => s.Select((spec, i) => (Trigger: t, Index: i, Spec: spec))).OrderBy(x => x.Spec.Informational);
        foreach (var (t, i, spec) in order)
        {
            resolved[t][i] = await resolver.ResolveAsync(spec, at, cancellationToken).ConfigureAwait(false);
        }

        var triggers = new List<TriggerVerdicts>(policy.Triggers.Count);
        for (var t = 0; t < policy.Triggers.Count; t++)
        {
            var outcomes = resolved[t].ToDictionary(o => o.Spec.Role);
            triggers.Add(new TriggerVerdicts(policy.Triggers[t], TriggerEvaluator.Evaluate(policy.Triggers[t], outcomes)));
        }

        return new PolicyEvaluation(policy, at, triggers, PolicyStateMachine.Step(policy, state, at, triggers, maxGap, changes));
    }
}
