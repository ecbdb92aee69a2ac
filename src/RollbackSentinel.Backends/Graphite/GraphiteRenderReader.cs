using System.Collections.Frozen;
using System.Globalization;
using System.Text;
using System.Text.Json;
using RollbackSentinel.Backends.Http;
using RollbackSentinel.Core.Metrics;

namespace RollbackSentinel.Backends.Graphite;

/// <summary>
/// Reads graphite-web's <c>format=json</c> answer, <c>[{"target": ..., "tags": {...}, "datapoints": [[value, epochSeconds], ...]}]</c>,
/// into series of points. A failure throws the <see cref="MetricsQueryException"/> the caller reports.
/// </summary>
/// <remarks>
/// <para>
/// Values: <c>null</c> is a gap (no point, never a zero). graphite-web writes NaN as <c>null</c> and ±infinity as
/// <c>1e9999</c>/<c>-1e9999</c>, which overflow a double: they are read as ±infinity. A NaN that still arrives (as the
/// string <c>"NaN"</c>) is a gap too, as graphite-web itself treats it; <c>"Infinity"</c>/<c>"-Infinity"</c> strings are
/// read as infinities. Anything else is an invalid answer.
/// </para>
/// <para>
/// Labels: a series' <c>tags</c> without <c>name</c> (which holds the path or the whole expression) and without the
/// markers graphite-web's functions add (<c>aggregatedBy</c>, <c>scale</c>, <c>perSecond</c>, ...; see
/// <see cref="FunctionMarkerTags"/>). So <c>sumSeries(a.*.5xx)</c> and <c>sumSeries(a.*.requests)</c> are both <c>{}</c>
/// and match each other, and <c>seriesByTag('name=http.5xx')</c> keeps its user tags (<c>{env="prod", region="eu"}</c>).
/// When two series of one answer would have the same labels (two plain paths, which carry no tags), each of them gets
/// a <c>name</c> label holding its <c>target</c>, so they stay distinct.
/// </para>
/// </remarks>
internal static class GraphiteRenderReader
{
    /// <summary>
    /// Tags graphite-web 1.1's functions add to say what was applied (<c>sumSeries</c> adds <c>aggregatedBy=sum</c>,
    /// <c>scale(x, 100)</c> adds <c>scale=100</c>). They describe the expression, not the data, so they are not labels:
    /// dropping them lets errors and totals built with different functions match on their data tags. A function of
    /// a later graphite-web that adds another marker makes a label the other side lacks: the error-rate trigger then
    /// reports the mismatch, it never pairs wrong series.
    /// </summary>
    internal static readonly FrozenSet<string> FunctionMarkerTags = FrozenSet.ToFrozenSet(
    [
        "absolute", "add", "aggregatedBy", "areaBetween", "consolidateBy", "dashed", "delay", "derivative", "drawAsInfinite",
        "exp", "exponentialMovingAverage", "hitcount", "holtWintersAberration", "holtWintersConfidenceArea",
        "holtWintersForecast", "integral", "integralByInterval", "invert", "isNonNull", "linearRegressions", "log", "logit",
        "movingAverage", "movingCount", "movingDiff", "movingLast", "movingMax", "movingMedian", "movingMin", "movingMultiply",
        "movingRange", "movingStddev", "movingSum", "nonNegativeDerivative", "nPercentile", "offset", "offsetToZero",
        "perSecond", "pow", "referenceSeries", "round", "scale", "scaleToSeconds", "secondYAxis", "sigmoid", "smartSummarize",
        "smartSummarizeFunction", "squareRoot", "stacked", "stdev", "summarize", "summarizeFunction", "timeShift",
        "timeShiftUnit", "timeSliceEnd", "timeSliceStart", "transformNull", "xFilesFactor",
    ],
    StringComparer.Ordinal);

    /// <summary>The tag graphite-web puts the series' path or expression in; not a label, except to tell duplicates apart.</summary>
    internal const string NameTag = "name";

    private const int BodyPrefixLength = 200;

    /// <summary>The answer's series, each with its points in time order (gaps left out).</summary>
    /// <param name="limitsKey">The settings key of the limits, for the "raise it" hint (<c>backends.graphite.limits</c>).</param>
    public static IReadOnlyList<RangeSeries> Read(
        ReadOnlyMemory<byte> body, int status, string query, BackendErrors errors, int maxSeries, int maxLabelLength, string limitsKey)
    {
        ArgumentNullException.ThrowIfNull(errors);
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(body);
        }
        catch (JsonException)
        {
            // An HTML login page or a proxy's answer: not graphite-web's render API.
            throw errors.NotTheApi(query, status, BodyPrefix(body.Span));
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Array)
            {
                throw errors.MalformedResult(query, status, $"expected a JSON array of series, got {Describe(root)}");
            }

