using System.Collections.Immutable;
using RollbackSentinel.Core.Changes;
using RollbackSentinel.Core.Policies;
using RollbackSentinel.Core.State;

namespace RollbackSentinel.Core.Evaluation;

/// <summary>
/// A policy with its state, evaluated "now" as told by a <see cref="TimeProvider"/>: the live counterpart
/// of the backtest, for the daemon. Not thread-safe: a policy's evaluations never overlap.
/// </summary>
public sealed class PolicyRunner
{
    private readonly TimeProvider _time;

    public PolicyRunner(Policy policy, TimeProvider time, PolicyState? state = null, TimeSpan? maxGap = null)
    {
        MaxGap = maxGap;
        ArgumentNullException.ThrowIfNull(policy);
        ArgumentNullException.ThrowIfNull(time);
        Policy = policy;
        _time = time;
        State = state ?? PolicyState.Empty;
    }

    public Policy Policy { get; private set; }

    /// <summary>The longest expected gap between evaluations; a longer one restarts pending <c>for</c> clocks.</summary>
    public TimeSpan? MaxGap { get; set; }

    public PolicyState State { get; private set; }

    /// <summary>The latest evaluation, for APIs that show the last evidence.</summary>
    public PolicyEvaluation? Last { get; private set; }

    public ValueTask<PolicyEvaluation> EvaluateAsync(IQueryResolver resolver, CancellationToken cancellationToken) =>
        EvaluateAsync(resolver, static (_, _) => ValueTask.CompletedTask, cancellationToken);

    /// <summary>
    /// Evaluates now and keeps the new state only once <paramref name="commit"/> has succeeded (for the daemon:
    /// written to the store), so a failed write leaves the runner where the store is.
    /// </summary>
    public ValueTask<PolicyEvaluation> EvaluateAsync(
        IQueryResolver resolver, Func<PolicyEvaluation, CancellationToken, ValueTask> commit, CancellationToken cancellationToken) =>
        EvaluateAsync(resolver, commit, slot: null, cancellationToken);

    /// <summary>
    /// Evaluates at <paramref name="slot"/>, the time the schedule meant this evaluation for, rather than the
    /// moment it happens to run: <c>for</c> durations are then measured between slots, as in the backtest and in
    /// Prometheus's rule evaluation, and a run a few milliseconds late does not cost a whole interval. A slot in
    /// the future, or not after the last evaluation, falls back to now.
    /// </summary>
    public ValueTask<PolicyEvaluation> EvaluateAsync(
        IQueryResolver resolver, Func<PolicyEvaluation, CancellationToken, ValueTask> commit, DateTimeOffset? slot, CancellationToken cancellationToken) =>
        EvaluateAsync(resolver, ChangeHistory.Empty, commit, slot, cancellationToken);

    /// <summary>As above, judged against the policy's <paramref name="changes"/> (watch windows, blame, gate progress).</summary>
    public async ValueTask<PolicyEvaluation> EvaluateAsync(
        IQueryResolver resolver,
        ChangeHistory changes,
        Func<PolicyEvaluation, CancellationToken, ValueTask> commit,
        DateTimeOffset? slot,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(commit);
        var now = _time.GetUtcNow();
        var at = slot is { } s && s <= now && (State.LastEvaluatedAt is not { } last || s > last) ? s : now;
        var evaluation = await PolicyEvaluator.EvaluateAsync(Policy, State, at, resolver, cancellationToken, MaxGap, changes).ConfigureAwait(false);
        await commit(evaluation, cancellationToken).ConfigureAwait(false);
        State = evaluation.Step.State;
        Last = evaluation;
        return evaluation;
    }

    /// <summary>
    /// Starts the cooldown of <paramref name="target"/> at <paramref name="at"/>, as a rollback would: a person denied
    /// the rollback, so further rollbacks and pages of that target are held back for the policy's cooldown.
    /// </summary>
    public void HoldBack(string target, DateTimeOffset at)
    {
        ArgumentNullException.ThrowIfNull(target);
        if (!State.LastActionAt.TryGetValue(target, out var last) || last < at)
        {
            State = State with { LastActionAt = State.LastActionAt.SetItem(target, at) };
        }
    }

    /// <summary>
    /// Replaces the state, e.g. with the one a store kept across a restart; series of triggers edited since it
    /// was written are dropped (see <see cref="PolicyState.For"/>).
    /// </summary>
    public void Restore(PolicyState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        State = state.For(Policy);
    }

    /// <summary>
    /// Swaps in an edited version of the policy. Triggers whose definition did not change keep their state
    /// (a pending <c>for</c> goes on); changed or removed triggers start afresh. Cooldowns are kept.
    /// </summary>
    public void Update(Policy policy)
    {
        ArgumentNullException.ThrowIfNull(policy);
        // The state is written for the current version (stamped so even before its first evaluation);
        // fitting it to the new one drops the series of every trigger whose meaning changed.
        var stamped = State with
        {
            Fingerprints = PolicyStateMachine.Fingerprints(Policy),
        };
        Policy = policy;
        State = stamped.For(policy);
    }
}
