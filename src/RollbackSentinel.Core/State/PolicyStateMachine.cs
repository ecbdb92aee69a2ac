using System.Collections.Immutable;
using RollbackSentinel.Core.Changes;
using RollbackSentinel.Core.Evaluation;
using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Core.Policies;

namespace RollbackSentinel.Core.State;

/// <summary>
/// The trigger state machine, per series: <c>ok -> pending -> firing</c> like a Prometheus alert. Only the
/// move to firing takes the trigger's action. Inconclusive and error verdicts never advance a trigger:
/// a pending trigger that stops seeing breaches goes back to ok (the breach did not hold), a firing one
/// stays firing until a pass. A run of them is surfaced once it reaches the trigger's limit.
/// Cooldown (started by a rollback, holding back rollbacks and pages of the same target) and dry-run are
/// applied per policy. Pure: time comes in as an argument.
/// </summary>
public static class PolicyStateMachine
{
    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<Policy, ImmutableDictionary<string, string>> FingerprintCache = new();

    /// <summary>What a trigger means, for telling an edited trigger from an unchanged one (its place in a file aside).</summary>
    public static string Fingerprint(Trigger trigger)
    {
        ArgumentNullException.ThrowIfNull(trigger);
        return (trigger with { Source = null }).ToString();
    }

    /// <summary>
    /// Every trigger's <see cref="Fingerprint"/> by name, made once per policy object: a policy is immutable, and
    /// formatting each trigger at every evaluation was most of what an evaluation allocated.
    /// </summary>
    public static ImmutableDictionary<string, string> Fingerprints(Policy policy)
    {
        ArgumentNullException.ThrowIfNull(policy);
        return FingerprintCache.GetValue(policy, p => p.Triggers.ToImmutableDictionary(t => t.Name, Fingerprint, StringComparer.Ordinal));
    }

