using System.Text;
using RollbackSentinel.Core.Backtesting;
using RollbackSentinel.Core.Evaluation;
using RollbackSentinel.Core.State;

namespace RollbackSentinel.Output;

/// <summary>The people's view of a backtest: the changes it used, one row per decision, then a summary per policy.</summary>
internal static class BacktestTableWriter
{
    /// <summary>What a disarmed decision's message ends with; the table shows it in the decision column instead.</summary>
    private const string DisarmedSuffix = " (rollback disarmed: ";

    public static string Format(BacktestResult result, BacktestWindow window)
    {
        var sb = new StringBuilder();
        sb.Append("Backtest ").Append(Rfc3339.Range(window.From, window.To));
        if (window.DeployedAt is { } d)
        {
            sb.Append(", deployed at ").Append(Rfc3339.Format(d));
        }

        sb.Append("\n\n").Append(FormatChanges(result));

        if (result.Decisions.Count == 0)
        {
            sb.Append("No decisions: no trigger fired and no run of inconclusive evaluations was long enough to report.\n\n");
        }
        else
        {
            sb.Append("Decisions\n");
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
                    Why(x));
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

    /// <summary>
    /// The changes the decisions were judged against (<see cref="BacktestResult.Changes"/>), or a sentence saying that
    /// none is known and what that means. Also printed on stderr with <c>--format json</c>.
    /// </summary>
    public static string FormatChanges(BacktestResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        if (result.Changes.Count == 0)
        {
            return "Changes: none known, so rollback triggers take spec.watch.outside (page by default) unless it is rollback; "
                + "give --deployed-at, --changes FILE or spec.watch.detect.query\n\n";
        }

        var table = new TextTable("AT", "POLICY", "LABELS", "SOURCE", "REVISION", "BY");
        foreach (var c in result.Changes)
        {
            table.Add(
                Rfc3339.Format(c.At),
                c.Policy,
                c.Labels.IsEmpty ? "all" : OneLine(c.Labels.ToString()),
                c.Source.ToString().ToLowerInvariant(),
                c.Revision is null && c.PreviousRevision is null ? "-" : OneLine(c.What),
                c.By is { Length: > 0 } by ? OneLine(by) : "-");
        }

        return $"Changes\n{table}\n";
    }

    /// <summary>The decision as taken; a disarmed rollback says so: "page (rollback disarmed: no change of ... within 1h ...)".</summary>
    private static string Describe(Decision d) =>
        d.Taken + (d.Kind == DecisionKind.Act && d.Disarmed ? $"{DisarmedSuffix}{OneLine(d.DisarmedReason ?? string.Empty)})" : string.Empty);

    /// <summary>The decision's message (for an action, without the disarm reason the decision column shows), and the change an action blames.</summary>
    private static string Why(Decision d)
    {
        var message = d.Kind == DecisionKind.Act && d.Disarmed && d.Message.IndexOf(DisarmedSuffix, StringComparison.Ordinal) is var i and >= 0 ? d.Message[..i] : d.Message;
        return d.Kind == DecisionKind.Act && d.Blamed is { } change ? $"{message}; change: {OneLine(change.Describe(d.At))}" : message;
    }

    /// <summary>Changes come from files and label values: nothing in them may move the terminal's cursor.</summary>
    private static string OneLine(string text) => Hosting.SafeLogSink.EscapeControlCharacters(text);

    private static string N(int n) => n.ToString(System.Globalization.CultureInfo.InvariantCulture);
}
