using RollbackSentinel.Core.Evaluation;
using RollbackSentinel.Core.State;

namespace RollbackSentinel.Storage.Serialization;

/// <summary>
/// The evidence an incident keeps of the decision that opened it: the verdict with its resolved queries,
/// values, baseline, threshold and sentence, enough to explain the action without the metrics backend.
/// </summary>
internal static class EvidenceJson
{
    public static string Write(Decision decision) => JsonText.Write(w =>
    {
        var verdict = decision.Verdict;
        w.WriteStartObject();
        w.WriteString("verdict", verdict.Kind.ToString());
        w.WriteString("reason", verdict.Reason.ToString());
        w.WriteString("summary", verdict.Summary);
        JsonText.WriteNumber(w, "value", verdict.Value);
        JsonText.WriteNumber(w, "threshold", verdict.Threshold);
        JsonText.WriteNumber(w, "baseline", verdict.Baseline);
        w.WriteBoolean("noDataCountedAsBreach", verdict.NoDataCountedAsBreach);
        w.WriteString("decidedAt", Rfc3339.Format(decision.At));
        if (decision.Since is { } since)
        {
            w.WriteString("since", Rfc3339.Format(since));
        }
        else
        {
            w.WriteNull("since");
        }

        w.WriteStartArray("queries");
        foreach (var query in verdict.Queries)
        {
            w.WriteStartObject();
            w.WriteString("role", query.Role);
            w.WriteString("query", query.Query);
            w.WriteString("evaluatedAt", query.EvaluatedAt);
            JsonText.WriteNumber(w, "value", query.Value);
            if (query.Note is not null)
            {
                w.WriteString("note", query.Note);
            }

            w.WriteEndObject();
        }

        w.WriteEndArray();
        w.WriteEndObject();
    });
}
