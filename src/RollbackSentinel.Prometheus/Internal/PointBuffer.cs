using System.Collections;
using RollbackSentinel.Core.Metrics;

namespace RollbackSentinel.Prometheus.Internal;

/// <summary>
/// A range series' points as two arrays (Unix milliseconds, values): 16 bytes a point and two objects a series, where
/// a list of <see cref="Point"/> holds 24 bytes a point. A <see cref="Point"/> is made only when one is read.
/// </summary>
internal sealed class PointBuffer : IReadOnlyList<Point>
{
    private long[] _milliseconds;
    private double[] _values;

    public PointBuffer()
        : this(0)
    {
    }

    public PointBuffer(int capacity)
    {
        _milliseconds = capacity == 0 ? [] : new long[capacity];
        _values = capacity == 0 ? [] : new double[capacity];
    }

    public int Count { get; private set; }

    public Point this[int index] =>
        (uint)index < (uint)Count
            ? new Point(DateTimeOffset.FromUnixTimeMilliseconds(_milliseconds[index]), _values[index])
            : throw new ArgumentOutOfRangeException(nameof(index));

    /// <summary>The timestamp of point <paramref name="index"/> in Unix milliseconds.</summary>
    public long MillisecondsAt(int index) => (uint)index < (uint)Count ? _milliseconds[index] : throw new ArgumentOutOfRangeException(nameof(index));

    public void Add(long unixMilliseconds, double value)
    {
        if (Count == _milliseconds.Length)
        {
            var capacity = Math.Max(16, _milliseconds.Length * 2);
            Array.Resize(ref _milliseconds, capacity);
            Array.Resize(ref _values, capacity);
        }

        _milliseconds[Count] = unixMilliseconds;
        _values[Count] = value;
        Count++;
    }

    /// <summary>Adds a point at its timestamp's millisecond (the resolution Prometheus stores).</summary>
    public void Add(Point point) => Add(point.Timestamp.ToUnixTimeMilliseconds(), point.Value);

    /// <summary>Appends the points of <paramref name="other"/> later than this buffer's last point, in order.</summary>
    public void AppendAfterLast(PointBuffer other)
    {
        ArgumentNullException.ThrowIfNull(other);
        var last = Count == 0 ? long.MinValue : _milliseconds[Count - 1];
        for (var i = 0; i < other.Count; i++)
        {
            if (other._milliseconds[i] > last)
            {
                Add(other._milliseconds[i], other._values[i]);
            }
        }
    }

    public IEnumerator<Point> GetEnumerator()
    {
        for (var i = 0; i < Count; i++)
        {
            yield return this[i];
        }
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
