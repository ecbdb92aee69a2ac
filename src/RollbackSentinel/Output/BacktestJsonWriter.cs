using System.Text.Encodings.Web;
using System.Text.Json;
using RollbackSentinel.Core.Changes;
using RollbackSentinel.Core.Evaluation;
using RollbackSentinel.Core.State;

namespace RollbackSentinel.Output;

/// <summary>
/// One JSON object per line for every action a backtest would have taken:
/// <c>{"policy":..,"trigger":..,"at":..,"action":..,"value":..,"threshold":..,"labels":{..},...}</c>.
/// The first seven fields are a contract, and so are <c>disarmed</c>, <c>reason</c> and <c>change</c>; the rest is
/// evidence and may grow. <c>action</c> is the action taken: <c>page</c> for a disarmed rollback.
/// </summary>
internal static class BacktestJsonWriter
{
    private static readonly JsonWriterOptions Options = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static string Format(Decision d)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, Options))
        {
            w.WriteStartObject();
            w.WriteString("policy", d.Policy);
            w.WriteString("trigger", d.Trigger);
            w.WriteString("at", Rfc3339.Format(d.At));
            w.WriteString("action", d.Action.ToString().ToLowerInvariant());
            WriteNumber(w, "value", d.Verdict.Value);
            WriteNumber(w, "threshold", d.Verdict.Threshold);
            w.WriteStartObject("labels");
            foreach (var (k, v) in d.Verdict.Labels)
            {
                w.WriteString(k, v);
            }

            w.WriteEndObject();
            if (d.Verdict.Baseline is not null)
            {
                WriteNumber(w, "baseline", d.Verdict.Baseline);
            }

            w.WriteBoolean("dryRun", d.DryRun);
            w.WriteBoolean("disarmed", d.Disarmed);

            // "reason" as the issue names it; "disarmedReason" as the API's incidents and the webhook body name it.
            foreach (var name in (ReadOnlySpan<string>)["reason", "disarmedReason"])
            {
                if (d.DisarmedReason is { } reason)
                {
                    w.WriteString(name, reason);
                }
                else
                {
                    w.WriteNull(name);
                }
            }

            w.WritePropertyName("change");
            WriteChange(w, d.Blamed);
            if (d.PolicyLabels.Count > 0)
            {
                w.WriteStartObject("policyLabels");
                foreach (var (k, v) in d.PolicyLabels.OrderBy(l => l.Key, StringComparer.Ordinal))
                {
                    w.WriteString(k, v);
                }

                w.WriteEndObject();
            }

            if (d.Since is { } since)
            {
                w.WriteString("since", Rfc3339.Format(since));
            }

            w.WriteString("verdict", d.Verdict.Kind.ToString().ToLowerInvariant());
            w.WriteString("summary", d.Verdict.Summary);
            w.WriteStartArray("queries");
            foreach (var q in d.Verdict.Queries)
            {
                w.WriteStartObject();
                w.WriteString("role", q.Role);
                w.WriteString("query", q.Query);
                w.WriteString("at", q.EvaluatedAt);
                WriteNumber(w, "value", q.Value);
                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteEndObject();
        }

        return System.Text.Encoding.UTF8.GetString(buffer.ToArray());
    }

    /// <summary>A change in the API's format (<c>{"id","policy","labels","at","source","revision","previousRevision","by","description","recordedAt"}</c>), or null.</summary>
    public static void WriteChange(Utf8JsonWriter w, Change? c)
    {
        ArgumentNullException.ThrowIfNull(w);
        if (c is null)
        {
            w.WriteNullValue();
            return;
        }

        w.WriteStartObject();
        w.WriteNumber("id", c.Id);
        w.WriteString("policy", c.Policy);
        w.WriteStartObject("labels");
        foreach (var (k, v) in c.Labels)
        {
            w.WriteString(k, v);
        }

        w.WriteEndObject();
        w.WriteString("at", Rfc3339.Format(c.At));
        w.WriteString("source", c.Source.ToString().ToLowerInvariant());
        w.WriteString("revision", c.Revision);
        w.WriteString("previousRevision", c.PreviousRevision);
        w.WriteString("by", c.By);
        w.WriteString("description", c.Description);
        if (c.RecordedAt is { } recorded)
        {
            w.WriteString("recordedAt", Rfc3339.Format(recorded));
        }
        else
        {
            w.WriteNull("recordedAt");
        }

        w.WriteEndObject();
    }

    /// <summary>JSON has no NaN or infinity: those are written as null (the verdict explains why).</summary>
    private static void WriteNumber(Utf8JsonWriter w, string name, double? value)
    {
        if (value is { } v && double.IsFinite(v))
        {
            w.WriteNumber(name, Math.Round(v, 9));
        }
        else
        {
            w.WriteNull(name);
        }
    }
}