    /// <param name="policy">The policy being evaluated.</param>
    /// <param name="state">Its state after the previous evaluation.</param>
    /// <param name="at">The evaluation time.</param>
    /// <param name="evaluations">Each trigger's verdicts at <paramref name="at"/>.</param>
    /// <param name="maxGap">
    /// The longest expected time between two evaluations (e.g. 2.5 intervals). After a longer gap (the daemon was
    /// down, evaluations timed out) no breach was seen in between, so every pending <c>for</c> starts again.
    /// Firing series and cooldowns are kept: their action has already run.
    /// </param>
    /// <param name="changes">
    /// The policy's changes: a <c>rollback</c> trigger acts only within the watch window of the latest change of its
    /// series (<see cref="WatchWindow"/>), every decision blames that change, and gates count passes after it.
    /// Null: none is known (rollback triggers are disarmed unless <c>spec.watch.outside</c> is <c>rollback</c>).
    /// </param>
    public static StepResult Step(
        Policy policy, PolicyState state, DateTimeOffset at, IReadOnlyList<TriggerVerdicts> evaluations, TimeSpan? maxGap = null, ChangeHistory? changes = null)
    {
        changes ??= ChangeHistory.Empty;
        ArgumentNullException.ThrowIfNull(policy);
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(evaluations);

        if (maxGap is { } gap && state.LastEvaluatedAt is { } last && at - last > gap)
        {
            state = state with
            {
                Series = state.Series
                    .Where(s => s.Value.Phase == TriggerPhase.Firing)
                    .ToImmutableDictionary(s => s.Key, s => s.Value with { NonConclusiveRun = 0, NonConclusiveSince = null }),
            };
        }

        // Builders only once something changes: most evaluations of a healthy policy change neither.
        ImmutableDictionary<SeriesKey, SeriesState>.Builder? series = null;
        ImmutableDictionary<string, DateTimeOffset>.Builder? lastAction = null;
        IReadOnlyDictionary<SeriesKey, SeriesState> SeriesNow() => (IReadOnlyDictionary<SeriesKey, SeriesState>?)series ?? state.Series;
        var progress = new ProgressWriter(state);
        // Lists only for a step that decides or moves a series: most steps of a healthy policy do neither.
        List<Decision>? decisions = null;
        List<Transition>? transitions = null;

        // Rollbacks first: when a rollback and a page fire at the same instant, the rollback acts and the
        // page is held back by its cooldown, whatever order the triggers are written in.
        // Two passes over the triggers in written order (as a stable sort): rollback triggers, then the others.
        for (var pass = 0; pass < 2 * evaluations.Count; pass++)
        {
            var (trigger, verdicts) = evaluations[pass % evaluations.Count];
            if ((trigger.Action == TriggerAction.Rollback) != (pass < evaluations.Count))
            {
                continue;
            }

            // Data with labels is back: the label-less "no series at all" state it replaces is over.
            var emptyKey = new SeriesKey(trigger.Name, LabelSet.Empty);
            if (AnyLabelled(verdicts) && SeriesNow().TryGetValue(emptyKey, out var emptyState))
            {
                (series ??= state.Series.ToBuilder()).Remove(emptyKey);
                if (emptyState.Phase == TriggerPhase.Firing)
                {
                    var back = Absent(LabelSet.Empty, "the query returns labelled series again");
                    (transitions ??= []).Add(new Transition(emptyKey, TriggerPhase.Firing, TriggerPhase.Ok, at, back));
                    (decisions ??= []).Add(Judged(policy, trigger, changes, NewDecision(policy, trigger, back, at, DecisionKind.Resolved, emptyState.BreachingSince) with
                    {
                        Message = "resolved: the query returns labelled series again",
                    }));
                }
            }

            var spread = SpreadOverTrackedSeries(trigger, verdicts, state);
            var count = spread?.Count ?? verdicts.Count;
            for (var i = 0; i < count; i++)
            {
                var (verdict, absent) = spread is null ? (verdicts[i], false) : spread[i];
                var key = new SeriesKey(trigger.Name, verdict.Labels);
                // What a transition or decision keeps: the verdict itself, or a copy of one its sink writes again.
                Verdict? kept = null;
                var before = state.Get(key);
                var after = absent ? Vanish(before) : Advance(before, verdict, trigger, at);
                var stale = absent && after.Phase == TriggerPhase.Firing && after.AbsentRun >= trigger.InconclusiveLimit;
                if (stale)
                {
                    after = SeriesState.Initial;
                }

                if (after.Phase != before.Phase)
                {
                    (transitions ??= []).Add(new Transition(key, before.Phase, after.Phase, at, kept ??= verdict.Detached()));
                }

                if (!absent)
                {
                    progress.Write(key, Progress(progress.Before(key), verdict.Kind, at, changes.LatestFor(verdict.Labels, at)));
                }

                if (after.Phase == TriggerPhase.Firing && before.Phase != TriggerPhase.Firing)
                {
                    (decisions ??= []).Add(Fire(policy, trigger, kept ??= verdict.Detached(), at, after.BreachingSince, lastAction ??= state.LastActionAt.ToBuilder(), changes));
                }
                else if (after.Phase == TriggerPhase.Ok && before.Phase == TriggerPhase.Firing)
                {
                    (decisions ??= []).Add(Judged(policy, trigger, changes, NewDecision(policy, trigger, kept ??= verdict.Detached(), at, DecisionKind.Resolved, before.BreachingSince) with
                    {
                        Message = stale
                            ? $"resolved: the series has been absent for {before.AbsentRun + 1} evaluations"
                            : $"resolved: {verdict.Summary}",
                    }));
                }

                if (after.NonConclusiveRun == trigger.InconclusiveLimit && before.NonConclusiveRun < trigger.InconclusiveLimit)
                {
                    (decisions ??= []).Add(Judged(policy, trigger, changes, NewDecision(policy, trigger, kept ??= verdict.Detached(), at, DecisionKind.InconclusiveRun, after.NonConclusiveSince) with
                    {
                        Message = $"{after.NonConclusiveRun} evaluations in a row without a verdict: {verdict.Summary}",
                    }));
                }

                if (after.IsDefault)
                {
                    if (SeriesNow().ContainsKey(key))
                    {
                        (series ??= state.Series.ToBuilder()).Remove(key);
                    }
                }
                else
                {
                    (series ??= state.Series.ToBuilder())[key] = after;
                }
            }

            // A whole-trigger error or an empty result says nothing good of the series the gate counted passes for:
            // they stop counting (and a gate names them) instead of dropping out of sight.
            if (WholeTriggerNonConclusive(verdicts) is { } whole)
            {
                StopCounting(state, trigger, whole, at, changes, ref progress);
            }
        }

        // A cooldown that has run out holds nothing back any more: forget it, so the state stays small.
        if ((lastAction?.Count ?? state.LastActionAt.Count) > 0)
        {
            ForgetExpired(lastAction ??= state.LastActionAt.ToBuilder(), policy.Cooldown, at);
        }

        return new StepResult(
            state.Stepped(
                series?.ToImmutable() ?? state.Series,
                lastAction?.ToImmutable() ?? state.LastActionAt,
                Fingerprints(policy),
                at,
                progress.Table(),
                progress.Ordinal),
            decisions ?? (IReadOnlyList<Decision>)[],
            transitions ?? (IReadOnlyList<Transition>)[]);
    }

