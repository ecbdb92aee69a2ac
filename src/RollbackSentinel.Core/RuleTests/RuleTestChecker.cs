using System.Globalization;
using System.Text.RegularExpressions;
using RollbackSentinel.Core.Backtesting;
using RollbackSentinel.Core.Changes;
using RollbackSentinel.Core.Evaluation;
using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Core.Policies;
using RollbackSentinel.Core.State;

namespace RollbackSentinel.Core.RuleTests;

/// <summary>What a rule test's <c>expect</c> entries name: the decisions as <c>backtest</c> prints them.</summary>
public static class RuleTestActions
{
    /// <summary>The trigger takes no action (in the run, or at the given evaluation).</summary>
    public const string None = "none";

    /// <summary>
    /// Actions (<see cref="DecisionKind.Act"/>: every one a run takes must be expected; in dry-run "would ..."), then
    /// the decisions that are not actions (expected only when listed), then <see cref="None"/>.
    /// </summary>
    public static readonly IReadOnlyList<string> All =
        ["rollback", "page", "notify", "would rollback", "would page", "would notify", "suppressed", "inconclusive run", "resolved", None];

    /// <summary>"rollback", "would page", "suppressed" (by the cooldown), "inconclusive run", "resolved".</summary>
    public static string Name(Decision decision)
    {
        ArgumentNullException.ThrowIfNull(decision);
        return decision.Kind switch
        {
            DecisionKind.Act => (decision.DryRun ? "would " : string.Empty) + decision.Action.ToString().ToLowerInvariant(),
            DecisionKind.SuppressedByCooldown => "suppressed",
            DecisionKind.InconclusiveRun => "inconclusive run",
            _ => "resolved",
        };
    }
}

/// <summary>A failed expectation: where it is written (or the test, for an unexpected action) and what happened instead.</summary>
public sealed record RuleTestFailure(SourceLocation Where, string Message)
{
    public override string ToString() => $"{Where.File}:{Where.Line}:{Where.Column}: {Message}";
}

/// <summary>
/// Judges one rule test's run (<see cref="Backtester"/>'s decisions and states) against its expectations. Pure.
/// <list type="bullet">
/// <item>An expected action without <c>at</c> must happen at some evaluation; with <c>at</c>, at that one.</item>
/// <item><c>none</c>: the trigger takes no action (<see cref="DecisionKind.Act"/>) in the run, or at <c>at</c>.</item>
/// <item>Every action the run takes must match an expected one: an unexpected rollback fails the test.</item>
/// <item>A gate is asked at <c>at</c> with the policy's state after the latest evaluation at or before it and the changes
/// known by then; incidents are not modelled (in the daemon an open incident keeps a gate closed too).</item>
/// </list>
/// </summary>
public static partial class RuleTestChecker
{
    /// <summary>The most unexpected actions or decisions listed in one message; the rest are counted.</summary>
    public const int MaxListed = 10;