            // Counted before any series is read, so a huge answer is refused without building it.
            var count = root.GetArrayLength();
            if (count > maxSeries)
            {
                throw errors.LimitExceeded(
                    query,
                    status,
                    $"it has {count} series, more than the maxSeries cap of {maxSeries}; aggregate the target (e.g. sumSeries, groupByTags) or raise {limitsKey}.maxSeries");
            }

            var parsed = new List<(string Target, List<KeyValuePair<string, string>> Tags, List<Point> Points)>(count);
            foreach (var item in root.EnumerateArray())
            {
                parsed.Add(ReadSeries(item, status, query, errors));
            }

            return Label(parsed, status, query, errors, maxLabelLength, limitsKey);
        }
    }

    /// <summary>The start of a body as one line, for a message about an answer that is not graphite-web's.</summary>
    public static string BodyPrefix(ReadOnlySpan<byte> body)
    {
        var text = Encoding.UTF8.GetString(body[..Math.Min(body.Length, BodyPrefixLength * 4)]);
        var sb = new StringBuilder(BodyPrefixLength);
        var space = false;
        foreach (var c in text)
        {
            if (sb.Length >= BodyPrefixLength)
            {
                return sb.Append("...").ToString();
            }

            if (char.IsWhiteSpace(c) || char.IsControl(c))
            {
                space = sb.Length > 0;
                continue;
            }

            if (space)
            {
                sb.Append(' ');
                space = false;
            }

            sb.Append(c);
        }

        return sb.ToString();
    }

    private static (string Target, List<KeyValuePair<string, string>> Tags, List<Point> Points) ReadSeries(
        JsonElement item, int status, string query, BackendErrors errors)
    {
        if (item.ValueKind != JsonValueKind.Object)
        {
            throw errors.MalformedResult(query, status, $"expected a series object, got {Describe(item)}");
        }

        if (!item.TryGetProperty("target", out var targetElement) || targetElement.ValueKind != JsonValueKind.String)
        {
            throw errors.MalformedResult(query, status, $"a series has no \"target\" string: {Describe(item)}");
        }

        var target = targetElement.GetString()!;
        var tags = new List<KeyValuePair<string, string>>();

        // graphite-web before 1.1 and some other implementations send no tags: the labels are then empty.
        if (item.TryGetProperty("tags", out var tagsElement) && tagsElement.ValueKind != JsonValueKind.Null)
        {
            if (tagsElement.ValueKind != JsonValueKind.Object)
            {
                throw errors.MalformedResult(query, status, $"series \"{target}\" has \"tags\" that are not an object: {Describe(tagsElement)}");
            }

            foreach (var tag in tagsElement.EnumerateObject())
            {
                if (tag.Name == NameTag || FunctionMarkerTags.Contains(tag.Name))
                {
                    continue;
                }

                var value = tag.Value.ValueKind switch
                {
                    JsonValueKind.String => tag.Value.GetString()!,
                    JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False => tag.Value.GetRawText(),
                    _ => throw errors.MalformedResult(query, status, $"tag \"{tag.Name}\" of series \"{target}\" is not a string: {Describe(tag.Value)}"),
                };
                if (tags.Exists(t => t.Key == tag.Name))
                {
                    throw errors.MalformedResult(query, status, $"tag \"{tag.Name}\" appears twice in series \"{target}\"");
                }

                tags.Add(new(tag.Name, value));
            }
        }

        if (!item.TryGetProperty("datapoints", out var datapoints) || datapoints.ValueKind != JsonValueKind.Array)
        {
            throw errors.MalformedResult(query, status, $"series \"{target}\" has no \"datapoints\" array");
        }

        var points = new List<Point>(datapoints.GetArrayLength());
        var ordered = true;
        foreach (var pair in datapoints.EnumerateArray())
        {
            if (pair.ValueKind != JsonValueKind.Array || pair.GetArrayLength() != 2)
            {
                throw errors.MalformedResult(query, status, $"series \"{target}\" has a point that is not a [value, timestamp] pair: {Describe(pair)}");
            }

            if (!TryReadValue(pair[0], out var value))
            {
                throw errors.MalformedResult(query, status, $"series \"{target}\" has a point whose value is not a number or null: {Describe(pair)}");
            }

            if (value is null)
            {
                // A gap: graphite-web's null (or NaN).
                continue;
            }

            var timestamp = ReadTimestamp(pair[1])
                ?? throw errors.MalformedResult(query, status, $"series \"{target}\" has a point whose timestamp is not whole epoch seconds: {Describe(pair)}");
            if (points.Count > 0 && points[^1].Timestamp > timestamp)
            {
                ordered = false;
            }

            points.Add(new Point(timestamp, value.Value));
        }

        if (!ordered)
        {
            // graphite-web answers in time order; another implementation may not. Sampling needs it (a stable sort).
            points = [.. points.OrderBy(p => p.Timestamp)];
        }

        return (target, tags, points);
    }

    /// <summary>A point's value, null for a gap (<c>null</c>, <c>"NaN"</c>); false when it is not a value at all.</summary>
    private static bool TryReadValue(JsonElement element, out double? value)
    {
        value = null;
        switch (element.ValueKind)
        {
            case JsonValueKind.Null:
                return true;
            case JsonValueKind.Number when element.TryGetDouble(out var number):
                value = number;
                return true;
            case JsonValueKind.Number:
                // 1e9999 (graphite-web's infinity) is valid JSON but overflows: TryGetDouble refuses it, double.Parse
                // rounds it to infinity as IEEE 754 says.
                if (double.TryParse(element.GetRawText(), NumberStyles.Float, CultureInfo.InvariantCulture, out var big))
                {
                    value = big;
                    return true;
                }

                return false;
            case JsonValueKind.String:
                switch (element.GetString())
                {
                    case "NaN" or "nan":
                        return true;
                    case "Infinity" or "+Infinity" or "inf" or "+inf":
                        value = double.PositiveInfinity;
                        return true;
                    case "-Infinity" or "-inf":
                        value = double.NegativeInfinity;
                        return true;
                    default:
                        return false;
                }

            default:
                return false;
        }
    }

    private static DateTimeOffset? ReadTimestamp(JsonElement element)
    {
        if (element.ValueKind != JsonValueKind.Number)
        {
            return null;
        }

        // Whole seconds from graphite-web; a float with no fraction (1.7e9) from another implementation is the same.
        long seconds;
        if (!element.TryGetInt64(out seconds))
        {
            if (!element.TryGetDouble(out var d) || d != Math.Floor(d) || d < -62_135_596_800 || d > 253_402_300_799)
            {
                return null;
            }

            seconds = (long)d;
        }

        return seconds is < -62_135_596_800 or > 253_402_300_799 ? null : DateTimeOffset.FromUnixTimeSeconds(seconds);
    }

    private static List<RangeSeries> Label(
        List<(string Target, List<KeyValuePair<string, string>> Tags, List<Point> Points)> parsed,
        int status,
        string query,
        BackendErrors errors,
        int maxLabelLength,
        string limitsKey)
    {
        var labels = parsed.Select(p => LabelSet.From(p.Tags)).ToArray();
        var counts = labels.GroupBy(l => l).ToDictionary(g => g.Key, g => g.Count());
        var result = new List<RangeSeries>(parsed.Count);
        var seen = new HashSet<LabelSet>();
        for (var i = 0; i < parsed.Count; i++)
        {
            var (target, tags, points) = parsed[i];
            var set = labels[i];
            if (counts[set] > 1)
            {
                // Two series with the same data tags (two untagged paths, or a wildcard over plain paths): the target
                // tells them apart, as a Prometheus series keeps its __name__ apart from its labels.
                set = LabelSet.From([.. tags, new(NameTag, target)]);
            }

            if (!seen.Add(set))
            {
                throw errors.MalformedResult(
                    query,
                    status,
                    $"two series are both {set} (target \"{target}\"); give them distinct names, e.g. with alias() or aliasByNode()");
            }

            foreach (var (name, value) in set)
            {
                if (name.Length > maxLabelLength)
                {
                    throw errors.LimitExceeded(
                        query,
                        status,
                        $"a tag name of {name.Length} characters (\"{name[..Math.Min(20, name.Length)]}...\") is longer than the maxLabelLength cap of {maxLabelLength}; raise {limitsKey}.maxLabelLength if it is meant");
                }

                if (value.Length > maxLabelLength)
                {
                    var fix = name == NameTag
                        ? "shorten the series' name with alias() or aliasByNode(), or aggregate so that no two series share their tags"
                        : "drop the tag (e.g. groupByTags without it)";
                    throw errors.LimitExceeded(
                        query,
                        status,
                        $"label \"{name}\" has a value of {value.Length} characters, longer than the maxLabelLength cap of {maxLabelLength}; {fix}, or raise {limitsKey}.maxLabelLength");
                }
            }

            result.Add(new RangeSeries(set, points));
        }

        return result;
    }

    private static string Describe(JsonElement element)
    {
        var raw = element.GetRawText();
        return raw.Length <= 60 ? raw : string.Concat(raw.AsSpan(0, 60), "...");
    }
}
