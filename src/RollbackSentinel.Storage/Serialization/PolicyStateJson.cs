using RollbackSentinel.Core.Serialization;
using System.Collections.Immutable;
using System.Text.Json;
using RollbackSentinel.Core.Evaluation;
using RollbackSentinel.Core.Incidents;
using RollbackSentinel.Core.State;

namespace RollbackSentinel.Storage.Serialization;

/// <summary>
/// A policy's trigger state as JSON, exactly as the state machine left it:
/// <code>
/// {"format":1,
///  "series":[{"trigger":"error-rate","labels":{"app":"cart"},"phase":"Pending","breachingSince":"2026-11-20T14:30:45.1234567+00:00",
///             "firingSince":null,"nonConclusiveRun":0,"nonConclusiveSince":null,"absentRun":0}],
///  "lastActionAt":{"kubectl/checkout/shop":"2026-11-20T14:32:45+00:00"},
///  "progress":[{"trigger":"error-rate","labels":{"app":"cart"},"lastVerdict":"Pass","lastAt":"2026-11-20T14:32:45+00:00",
///               "passes":3,"changeAt":"2026-11-20T14:20:00+00:00","changeId":7}]}
/// </code>
/// Times keep every tick and their offset. Series are written sorted so equal states give equal text.
/// </summary>
internal static class PolicyStateJson
{
    public const int Format = 1;

