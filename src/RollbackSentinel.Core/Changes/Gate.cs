using RollbackSentinel.Core.Evaluation;
using RollbackSentinel.Core.Incidents;
using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Core.Policies;
using RollbackSentinel.Core.State;

namespace RollbackSentinel.Core.Changes;

/// <summary>Where one series of one trigger stands for a gate.</summary>
/// <param name="State"><c>passing</c>, <c>pending</c>, <c>firing</c>, <c>inconclusive</c>, <c>error</c> or <c>not evaluated since the change</c>.</param>
/// <param name="Passes">Passing evaluations in a row after <paramref name="Change"/>.</param>
/// <param name="Change">The latest change of the series' label set, when one is known.</param>
public sealed record GateSeries(string Trigger, LabelSet Labels, string State, int Passes, Change? Change);

/// <summary>A gate's answer: open, or closed with one reason per trigger, series or incident that keeps it closed.</summary>
public sealed record GateAnswer(string Policy, bool Open, IReadOnlyList<string> Reasons, IReadOnlyList<GateSeries> Series, int MinPasses);

/// <summary>
/// "Is it safe to go on?" for a pipeline or a migration runbook (<c>GET /api/v1/gates/{policy}</c>): open when, for
/// every series matching the filter, the latest change of its label set has been followed by at least
/// <see cref="GateSettings.MinPasses"/> passing evaluations in a row of every trigger, and no incident is open.
/// Unknown is never open: a trigger with no matching series evaluated is a reason. Pure.
/// </summary>
public static class Gate
{
    /// <param name="policy">The policy, as loaded.</param>
    /// <param name="state">Its state after the last evaluation (<see cref="PolicyState.Progress"/>).</param>
    /// <param name="changes">Its changes.</param>
    /// <param name="openIncidents">Its incidents that are not resolved or denied.</param>
    /// <param name="filter">Label values the caller asks about (<c>?deployment=cart</c>); a series matches unless it has one of these labels with another value.</param>
    /// <param name="now">When the gate is asked; with <paramref name="staleAfter"/>, a state last evaluated longer ago than that keeps it closed.</param>
    /// <param name="staleAfter">The longest expected time between evaluations (the runner's <c>MaxGap</c>: 2.5 periods).</param>
    public static GateAnswer Evaluate(
        Policy policy, PolicyState state, ChangeHistory changes, IEnumerable<Incident> openIncidents, LabelSet filter, DateTimeOffset? now = null, TimeSpan? staleAfter = null)
    {
        ArgumentNullException.ThrowIfNull(policy);
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(changes);
        ArgumentNullException.ThrowIfNull(openIncidents);
        ArgumentNullException.ThrowIfNull(filter);
        var min = policy.Gate.MinPasses;
        var reasons = new List<string>();
        if (now is { } asked && staleAfter is { } limit && state.LastEvaluatedAt is { } last && asked - last > limit)
        {
            reasons.Add($"the last evaluation was {Change.Ago(asked - last)}, longer than {PromDuration.Format(limit)}: how things stand now is unknown");
        }

        var rows = new List<GateSeries>();
        foreach (var trigger in policy.Triggers)
        {
            // The series the last evaluation saw, and any still pending or firing that it did not (a firing series
            // missing from the result keeps firing until it has been absent for the trigger's inconclusive limit).
            var keys = state.Progress.Keys.Where(k => k.Trigger == trigger.Name)
                .Union(state.Series.Where(s => s.Key.Trigger == trigger.Name && s.Value.Phase != TriggerPhase.Ok).Select(s => s.Key))
                .Where(k => k.Labels.AgreesWith(filter))
                .OrderBy(k => k.Labels.ToString(), StringComparer.Ordinal)
                .ToArray();
            if (keys.Length == 0)
            {
                reasons.Add($"{trigger.Name}: not yet evaluated{(filter.IsEmpty ? string.Empty : " for " + filter)}");
                continue;
            }

            foreach (var key in keys)
            {
                var progress = state.Progress.GetValueOrDefault(key);

                // The latest change now, which may have come after the last evaluation.
                var change = changes.LatestFor(key.Labels, DateTimeOffset.MaxValue);
                var series = state.Get(key);
                var what = $"{trigger.Name}{(key.Labels.IsEmpty ? string.Empty : key.Labels.ToString())}";
                var since = change is null ? string.Empty : $" since {change.What}";
                string row;

                // A breach leaves a series pending or firing, so the phase answers for every breaching verdict;
                // passes only count passing verdicts, so a series is never open on a breach (minPasses >= 1).
                if (series.Phase == TriggerPhase.Firing)
                {
                    row = "firing";
                    reasons.Add($"{what}: firing{(progress is null ? " (absent from the last evaluation)" : string.Empty)}");
                }
                else if (series.Phase == TriggerPhase.Pending)
                {
                    row = "pending";
                    reasons.Add($"{what}: pending (breaching since {Rfc3339.Format(series.BreachingSince ?? progress?.LastAt ?? DateTimeOffset.MinValue)})");
                }
                else if (progress is null || (change is not null && (progress.LastAt <= change.At || !progress.CountsFrom(change))))
                {
                    // (Progress is only missing for a series absent from the last evaluation, which is firing.)
                    row = "not evaluated since the change";
                    reasons.Add(change is null
                        ? $"{what}: not yet evaluated"
                        : $"{what}: not yet evaluated since the change ({change.What} at {Rfc3339.Format(change.At)})");
                }
                else if (progress.LastVerdict is VerdictKind.Inconclusive or VerdictKind.Error)
                {
                    row = progress.LastVerdict == VerdictKind.Error ? "error" : "inconclusive";
                    reasons.Add($"{what}: {row} at the last evaluation");
                }
                else if (progress.Passes < min)
                {
                    row = "passing";
                    reasons.Add($"{what}: {progress.Passes} of {min} passing evaluations{since}");
                }
                else
                {
                    row = "passing";
                }

                rows.Add(new GateSeries(trigger.Name, key.Labels, row, progress?.Passes ?? 0, change));
            }
        }

        foreach (var incident in openIncidents.Where(i => i.Policy == policy.Name && i.Labels.AgreesWith(filter)).OrderBy(i => i.Id))
        {
            reasons.Add($"incident {incident.Id} ({incident.Trigger}{(incident.Labels.IsEmpty ? string.Empty : incident.Labels.ToString())}) is {Words(incident.Status)}");
        }

        return new GateAnswer(policy.Name, reasons.Count == 0, reasons, rows, min);
    }

    // AwaitingConfirmation -> "awaiting confirmation".
    private static string Words(IncidentStatus status) =>
        string.Concat(status.ToString().Select((c, i) => i > 0 && char.IsUpper(c) ? " " + char.ToLowerInvariant(c) : char.ToLowerInvariant(c).ToString()));
}
