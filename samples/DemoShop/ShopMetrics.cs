using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace DemoShop;

/// <summary>
/// The shop's two metrics, kept in memory and written as Prometheus text exposition (format 0.0.4) by hand:
/// <list type="bullet">
/// <item><c>demo_http_requests_total{color,code}</c>, a counter of answered <c>GET /</c> requests;</item>
/// <item><c>demo_http_request_duration_seconds{color}</c>, a histogram of their durations (<c>_bucket{le}</c>, <c>_sum</c>, <c>_count</c>).</item>
/// </list>
/// The codes 200 and 500 start at 0, so an error-rate query has a series (with the value 0) before the first
/// error. Thread-safe: requests record concurrently with scrapes.
/// </summary>
public sealed class ShopMetrics
{
    /// <summary>The text exposition format's content type.</summary>
    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    /// <summary>Upper bounds of the histogram buckets, in seconds (<c>+Inf</c> is implied).</summary>
    public static readonly IReadOnlyList<double> Buckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

    private readonly Lock _gate = new();
    private readonly SortedDictionary<int, long> _requests = new() { [200] = 0, [500] = 0 };
    private readonly long[] _bucketCounts = new long[Buckets.Count];
    private long _count;
    private double _sum;

    public ShopMetrics(string color)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(color);
        Color = color;
    }

    public string Color { get; }

    /// <summary>Counts one answered request with its status code and duration.</summary>
    public void Record(int statusCode, TimeSpan duration)
    {
        var seconds = Math.Max(0, duration.TotalSeconds);
        lock (_gate)
        {
            _requests[statusCode] = _requests.GetValueOrDefault(statusCode) + 1;
            _count++;
            _sum += seconds;
            for (var i = 0; i < Buckets.Count; i++)
            {
                if (seconds <= Buckets[i])
                {
                    // Non-cumulative here; Render makes the buckets cumulative, as the format wants.
                    _bucketCounts[i]++;
                    break;
                }
            }
        }
    }

    /// <summary>The exposition text, one line per sample, ending with a line feed.</summary>
    public string Render()
    {
        KeyValuePair<int, long>[] requests;
        long[] buckets;
        long count;
        double sum;
        lock (_gate)
        {
            requests = [.. _requests];
            buckets = (long[])_bucketCounts.Clone();
            count = _count;
            sum = _sum;
        }

        var color = EscapeLabelValue(Color);
        var sb = new StringBuilder()
            .Append("# HELP demo_http_requests_total Requests to GET / answered, by color and HTTP status code.\n")
            .Append("# TYPE demo_http_requests_total counter\n");
        foreach (var (code, n) in requests)
        {
            sb.Append(CultureInfo.InvariantCulture, $"demo_http_requests_total{{color=\"{color}\",code=\"{code}\"}} {n}\n");
        }

        sb.Append("# HELP demo_http_request_duration_seconds Time to answer GET /, in seconds.\n")
            .Append("# TYPE demo_http_request_duration_seconds histogram\n");
        long cumulative = 0;
        for (var i = 0; i < Buckets.Count; i++)
        {
            cumulative += buckets[i];
            sb.Append(CultureInfo.InvariantCulture, $"demo_http_request_duration_seconds_bucket{{color=\"{color}\",le=\"{FormatDouble(Buckets[i])}\"}} {cumulative}\n");
        }

        Debug.Assert(cumulative <= count, "every bucketed observation is counted");
        sb.Append(CultureInfo.InvariantCulture, $"demo_http_request_duration_seconds_bucket{{color=\"{color}\",le=\"+Inf\"}} {count}\n")
            .Append(CultureInfo.InvariantCulture, $"demo_http_request_duration_seconds_sum{{color=\"{color}\"}} {FormatDouble(sum)}\n")
            .Append(CultureInfo.InvariantCulture, $"demo_http_request_duration_seconds_count{{color=\"{color}\"}} {count}\n");
        return sb.ToString();
    }

    /// <summary>A label value as the format wants it: backslash, double quote and line feed escaped.</summary>
    public static string EscapeLabelValue(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        return value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);
    }

    /// <summary>A float as Go's strconv would read it back exactly ("R" round-trips; no exponent surprises for small values).</summary>
    public static string FormatDouble(double value) =>
        double.IsPositiveInfinity(value) ? "+Inf" : double.IsNegativeInfinity(value) ? "-Inf" : double.IsNaN(value) ? "NaN" : value.ToString("R", CultureInfo.InvariantCulture);
}
