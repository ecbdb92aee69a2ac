using System.Globalization;
using System.Text;
using System.Text.Json;
using RollbackSentinel.Core.Evaluation;
using RollbackSentinel.Core.Serialization;
using RollbackSentinel.Core.State;

namespace RollbackSentinel.Core.Incidents;

/// <summary>
/// The evidence an incident keeps of what opened it: the verdict with its resolved queries, values, baseline,
/// threshold and sentence, enough to explain the action without the metrics backend. Stored as
/// <see cref="Incident.EvidenceJson"/> in one JSON form (<see cref="ToJson"/>, <see cref="FromJson"/>).
/// </summary>
/// <remarks>
/// The JSON, fixed (stores and API clients read it): <c>verdict</c>, <c>reason</c>, <c>summary</c>, <c>value</c>,
/// <c>threshold</c>, <c>baseline</c> (a number, null, or <c>"NaN"</c>/<c>"+Inf"</c>/<c>"-Inf"</c> as Prometheus spells
/// them), <c>noDataCountedAsBreach</c>, <c>decidedAt</c>, <c>since</c> (RFC 3339 or null) and <c>queries</c>
/// (<c>role</c>, <c>query</c>, <c>evaluatedAt</c>, <c>value</c>, and <c>note</c> when there is one), in that order.
/// Evidence that measured nothing (a manual rollback: <see cref="Reason"/> null) has only <c>verdict</c>,
/// <c>summary</c>, <c>decidedAt</c>, <c>since</c> and <c>queries</c>. Last, <c>rulesVersion</c> when known (the version of
/// the rules the deciding node had, issue 13); omitted when null, so evidence written before it stays byte for byte.
/// </remarks>
public sealed record IncidentEvidence
{
    /// <summary>The <see cref="Verdict"/> of a rollback a person asked for.</summary>
    public const string ManualVerdict = "Manual";

    /// <summary>The verdict's kind (<see cref="VerdictKind"/> by name), or <see cref="ManualVerdict"/>.</summary>
    public required string Verdict { get; init; }

    /// <summary>Why (<see cref="VerdictReason"/> by name); null for evidence that measured nothing (a manual rollback).</summary>
    public string? Reason { get; init; }

    public required string Summary { get; init; }

    public double? Value { get; init; }

    public double? Threshold { get; init; }

    public double? Baseline { get; init; }

    public bool NoDataCountedAsBreach { get; init; }

    /// <summary>When the decision was made (null only in evidence written by hand).</summary>
    public DateTimeOffset? DecidedAt { get; init; }

    /// <summary>When the breach began.</summary>
    public DateTimeOffset? Since { get; init; }

    public IReadOnlyList<QueryEvidence> Queries { get; init; } = [];

    /// <summary>
    /// The version of the rules the node that decided had loaded (<c>sha256:</c> and 12 hex digits of its rule files), or
    /// null when not known (a manual rollback, evidence written before versions were recorded).
    /// </summary>
    public string? RulesVersion { get; init; }

    /// <summary>Whether a verdict measured something (false for a manual rollback: no reason, value, threshold or baseline).</summary>
    public bool IsMeasured => Reason is not null;

    /// <summary>The evidence of the decision that opens an incident.</summary>
    public static IncidentEvidence Of(Decision decision)
    {
        ArgumentNullException.ThrowIfNull(decision);
        var verdict = decision.Verdict;
        return new IncidentEvidence
        {
            Verdict = verdict.Kind.ToString(),
            Reason = verdict.Reason.ToString(),
            Summary = verdict.Summary,
            Value = verdict.Value,
            Threshold = verdict.Threshold,
            Baseline = verdict.Baseline,
            NoDataCountedAsBreach = verdict.NoDataCountedAsBreach,
            DecidedAt = decision.At,
            Since = decision.Since,
            Queries = verdict.Queries,
        };
    }

    /// <summary>The evidence of a rollback a person asked for: their sentence, and when.</summary>
    public static IncidentEvidence Manual(string summary, DateTimeOffset at) => new()
    {
        Verdict = ManualVerdict,
        Summary = summary,
        DecidedAt = at,
        Since = at,
    };