    // These two live here, not in Step: a lambda there that captures makes its closure at every call or every trigger,
    // whether or not it runs.
    private static void StopCounting(
        PolicyState state, Trigger trigger, Verdict whole, DateTimeOffset at, ChangeHistory changes, ref ProgressWriter progress)
    {
        foreach (var (key, before) in state.Progress)
        {
            if (key.Trigger == trigger.Name && !key.Labels.IsEmpty && !progress.Contains(key))
            {
                progress.Write(key, Progress(new GateValue(before.LastVerdict, before.Passes, before.ChangeAt, before.ChangeId), whole.Kind, at, changes.LatestFor(key.Labels, at)));
            }
        }
    }

    /// <summary>
    /// Gate progress as a step writes it, series by series: while every series is written as the previous state's table
    /// reads at this evaluation (the same series in the same order, only times moved on), that table serves again and
    /// nothing is made; from the first that differs, a new table.
    /// </summary>
    private struct ProgressWriter(PolicyState state)
    {
        /// <summary>Up to this many series, a written series is found by a scan rather than through a dictionary.</summary>
        private const int ScanUpTo = 8;

        private readonly GateEntry[]? _previous = state.Gates;
        private readonly long _ordinal = state.GateOrdinal + 1;
        private int _kept;
        private List<GateEntry>? _written;
        private Dictionary<SeriesKey, int>? _index;

        /// <summary>The series' progress in the previous state, if it has any (what its <see cref="PolicyState.Progress"/> holds).</summary>
        public readonly GateValue? Before(SeriesKey key)
        {
            if (_written is null && _previous is { } previous && _kept < previous.Length && previous[_kept].Key.Equals(key))
            {
                return state.ValueOf(previous[_kept]);
            }

            return state.Progress.TryGetValue(key, out var p) ? new GateValue(p.LastVerdict, p.Passes, p.ChangeAt, p.ChangeId) : null;
        }

        /// <summary>Whether this step has written the series' progress.</summary>
        public bool Contains(SeriesKey key)
        {
            Diverge();
            return Find(key) >= 0;
        }

        public void Write(SeriesKey key, GateValue value)
        {
            if (_written is null && _previous is { } previous && _kept < previous.Length && previous[_kept].Key.Equals(key) && previous[_kept].At(_ordinal) == value)
            {
                _kept++;
                return;
            }

            Diverge();
            var entry = new GateEntry(key, value, _ordinal);
            var at = Find(key);
            if (at >= 0)
            {
                _written![at] = entry; // written twice: the last one counts, in the place of the first
                return;
            }

            _written!.Add(entry);
            _index?.Add(key, _written.Count - 1);
            if (_index is null && _written.Count > ScanUpTo)
            {
                _index = new Dictionary<SeriesKey, int>(_written.Count * 2);
                for (var i = 0; i < _written.Count; i++)
                {
                    _index[_written[i].Key] = i;
                }
            }
        }

        /// <summary>Which evaluation this is, counted from the state's (the ordinal of entries written now).</summary>
        public readonly long Ordinal => _ordinal;

        /// <summary>This step's progress: the previous table when every series of it was kept as it reads now, else a new one.</summary>
        public readonly GateEntry[]? Table() =>
            _written is not null ? _written.ToArray()
            : _previous is { } previous && _kept < previous.Length ? previous[.._kept]
            : _previous;

