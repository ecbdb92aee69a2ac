using System.Text;
using System.Text.Json;
using RollbackSentinel.Backends.Http;
using RollbackSentinel.Core.Metrics;

namespace RollbackSentinel.Backends.InfluxDb;

/// <summary>A 2xx answer of <c>/query</c> as read: the statement's own error, or its series with their stored points.</summary>
internal sealed record InfluxDbAnswer(string? StatementError, IReadOnlyList<RangeSeries> Series);

/// <summary>
/// Reads InfluxDB 1.x's <c>/query</c> JSON (<c>{"results":[{"statement_id":0,"series":[{"name","tags","columns","values"}]}]}</c>,
/// timestamps in epoch milliseconds) into series: each series' tags are its labels, its one value column its points. A null
/// value is a gap, never a zero. Every problem with the answer throws a <see cref="MetricsQueryException"/> naming the
/// server and the query.
/// </summary>
internal static class InfluxDbResponseReader
{
    /// <summary>The label that tells apart two series with the same tags from different measurements (<c>FROM "a", "b"</c>).</summary>
    /// <remarks>Not <c>__name__</c>, which <see cref="LabelSet"/> drops: Flux's name for the same thing.</remarks>
    public const string MeasurementLabel = "_measurement";

    private const int BodyPrefixLength = 200;

    /// <summary>Reads a 2xx answer.</summary>
    public static InfluxDbAnswer Read(ReadOnlyMemory<byte> body, int status, string query, BackendErrors errors, BackendOptions limits)
    {
        ArgumentNullException.ThrowIfNull(errors);
        ArgumentNullException.ThrowIfNull(limits);
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(body);
        }
        catch (JsonException)
        {
            throw NotJson(body.Span, status, query, errors);
        }

