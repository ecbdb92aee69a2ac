using System.Globalization;
using System.Text.Json;

namespace RollbackSentinel.Prometheus.Internal;

/// <summary>
/// Reads a range query's success answer in one forward pass (<see cref="Utf8JsonReader"/>, no document, no reflection)
/// straight into each series' <see cref="PointBuffer"/>: a value is parsed from its UTF-8 bytes, never made a string.
/// </summary>
/// <remarks>
/// Only the answer it is built for is read here: a success envelope whose data is a matrix that fits the caps. Anything
/// else (an error envelope, a body that is not JSON or is cut short, another result type, a native histogram, a label
/// past a cap, an escaped or unparsable value, a member twice) returns null, and the caller reads the body with
/// <see cref="ApiResponse"/> and <see cref="ResultReader"/>, which say what is wrong in the words they always have.
/// </remarks>
internal static class MatrixReader
{
    public static List<ParsedSeries>? TryRead(ReadOnlySpan<byte> body, ResultLimits limits)
    {
        try
        {
            return Read(body, limits);
        }
        catch (Exception e) when (e is JsonException or FormatException or ResultLimitException or InvalidOperationException or OverflowException)
        {
            return null;
        }
    }

    private static List<ParsedSeries>? Read(ReadOnlySpan<byte> body, ResultLimits limits)
    {
        var reader = new Utf8JsonReader(body, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Disallow });
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
        {
            return null;
        }

        bool success = false, sawStatus = false, sawData = false;
        List<ParsedSeries>? series = null;
        while (Next(ref reader) == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("status"u8))
            {
                if (StringOnce(ref reader, ref sawStatus, "success"u8) is not { } isSuccess)
                {
                    return null;
                }

                success = isSuccess;
            }
            else if (reader.ValueTextEquals("data"u8))
            {
                if (sawData || Next(ref reader) != JsonTokenType.StartObject)
                {
                    return null;
                }

                sawData = true;
                series = ReadData(ref reader, limits);
                if (series is null)
                {
                    return null;
                }
            }
            else
            {
                reader.Read();
                reader.Skip();
            }
        }

        // The root object is closed; nothing may follow it (Read throws on trailing content).
        return reader.TokenType == JsonTokenType.EndObject && !reader.Read() && success ? series : null;
    }

    /// <summary>
    /// The string value of the member whose name the reader is at, allowed once: whether it is <paramref name="expected"/>,
    /// or null when the member came before (<paramref name="seen"/>) or its value is not a string.
    /// </summary>
    private static bool? StringOnce(ref Utf8JsonReader reader, ref bool seen, ReadOnlySpan<byte> expected)
    {
        if (seen || Next(ref reader) != JsonTokenType.String)
        {
            return null;
        }

        seen = true;
        return reader.ValueTextEquals(expected);
    }

    /// <summary>The <c>data</c> object, from its start to its end: the matrix, or null when it is anything else.</summary>
    private static List<ParsedSeries>? ReadData(ref Utf8JsonReader reader, ResultLimits limits)
    {
        bool matrix = false, sawType = false;
        List<ParsedSeries>? result = null;
        while (Next(ref reader) == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("resultType"u8))
            {
                if (StringOnce(ref reader, ref sawType, "matrix"u8) is not { } isMatrix)
                {
                    return null;
                }

                matrix = isMatrix;
            }
            else if (reader.ValueTextEquals("result"u8))
            {
                if (result is not null || Next(ref reader) != JsonTokenType.StartArray)
                {
                    return null;
                }

                result = [];
                while (Next(ref reader) == JsonTokenType.StartObject)
                {
                    if (result.Count == limits.MaxSeries || ReadSeries(ref reader, limits) is not { } one)
                    {
                        return null;
                    }

                    result.Add(one);
                }

                if (reader.TokenType != JsonTokenType.EndArray)
                {
                    return null;
                }
            }
            else
            {
                reader.Read();
                reader.Skip();
            }
        }

        return reader.TokenType == JsonTokenType.EndObject && matrix ? result : null;
    }

    private static ParsedSeries? ReadSeries(ref Utf8JsonReader reader, ResultLimits limits)
    {
        (string Identity, Core.Metrics.LabelSet Labels)? metric = null;
        PointBuffer? points = null;
        while (Next(ref reader) == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("metric"u8))
            {
                if (metric is not null || Next(ref reader) != JsonTokenType.StartObject)
                {
                    return null;
                }

                var labels = new List<KeyValuePair<string, string>>();
                while (Next(ref reader) == JsonTokenType.PropertyName)
                {
                    var name = reader.GetString()!;
                    if (Next(ref reader) != JsonTokenType.String)
                    {
                        return null;
                    }

                    labels.Add(new(name, reader.GetString()!));
                }

                metric = ResultReader.Labels(labels, limits);
            }
            else if (reader.ValueTextEquals("values"u8))
            {
                if (points is not null || Next(ref reader) != JsonTokenType.StartArray)
                {
                    return null;
                }

                points = new PointBuffer();
                while (Next(ref reader) == JsonTokenType.StartArray)
                {
                    if (Next(ref reader) != JsonTokenType.Number || !reader.TryGetDecimal(out var seconds)
                        || Next(ref reader) != JsonTokenType.String || Value(ref reader) is not { } value
                        || Next(ref reader) != JsonTokenType.EndArray)
                    {
                        return null;
                    }

                    points.Add((long)decimal.Round(seconds * 1000m, MidpointRounding.AwayFromZero), value);
                }

                if (reader.TokenType != JsonTokenType.EndArray)
                {
                    return null;
                }
            }
            else if (reader.ValueTextEquals("histogram"u8) || reader.ValueTextEquals("histograms"u8))
            {
                return null;
            }
            else
            {
                reader.Read();
                reader.Skip();
            }
        }

        return metric is { } m && points is not null ? new ParsedSeries(m.Identity, m.Labels, points) : null;
    }

    /// <summary>A sample value as <see cref="PrometheusFormat.ParseValue"/> reads it, from its bytes; null when it would not parse.</summary>
    private static double? Value(ref Utf8JsonReader reader)
    {
        if (reader.ValueIsEscaped)
        {
            return null;
        }

        var text = reader.ValueSpan;
        return text.SequenceEqual("NaN"u8) ? double.NaN
            : text.SequenceEqual("+Inf"u8) || text.SequenceEqual("Inf"u8) ? double.PositiveInfinity
            : text.SequenceEqual("-Inf"u8) ? double.NegativeInfinity
            : double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) ? value
            : null;
    }

    private static JsonTokenType Next(ref Utf8JsonReader reader) => reader.Read() ? reader.TokenType : JsonTokenType.None;
}
