using System.Text;
using System.Text.Json;
using RollbackSentinel.Core.Metrics;

namespace RollbackSentinel.Prometheus.Internal;

/// <summary>One series of a matrix result; <see cref="Identity"/> includes <c>__name__</c>, which <see cref="LabelSet"/> drops.</summary>
internal sealed record ParsedSeries(string Identity, LabelSet Labels, List<Point> Points);

/// <summary>
/// Reads the <c>data</c> of a success response. Malformed content throws <see cref="FormatException"/>
/// with a short description; the client turns it into an invalid-response error.
/// </summary>
internal static class ResultReader
{
    public static string ResultType(JsonElement data) =>
        data.TryGetProperty("resultType", out var type) && type.ValueKind == JsonValueKind.String
            ? type.GetString()!
            : throw new FormatException("the response has no \"resultType\"");

    /// <summary>An instant query's result: a vector, or a scalar as one unlabelled sample.</summary>
    public static IReadOnlyList<Sample> ReadInstant(JsonElement data, string resultType)
    {
        var result = Result(data);
        switch (resultType)
        {
            case "vector":
                var samples = new List<Sample>(result.ValueKind == JsonValueKind.Array ? result.GetArrayLength() : 0);
                foreach (var item in Array(result, "vector result"))
                {
                    var (_, labels) = ReadMetric(item);
                    var (_, value) = ReadPoint(Property(item, "value"));
                    samples.Add(new Sample(labels, value));
                }

                return samples;
            case "scalar":
                return [new Sample(LabelSet.Empty, ReadPoint(result).Value)];
            default:
                throw new FormatException($"unexpected resultType \"{resultType}\"");
        }
    }

    public static List<ParsedSeries> ReadMatrix(JsonElement data)
    {
        var result = Result(data);
        var series = new List<ParsedSeries>();
        foreach (var item in Array(result, "matrix result"))
        {
            var (identity, labels) = ReadMetric(item);
            var values = Array(Property(item, "values"), "series values");
            var points = new List<Point>(values.Count);
            foreach (var value in values)
            {
                var (ms, v) = ReadPoint(value);
                points.Add(new Point(DateTimeOffset.FromUnixTimeMilliseconds(ms), v));
            }

            series.Add(new ParsedSeries(identity, labels, points));
        }

        return series;
    }

    private static JsonElement Result(JsonElement data) =>
        data.TryGetProperty("result", out var result) ? result : throw new FormatException("the response has no \"result\"");

    private static (string Identity, LabelSet Labels) ReadMetric(JsonElement item)
    {
        var metric = Property(item, "metric");
        if (metric.ValueKind != JsonValueKind.Object)
        {
            throw new FormatException("a series' \"metric\" is not an object");
        }

        var labels = new List<KeyValuePair<string, string>>();
        foreach (var label in metric.EnumerateObject())
        {
            if (label.Value.ValueKind != JsonValueKind.String)
            {
                throw new FormatException($"label \"{label.Name}\" is not a string");
            }

            labels.Add(new(label.Name, label.Value.GetString()!));
        }

        labels.Sort((a, b) => string.CompareOrdinal(a.Key, b.Key));
        var identity = new StringBuilder();
        for (var i = 0; i < labels.Count; i++)
        {
            if (i > 0 && labels[i].Key == labels[i - 1].Key)
            {
                throw new FormatException($"label \"{labels[i].Key}\" appears twice in one series");
            }

            // NUL cannot occur in label names and separates unambiguously.
            identity.Append(labels[i].Key).Append('\0').Append(labels[i].Value).Append('\0');
        }

        return (identity.ToString(), LabelSet.From(labels));
    }

    /// <summary>A <c>[timestamp, "value"]</c> pair.</summary>
    private static (long UnixMilliseconds, double Value) ReadPoint(JsonElement pair)
    {
        if (pair.ValueKind != JsonValueKind.Array || pair.GetArrayLength() != 2 || pair[1].ValueKind != JsonValueKind.String)
        {
            throw new FormatException($"expected a [timestamp, \"value\"] pair, got {Describe(pair)}");
        }

        return (PrometheusFormat.ReadTimestampMilliseconds(pair[0]), PrometheusFormat.ParseValue(pair[1].GetString()!));
    }

    private static JsonElement Property(JsonElement item, string name)
    {
        if (item.ValueKind != JsonValueKind.Object)
        {
            throw new FormatException($"expected a series object, got {Describe(item)}");
        }

        if (item.TryGetProperty(name, out var value))
        {
            return value;
        }

        // Native histograms (a feature flag in 2.42) come as "histogram"/"histograms" instead of values.
        throw item.TryGetProperty("histogram", out _) || item.TryGetProperty("histograms", out _)
            ? new FormatException("native histogram samples are not supported; query a float series (e.g. histogram_quantile over it)")
            : new FormatException($"a series has no \"{name}\"");
    }

    private static List<JsonElement> Array(JsonElement element, string what) =>
        element.ValueKind == JsonValueKind.Array
            ? element.EnumerateArray().ToList()
            : throw new FormatException($"the {what} is not an array but {Describe(element)}");

    private static string Describe(JsonElement element)
    {
        var raw = element.GetRawText();
        return raw.Length <= 60 ? raw : string.Concat(raw.AsSpan(0, 60), "...");
    }
}
