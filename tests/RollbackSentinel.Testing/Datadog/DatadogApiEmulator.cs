using System.Globalization;
using System.Text.Json.Nodes;
using System.Web;
using RollbackSentinel.Testing.Net;

namespace RollbackSentinel.Testing.Datadog;

/// <summary>One <c>/api/v1/query</c> call as the emulator saw it, and the status it answered.</summary>
public sealed record DatadogQueryCall(string Path, string? ApiKey, string? ApplicationKey, string? Query, string? From, string? To, int Status);

/// <summary>
/// Datadog's v1 metrics query API (<c>GET /api/v1/query?from=&amp;to=&amp;query=</c>, Unix seconds) on a free loopback port,
/// answering stored points the way the documented API shapes them:
/// <c>{"status":"ok","res_type":"time_series","series":[{"metric","scope","tag_set","pointlist":[[ms, value|null]],...}],"from_date","to_date","query"}</c>.
/// </summary>
/// <remarks>
/// <para>It checks both key headers (<c>DD-API-KEY</c>, <c>DD-APPLICATION-KEY</c>) and answers 403 <c>{"errors":["Forbidden"]}</c>
/// when either is missing or wrong; a missing or non-numeric from/to/query is a 400 <c>{"errors":[...]}</c>.</para>
/// <para>It evaluates a documented <b>subset</b> of the query language, see <see cref="DatadogQuery"/>: <c>AGG:metric{scope}</c>
/// with an optional <c>by {tag,...}</c> and optional <c>.as_count()</c> / <c>.as_rate()</c> (accepted and ignored: the emulator
/// answers points as they were put in), and one division <c>A / B</c> of two such queries. Anything else is answered
/// 400 <c>{"errors":["Error parsing query: ..."]}</c> as Datadog answers a query it cannot parse. Points are not rolled up:
/// every stored point in [from, to] is answered at its own timestamp; series of a group are aggregated at equal
/// timestamps only.</para>
/// <para>Faults queued with <see cref="RateLimitNext"/> or <see cref="FailNext"/> answer the next call instead.</para>
/// </remarks>
public sealed class DatadogApiEmulator : IAsyncDisposable
{
    public const string QueryPath = "/api/v1/query";

    private readonly LoopbackHttpServer _server;
    private readonly Lock _gate = new();
    private readonly List<DatadogQueryCall> _calls = [];
    private readonly Dictionary<string, StoredSeries> _series = new(StringComparer.Ordinal);
    private readonly Queue<CannedResponse> _faults = new();

    // Served by the shared loopback server; this class is only the API.
    private DatadogApiEmulator(string apiKey, string applicationKey)
    {
        ApiKey = apiKey;
        ApplicationKey = applicationKey;
        _server = LoopbackHttpServer.Start((request, _) => Task.FromResult(Handle(request)));
    }

    /// <summary>The API root (<c>http://127.0.0.1:PORT/</c>): give it to <c>DatadogOptions.BaseAddress</c>.</summary>
    public Uri BaseAddress => _server.BaseAddress;

    /// <summary>The one API key the emulator accepts.</summary>
    public string ApiKey { get; }

    /// <summary>The one application key the emulator accepts.</summary>
    public string ApplicationKey { get; }

    public IReadOnlyList<DatadogQueryCall> Calls
    {
        get
        {
            lock (_gate)
            {
                return [.. _calls];
            }
        }
    }

    public static DatadogApiEmulator Start(
        string apiKey = "0123456789abcdef0123456789abcdef",
        string applicationKey = "fedcba9876543210fedcba9876543210fedcba98") => new(apiKey, applicationKey);