        /// <summary>From here on, a new table: the series kept so far are its first.</summary>
        private void Diverge()
        {
            if (_written is not null)
            {
                return;
            }

            _written = new List<GateEntry>(Math.Max(4, _previous?.Length ?? 0));
            for (var i = 0; i < _kept; i++)
            {
                _written.Add(_previous![i]);
            }

            if (_written.Count > ScanUpTo)
            {
                _index = new Dictionary<SeriesKey, int>(_written.Count * 2);
                for (var i = 0; i < _written.Count; i++)
                {
                    _index[_written[i].Key] = i;
                }
            }
        }

        private readonly int Find(SeriesKey key)
        {
            if (_index is not null)
            {
                return _index.TryGetValue(key, out var i) ? i : -1;
            }

            for (var i = 0; i < _written!.Count; i++)
            {
                if (_written[i].Key.Equals(key))
                {
                    return i;
                }
            }

            return -1;
        }
    }

    private static void ForgetExpired(ImmutableDictionary<string, DateTimeOffset>.Builder lastAction, TimeSpan cooldown, DateTimeOffset at)
    {
        foreach (var expired in lastAction.Where(a => at >= SaturatingAdd(a.Value, cooldown)).Select(a => a.Key).ToList())
        {
            lastAction.Remove(expired);
        }
    }

    private static bool AnyLabelled(IReadOnlyList<Verdict> verdicts)
    {
        for (var i = 0; i < verdicts.Count; i++)
        {
            if (!verdicts[i].Labels.IsEmpty)
            {
                return true;
            }
        }

        return false;
    }

    private static Verdict? WholeTriggerNonConclusive(IReadOnlyList<Verdict> verdicts)
    {
        for (var i = 0; i < verdicts.Count; i++)
        {
            if (verdicts[i].Labels.IsEmpty && !verdicts[i].IsConclusive)
            {
                return verdicts[i];
            }
        }

        return null;
    }

    /// <summary>The phase change for one verdict. Exposed for property tests of the transition table.</summary>
    internal static SeriesState Advance(SeriesState s, Verdict verdict, Trigger trigger, DateTimeOffset at)
    {
        switch (verdict.Kind)
        {
            case VerdictKind.Breach:
                var since = s.Phase == TriggerPhase.Ok ? at : s.BreachingSince ?? at;
                var fires = s.Phase == TriggerPhase.Firing || at - since >= trigger.For;
                return new SeriesState
                {
                    Phase = fires ? TriggerPhase.Firing : TriggerPhase.Pending,
                    BreachingSince = since,
                    FiringSince = fires ? s.FiringSince ?? at : null,
                };

            case VerdictKind.Pass:
                return SeriesState.Initial;

            default:
                // Inconclusive or error: no evidence either way. A pending breach was not seen to hold, so it
                // resets; a firing trigger has acted already and only a pass can resolve it.
                var run = s.NonConclusiveRun + 1;
                return s.Phase == TriggerPhase.Firing
                    ? s with { NonConclusiveRun = run, NonConclusiveSince = s.NonConclusiveSince ?? at, AbsentRun = 0 }
                    : new SeriesState { NonConclusiveRun = run, NonConclusiveSince = s.NonConclusiveSince ?? at };
        }
    }

    /// <summary>
    /// A tracked series missing from a result that has other series (a pod replaced, a deployment deleted).
    /// Like a Prometheus alert, anything short of firing is simply forgotten, which keeps state bounded under
    /// series churn. A firing series waits: it resolves once absent for the trigger's inconclusive limit.
    /// </summary>
    private static SeriesState Vanish(SeriesState s) =>
        s.Phase == TriggerPhase.Firing ? s with { AbsentRun = s.AbsentRun + 1 } : SeriesState.Initial;

