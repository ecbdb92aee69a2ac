using System.Text;
using System.Text.Json;
using RollbackSentinel.Core.Metrics;

namespace RollbackSentinel.Prometheus.Internal;

/// <summary>One series of a matrix result; <see cref="Identity"/> includes <c>__name__</c>, which <see cref="LabelSet"/> drops.</summary>
internal sealed record ParsedSeries(string Identity, LabelSet Labels, PointBuffer Points);

/// <summary>The per-query caps on a result's shape (<see cref="PrometheusOptions"/>).</summary>
internal sealed record ResultLimits(int MaxSeries, int MaxLabelLength)
{
    public static ResultLimits From(PrometheusOptions options) => new(options.MaxSeries, options.MaxLabelLength);
}

/// <summary>A well-formed result past one of <see cref="ResultLimits"/>; the message names the cap and its value.</summary>
internal sealed class ResultLimitException(string message) : Exception(message);

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
    public static IReadOnlyList<Sample> ReadInstant(JsonElement data, string resultType, ResultLimits limits)
    {
        var result = Result(data);
        switch (resultType)
        {
            case "vector":
                CheckSeriesCount(result, limits);
                var samples = new List<Sample>(result.ValueKind == JsonValueKind.Array ? result.GetArrayLength() : 0);
                foreach (var item in Array(result, "vector result"))
                {
                    var (_, labels) = ReadMetric(item, limits);
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

    public static List<ParsedSeries> ReadMatrix(JsonElement data, ResultLimits limits)
    {
        var result = Result(data);
        CheckSeriesCount(result, limits);
        var series = new List<ParsedSeries>();
        foreach (var item in Array(result, "matrix result"))
        {
            var (identity, labels) = ReadMetric(item, limits);
            var values = Array(Property(item, "values"), "series values");
            var points = new PointBuffer(values.Count);
            foreach (var value in values)
            {
                var (ms, v) = ReadPoint(value);
                points.Add(ms, v);
            }

            series.Add(new ParsedSeries(identity, labels, points));
        }

        return series;
    }

    private static JsonElement Result(JsonElement data) =>
        data.TryGetProperty("result", out var result) ? result : throw new FormatException("the response has no \"result\"");

    /// <summary>Checked before any series is read, so a huge result is refused without building it.</summary>
    private static void CheckSeriesCount(JsonElement result, ResultLimits limits)
    {
        if (result.ValueKind == JsonValueKind.Array && result.GetArrayLength() is var count && count > limits.MaxSeries)
        {
            throw new ResultLimitException(
                $"it has {count} series, more than the maxSeries cap of {limits.MaxSeries}; aggregate the query (e.g. sum by (...)) or raise prometheus.limits.maxSeries (--prometheus-max-series)");
        }
    }

    private static (string Identity, LabelSet Labels) ReadMetric(JsonElement item, ResultLimits limits)
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

            // Each label checked against the caps as it comes, so the first label at fault is the one named.
            labels.Add(new(label.Name, label.Value.GetString()!));
            CheckLength(labels[^1], limits);
        }

        return Labels(labels, limits);
    }

    /// <summary>A series' labels as read (checked against the caps, sorted, no name twice) and its identity.</summary>
    public static (string Identity, LabelSet Labels) Labels(List<KeyValuePair<string, string>> labels, ResultLimits limits)
    {
        foreach (var label in labels)
        {
            CheckLength(label, limits);
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

    private static void CheckLength(KeyValuePair<string, string> label, ResultLimits limits)
    {
        var (name, value) = label;
        if (name.Length > limits.MaxLabelLength)
        {
            throw new ResultLimitException(
                $"a label name of {name.Length} characters (\"{name[..Math.Min(20, name.Length)]}...\") is longer than the maxLabelLength cap of {limits.MaxLabelLength}; raise prometheus.limits.maxLabelLength (--prometheus-max-label-length) if it is meant");
        }

        if (value.Length > limits.MaxLabelLength)
        {
            throw new ResultLimitException(
                $"label \"{name}\" has a value of {value.Length} characters, longer than the maxLabelLength cap of {limits.MaxLabelLength}; drop the label (e.g. sum by (...) without it) or raise prometheus.limits.maxLabelLength (--prometheus-max-label-length)");
        }
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
