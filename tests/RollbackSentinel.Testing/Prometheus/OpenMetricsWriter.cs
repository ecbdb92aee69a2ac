using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using RollbackSentinel.Prometheus.Local;

namespace RollbackSentinel.Testing.Prometheus;

/// <summary>
/// Collects synthetic series and renders them as OpenMetrics text for
/// <c>promtool tsdb create-blocks-from openmetrics</c> (checked against promtool 2.42), each sample line as the rule
/// tests write theirs (<see cref="OpenMetricsText"/>).
/// </summary>
/// <remarks>
/// promtool silently accepts several mistakes (it keeps one of two samples with the same timestamp,
/// takes a counter sample without <c>_total</c>, allows interleaved families), so this writer checks
/// them itself: names, one family per type, unique series, strictly increasing timestamps.
/// Output: families in the order first added, each with its <c># TYPE</c> line, each series' samples
/// together, timestamps in seconds with millisecond precision, <c># EOF</c> at the end.
/// </remarks>
/// <example>
/// <code>
/// var history = new OpenMetricsWriter()
///     .Counter("http_requests", [("app", "checkout"), ("code", "500")],
///         SyntheticSeries.Counter(from, to, TimeSpan.FromSeconds(15), _ => 2.5))
///     .HistogramBucket("http_request_duration_seconds", [("app", "checkout")], 0.5, bucketPoints)
///     .Render();
/// </code>
/// </example>
public sealed partial class OpenMetricsWriter
{
    private readonly List<Family> _families = [];
    private readonly HashSet<string> _seriesKeys = new(StringComparer.Ordinal);

    /// <summary>Number of series added, including ones without points.</summary>
    public int SeriesCount => _seriesKeys.Count;

    /// <summary>
    /// A counter series: family <paramref name="name"/> of type counter with samples
    /// <c>name_total</c>. A name already ending in <c>_total</c> is taken as the sample name.
    /// </summary>
    public OpenMetricsWriter Counter(string name, IReadOnlyList<(string Name, string Value)> labels, IEnumerable<MetricPoint> points)
    {
        ArgumentNullException.ThrowIfNull(name);
        var family = name.EndsWith("_total", StringComparison.Ordinal) ? name[..^"_total".Length] : name;
        return Add(family, MetricType.Counter, family + "_total", labels, points);
    }

    /// <summary>A gauge series: family and sample both named <paramref name="name"/>.</summary>
    public OpenMetricsWriter Gauge(string name, IReadOnlyList<(string Name, string Value)> labels, IEnumerable<MetricPoint> points) =>
        Add(name, MetricType.Gauge, name, labels, points);

    /// <summary>
    /// One cumulative bucket of a classic histogram: <c>family_bucket{..., le="0.5"}</c>. Add a bucket
    /// with <see cref="double.PositiveInfinity"/> too, or histogram_quantile returns NaN.
    /// </summary>
    public OpenMetricsWriter HistogramBucket(
        string family, IReadOnlyList<(string Name, string Value)> labels, double le, IEnumerable<MetricPoint> points)
    {
        ArgumentNullException.ThrowIfNull(labels);
        if (labels.Any(l => l.Name == "le"))
        {
            throw new ArgumentException("Pass the bucket bound as 'le', not as a label.", nameof(labels));
        }

        return Add(family, MetricType.Histogram, family + "_bucket", [.. labels, ("le", FormatValue(le))], points);
    }

    /// <summary>
    /// Any series: <paramref name="sampleName"/> must be the family name or the family name plus a
    /// suffix (<c>_total</c>, <c>_bucket</c>, <c>_count</c>, <c>_sum</c>, ...).
    /// </summary>
    public OpenMetricsWriter Add(
        string family, MetricType type, string sampleName, IReadOnlyList<(string Name, string Value)> labels, IEnumerable<MetricPoint> points)
    {
        ArgumentNullException.ThrowIfNull(family);
        ArgumentNullException.ThrowIfNull(sampleName);
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentNullException.ThrowIfNull(points);
        if (!MetricName().IsMatch(family))
        {
            throw new ArgumentException($"'{family}' is not a valid metric name.", nameof(family));
        }

        if (!sampleName.StartsWith(family, StringComparison.Ordinal) || !MetricName().IsMatch(sampleName))
        {
            throw new ArgumentException($"Sample name '{sampleName}' must be '{family}' or '{family}' plus a suffix.", nameof(sampleName));
        }

        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (name, _) in labels)
        {
            if (!LabelName().IsMatch(name) || name.StartsWith("__", StringComparison.Ordinal))
            {
                throw new ArgumentException($"'{name}' is not a valid label name (reserved names start with '__').", nameof(labels));
            }

            if (!seen.Add(name))
            {
                throw new ArgumentException($"Label '{name}' appears twice.", nameof(labels));
            }
        }