    /// <param name="test">The test.</param>
    /// <param name="start">When its input series start (its time 0).</param>
    /// <param name="step">The evaluation interval.</param>
    /// <param name="policies">The policies the run evaluated.</param>
    /// <param name="decisions">The run's decisions.</param>
    /// <param name="states">The state of each policy after each evaluation the gates ask about (<see cref="GateEvaluations"/>).</param>
    public static IReadOnlyList<RuleTestFailure> Check(
        RuleTestCase test, DateTimeOffset start, TimeSpan step, IReadOnlyList<Policy> policies, IReadOnlyList<Decision> decisions, IReadOnlyDictionary<(string Policy, DateTimeOffset At), BacktestEvaluation> states)
    {
        ArgumentNullException.ThrowIfNull(test);
        ArgumentNullException.ThrowIfNull(policies);
        ArgumentNullException.ThrowIfNull(decisions);
        ArgumentNullException.ThrowIfNull(states);
        var failures = new List<RuleTestFailure>();
        foreach (var e in test.Expect)
        {
            var mine = decisions.Where(d => Concerns(e, d, start)).ToArray();
            var what = $"{e.Policy} {e.Trigger}{(e.Labels is { } l ? " " + l : string.Empty)}";
            var when = e.At is { } at ? $" at {Since(start, start + at)}" : string.Empty;
            if (e.Action == RuleTestActions.None)
            {
                var acts = mine.Where(d => d.Kind == DecisionKind.Act).ToArray();
                if (acts.Length > 0)
                {
                    failures.Add(new RuleTestFailure(e.Source, $"{what}: expected no action{when}, got {List(acts, start)}"));
                }
            }
            else if (!mine.Any(d => RuleTestActions.Name(d) == e.Action))
            {
                var expected = e.At is null ? $"{e.Action} at some evaluation" : $"{e.Action}{when}";
                var others = e.At is null ? [] : decisions.Where(d => Concerns(e with { At = null }, d, start)).ToArray();
                var got = mine.Length > 0 ? List(mine, start)
                    : others.Length > 0 ? $"no decision{when} (at other evaluations: {List(others, start)})"
                    : "no decision";
                failures.Add(new RuleTestFailure(e.Source, $"{what}: expected {expected}, got {got}"));
            }
        }

        var unexpected = decisions
            .Where(d => d.Kind == DecisionKind.Act && !test.Expect.Any(e => e.Action != RuleTestActions.None && Concerns(e, d, start) && RuleTestActions.Name(d) == e.Action))
            .ToArray();
        foreach (var d in unexpected.Take(MaxListed))
        {
            failures.Add(new RuleTestFailure(test.Source, $"{d.Policy} {d.Trigger}: unexpected {Describe(d, start)} (every action the run takes must be listed in expect)"));
        }

        if (unexpected.Length > MaxListed)
        {
            failures.Add(new RuleTestFailure(test.Source, $"and {unexpected.Length - MaxListed} more unexpected action(s)"));
        }

        foreach (var g in test.Gates)
        {
            var policy = policies.Single(p => p.Name == g.Policy);
            var asked = start + g.At;
            var answer = states.TryGetValue((g.Policy, LatestEvaluation(start, step, g.At)), out var e)
                ? Gate.Evaluate(policy, e.State, new ChangeHistory(e.Changes.All.Where(c => c.At <= asked)), [], g.Filter, asked)
                : null;
            var filter = g.Filter.IsEmpty ? string.Empty : " " + g.Filter;
            if (answer is null)
            {
                failures.Add(new RuleTestFailure(g.Source, $"gate {g.Policy}{filter} at {Since(start, asked)}: no evaluation of the policy at or before it"));
            }
            else if (answer.Open != g.Open)
            {
                var got = answer.Open ? "open" : "closed: " + Relative(string.Join("; ", answer.Reasons), start);
                failures.Add(new RuleTestFailure(g.Source, $"gate {g.Policy}{filter} at {Since(start, asked)}: expected {(g.Open ? "open" : "closed")}, got {got}"));
            }
        }

        return failures;
    }

    /// <summary>The evaluations whose states the gates of <paramref name="test"/> are asked with: keep only these.</summary>
    public static IReadOnlySet<(string Policy, DateTimeOffset At)> GateEvaluations(RuleTestCase test, DateTimeOffset start, TimeSpan step)
    {
        ArgumentNullException.ThrowIfNull(test);
        return test.Gates.Select(g => (g.Policy, LatestEvaluation(start, step, g.At))).ToHashSet();
    }

    /// <summary>"12m45s": a time as a duration from the test's start.</summary>
    public static string Since(DateTimeOffset start, DateTimeOffset t) => PromDuration.Format(t - start);

    /// <summary>A decision as a failure names it: "rollback {deployment="cart"} at 6m (rollback disarmed: ...)".</summary>
    public static string Describe(Decision decision, DateTimeOffset start)
    {
        ArgumentNullException.ThrowIfNull(decision);
        var labels = decision.Labels.IsEmpty ? string.Empty : " " + decision.Labels;
        var disarmed = decision.Kind == DecisionKind.Act && decision.Disarmed ? $" (rollback disarmed: {Relative(decision.DisarmedReason ?? string.Empty, start)})" : string.Empty;
        return $"{RuleTestActions.Name(decision)}{labels} at {Since(start, decision.At)}{disarmed}";
    }

    /// <summary>Sentences from Core (gate reasons) name RFC 3339 times: in a test's output they read as durations from its start.</summary>
    public static string Relative(string text, DateTimeOffset start)
    {
        ArgumentNullException.ThrowIfNull(text);
        return Timestamp().Replace(text, m =>
            DateTimeOffset.TryParse(m.Value, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal, out var t) ? Since(start, t) : m.Value);
    }

    private static DateTimeOffset LatestEvaluation(DateTimeOffset start, TimeSpan step, TimeSpan at) => start + (step * (at.Ticks / step.Ticks));

    private static bool Concerns(ExpectedAction e, Decision d, DateTimeOffset start) =>
        d.Policy == e.Policy && d.Trigger == e.Trigger && (e.Labels is null || d.Labels.Equals(e.Labels)) && (e.At is null || d.At == start + e.At.Value);

    private static string List(IReadOnlyList<Decision> decisions, DateTimeOffset start)
    {
        var listed = string.Join(", ", decisions.Take(MaxListed).Select(d => Describe(d, start)));
        return decisions.Count > MaxListed ? $"{listed} and {decisions.Count - MaxListed} more" : listed;
    }

    [GeneratedRegex(@"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")]
    private static partial Regex Timestamp();
}
