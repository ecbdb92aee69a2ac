using System.Diagnostics.Metrics;
using System.Text;

namespace RollbackSentinel.Telemetry.Exposition;

/// <summary>
/// What the exporter keeps for one instrument: its Prometheus family name and type, and its series.
/// Record methods are called from any thread; <see cref="BeginCollect"/>, <see cref="AppendFamily"/> and
/// <see cref="EndCollect"/> only from the scrape, one scrape at a time.
/// </summary>
internal abstract class InstrumentState(Instrument instrument, string name, PrometheusType type)
{
    public Instrument Instrument { get; } = instrument;

    public string Name { get; } = name;

    public PrometheusType Type { get; } = type;

    public abstract void Record(long value, ReadOnlySpan<KeyValuePair<string, object?>> tags);

    public abstract void Record(double value, ReadOnlySpan<KeyValuePair<string, object?>> tags);

    public virtual void BeginCollect()
    {
    }

    public virtual void EndCollect()
    {
    }

    /// <summary>Writes <c># HELP</c>, <c># TYPE</c> and every series; nothing when there is no series.</summary>
    public abstract void AppendFamily(StringBuilder sb);

    protected void AppendHeader(StringBuilder sb)
    {
        if (!string.IsNullOrEmpty(Instrument.Description))
        {
            sb.Append("# HELP ").Append(Name).Append(' ').AppendHelp(Instrument.Description).Append('\n');
        }

        sb.Append("# TYPE ").Append(Name).Append(' ').Append(Type switch
        {
            PrometheusType.Counter => "counter",
            PrometheusType.Histogram => "histogram",
            _ => "gauge",
        }).Append('\n');
    }

    protected static StringBuilder AppendSeriesName(StringBuilder sb, string name, TagKey key)
    {
        sb.Append(name);
        return key.Labels.Length == 0 ? sb : sb.Append('{').Append(key.Labels).Append('}');
    }
}

internal sealed class LongCell
{
    public long Value;
}

internal sealed class DoubleCell
{
    public double Value;
}

internal sealed class HistogramCell(int buckets)
{
    public readonly long[] Counts = new long[buckets];
    public double Sum;
}

/// <summary>Counter or UpDownCounter of an integer type: exact sums with <see cref="Interlocked.Add(ref long, long)"/>.</summary>
internal sealed class LongSumState : InstrumentState
{
    private readonly SeriesStore<LongCell> _series;
    private readonly bool _monotonic;

    public LongSumState(Instrument instrument, string name, PrometheusType type, int maxSeries, Action onOverflow)
        : base(instrument, name, type)
    {
        _monotonic = type == PrometheusType.Counter;
        _series = new SeriesStore<LongCell>(static () => new LongCell(), maxSeries, onOverflow);
    }

    public override void Record(long value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        // A counter only goes up; a negative add would read as a counter reset.
        if (_monotonic && value < 0)
        {
            return;
        }

        Interlocked.Add(ref _series.Get(tags).Value, value);
    }

    public override void Record(double value, ReadOnlySpan<KeyValuePair<string, object?>> tags) => Record((long)value, tags);

    public override void AppendFamily(StringBuilder sb)
    {
        var series = _series.Snapshot();
        if (series.Length == 0)
        {
            return;
        }

        AppendHeader(sb);
        foreach (var (key, cell) in series)
        {
            AppendSeriesName(sb, Name, key).Append(' ').AppendLong(Interlocked.Read(ref cell.Value)).Append('\n');
        }
    }
}

/// <summary>Counter or UpDownCounter of a floating-point type: sums by compare-and-swap.</summary>
internal sealed class DoubleSumState : InstrumentState
{
    private readonly SeriesStore<DoubleCell> _series;
    private readonly bool _monotonic;

    public DoubleSumState(Instrument instrument, string name, PrometheusType type, int maxSeries, Action onOverflow)
        : base(instrument, name, type)
    {
        _monotonic = type == PrometheusType.Counter;
        _series = new SeriesStore<DoubleCell>(static () => new DoubleCell(), maxSeries, onOverflow);
    }

    public override void Record(long value, ReadOnlySpan<KeyValuePair<string, object?>> tags) => Record((double)value, tags);

    public override void Record(double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        // NaN would stick to the sum forever; a counter only goes up.
        if (double.IsNaN(value) || (_monotonic && value < 0))
        {
            return;
        }

        AtomicDouble.Add(ref _series.Get(tags).Value, value);
    }

    public override void AppendFamily(StringBuilder sb)
    {
        var series = _series.Snapshot();
        if (series.Length == 0)
        {
            return;
        }

        AppendHeader(sb);
        foreach (var (key, cell) in series)
        {
            AppendSeriesName(sb, Name, key).Append(' ').AppendDouble(Volatile.Read(ref cell.Value)).Append('\n');
        }
    }
}