        var existing = _families.Find(f => f.Name == family);
        if (existing is not null && existing.Type != type)
        {
            throw new ArgumentException($"Family '{family}' was added as {existing.Type}, not {type}.", nameof(type));
        }

        var series = new Series(sampleName, RenderLabels(labels), CheckedPoints(sampleName, points));
        if (!_seriesKeys.Add(sampleName + RenderLabels([.. labels.OrderBy(l => l.Name, StringComparer.Ordinal)])))
        {
            throw new ArgumentException($"Series {series.Name}{series.Labels} was already added.", nameof(labels));
        }

        if (existing is null)
        {
            existing = new Family(family, type);
            _families.Add(existing);
        }

        existing.Series.Add(series);
        return this;
    }

    /// <summary>The OpenMetrics text, ending with <c># EOF</c>.</summary>
    public string Render()
    {
        var sb = new StringBuilder();
        foreach (var family in _families.Where(f => f.Series.Any(s => s.Points.Count > 0)))
        {
            sb.Append("# TYPE ").Append(family.Name).Append(' ').Append(family.Type.ToString().ToLowerInvariant()).Append('\n');
            foreach (var series in family.Series)
            {
                foreach (var point in series.Points)
                {
                    OpenMetricsText.AppendSample(sb, series.Name + series.Labels, point.Value, point.Timestamp);
                }
            }
        }

        return sb.Append("# EOF\n").ToString();
    }

    /// <summary>
    /// The same samples as <see cref="Render"/>, as Prometheus text with a millisecond timestamp on each line and no
    /// comments (<c>name{a="b"} 1.5 1763640000000</c>): what VictoriaMetrics' <c>/api/v1/import/prometheus</c> reads.
    /// </summary>
    public string RenderPrometheusText()
    {
        var sb = new StringBuilder();
        foreach (var series in _families.SelectMany(f => f.Series))
        {
            foreach (var point in series.Points)
            {
                sb.Append(series.Name).Append(series.Labels).Append(' ')
                    .Append(FormatValue(point.Value)).Append(' ')
                    .Append(point.Timestamp.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture)).Append('\n');
            }
        }

        return sb.ToString();
    }

    public override string ToString() => Render();

    /// <summary>A value as Prometheus writes it: <c>NaN</c>, <c>+Inf</c>, <c>-Inf</c>, or round-trip decimal.</summary>
    public static string FormatValue(double value) => OpenMetricsText.Value(value);

    /// <summary>Unix seconds with millisecond precision: promtool reads seconds, not milliseconds.</summary>
    public static string FormatTimestamp(DateTimeOffset timestamp) => OpenMetricsText.Timestamp(timestamp);

    private static List<MetricPoint> CheckedPoints(string sampleName, IEnumerable<MetricPoint> points)
    {
        var list = points.ToList();
        for (var i = 1; i < list.Count; i++)
        {
            if (list[i].Timestamp.ToUnixTimeMilliseconds() <= list[i - 1].Timestamp.ToUnixTimeMilliseconds())
            {
                throw new ArgumentException(
                    $"Samples of '{sampleName}' must have strictly increasing timestamps (ms resolution): "
                    + $"{list[i].Timestamp:O} follows {list[i - 1].Timestamp:O}.",
                    nameof(points));
            }
        }

        return list;
    }

    private static string RenderLabels(IReadOnlyList<(string Name, string Value)> labels) => OpenMetricsText.Labels(labels);

    [GeneratedRegex("^[a-zA-Z_:][a-zA-Z0-9_:]*$")]
    private static partial Regex MetricName();

    [GeneratedRegex("^[a-zA-Z_][a-zA-Z0-9_]*$")]
    private static partial Regex LabelName();

    private sealed record Series(string Name, string Labels, List<MetricPoint> Points);

    private sealed record Family(string Name, MetricType Type)
    {
        public List<Series> Series { get; } = [];
    }
}