    public static string Serialize(PolicyState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        return JsonText.Write(w =>
        {
            w.WriteStartObject();
            w.WriteNumber("format", Format);
            w.WriteStartArray("series");
            foreach (var (key, series) in state.Series
                .OrderBy(s => s.Key.Trigger, StringComparer.Ordinal)
                .ThenBy(s => s.Key.Labels.ToString(), StringComparer.Ordinal))
            {
                w.WriteStartObject();
                w.WriteString("trigger", key.Trigger);
                w.WritePropertyName("labels");
                LabelsJson.Write(w, key.Labels);
                w.WriteString("phase", series.Phase.ToString());
                WriteTime(w, "breachingSince", series.BreachingSince);
                WriteTime(w, "firingSince", series.FiringSince);
                w.WriteNumber("nonConclusiveRun", series.NonConclusiveRun);
                WriteTime(w, "nonConclusiveSince", series.NonConclusiveSince);
                w.WriteNumber("absentRun", series.AbsentRun);
                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteStartObject("lastActionAt");
            foreach (var (target, at) in state.LastActionAt.OrderBy(a => a.Key, StringComparer.Ordinal))
            {
                w.WriteString(target, at);
            }

            w.WriteEndObject();
            WriteTime(w, "lastEvaluatedAt", state.LastEvaluatedAt);
            w.WriteStartObject("fingerprints");
            foreach (var (trigger, fingerprint) in state.Fingerprints.OrderBy(f => f.Key, StringComparer.Ordinal))
            {
                w.WriteString(trigger, fingerprint);
            }

            w.WriteEndObject();
            w.WriteStartArray("progress");
            foreach (var (key, progress) in state.Progress
                .OrderBy(p => p.Key.Trigger, StringComparer.Ordinal)
                .ThenBy(p => p.Key.Labels.ToString(), StringComparer.Ordinal))
            {
                w.WriteStartObject();
                w.WriteString("trigger", key.Trigger);
                w.WritePropertyName("labels");
                LabelsJson.Write(w, key.Labels);
                w.WriteString("lastVerdict", progress.LastVerdict.ToString());
                w.WriteString("lastAt", progress.LastAt);
                w.WriteNumber("passes", progress.Passes);
                WriteTime(w, "changeAt", progress.ChangeAt);
                if (progress.ChangeId is { } changeId)
                {
                    w.WriteNumber("changeId", changeId);
                }
                else
                {
                    w.WriteNull("changeId");
                }

                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteEndObject();
        });
    }

    /// <summary>
    /// A policy_state row as the stores hand it out: no text (the state was not read) gives null, and text that cannot
    /// be read fails naming the policy.
    /// </summary>
    /// <exception cref="InvalidDataException">The stored state cannot be read.</exception>
    public static StoredPolicyState? Read(string policy, string? json, long version)
    {
        if (json is null)
        {
            return null;
        }

        try
        {
            return new StoredPolicyState(Deserialize(json), version);
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"The stored state of policy '{policy}' cannot be read: {e.Message}", e);
        }
    }

    /// <exception cref="InvalidDataException">The text is not a state this code can read (corrupt, or written by a newer format).</exception>
    public static PolicyState Deserialize(string json)
    {
        ArgumentNullException.ThrowIfNull(json);
        try
        {
            using var document = JsonDocument.Parse(json);
            var root = document.RootElement;
            var format = Required(root, "format").GetInt32();
            if (format != Format)
            {
                throw new InvalidDataException($"state format {format} is not supported (this build reads format {Format})");
            }

            var series = ImmutableDictionary.CreateBuilder<SeriesKey, SeriesState>();
            foreach (var item in Required(root, "series").EnumerateArray())
            {
                var key = new SeriesKey(RequiredString(item, "trigger"), LabelsJson.Read(Required(item, "labels")));
                var state = new SeriesState
                {
                    Phase = EnumText.Parse<TriggerPhase>(RequiredString(item, "phase"), "trigger phase"),
                    BreachingSince = ReadTime(item, "breachingSince"),
                    FiringSince = ReadTime(item, "firingSince"),
                    NonConclusiveRun = Required(item, "nonConclusiveRun").GetInt32(),
                    NonConclusiveSince = ReadTime(item, "nonConclusiveSince"),
                    AbsentRun = Required(item, "absentRun").GetInt32(),
                };

                if (!series.TryAdd(key, state))
                {
                    throw new InvalidDataException($"series {key} appears twice");
                }
            }

            var lastActionAt = ImmutableDictionary.CreateBuilder<string, DateTimeOffset>(StringComparer.Ordinal);
            foreach (var property in Required(root, "lastActionAt").EnumerateObject())
            {
                if (!lastActionAt.TryAdd(property.Name, property.Value.GetDateTimeOffset()))
                {
                    throw new InvalidDataException($"lastActionAt target '{property.Name}' appears twice");
                }
            }

            // Both were added within format 1 and are optional: a state written before them reads as "unknown".
            DateTimeOffset? lastEvaluatedAt = root.TryGetProperty("lastEvaluatedAt", out var le) && le.ValueKind == JsonValueKind.String ? le.GetDateTimeOffset() : null;
            var fingerprints = ImmutableDictionary.CreateBuilder<string, string>(StringComparer.Ordinal);
            if (root.TryGetProperty("fingerprints", out var fp) && fp.ValueKind == JsonValueKind.Object)
            {
                foreach (var property in fp.EnumerateObject())
                {
                    fingerprints[property.Name] = property.Value.GetString() ?? string.Empty;
                }
            }

            // Gate progress came with changes, within format 1: a state written before reads as "nothing evaluated since a change yet".
            var progress = ImmutableDictionary.CreateBuilder<SeriesKey, GateProgress>();
            if (root.TryGetProperty("progress", out var pr) && pr.ValueKind == JsonValueKind.Array)
            {
                foreach (var item in pr.EnumerateArray())
                {
                    var key = new SeriesKey(RequiredString(item, "trigger"), LabelsJson.Read(Required(item, "labels")));
                    var entry = new GateProgress(
                        EnumText.Parse<VerdictKind>(RequiredString(item, "lastVerdict"), "verdict kind"),
                        Required(item, "lastAt").GetDateTimeOffset(),
                        Required(item, "passes").GetInt32(),
                        ReadTime(item, "changeAt"),
                        Required(item, "changeId") is { ValueKind: not JsonValueKind.Null } id ? id.GetInt64() : null);
                    if (!progress.TryAdd(key, entry))
                    {
                        throw new InvalidDataException($"progress of series {key} appears twice");
                    }
                }
            }

            return new PolicyState
            {
                Series = series.ToImmutable(),
                LastActionAt = lastActionAt.ToImmutable(),
                LastEvaluatedAt = lastEvaluatedAt,
                Fingerprints = fingerprints.ToImmutable(),
                Progress = progress.ToImmutable(),
            };
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException)
        {
            // GetInt32/GetDateTimeOffset/EnumerateArray throw these on a value of the wrong JSON type.
            throw new InvalidDataException($"stored state is not valid: {e.Message}", e);
        }
    }

    private static void WriteTime(Utf8JsonWriter writer, string name, DateTimeOffset? value)
    {
        if (value is { } v)
        {
            writer.WriteString(name, v);
        }
        else
        {
            writer.WriteNull(name);
        }
    }

    private static DateTimeOffset? ReadTime(JsonElement item, string name) =>
        Required(item, name) is { ValueKind: not JsonValueKind.Null } value ? value.GetDateTimeOffset() : null;

    private static JsonElement Required(JsonElement element, string name) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out var value)
            ? value
            : throw new InvalidDataException($"stored state lacks '{name}'");

    private static string RequiredString(JsonElement element, string name) =>
        Required(element, name) is { ValueKind: JsonValueKind.String } value
            ? value.GetString()!
            : throw new InvalidDataException($"stored state: '{name}' must be a string");
}