/// <summary>Gauge&lt;T&gt;: the last value recorded per tag set.</summary>
internal sealed class LastValueState(Instrument instrument, string name, int maxSeries, Action onOverflow)
    : InstrumentState(instrument, name, PrometheusType.Gauge)
{
    private readonly SeriesStore<DoubleCell> _series = new(static () => new DoubleCell(), maxSeries, onOverflow);

    public override void Record(long value, ReadOnlySpan<KeyValuePair<string, object?>> tags) => Record((double)value, tags);

    public override void Record(double value, ReadOnlySpan<KeyValuePair<string, object?>> tags) =>
        Interlocked.Exchange(ref _series.Get(tags).Value, value);

    public override void AppendFamily(StringBuilder sb)
    {
        var series = _series.Snapshot();
        if (series.Length == 0)
        {
            return;
        }

        AppendHeader(sb);
        foreach (var (key, cell) in series)
        {
            AppendSeriesName(sb, Name, key).Append(' ').AppendDouble(Volatile.Read(ref cell.Value)).Append('\n');
        }
    }
}

/// <summary>
/// Histogram&lt;T&gt;: a count per bucket, made cumulative when written. <c>_count</c> is the total of the
/// buckets read in the same pass, so it always equals the <c>+Inf</c> bucket even while measurements arrive.
/// </summary>
internal sealed class HistogramState : InstrumentState
{
    private readonly double[] _bounds;
    private readonly string[] _boundLabels;
    private readonly SeriesStore<HistogramCell> _series;

    public HistogramState(Instrument instrument, string name, double[] bounds, int maxSeries, Action onOverflow)
        : base(instrument, name, PrometheusType.Histogram)
    {
        _bounds = bounds;
        _boundLabels = [.. bounds.Select(PrometheusText.FormatDouble)];
        var buckets = bounds.Length + 1;
        _series = new SeriesStore<HistogramCell>(() => new HistogramCell(buckets), maxSeries, onOverflow);
    }

    public IReadOnlyList<double> Bounds => _bounds;

    public override void Record(long value, ReadOnlySpan<KeyValuePair<string, object?>> tags) => Record((double)value, tags);

    public override void Record(double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        if (double.IsNaN(value))
        {
            // It fits no bucket and would turn _sum into NaN for good.
            return;
        }

        // Buckets are "less than or equal": a value equal to a bound belongs to that bound's bucket.
        var index = Array.BinarySearch(_bounds, value);
        var bucket = index >= 0 ? index : ~index;
        var cell = _series.Get(tags);
        Interlocked.Increment(ref cell.Counts[bucket]);
        AtomicDouble.Add(ref cell.Sum, value);
    }

    public override void AppendFamily(StringBuilder sb)
    {
        var series = _series.Snapshot();
        if (series.Length == 0)
        {
            return;
        }

        AppendHeader(sb);
        foreach (var (key, cell) in series)
        {
            var cumulative = 0L;
            for (var i = 0; i < _bounds.Length; i++)
            {
                cumulative += Interlocked.Read(ref cell.Counts[i]);
                AppendBucket(sb, key, _boundLabels[i], cumulative);
            }

            cumulative += Interlocked.Read(ref cell.Counts[_bounds.Length]);
            AppendBucket(sb, key, "+Inf", cumulative);
            AppendSeriesName(sb, Name + "_sum", key).Append(' ').AppendDouble(Volatile.Read(ref cell.Sum)).Append('\n');
            AppendSeriesName(sb, Name + "_count", key).Append(' ').AppendLong(cumulative).Append('\n');
        }
    }

    private void AppendBucket(StringBuilder sb, TagKey key, string bound, long count)
    {
        // le goes last, as the Prometheus client libraries write it.
        sb.Append(Name).Append("_bucket{");
        if (key.Labels.Length > 0)
        {
            sb.Append(key.Labels).Append(',');
        }

        sb.Append("le=\"").Append(bound).Append("\"} ").AppendLong(count).Append('\n');
    }
}

/// <summary>
/// Observable instruments: what the callbacks report during one scrape, nothing kept in between. A series
/// the callback stops reporting is gone from the next scrape.
/// </summary>
internal sealed class ObservedState(Instrument instrument, string name, PrometheusType type)
    : InstrumentState(instrument, name, type)
{
    private Dictionary<TagKey, double>? _current;

    public override void BeginCollect() => _current = [];

    public override void EndCollect() => _current = null;

    public override void Record(long value, ReadOnlySpan<KeyValuePair<string, object?>> tags) => Record((double)value, tags);

    public override void Record(double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        // An observable counter reports its running total; it cannot be negative or NaN.
        if (_current is null || (Type == PrometheusType.Counter && !(value >= 0)))
        {
            return;
        }

        // The same tag set twice in one callback: the last report wins.
        _current[TagKey.From(tags)] = value;
    }

    public override void AppendFamily(StringBuilder sb)
    {
        if (_current is not { Count: > 0 } current)
        {
            return;
        }

        var series = current.ToArray();
        Array.Sort(series, static (a, b) => string.CompareOrdinal(a.Key.Labels, b.Key.Labels));
        AppendHeader(sb);
        foreach (var (key, value) in series)
        {
            AppendSeriesName(sb, Name, key).Append(' ').AppendDouble(value).Append('\n');
        }
    }
}

internal static class AtomicDouble
{
    public static void Add(ref double location, double value)
    {
        var current = Volatile.Read(ref location);
        while (true)
        {
            var seen = Interlocked.CompareExchange(ref location, current + value, current);

            // Compare bits: NaN != NaN would otherwise spin forever.
            if (BitConverter.DoubleToInt64Bits(seen) == BitConverter.DoubleToInt64Bits(current))
            {
                return;
            }

            current = seen;
        }
    }
}
