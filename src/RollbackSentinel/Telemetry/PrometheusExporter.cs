using System.Buffers;
using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using RollbackSentinel.Telemetry.Exposition;

namespace RollbackSentinel.Telemetry;

/// <summary>
/// Exposes the instruments of chosen meters in the Prometheus text format 0.0.4, without any exporter
/// package: a <see cref="MeterListener"/> aggregates measurements as they are recorded and a scrape renders them.
/// </summary>
/// <remarks>
/// <para>
/// Mapping: <see cref="Counter{T}"/> and <see cref="ObservableCounter{T}"/> are counters (name ending in
/// <c>_total</c>); <see cref="UpDownCounter{T}"/>, <see cref="ObservableUpDownCounter{T}"/>,
/// <see cref="Gauge{T}"/> and <see cref="ObservableGauge{T}"/> are gauges; <see cref="Histogram{T}"/> is a
/// histogram with the buckets from <see cref="InstrumentAdvice{T}.HistogramBucketBoundaries"/>, else
/// <see cref="DefaultHistogramBuckets"/>. Names get the unit as a word (<c>s</c> -> <c>_seconds</c>), dots
/// and other invalid characters become underscores; tags become labels, sorted by name.
/// </para>
/// <para>
/// Measurements only count from the moment the exporter exists: create it before the instruments are used.
/// Counters and histograms are cumulative for the life of the exporter. Negative or NaN counter increments
/// and NaN histogram values are dropped. A family with no series yet (a labelled counter never incremented)
/// is not written.
/// </para>
/// <para>
/// Series of synchronous instruments live as long as the exporter. For state that can go away (per-policy,
/// per-trigger values), use an observable instrument: its callback is asked at every scrape and a series
/// it no longer reports is gone from that scrape on, like a stale series in Prometheus. Disposing a meter
/// removes its instruments too.
/// </para>
/// <para>
/// Recording is lock-free and allocates nothing once a tag set has been seen. Scrapes run one at a time.
/// An observable callback that throws loses its instrument for that scrape only; the error is logged.
/// </para>
/// </remarks>
public sealed partial class PrometheusExporter : IDisposable
{
    /// <summary>The Content-Type of the text exposition format 0.0.4.</summary>
    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    /// <summary>The Prometheus client libraries' default buckets, in seconds.</summary>
    public static readonly IReadOnlyList<double> DefaultHistogramBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