    /// <summary>The one JSON form (see the remarks of <see cref="IncidentEvidence"/>).</summary>
    public string ToJson() =>
        JsonText.Write(w =>
        {
            w.WriteStartObject();
            w.WriteString("verdict", Verdict);
            if (IsMeasured)
            {
                w.WriteString("reason", Reason);
            }

            w.WriteString("summary", Summary);
            if (IsMeasured)
            {
                JsonText.WriteNumber(w, "value", Value);
                JsonText.WriteNumber(w, "threshold", Threshold);
                JsonText.WriteNumber(w, "baseline", Baseline);
                w.WriteBoolean("noDataCountedAsBreach", NoDataCountedAsBreach);
            }

            WriteTime(w, "decidedAt", DecidedAt);
            WriteTime(w, "since", Since);
            w.WriteStartArray("queries");
            foreach (var query in Queries)
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
            if (RulesVersion is not null)
            {
                w.WriteString("rulesVersion", RulesVersion);
            }

            w.WriteEndObject();
        });

    /// <summary>Reads evidence as <see cref="ToJson"/> writes it; properties missing are empty (evidence written by hand).</summary>
    /// <exception cref="InvalidDataException">The text is not JSON, not an object, or a property has the wrong type.</exception>
    public static IncidentEvidence FromJson(string json)
    {
        ArgumentNullException.ThrowIfNull(json);
        try
        {
            using var document = JsonDocument.Parse(json);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw new InvalidDataException($"incident evidence is a JSON {root.ValueKind}, not an object");
            }

            var queries = root.TryGetProperty("queries", out var q) && q.ValueKind == JsonValueKind.Array
                ? q.EnumerateArray().Select(e => new QueryEvidence(
                    String(e, "role") ?? string.Empty,
                    String(e, "query") ?? string.Empty,
                    String(e, "evaluatedAt") ?? string.Empty,
                    Number(e, "value"),
                    String(e, "note"))).ToList()
                : [];
            return new IncidentEvidence
            {
                Verdict = String(root, "verdict") ?? string.Empty,
                Reason = String(root, "reason"),
                Summary = String(root, "summary") ?? string.Empty,
                Value = Number(root, "value"),
                Threshold = Number(root, "threshold"),
                Baseline = Number(root, "baseline"),
                NoDataCountedAsBreach = root.TryGetProperty("noDataCountedAsBreach", out var b) && b.ValueKind == JsonValueKind.True,
                DecidedAt = Time(root, "decidedAt"),
                Since = Time(root, "since"),
                Queries = queries,
                RulesVersion = String(root, "rulesVersion"),
            };
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"incident evidence is not valid JSON: {e.Message}", e);
        }
        catch (InvalidOperationException e)
        {
            throw new InvalidDataException($"incident evidence has a property of the wrong type: {e.Message}", e);
        }
    }

    public bool Equals(IncidentEvidence? other) =>
        other is not null
        && Verdict == other.Verdict
        && Reason == other.Reason
        && Summary == other.Summary
        && Nullable.Equals(Value, other.Value)
        && Nullable.Equals(Threshold, other.Threshold)
        && Nullable.Equals(Baseline, other.Baseline)
        && NoDataCountedAsBreach == other.NoDataCountedAsBreach
        && DecidedAt == other.DecidedAt
        && Since == other.Since
        && Queries.SequenceEqual(other.Queries)
        && RulesVersion == other.RulesVersion;

    public override int GetHashCode() => HashCode.Combine(Verdict, Reason, Summary, DecidedAt, Queries.Count);

    private static void WriteTime(Utf8JsonWriter writer, string name, DateTimeOffset? value)
    {
        if (value is { } t)
        {
            writer.WriteString(name, Rfc3339.Format(t));
        }
        else
        {
            writer.WriteNull(name);
        }
    }

    private static string? String(JsonElement element, string name) =>
        element.TryGetProperty(name, out var v) && v.ValueKind != JsonValueKind.Null ? v.GetString() : null;

    private static double? Number(JsonElement element, string name) =>
        !element.TryGetProperty(name, out var v) ? null : v.ValueKind switch
        {
            JsonValueKind.Number => v.GetDouble(),
            JsonValueKind.String => v.GetString() switch
            {
                "NaN" => double.NaN,
                "+Inf" => double.PositiveInfinity,
                "-Inf" => double.NegativeInfinity,
                var s => double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) ? d : throw new InvalidDataException($"incident evidence: {name} '{s}' is not a number"),
            },
            _ => null,
        };

    private static DateTimeOffset? Time(JsonElement element, string name) =>
        String(element, name) is not { } text ? null
        : Rfc3339.TryParse(text, out var t) ? t
        : throw new InvalidDataException($"incident evidence: {name} '{text}' is not an RFC 3339 time");
}
