using System.Text.Json;
using RollbackSentinel.Core.Metrics;

namespace RollbackSentinel.Backends.Datadog;

/// <summary>A well-formed answer past a cap (series count, tag length); the message names the cap.</summary>
internal sealed class DatadogLimitException(string message) : Exception(message);

/// <summary>
/// Reads the JSON of <c>GET /api/v1/query</c>. Malformed content throws <see cref="FormatException"/> with a short
/// description; a result past a cap throws <see cref="DatadogLimitException"/>.
/// </summary>
/// <remarks>
/// Labels come from a series' <c>tag_set</c> (the group-by tags), or from its <c>scope</c> when there is no tag_set: each
/// <c>key:value</c> tag is the label key="value" (split at the first ':', values may hold more); a tag without ':' is a
/// label with an empty value, so series grouped by such a tag stay apart. <c>*</c> (no tags) is the empty label set.
/// A <c>null</c> value is a gap: the point is left out, never read as zero.
/// </remarks>
internal static class DatadogResponseReader
{
    /// <summary>
    /// What Datadog said went wrong: the <c>errors</c> array (joined with "; ") or the <c>error</c> of a
    /// <c>"status":"error"</c> answer. Null when the body is not JSON or carries neither.
    /// </summary>
    public static string? ErrorMessage(ReadOnlyMemory<byte> body)
    {
        try
        {
            using var document = JsonDocument.Parse(body);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                return null;
            }

            if (root.TryGetProperty("errors", out var errors) && errors.ValueKind == JsonValueKind.Array)
            {
                var texts = errors.EnumerateArray()
                    .Select(e => e.ValueKind == JsonValueKind.String ? e.GetString()! : e.GetRawText())
                    .Where(t => t.Length > 0)
                    .ToList();
                return texts.Count > 0 ? string.Join("; ", texts) : null;
            }

            var isError = root.TryGetProperty("status", out var status) && status.ValueKind == JsonValueKind.String && status.GetString() == "error";
            if (root.TryGetProperty("error", out var error) && error.ValueKind == JsonValueKind.String && error.GetString() is { Length: > 0 } text)
            {
                return text;
            }

            return isError ? "(no error message)" : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>The series of a successful answer.</summary>
    /// <param name="limitsKey">The settings key of the caps, for the "raise it" hint.</param>
    public static IReadOnlyList<RangeSeries> ReadSeries(ReadOnlyMemory<byte> body, int maxSeries, int maxLabelLength, string limitsKey = "limits")
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(body);
        }
        catch (JsonException ex)
        {
            throw new FormatException($"the answer is not JSON ({ex.Message})", ex);
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw new FormatException($"the answer is not a JSON object but {Describe(root)}");
            }

            if (root.TryGetProperty("res_type", out var resType) && resType.ValueKind == JsonValueKind.String && resType.GetString() != "time_series")
            {
                throw new FormatException($"res_type is \"{resType.GetString()}\", not \"time_series\"");
            }

            if (!root.TryGetProperty("series", out var series) || series.ValueKind != JsonValueKind.Array)
            {
                throw new FormatException("the answer has no \"series\" array");
            }

            if (series.GetArrayLength() > maxSeries)
            {
                throw new DatadogLimitException(
                    $"it has {series.GetArrayLength()} series, more than the maxSeries cap of {maxSeries}; aggregate the query (fewer tags after 'by') or raise {limitsKey}.maxSeries");
            }

            var read = new List<RangeSeries>(series.GetArrayLength());
            var seen = new HashSet<LabelSet>();
            foreach (var item in series.EnumerateArray())
            {
                if (item.ValueKind != JsonValueKind.Object)
                {
                    throw new FormatException($"expected a series object, got {Describe(item)}");
                }

                var labels = ReadLabels(item, maxLabelLength, limitsKey);
                if (!seen.Add(labels))
                {
                    throw new FormatException(
                        $"two series have the tags {labels}; a query must answer one series per tag set (one query, not a comma-separated list)");
                }

                read.Add(new RangeSeries(labels, ReadPoints(item)));
            }

            return read;
        }
    }

    private static LabelSet ReadLabels(JsonElement item, int maxLabelLength, string limitsKey)
    {
        IEnumerable<string> tags;
        if (item.TryGetProperty("tag_set", out var tagSet) && tagSet.ValueKind == JsonValueKind.Array)
        {
            tags = tagSet.EnumerateArray().Select(t => t.ValueKind == JsonValueKind.String
                ? t.GetString()!
                : throw new FormatException($"a tag_set entry is not a string but {Describe(t)}")).ToList();
        }
        else if (item.TryGetProperty("scope", out var scope) && scope.ValueKind == JsonValueKind.String)
        {
            tags = scope.GetString()!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Where(t => t != "*");
        }
        else
        {
            throw new FormatException("a series has neither \"tag_set\" nor \"scope\"");
        }

        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var tag in tags)
        {
            var colon = tag.IndexOf(':', StringComparison.Ordinal);
            var (key, value) = colon < 0 ? (tag, string.Empty) : (tag[..colon], tag[(colon + 1)..]);
            if (key.Length > maxLabelLength || value.Length > maxLabelLength)
            {
                throw new DatadogLimitException(
                    $"tag \"{key[..Math.Min(20, key.Length)]}...\" is longer than the maxLabelLength cap of {maxLabelLength}; group by fewer tags or raise {limitsKey}.maxLabelLength");
            }

            if (!labels.TryAdd(key, value))
            {
                throw new FormatException($"tag \"{key}\" has two values in one series (\"{labels[key]}\" and \"{value}\")");
            }
        }

        return LabelSet.From(labels);
    }

    private static List<Point> ReadPoints(JsonElement item)
    {
        if (!item.TryGetProperty("pointlist", out var pointList) || pointList.ValueKind != JsonValueKind.Array)
        {
            throw new FormatException("a series has no \"pointlist\" array");
        }

        var points = new List<Point>(pointList.GetArrayLength());
        var sorted = true;
        foreach (var pair in pointList.EnumerateArray())
        {
            if (pair.ValueKind != JsonValueKind.Array || pair.GetArrayLength() != 2 || pair[0].ValueKind != JsonValueKind.Number
                || pair[1].ValueKind is not (JsonValueKind.Number or JsonValueKind.Null))
            {
                throw new FormatException($"expected a [milliseconds, value or null] pair, got {Describe(pair)}");
            }

            if (pair[1].ValueKind == JsonValueKind.Null)
            {
                continue;
            }

            // Datadog writes the milliseconds as a float (1575317847000.0).
            var ms = pair[0].GetDouble();
            if (!double.IsFinite(ms) || ms < -62_135_596_800_000d || ms > 253_402_300_799_999d)
            {
                throw new FormatException($"timestamp {pair[0].GetRawText()} is not a time in milliseconds");
            }

            var point = new Point(DateTimeOffset.FromUnixTimeMilliseconds((long)Math.Round(ms)), pair[1].GetDouble());
            sorted &= points.Count == 0 || points[^1].Timestamp <= point.Timestamp;
            points.Add(point);
        }

        if (!sorted)
        {
            // Stable, so of two points at one instant the later in the answer stays the newer.
            points = [.. points.OrderBy(p => p.Timestamp)];
        }

        return points;
    }

    private static string Describe(JsonElement element)
    {
        var raw = element.GetRawText();
        return raw.Length <= 60 ? raw : string.Concat(raw.AsSpan(0, 60), "...");
    }
}
