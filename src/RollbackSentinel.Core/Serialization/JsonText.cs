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

    /// <summary>A buffer kept larger than this is let go after use rather than kept for the thread's next document.</summary>
    private const int KeptBufferBytes = 64 * 1024;

    /// <summary>Each thread's buffer and writer, reused from one document to the next (the daemon writes a policy state per evaluation).</summary>
    [ThreadStatic]
    private static Scratch? t_scratch;

    public static string Write(Action<Utf8JsonWriter> write)
    {
        ArgumentNullException.ThrowIfNull(write);
        var scratch = t_scratch ??= new Scratch();
        if (scratch.InUse)
        {
            // A document written while writing another (on this thread): a buffer of its own.
            return new Scratch().Write(write);
        }

        try
        {
            return scratch.Write(write);
        }
        finally
        {
            if (scratch.Buffer.Capacity > KeptBufferBytes)
            {
                t_scratch = null;
            }
        }
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

    private sealed class Scratch
    {
        public Scratch() => Writer = new Utf8JsonWriter(Buffer, _writerOptions);

        public ArrayBufferWriter<byte> Buffer { get; } = new(1024);

        public Utf8JsonWriter Writer { get; }

        public bool InUse { get; private set; }

        public string Write(Action<Utf8JsonWriter> write)
        {
            InUse = true;
            try
            {
                Buffer.ResetWrittenCount();
                Writer.Reset(Buffer);
                write(Writer);
                Writer.Flush();
                return Encoding.UTF8.GetString(Buffer.WrittenSpan);
            }
            finally
            {
                InUse = false;
            }
        }
    }
}
