using System.Text;
using RollbackSentinel.Core.RuleTests;

namespace RollbackSentinel.Prometheus.Local;

/// <summary>One input series placed at its test's start: a value (or a staleness marker) at each step.</summary>
public sealed record PlacedSeries(SeriesName Name, DateTimeOffset Start, TimeSpan Interval, IReadOnlyList<SeriesPoint> Values)
{
    /// <summary>The points of one kind: values, or the times of staleness markers.</summary>
    public IEnumerable<(DateTimeOffset At, double Value)> Samples(SeriesPointKind kind) =>
        Values.Select((v, i) => (v, i)).Where(x => x.v.Kind == kind).Select(x => (Start + (Interval * x.i), x.v.Value));
}

/// <summary>
/// The input series of a run as Prometheus takes them in: values as OpenMetrics text for
/// <c>promtool tsdb create-blocks-from openmetrics</c>, staleness markers (which OpenMetrics cannot carry) as a remote-write
/// request. Pure.
/// </summary>
public static class TestHistory
{
    /// <summary>
    /// Every value, grouped by metric name (OpenMetrics wants a family's samples together), each series' samples in
    /// time order, timestamps in seconds with millisecond precision, ending with <c># EOF</c>. No <c># TYPE</c>: each
    /// family is <c>unknown</c>, so a name is taken as written (a counter's <c>_total</c>, a histogram's <c>_bucket</c>).
    /// </summary>
    public static string OpenMetrics(IEnumerable<PlacedSeries> series)
    {
        var sb = new StringBuilder();
        foreach (var s in series.OrderBy(s => s.Name.Metric, StringComparer.Ordinal).ThenBy(s => s.Start))
        {
            var name = s.Name.Metric + OpenMetricsText.Labels(s.Name.Labels.Select(l => (l.Key, l.Value)));
            foreach (var (at, value) in s.Samples(SeriesPointKind.Value))
            {
                OpenMetricsText.AppendSample(sb, name, value, at);
            }
        }

        return sb.Append("# EOF\n").ToString();
    }

    /// <summary>The staleness markers of <paramref name="series"/> as one remote-write request body, or null when there are none.</summary>
    public static byte[]? StaleMarkers(IEnumerable<PlacedSeries> series)
    {
        var stale = series
            .Select(s => (s.Name, Times: s.Samples(SeriesPointKind.Stale).Select(x => x.At).ToArray()))
            .Where(s => s.Times.Length > 0)
            .Select(s => new RemoteWrite.Series([("__name__", s.Name.Metric), .. s.Name.Labels.Select(l => (l.Key, l.Value))], s.Times.Select(t => (t, RemoteWrite.StaleNaN)).ToArray()))
            .ToArray();
        return stale.Length == 0 ? null : RemoteWrite.Encode(stale);
    }
}

/// <summary>
/// Prometheus remote-write 1.0 requests, encoded by hand: a <c>prometheus.WriteRequest</c> protobuf, compressed as a
/// snappy block made of literals only (valid snappy: a decoder takes literals as they come; nothing here is large
/// enough for compression to matter). Only what a rule test sends: series with float samples.
/// </summary>
public static class RemoteWrite
{
    /// <summary>Prometheus's staleness marker: a NaN with this exact bit pattern (<c>value.StaleNaN</c>).</summary>
    public static readonly double StaleNaN = BitConverter.UInt64BitsToDouble(0x7ff0000000000002);

    public sealed record Series(IReadOnlyList<(string Name, string Value)> Labels, IReadOnlyList<(DateTimeOffset At, double Value)> Samples);

    /// <summary>The request body: snappy(WriteRequest { timeseries = ... }), labels sorted by name as Prometheus requires.</summary>
    public static byte[] Encode(IReadOnlyList<Series> series)
    {
        ArgumentNullException.ThrowIfNull(series);
        using var request = new MemoryStream();
        foreach (var s in series)
        {
            using var ts = new MemoryStream();
            foreach (var (name, value) in s.Labels.OrderBy(l => l.Name, StringComparer.Ordinal))
            {
                using var label = new MemoryStream();
                Bytes(label, 1, Encoding.UTF8.GetBytes(name));
                Bytes(label, 2, Encoding.UTF8.GetBytes(value));
                Bytes(ts, 1, label.ToArray());
            }

            foreach (var (at, value) in s.Samples)
            {
                using var sample = new MemoryStream();
                Varint(sample, (1 << 3) | 1); // double value = 1 (fixed64)
                sample.Write(BitConverter.GetBytes(BitConverter.DoubleToUInt64Bits(value)));
                Varint(sample, 2 << 3); // int64 timestamp = 2 (varint), milliseconds
                Varint(sample, unchecked((ulong)at.ToUnixTimeMilliseconds()));
                Bytes(ts, 2, sample.ToArray());
            }

            Bytes(request, 1, ts.ToArray());
        }

        return Snappy(request.ToArray());
    }

    /// <summary>A snappy block: the length, then literal elements of at most 64 KiB each.</summary>
    public static byte[] Snappy(byte[] data)
    {
        using var block = new MemoryStream();
        Varint(block, (ulong)data.Length);
        for (var i = 0; i < data.Length; i += 65536)
        {
            var n = Math.Min(65536, data.Length - i) - 1;
            if (n < 60)
            {
                block.WriteByte((byte)(n << 2));
            }
            else if (n < 256)
            {
                block.WriteByte(60 << 2);
                block.WriteByte((byte)n);
            }
            else
            {
                block.WriteByte(61 << 2);
                block.WriteByte((byte)(n & 0xFF));
                block.WriteByte((byte)(n >> 8));
            }

            block.Write(data, i, n + 1);
        }

        return block.ToArray();
    }

    private static void Bytes(Stream to, int field, byte[] value)
    {
        Varint(to, ((ulong)field << 3) | 2);
        Varint(to, (ulong)value.Length);
        to.Write(value);
    }

    private static void Varint(Stream to, ulong value)
    {
        while (value >= 0x80)
        {
            to.WriteByte((byte)(value | 0x80));
            value >>= 7;
        }

        to.WriteByte((byte)value);
    }
}
