using System.Buffers;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace RollbackSentinel.Core.Serialization;

/// <summary>Writes one stored JSON document (evidence, policy state, labels) to a string, with the one set of writer options they share.</summary>
internal static class JsonText
{
    /// <summary>
    /// The stored JSON is read by this code and by people with database tools, never embedded in HTML as is: keep
    /// PromQL and non-ASCII label values readable (quotes, backslashes and control characters are still escaped).
    /// </summary>
    private static readonly JsonWriterOptions _writerOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static string Write(Action<Utf8JsonWriter> write)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(buffer, _writerOptions))
        {
            write(writer);
        }

        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    /// <summary>JSON has no NaN or infinity: write them as Prometheus spells them, as strings.</summary>
    public static void WriteNumber(Utf8JsonWriter writer, string name, double? value)
    {
        switch (value)
        {
            case null:
                writer.WriteNull(name);
                break;
            case double v when double.IsNaN(v):
                writer.WriteString(name, "NaN");
                break;
            case double v when double.IsPositiveInfinity(v):
                writer.WriteString(name, "+Inf");
                break;
            case double v when double.IsNegativeInfinity(v):
                writer.WriteString(name, "-Inf");
                break;
            case double v:
                writer.WriteNumber(name, v);
                break;
        }
    }
}