        using (document)
        {
            try
            {
                return ReadDocument(document.RootElement, status, query, errors, limits);
            }
            catch (FormatException ex)
            {
                throw errors.MalformedResult(query, status, ex.Message, ex);
            }
            catch (Exception ex) when (ex is InvalidOperationException or ArgumentException)
            {
                // A JsonElement of another kind than the API's (a number where a string belongs), or a tag named like the measurement label.
                throw errors.MalformedResult(query, status, ex.Message, ex);
            }
        }
    }

    /// <summary>The <c>error</c> of an error answer (<c>{"error":"error parsing query: ..."}</c>), or null when the body is not one.</summary>
    public static string? ErrorText(ReadOnlySpan<byte> body)
    {
        try
        {
            var reader = new Utf8JsonReader(body);
            using var document = JsonDocument.ParseValue(ref reader);
            return document.RootElement.ValueKind == JsonValueKind.Object
                && document.RootElement.TryGetProperty("error", out var error)
                && error.ValueKind == JsonValueKind.String
                ? error.GetString()
                : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>The start of a body on one line, for a message saying what came instead of the API's JSON.</summary>
    public static string BodyPrefix(ReadOnlySpan<byte> body)
    {
        var text = Encoding.UTF8.GetString(body[..Math.Min(body.Length, BodyPrefixLength * 4)]);
        var oneLine = string.Join(' ', text.Split((char[])['\r', '\n', '\t'], StringSplitOptions.RemoveEmptyEntries)).Trim();
        return oneLine.Length <= BodyPrefixLength ? oneLine : oneLine[..BodyPrefixLength] + "...";
    }

    private static MetricsQueryException NotJson(ReadOnlySpan<byte> body, int status, string query, BackendErrors errors)
    {
        var prefix = BodyPrefix(body);

        // InfluxDB answers 200 and then fails to encode a result holding ±Inf (ln(0), 1/0 in a function): Go's JSON
        // encoder refuses them, and its message is all the body there is.
        return prefix.StartsWith("json: ", StringComparison.Ordinal) && prefix.Contains("unsupported value", StringComparison.Ordinal)
            ? errors.MalformedResult(
                query,
                status,
                $"InfluxDB could not encode its answer ({prefix}): the query yields an infinite value (e.g. ln(0) or log(0)); "
                + "rewrite it so every value is finite")
            : errors.NotTheApi(query, status, prefix);
    }

    private static InfluxDbAnswer ReadDocument(JsonElement root, int status, string query, BackendErrors errors, BackendOptions limits)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw new FormatException($"the answer is a JSON {root.ValueKind.ToString().ToLowerInvariant()}, not an object with \"results\"");
        }

        if (!root.TryGetProperty("results", out var results))
        {
            return root.TryGetProperty("error", out var topError) && topError.ValueKind == JsonValueKind.String
                ? new InfluxDbAnswer(topError.GetString(), [])
                : throw new FormatException("the answer has no \"results\"");
        }

        if (results.ValueKind != JsonValueKind.Array || results.GetArrayLength() != 1)
        {
            throw new FormatException(
                results.ValueKind == JsonValueKind.Array
                    ? $"it holds {results.GetArrayLength()} statement results; a rule's query is one SELECT statement"
                    : "\"results\" is not an array");
        }

        var result = results[0];
        if (result.TryGetProperty("error", out var statementError) && statementError.ValueKind == JsonValueKind.String)
        {
            return new InfluxDbAnswer(statementError.GetString(), []);
        }

        if (IsPartial(result))
        {
            throw Partial(query, status, errors);
        }

        if (!result.TryGetProperty("series", out var seriesArray) || seriesArray.ValueKind == JsonValueKind.Null)
        {
            return new InfluxDbAnswer(null, []);
        }

        if (seriesArray.ValueKind != JsonValueKind.Array)
        {
            throw new FormatException("\"series\" is not an array");
        }

        var count = seriesArray.GetArrayLength();
        if (count > limits.MaxSeries)
        {
            throw errors.LimitExceeded(
                query,
                status,
                $"{count} series, more than the maxSeries cap of {limits.MaxSeries}; group by fewer tags or raise {limits.LimitsKey}.maxSeries");
        }

        var read = new List<(string Name, Dictionary<string, string> Tags, Point[] Points)>(count);
        foreach (var series in seriesArray.EnumerateArray())
        {
            if (IsPartial(series))
            {
                throw Partial(query, status, errors);
            }

            read.Add(ReadSeries(series, status, query, errors, limits));
        }

        return new InfluxDbAnswer(null, Label(read));
    }

    private static (string Name, Dictionary<string, string> Tags, Point[] Points) ReadSeries(
        JsonElement series, int status, string query, BackendErrors errors, BackendOptions limits)
    {
        var name = series.TryGetProperty("name", out var n) && n.ValueKind == JsonValueKind.String ? n.GetString()! : string.Empty;
        var tags = new Dictionary<string, string>(StringComparer.Ordinal);
        if (series.TryGetProperty("tags", out var tagObject) && tagObject.ValueKind == JsonValueKind.Object)
        {
            foreach (var tag in tagObject.EnumerateObject())
            {
                var value = tag.Value.ValueKind == JsonValueKind.String
                    ? tag.Value.GetString()!
                    : throw new FormatException($"tag '{tag.Name}' of series '{name}' is a JSON {tag.Value.ValueKind.ToString().ToLowerInvariant()}, not a string");
                if (tag.Name.Length > limits.MaxLabelLength || value.Length > limits.MaxLabelLength)
                {
                    throw errors.LimitExceeded(
                        query,
                        status,
                        $"tag '{Cut(tag.Name)}' of series '{Cut(name)}' is longer than the maxLabelLength cap of {limits.MaxLabelLength} characters; "
                        + $"raise {limits.LimitsKey}.maxLabelLength");
                }

                // GROUP BY a tag a series does not have gives it the empty value; as in Prometheus, an empty label is no label.
                if (value.Length > 0)
                {
                    tags[tag.Name] = value;
                }
            }
        }

        if (!series.TryGetProperty("columns", out var columns) || columns.ValueKind != JsonValueKind.Array)
        {
            throw new FormatException($"series '{name}' has no \"columns\"");
        }

        var columnNames = columns.EnumerateArray().Select(c => c.GetString() ?? string.Empty).ToArray();
        if (columnNames.Length == 0 || columnNames[0] != "time")
        {
            throw new FormatException($"series '{name}' does not start with a time column (columns: {string.Join(", ", columnNames)})");
        }

        if (columnNames.Length != 2)
        {
            throw new MetricsQueryException(
                MetricsErrorKind.BadQuery,
                query,
                $"{errors.Backend} at {errors.Server} answered query {QueryText.ForMessage(query)} with "
                + (columnNames.Length == 1 ? "no value column" : $"{columnNames.Length - 1} value columns ({errors.Mask(string.Join(", ", columnNames.Skip(1)))})")
                + "; select one field or one expression (SELECT * also returns the tags as columns): each series must have one value per time.")
            {
                StatusCode = status,
            };
        }

        var points = new List<Point>();
        if (series.TryGetProperty("values", out var values) && values.ValueKind == JsonValueKind.Array)
        {
            foreach (var row in values.EnumerateArray())
            {
                if (row.ValueKind != JsonValueKind.Array || row.GetArrayLength() != 2)
                {
                    throw new FormatException($"a row of series '{name}' is not a [time, value] pair");
                }

                var time = row[0];
                if (time.ValueKind != JsonValueKind.Number || !time.TryGetInt64(out var ms))
                {
                    throw new FormatException($"a time of series '{name}' is not epoch milliseconds: {time.GetRawText()}");
                }

                var value = row[1];
                switch (value.ValueKind)
                {
                    case JsonValueKind.Null:
                        // No value at this time (an empty GROUP BY time() bucket, NaN from sqrt(-1)): a gap.
                        continue;
                    case JsonValueKind.Number:
                        points.Add(new Point(DateTimeOffset.FromUnixTimeMilliseconds(ms), value.GetDouble()));
                        break;
                    case JsonValueKind.String:
                    case JsonValueKind.True:
                    case JsonValueKind.False:
                        throw new MetricsQueryException(
                            MetricsErrorKind.BadQuery,
                            query,
                            $"{errors.Backend} at {errors.Server} answered query {QueryText.ForMessage(query)} with "
                            + $"{(value.ValueKind == JsonValueKind.String ? "strings" : "booleans")} in column '{errors.Mask(Cut(columnNames[1]))}'; select a numeric field.")
                        {
                            StatusCode = status,
                        };
                    default:
                        throw new FormatException($"a value of series '{name}' is a JSON {value.ValueKind.ToString().ToLowerInvariant()}");
                }
            }
        }

        // InfluxDB answers in time order unless the query says ORDER BY time DESC; sampling needs ascending times.
        var array = points.ToArray();
        if (!IsAscending(array))
        {
            array = [.. array.OrderBy(p => p.Timestamp)];
        }

        return (name, tags, array);
    }

    /// <summary>Each series' tags as its labels, and the measurement too for series whose tags alone match another's.</summary>
    private static List<RangeSeries> Label(List<(string Name, Dictionary<string, string> Tags, Point[] Points)> read)
    {
        var byTags = read.Select(s => LabelSet.From(s.Tags)).ToArray();
        var ambiguous = byTags.GroupBy(l => l).Where(g => g.Count() > 1).Select(g => g.Key).ToHashSet();
        var result = new List<RangeSeries>(read.Count);
        var seen = new HashSet<LabelSet>();
        for (var i = 0; i < read.Count; i++)
        {
            var labels = byTags[i];
            if (ambiguous.Contains(labels))
            {
                labels = LabelSet.From(read[i].Tags.Append(new KeyValuePair<string, string>(MeasurementLabel, read[i].Name)));
            }

            if (!seen.Add(labels))
            {
                throw new FormatException($"two series have the same measurement and tags {labels}");
            }

            result.Add(new RangeSeries(labels, read[i].Points));
        }

        return result;
    }

    private static bool IsPartial(JsonElement element) =>
        element.TryGetProperty("partial", out var partial) && partial.ValueKind == JsonValueKind.True;

    private static MetricsQueryException Partial(string query, int status, BackendErrors errors) =>
        errors.LimitExceeded(
            query,
            status,
            "InfluxDB cut the answer short (\"partial\": more rows than its [http] max-row-limit); aggregate with GROUP BY time() "
            + "or raise max-row-limit on the server");

    private static bool IsAscending(Point[] points)
    {
        for (var i = 1; i < points.Length; i++)
        {
            if (points[i].Timestamp < points[i - 1].Timestamp)
            {
                return false;
            }
        }

        return true;
    }

    private static string Cut(string text) => text.Length <= 80 ? text : text[..80] + "...";
}