    /// <summary>
    /// Stores points of the series <paramref name="metric"/> with <paramref name="tags"/> (<c>"service:checkout"</c>, or a bare
    /// <c>"canary"</c>); a null value is a point Datadog has no value for. Calls for the same series add to it.
    /// </summary>
    public void AddPoints(string metric, IReadOnlyList<string> tags, params (DateTimeOffset At, double? Value)[] points)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(metric);
        ArgumentNullException.ThrowIfNull(tags);
        ArgumentNullException.ThrowIfNull(points);
        var sortedTags = tags.Order(StringComparer.Ordinal).ToArray();
        var key = metric + "{" + string.Join(",", sortedTags) + "}";
        lock (_gate)
        {
            if (!_series.TryGetValue(key, out var series))
            {
                series = new StoredSeries(metric, sortedTags);
                _series[key] = series;
            }

            foreach (var (at, value) in points)
            {
                series.Points[at.ToUnixTimeMilliseconds()] = value;
            }
        }
    }

    /// <summary>
    /// The next call is answered 429 with Datadog's rate-limit headers: <c>X-RateLimit-Reset: resetSeconds</c> (seconds
    /// until the period ends), <c>X-RateLimit-Remaining: 0</c>, and the limit per period.
    /// </summary>
    public void RateLimitNext(int resetSeconds, int limit = 1600, int periodSeconds = 3600) =>
        Enqueue(new CannedResponse(429, Errors($"Rate limit of {limit} requests in {periodSeconds} seconds reached. Please try again later."))
        {
            Headers = new Dictionary<string, string>
            {
                ["X-RateLimit-Limit"] = limit.ToString(CultureInfo.InvariantCulture),
                ["X-RateLimit-Period"] = periodSeconds.ToString(CultureInfo.InvariantCulture),
                ["X-RateLimit-Remaining"] = "0",
                ["X-RateLimit-Reset"] = resetSeconds.ToString(CultureInfo.InvariantCulture),
                ["X-RateLimit-Name"] = "query",
            },
        });

    /// <summary>The next call is answered with <paramref name="status"/> and <paramref name="body"/> as given.</summary>
    public void FailNext(int status, string body, string contentType = "application/json") => Enqueue(new CannedResponse(status, body, contentType));

    public ValueTask DisposeAsync() => _server.DisposeAsync();

    /// <summary><c>{"errors":[message]}</c>, the shape of most Datadog API errors.</summary>
    public static string Errors(string message) => new JsonObject { ["errors"] = new JsonArray(message) }.ToJsonString();

    private void Enqueue(CannedResponse response)
    {
        lock (_gate)
        {
            _faults.Enqueue(response);
        }
    }

    private CannedResponse Handle(RecordedRequest request)
    {
        var parts = request.PathAndQuery.Split('?', 2);
        var args = HttpUtility.ParseQueryString(parts.Length > 1 ? parts[1] : string.Empty);
        var apiKey = request.Header("DD-API-KEY");
        var applicationKey = request.Header("DD-APPLICATION-KEY");
        lock (_gate)
        {
            var response = _faults.Count > 0 ? _faults.Dequeue() : Answer(request.Method, parts[0], args, apiKey, applicationKey);
            _calls.Add(new DatadogQueryCall(parts[0], apiKey, applicationKey, args["query"], args["from"], args["to"], response.StatusCode));
            return response;
        }
    }

    /// <summary>Datadog's answer to a call that no fault replaced; called under the lock.</summary>
    private CannedResponse Answer(string method, string path, System.Collections.Specialized.NameValueCollection args, string? apiKey, string? applicationKey)
    {
        if (apiKey != ApiKey || applicationKey != ApplicationKey)
        {
            return new CannedResponse(403, Errors("Forbidden"));
        }

        if (path != QueryPath)
        {
            return new CannedResponse(404, Errors("Not found"));
        }

        if (method != "GET")
        {
            return new CannedResponse(405, Errors("Method Not Allowed"));
        }

        var missing = new[] { "from", "to", "query" }.Where(a => string.IsNullOrEmpty(args[a])).ToList();
        if (missing.Count > 0)
        {
            return new CannedResponse(400, Errors($"The following parameters are missing: {string.Join(", ", missing)}"));
        }

        if (!long.TryParse(args["from"], NumberStyles.Integer, CultureInfo.InvariantCulture, out var from)
            || !long.TryParse(args["to"], NumberStyles.Integer, CultureInfo.InvariantCulture, out var to))
        {
            return new CannedResponse(400, Errors("Invalid from or to: expected seconds since the Unix epoch"));
        }

        var text = args["query"]!;
        DatadogQuery query;
        try
        {
            query = DatadogQuery.Parse(text);
        }
        catch (FormatException ex)
        {
            return new CannedResponse(400, Errors("Error parsing query: \n unable to parse " + text + ": " + ex.Message));
        }

        var series = new JsonArray();
        foreach (var (tagSet, points) in query.Evaluate(_series.Values, from * 1000, to * 1000))
        {
            var pointList = new JsonArray();
            foreach (var (ms, value) in points)
            {
                pointList.Add(new JsonArray((double)ms, value));
            }

            var scope = query.ScopeTags.Concat(tagSet).Distinct().ToList();
            series.Add(new JsonObject
            {
                ["metric"] = query.MetricName,
                ["display_name"] = query.MetricName,
                ["aggr"] = query.Aggregator,
                ["expression"] = query.Expression(tagSet),
                ["scope"] = scope.Count == 0 ? "*" : string.Join(",", scope),
                ["tag_set"] = new JsonArray([.. tagSet.Select(t => (JsonNode)t)]),
                ["pointlist"] = pointList,
                ["start"] = points.Count > 0 ? points[0].Ms : from * 1000,
                ["end"] = points.Count > 0 ? points[^1].Ms : to * 1000,
                ["interval"] = Interval(points),
                ["length"] = points.Count,
                ["unit"] = null,
                ["query_index"] = 0,
            });
        }

        var answer = new JsonObject
        {
            ["status"] = "ok",
            ["res_type"] = "time_series",
            ["resp_version"] = 1,
            ["query"] = text,
            ["message"] = string.Empty,
            ["from_date"] = from * 1000,
            ["to_date"] = to * 1000,
            ["group_by"] = new JsonArray([.. query.GroupBy.Select(g => (JsonNode)g)]),
            ["series"] = series,
        };
        return new CannedResponse(200, answer.ToJsonString());
    }

    /// <summary>The smallest gap between points, in seconds, as Datadog reports the rollup interval; 1 for fewer than two points.</summary>
    private static long Interval(IReadOnlyList<(long Ms, double? Value)> points)
    {
        var interval = long.MaxValue;
        for (var i = 1; i < points.Count; i++)
        {
            interval = Math.Min(interval, (points[i].Ms - points[i - 1].Ms) / 1000);
        }

        return interval is long.MaxValue or <= 0 ? 1 : interval;
    }
}

/// <summary>A series as put into the emulator: its tags (sorted) and its points by Unix milliseconds.</summary>
internal sealed record StoredSeries(string Metric, string[] Tags)
{
    public SortedDictionary<long, double?> Points { get; } = [];
}
