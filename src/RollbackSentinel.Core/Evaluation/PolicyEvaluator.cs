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
    /// <summary>Why an informational query has no answer at an evaluation its trigger passed.</summary>
    public const string NotQueriedWhilePassing = "queried only when the trigger does not pass";

    public static ValueTask<PolicyEvaluation> EvaluateAsync(
        Policy policy,
        PolicyState state,
        DateTimeOffset at,
        IQueryResolver resolver,
        CancellationToken cancellationToken,
        TimeSpan? maxGap = null,
        ChangeHistory? changes = null) =>
        EvaluateAsync(policy, state, at, resolver, cancellationToken, maxGap, changes, buffer: null);

    /// <param name="buffer">
    /// Null: the evaluation's verdicts are its own. Otherwise they are <paramref name="buffer"/>'s, written again at its
    /// next evaluation: the caller reads <see cref="PolicyEvaluation.Triggers"/> before that, and keeps only the state
    /// and decisions (whose verdicts are copies).
    /// </param>
    internal static async ValueTask<PolicyEvaluation> EvaluateAsync(
        Policy policy,
        PolicyState state,
        DateTimeOffset at,
        IQueryResolver resolver,
        CancellationToken cancellationToken,
        TimeSpan? maxGap,
        ChangeHistory? changes,
        EvaluationBuffer? buffer)
    {
        ArgumentNullException.ThrowIfNull(policy);
        ArgumentNullException.ThrowIfNull(resolver);
        if (buffer is not null && buffer.Policy != policy)
        {
            throw new ArgumentException("the buffer was made for another policy", nameof(buffer));
        }

        // Deciding queries of every trigger first. Informational ones (a burn rate's budget over 30 days: a heavy query
        // for the backend) only when their trigger does not pass, where the evidence is read, and after every deciding
        // query, so they cannot use up the evaluation's time budget that a deciding query needs.
        var count = policy.Triggers.Count;
        var specs = Specs.GetValue(policy, static p => [.. p.Triggers.Select(t => QuerySpec.For(t.Condition))]);
        var outcomes = RentOutcomes(count);
        for (var t = 0; t < count; t++)
        {
            for (var i = 0; i < specs[t].Count; i++)
            {
                var spec = specs[t][i];
                outcomes[t][spec.Role] = spec.Informational
                    ? QueryOutcome.NotAvailable(spec, NotQueriedWhilePassing)
                    : await resolver.ResolveAsync(spec, at, cancellationToken).ConfigureAwait(false);
            }
        }

        var triggers = buffer?.Triggers ?? new TriggerVerdicts[count];
        for (var t = 0; t < count; t++)
        {
            var trigger = policy.Triggers[t];
            var sink = buffer?.Sinks[t] ?? new VerdictSink(reuse: false);
            TriggerEvaluator.Evaluate(trigger, outcomes[t], sink);
            if (HasInformational(specs[t]) && AnyNotPassing(sink.Verdicts))
            {
                foreach (var spec in specs[t].Where(s => s.Informational))
                {
                    outcomes[t][spec.Role] = await resolver.ResolveAsync(spec, at, cancellationToken).ConfigureAwait(false);
                }

                TriggerEvaluator.Evaluate(trigger, outcomes[t], sink);
            }

            if (buffer is null)
            {
                // The evaluation's own verdicts, as an array, as they always were (the sink's list is its working copy).
                triggers[t] = new TriggerVerdicts(trigger, [.. sink.Verdicts]);
            }
        }

        ReturnOutcomes(outcomes);
        return new PolicyEvaluation(policy, at, triggers, PolicyStateMachine.Step(policy, state, at, triggers, maxGap, changes));
    }

    /// <summary>
    /// What a backtest's replay of one policy evaluates into, evaluation after evaluation: each trigger's sink, which
    /// writes its verdicts again (<see cref="VerdictSink"/>), and the triggers' verdicts as the state machine reads them.
    /// </summary>
    internal sealed class EvaluationBuffer
    {
        public EvaluationBuffer(Policy policy)
        {
            ArgumentNullException.ThrowIfNull(policy);
            Policy = policy;
            Sinks = [.. policy.Triggers.Select(_ => new VerdictSink(reuse: true))];
            Triggers = [.. policy.Triggers.Select((t, i) => new TriggerVerdicts(t, Sinks[i].Verdicts))];
        }

        public Policy Policy { get; }

        public VerdictSink[] Sinks { get; }

        public TriggerVerdicts[] Triggers { get; }
    }

    /// <summary>Each trigger's queries, made once per policy object (a policy is immutable).</summary>
    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<Policy, IReadOnlyList<QuerySpec>[]> Specs = new();

    // The outcomes by role are read only while the verdicts are made (a verdict's evidence index copies the outcomes it shows),
    // so one set of dictionaries per thread serves every evaluation instead of one per trigger per evaluation. An
    // evaluation that throws simply does not give its set back.
    [ThreadStatic]
    private static Dictionary<string, QueryOutcome>[]? t_outcomes;

    private static Dictionary<string, QueryOutcome>[] RentOutcomes(int count)
    {
        var rented = t_outcomes;
        t_outcomes = null;
        if (rented is null || rented.Length < count)
        {
            rented = new Dictionary<string, QueryOutcome>[Math.Max(count, 4)];
            for (var i = 0; i < rented.Length; i++)
            {
                rented[i] = new Dictionary<string, QueryOutcome>(StringComparer.Ordinal);
            }
        }

        return rented;
    }

    private static void ReturnOutcomes(Dictionary<string, QueryOutcome>[] outcomes)
    {
        foreach (var o in outcomes)
        {
            o.Clear();
        }

        t_outcomes = outcomes;
    }

    private static bool HasInformational(IReadOnlyList<QuerySpec> specs)
    {
        for (var i = 0; i < specs.Count; i++)
        {
            if (specs[i].Informational)
            {
                return true;
            }
        }

        return false;
    }

    private static bool AnyNotPassing(IReadOnlyList<Verdict> verdicts)
    {
        for (var i = 0; i < verdicts.Count; i++)
        {
            if (verdicts[i].Kind != VerdictKind.Pass)
            {
                return true;
            }
        }

        return false;
    }
}
