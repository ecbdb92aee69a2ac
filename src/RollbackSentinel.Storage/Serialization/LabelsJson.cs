using RollbackSentinel.Core.Serialization;
using System.Text.Json;
using RollbackSentinel.Core.Metrics;

namespace RollbackSentinel.Storage.Serialization;

/// <summary>Label sets as a JSON object (<c>{"app":"checkout"}</c>), written in the label set's sorted order.</summary>
internal static class LabelsJson
{
    public static string Write(LabelSet labels) => JsonText.Write(w => Write(w, labels));

    public static void Write(Utf8JsonWriter writer, LabelSet labels)
    {
        writer.WriteStartObject();
        foreach (var (name, value) in labels)
        {
            writer.WriteString(name, value);
        }

        writer.WriteEndObject();
    }

    public static LabelSet Parse(string json)
    {
        try
        {
            using var document = JsonDocument.Parse(json);
            return Read(document.RootElement);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"stored labels are not valid JSON: {e.Message}", e);
        }
    }

    public static LabelSet Read(JsonElement element)
    {
        if (element.ValueKind != JsonValueKind.Object)
        {
            throw new InvalidDataException($"stored labels must be a JSON object, not {element.ValueKind}");
        }

        var labels = new List<KeyValuePair<string, string>>();
        foreach (var property in element.EnumerateObject())
        {
            if (property.Value.ValueKind != JsonValueKind.String)
            {
                throw new InvalidDataException($"stored label '{property.Name}' must be a string, not {property.Value.ValueKind}");
            }

            labels.Add(new(property.Name, property.Value.GetString()!));
        }

        try
        {
            return LabelSet.From(labels);
        }
        catch (ArgumentException e)
        {
            throw new InvalidDataException($"stored labels are not a valid label set: {e.Message}", e);
        }
    }
}