    private static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false);

    private readonly PrometheusExporterOptions _options;
    private readonly HashSet<string> _meterNames;
    private readonly ILogger _logger;
    private readonly MeterListener _listener;
    private readonly ConcurrentDictionary<Instrument, InstrumentState> _states = new();

    // Family name -> the instrument that has it; a second instrument with the same name is not exported.
    private readonly Dictionary<string, Instrument> _names = new(StringComparer.Ordinal);
    private readonly Lock _namesLock = new();
    private readonly Lock _collectLock = new();
    private int _disposed;

    /// <summary>Exports the meters named <paramref name="meterNames"/>, whatever their scope.</summary>
    public PrometheusExporter(params string[] meterNames)
        : this(new PrometheusExporterOptions { MeterNames = meterNames })
    {
    }

    public PrometheusExporter(PrometheusExporterOptions options, ILogger<PrometheusExporter>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        var problems = options.Validate();
        if (problems.Count > 0)
        {
            throw new ArgumentException("Invalid exporter options: " + string.Join(" ", problems), nameof(options));
        }

        _options = options;
        _meterNames = new HashSet<string>(options.MeterNames, StringComparer.Ordinal);
        _logger = logger ?? (ILogger)NullLogger.Instance;
        _listener = new MeterListener
        {
            InstrumentPublished = OnInstrumentPublished,
            MeasurementsCompleted = OnMeasurementsCompleted,
        };
        _listener.SetMeasurementEventCallback<byte>(static (_, value, tags, state) => ((InstrumentState)state!).Record(value, tags));
        _listener.SetMeasurementEventCallback<short>(static (_, value, tags, state) => ((InstrumentState)state!).Record(value, tags));
        _listener.SetMeasurementEventCallback<int>(static (_, value, tags, state) => ((InstrumentState)state!).Record(value, tags));
        _listener.SetMeasurementEventCallback<long>(static (_, value, tags, state) => ((InstrumentState)state!).Record(value, tags));
        _listener.SetMeasurementEventCallback<float>(static (_, value, tags, state) => ((InstrumentState)state!).Record(value, tags));
        _listener.SetMeasurementEventCallback<double>(static (_, value, tags, state) => ((InstrumentState)state!).Record(value, tags));
        _listener.SetMeasurementEventCallback<decimal>(static (_, value, tags, state) => ((InstrumentState)state!).Record((double)value, tags));

        // Publishes the instruments that already exist, then each new one as it is created.
        _listener.Start();
    }

    /// <summary>
    /// Asks the observable instruments for their values and renders every family, sorted by name, in the
    /// text format 0.0.4.
    /// </summary>
    public string Collect()
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) == 1, this);
        lock (_collectLock)
        {
            var states = _states.Values.ToArray();
            Array.Sort(states, static (a, b) => string.CompareOrdinal(a.Name, b.Name));
            foreach (var state in states)
            {
                state.BeginCollect();
            }

            try
            {
                try
                {
                    _listener.RecordObservableInstruments();
                }
                catch (AggregateException e)
                {
                    // Each failing callback costs its own instrument this scrape, not the whole exposition.
                    foreach (var inner in e.InnerExceptions)
                    {
                        LogObservableCallbackFailed(inner);
                    }
                }

                var sb = new StringBuilder();
                foreach (var state in states)
                {
                    state.AppendFamily(sb);
                }

                return sb.ToString();
            }
            finally
            {
                foreach (var state in states)
                {
                    state.EndCollect();
                }
            }
        }
    }

    /// <summary>Writes <see cref="Collect"/>'s text to <paramref name="destination"/> as UTF-8.</summary>
    public async Task WriteAsync(Stream destination, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(destination);
        var text = Collect();
        var buffer = ArrayPool<byte>.Shared.Rent(Utf8.GetMaxByteCount(text.Length));
        try
        {
            var length = Utf8.GetBytes(text, buffer);
            await destination.WriteAsync(buffer.AsMemory(0, length), cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        _listener.Dispose();
    }

    private void OnInstrumentPublished(Instrument instrument, MeterListener listener)
    {
        if (!_meterNames.Contains(instrument.Meter.Name)
            || (_options.MeterScope is not null && !ReferenceEquals(instrument.Meter.Scope, _options.MeterScope)))
        {
            return;
        }

        var state = CreateState(instrument);
        if (state is null)
        {
            return;
        }

        lock (_namesLock)
        {
            if (_names.TryGetValue(state.Name, out var owner))
            {
                LogNameTaken(instrument.Meter.Name, instrument.Name, state.Name, owner.Name);
                return;
            }

            _names.Add(state.Name, instrument);
            _states[instrument] = state;
        }

        listener.EnableMeasurementEvents(instrument, state);
    }

    private void OnMeasurementsCompleted(Instrument instrument, object? state)
    {
        lock (_namesLock)
        {
            if (_states.TryRemove(instrument, out var removed))
            {
                _names.Remove(removed.Name);
            }
        }
    }

    private InstrumentState? CreateState(Instrument instrument)
    {
        var type = instrument.GetType();
        if (!type.IsGenericType)
        {
            LogUnsupportedInstrument(instrument.Meter.Name, instrument.Name, type.Name);
            return null;
        }

        var definition = type.GetGenericTypeDefinition();
        var valueType = type.GetGenericArguments()[0];
        var isInteger = valueType == typeof(byte) || valueType == typeof(short) || valueType == typeof(int) || valueType == typeof(long);
        var max = _options.MaxSeriesPerInstrument;
        Action overflow = () => LogSeriesLimitReached(instrument.Meter.Name, instrument.Name, max);

        if (definition == typeof(Counter<>) || definition == typeof(UpDownCounter<>))
        {
            var promType = definition == typeof(Counter<>) ? PrometheusType.Counter : PrometheusType.Gauge;
            var name = PrometheusNaming.MetricName(instrument.Name, instrument.Unit, promType);
            return isInteger
                ? new LongSumState(instrument, name, promType, max, overflow)
                : new DoubleSumState(instrument, name, promType, max, overflow);
        }

        if (definition == typeof(Gauge<>))
        {
            return new LastValueState(instrument, PrometheusNaming.MetricName(instrument.Name, instrument.Unit, PrometheusType.Gauge), max, overflow);
        }

        if (definition == typeof(Histogram<>))
        {
            var name = PrometheusNaming.MetricName(instrument.Name, instrument.Unit, PrometheusType.Histogram);
            return new HistogramState(instrument, name, BucketsOf(instrument), max, overflow);
        }

        if (definition == typeof(ObservableCounter<>))
        {
            return new ObservedState(instrument, PrometheusNaming.MetricName(instrument.Name, instrument.Unit, PrometheusType.Counter), PrometheusType.Counter);
        }

        if (definition == typeof(ObservableUpDownCounter<>) || definition == typeof(ObservableGauge<>))
        {
            return new ObservedState(instrument, PrometheusNaming.MetricName(instrument.Name, instrument.Unit, PrometheusType.Gauge), PrometheusType.Gauge);
        }

        LogUnsupportedInstrument(instrument.Meter.Name, instrument.Name, type.Name);
        return null;
    }

    private double[] BucketsOf(Instrument instrument)
    {
        var advised = instrument switch
        {
            Histogram<double> h => h.Advice?.HistogramBucketBoundaries?.ToArray(),
            Histogram<float> h => h.Advice?.HistogramBucketBoundaries?.Select(b => (double)b).ToArray(),
            Histogram<long> h => h.Advice?.HistogramBucketBoundaries?.Select(b => (double)b).ToArray(),
            Histogram<int> h => h.Advice?.HistogramBucketBoundaries?.Select(b => (double)b).ToArray(),
            Histogram<short> h => h.Advice?.HistogramBucketBoundaries?.Select(b => (double)b).ToArray(),
            Histogram<byte> h => h.Advice?.HistogramBucketBoundaries?.Select(b => (double)b).ToArray(),
            Histogram<decimal> h => h.Advice?.HistogramBucketBoundaries?.Select(b => (double)b).ToArray(),
            _ => null,
        };

        if (advised is null)
        {
            return [.. DefaultHistogramBuckets];
        }

        // +Inf is always the last bucket; an advised +Inf bound would repeat it.
        if (advised.Length > 0 && double.IsPositiveInfinity(advised[^1]))
        {
            advised = advised[..^1];
        }

        for (var i = 0; i < advised.Length; i++)
        {
            if (!double.IsFinite(advised[i]) || (i > 0 && advised[i] <= advised[i - 1]))
            {
                // InstrumentAdvice already refuses these; a hand-made value could still get here.
                LogInvalidBuckets(instrument.Meter.Name, instrument.Name);
                return [.. DefaultHistogramBuckets];
            }
        }

        return advised;
    }

    [LoggerMessage(EventId = 700, Level = LogLevel.Warning, Message = "A metrics callback failed during a scrape; its instrument is left out of this scrape")]
    private partial void LogObservableCallbackFailed(Exception exception);

    [LoggerMessage(EventId = 701, Level = LogLevel.Warning, Message = "Instrument {Instrument} of meter {Meter} is not exported: its Prometheus name {Name} is already used by instrument {Owner}")]
    private partial void LogNameTaken(string meter, string instrument, string name, string owner);

    [LoggerMessage(EventId = 702, Level = LogLevel.Warning, Message = "Instrument {Instrument} of meter {Meter} reached {Max} series; further tag sets are counted in its otel_metric_overflow series")]
    private partial void LogSeriesLimitReached(string meter, string instrument, int max);

    [LoggerMessage(EventId = 703, Level = LogLevel.Warning, Message = "Instrument {Instrument} of meter {Meter} advises invalid histogram buckets; the default buckets are used")]
    private partial void LogInvalidBuckets(string meter, string instrument);

    [LoggerMessage(EventId = 704, Level = LogLevel.Debug, Message = "Instrument {Instrument} of meter {Meter} is of an unsupported kind {Kind}; it is not exported")]
    private partial void LogUnsupportedInstrument(string meter, string instrument, string kind);
}