    /// <summary>
    /// A series' gate progress after this verdict: passes in a row after the latest change of its label set; a new
    /// change starts the count again, and an evaluation at the change's own instant is not after it.
    /// </summary>
    private static GateValue Progress(GateValue? before, VerdictKind kind, DateTimeOffset at, Change? latest)
    {
        var sameChange = before is { } b && GateProgress.Counts(b.ChangeAt, b.ChangeId, latest);
        var passes = kind == VerdictKind.Pass && (latest is null || at > latest.At)
            ? Math.Min(GateProgress.MaxPasses, (sameChange ? before!.Value.Passes : 0) + 1)
            : 0;
        return new GateValue(kind, passes, latest?.At, latest?.Id);
    }

    private static Decision Fire(
        Policy policy,
        Trigger trigger,
        Verdict verdict,
        DateTimeOffset at,
        DateTimeOffset? since,
        ImmutableDictionary<string, DateTimeOffset>.Builder lastAction,
        ChangeHistory changes)
    {
        // A rollback is the remedy only for what a change broke: outside the watch window of the latest change of
        // this series, a rollback trigger takes spec.watch.outside instead (page by default), and says why.
        var arming = WatchWindow.Judge(policy, changes, verdict.Labels, since ?? at, at);
        var disarmed = trigger.Action == TriggerAction.Rollback && !arming.Armed && policy.Watch.Outside != OutsideAction.Rollback;
        var action = disarmed ? OutsideActionOf(policy) : trigger.Action;
        var decision = FireAs(policy, trigger with { Action = action }, verdict, at, since, lastAction);
        return decision with
        {
            Blamed = arming.Blamed,
            Disarmed = disarmed,
            DisarmedReason = disarmed ? arming.Reason : null,
            Message = disarmed ? $"{decision.Message} (rollback disarmed: {arming.Reason})" : decision.Message,
        };
    }

    /// <summary>
    /// A rollback trigger's decisions that take no action (resolved, an inconclusive run) name the action its firing
    /// takes for that series, judged the same way: a disarmed episode never reads as a rollback.
    /// </summary>
    private static Decision Judged(Policy policy, Trigger trigger, ChangeHistory changes, Decision decision)
    {
        if (trigger.Action != TriggerAction.Rollback || policy.Watch.Outside == OutsideAction.Rollback)
        {
            return decision;
        }

        var arming = WatchWindow.Judge(policy, changes, decision.Labels, decision.Since ?? decision.At, decision.At);
        return arming.Armed ? decision : decision with { Action = OutsideActionOf(policy), Disarmed = true, DisarmedReason = arming.Reason };
    }

    private static TriggerAction OutsideActionOf(Policy policy) =>
        policy.Watch.Outside == OutsideAction.Notify ? TriggerAction.Notify : TriggerAction.Page;

    private static Decision FireAs(
        Policy policy, Trigger trigger, Verdict verdict, DateTimeOffset at, DateTimeOffset? since, ImmutableDictionary<string, DateTimeOffset>.Builder lastAction)
    {
        var verb = policy.DryRun ? "would " + ActionVerb(policy, trigger.Action) : ActionVerb(policy, trigger.Action);
        var held = since is { } s && at > s ? $" (breaching for {PromDuration.Format(at - s)})" : string.Empty;

        // Only a rollback changes the system, so only a rollback starts a cooldown: after it, neither another
        // rollback nor a page asking for one makes sense until the system settles. A page changes nothing
        // and must not hold back a later, worse breach's rollback; a notify is never held back. The cooldown
        // belongs to what is rolled back: the target as rendered for this series.
        if (trigger.Action != TriggerAction.Notify)
        {
            var target = TargetIdentity.For(policy, verdict.Labels);
            if (LastAction(lastAction, policy, target, verdict.Labels) is { } last && at < SaturatingAdd(last, policy.Cooldown))
            {
                var until = SaturatingAdd(last, policy.Cooldown);
                return NewDecision(policy, trigger, verdict, at, DecisionKind.SuppressedByCooldown, since) with
                {
                    CooldownUntil = until,
                    Message = $"fired but in cooldown until {Rfc3339.Format(until)}, not acting: {verdict.Summary}{held}",
                };
            }

            if (trigger.Action == TriggerAction.Rollback)
            {
                lastAction[target] = at;
            }
        }

        return NewDecision(policy, trigger, verdict, at, DecisionKind.Act, since) with
        {
            Message = $"{verb}: {verdict.Summary}{held}",
        };
    }

