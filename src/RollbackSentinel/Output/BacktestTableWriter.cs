using System.Text;
using RollbackSentinel.Core.Backtesting;
using RollbackSentinel.Core.Evaluation;
using RollbackSentinel.Core.State;

namespace RollbackSentinel.Output;

/// <summary>The people's view of a backtest: one row per decision, then a summary per policy.</summary>
internal static class BacktestTableWriter
{
    public static string Format(BacktestResult result, BacktestWindow window)
    {
        var sb = new StringBuilder();
        sb.Append("Backtest ").Append(Rfc3339.Range(window.From, window.To));
        if (window.DeployedAt is { } d)
        {
            sb.Append(", deployed at ").Append(Rfc3339.Format(d));
        }

        sb.Append("\n\n");

        if (result.Decisions.Count == 0)
        {
            sb.Append("No decisions: no trigger fired and no run of inconclusive evaluations was long enough to report.\n\n");
        }
        else
        {
            var decisions = new TextTable("AT", "POLICY", "TRIGGER", "LABELS", "DECISION", "VALUE", "THRESHOLD", "WHY");
            foreach (var x in result.Decisions)
            {
                decisions.Add(
                    Rfc3339.Format(x.At),
                    x.Policy,
                    x.Trigger,
                    x.Labels.IsEmpty ? "-" : x.Labels.ToString(),
                    Describe(x),
                    x.Verdict.Value is { } v ? TriggerEvaluator.Num(v) : "-",
                    x.Verdict.Threshold is { } t ? TriggerEvaluator.Num(t) : "-",
                    x.Message);
            }

            sb.Append(decisions).Append('\n');
        }

        // Evaluations count the policy's runs; the verdict columns count one verdict per trigger and series.
        var summary = new TextTable("POLICY", "EVALUATIONS", "VERDICTS", "PASS", "BREACH", "INCONCLUSIVE", "ERROR", "ACTIONS", "SUPPRESSED", "INCONCLUSIVE RUNS");
        foreach (var s in result.Summaries)
        {
            var verdicts = s.Passes + s.Breaches + s.Inconclusive + s.Errors;
            summary.Add(s.Policy, N(s.Evaluations), N(verdicts), N(s.Passes), N(s.Breaches), N(s.Inconclusive), N(s.Errors), N(s.Actions), N(s.Suppressed), N(s.InconclusiveRuns));
        }

        return sb.Append(summary).Append('\n').ToString();
    }

    private static string Describe(Decision d) => d.Kind switch
    {
        DecisionKind.Act => (d.DryRun ? "would " : string.Empty) + d.Action.ToString().ToLowerInvariant(),
        DecisionKind.SuppressedByCooldown => "suppressed (cooldown)",
        DecisionKind.InconclusiveRun => "inconclusive run",
        DecisionKind.Resolved => "resolved",
        _ => d.Kind.ToString(),
    };

    private static string N(int n) => n.ToString(System.Globalization.CultureInfo.InvariantCulture);
}