    // The later of the target's last rollback under its identity and under the identity older versions stored:
    // a cooldown running when the daemon was upgraded still holds (the old key expires with it).
    private static DateTimeOffset? LastAction(ImmutableDictionary<string, DateTimeOffset>.Builder lastAction, Policy policy, string target, LabelSet labels)
    {
        DateTimeOffset? last = lastAction.TryGetValue(target, out var at) ? at : null;
        if (lastAction.TryGetValue(TargetIdentity.Legacy(policy.Target, labels), out var legacy) && (last is null || legacy > last))
        {
            last = legacy;
        }

        return last;
    }

    private static DateTimeOffset SaturatingAdd(DateTimeOffset t, TimeSpan d) =>
        d >= DateTimeOffset.MaxValue - t ? DateTimeOffset.MaxValue : t + d;

    private static Decision NewDecision(Policy policy, Trigger trigger, Verdict verdict, DateTimeOffset at, DecisionKind kind, DateTimeOffset? since) => new()
    {
        Policy = policy.Name,
        Trigger = trigger.Name,
        Labels = verdict.Labels,
        At = at,
        Kind = kind,
        Action = trigger.Action,
        DryRun = policy.DryRun,
        Verdict = verdict.Detached(),
        Since = since,
        PolicyLabels = policy.Labels,
    };

    // A page asks for confirmation of a rollback only when the policy has a confirm block; otherwise it only pages.
    private static string ActionVerb(Policy policy, TriggerAction action) => action switch
    {
        TriggerAction.Rollback => "roll back",
        TriggerAction.Page => policy.Confirm is null ? "page" : "page for confirmation",
        TriggerAction.Notify => "notify",
        _ => throw new ArgumentOutOfRangeException(nameof(action), action, null),
    };

    private static Verdict Absent(LabelSet labels, string summary) => new()
    {
        Kind = VerdictKind.Inconclusive,
        Reason = VerdictReason.NoData,
        Labels = labels,
        Summary = summary,
    };

    /// <summary>
    /// A whole-trigger verdict (query failed, or no series at all) carries no labels. When the trigger already
    /// tracks series, it applies to each of them, so a backend outage or an empty result counts for the
    /// series it hides instead of creating a phantom <c>{}</c> series. A tracked series missing from a result
    /// that has others is reported as absent.
    /// </summary>
    /// <returns>Null when the trigger tracks no labelled series: then every verdict stands as it is (the usual case).</returns>
    private static List<(Verdict Verdict, bool Absent)>? SpreadOverTrackedSeries(Trigger trigger, IReadOnlyList<Verdict> verdicts, PolicyState state)
    {
        if (state.Series.IsEmpty)
        {
            return null; // nothing tracked: the usual case, without enumerating an immutable map
        }

        List<LabelSet>? tracked = null;
        foreach (var (k, _) in state.Series)
        {
            if (k.Trigger == trigger.Name && !k.Labels.IsEmpty)
            {
                (tracked ??= []).Add(k.Labels);
            }
        }

        return tracked is null ? null : Spread(verdicts, tracked);
    }

    // Apart from SpreadOverTrackedSeries: its lambdas capture `seen`, whose closure would otherwise be made at every call,
    // tracked series or not.
    private static List<(Verdict Verdict, bool Absent)> Spread(IReadOnlyList<Verdict> verdicts, List<LabelSet> tracked)
    {
        var spread = new List<(Verdict Verdict, bool Absent)>(verdicts.Count + tracked.Count);
        var seen = new HashSet<LabelSet>();
        foreach (var v in verdicts)
        {
            var wholeTrigger = v.Labels.IsEmpty && (!v.IsConclusive || v.NoDataCountedAsBreach);
            if (wholeTrigger)
            {
                foreach (var labels in tracked.Where(seen.Add))
                {
                    spread.Add((v with { Labels = labels }, false));
                }

                continue;
            }

            seen.Add(v.Labels);
            spread.Add((v, false));
        }

        foreach (var labels in tracked.Where(l => !seen.Contains(l)))
        {
            spread.Add((Absent(labels, "series absent from this evaluation's result"), true));
        }

        return spread;
    }
}
