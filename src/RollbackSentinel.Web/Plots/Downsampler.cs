namespace RollbackSentinel.Web.Plots;

/// <summary>
/// Thins a series to what a pixel column can show: per column, of each unbroken run of values, the first, smallest,
/// largest and last sample (in time order), so spikes survive; a gap stays a gap (one gap sample is kept wherever the
/// samples had one or more). Values, thresholds and baselines are thinned by the same rule over the same columns.
/// </summary>
internal static class Downsampler
{
    /// <summary>Samples per pixel column above which a series is thinned.</summary>
    public const int ThinAbovePerColumn = 2;

    /// <summary>
    /// The indices into <paramref name="samples"/> (oldest first) to draw for the value <paramref name="select"/> picks;
    /// all of them when there are no more than <see cref="ThinAbovePerColumn"/> per column.
    /// </summary>
    public static IReadOnlyList<int> Reduce(IReadOnlyList<PlotSample> samples, Func<PlotSample, double?> select, TimeScale x)
    {
        var columns = Math.Max(1, (int)Math.Ceiling(x.Right - x.Left));
        if (samples.Count <= ThinAbovePerColumn * columns)
        {
            return new AllIndices(samples.Count);
        }

        var kept = new List<int>(4 * columns);
        var run = new Run();
        var column = int.MinValue;
        var inGap = false;
        for (var i = 0; i < samples.Count; i++)
        {
            var at = (int)Math.Floor(x.Map(samples[i].At) - x.Left);
            if (at != column)
            {
                run.FlushTo(kept);
                column = at;
            }

            var v = select(samples[i]);
            if (v is { } value && double.IsFinite(value))
            {
                run.Add(i, value);
                inGap = false;
            }
            else
            {
                run.FlushTo(kept);
                if (!inGap)
                {
                    kept.Add(i);
                    inGap = true;
                }
            }
        }

        run.FlushTo(kept);
        return kept;
    }

    /// <summary>One unbroken run of finite values within one column.</summary>
    private struct Run
    {
        private int _first;
        private int _min;
        private int _max;
        private int _last;
        private double _minValue;
        private double _maxValue;
        private bool _any;

        public void Add(int index, double value)
        {
            if (!_any)
            {
                (_first, _min, _max, _last, _minValue, _maxValue, _any) = (index, index, index, index, value, value, true);
                return;
            }

            if (value < _minValue)
            {
                (_min, _minValue) = (index, value);
            }

            if (value > _maxValue)
            {
                (_max, _maxValue) = (index, value);
            }

            _last = index;
        }

        public void FlushTo(List<int> kept)
        {
            if (!_any)
            {
                return;
            }

            var (a, b) = _min < _max ? (_min, _max) : (_max, _min);
            kept.Add(_first);
            AddIfNew(kept, a);
            AddIfNew(kept, b);
            AddIfNew(kept, _last);
            _any = false;
        }

        private static void AddIfNew(List<int> kept, int index)
        {
            // Indices arrive in time order within a run, so a repeat can only be the one just added.
            if (kept[^1] < index)
            {
                kept.Add(index);
            }
        }
    }

    /// <summary>0..count-1 without allocating them.</summary>
    private sealed class AllIndices(int count) : IReadOnlyList<int>
    {
        public int this[int index] => (uint)index < (uint)count ? index : throw new ArgumentOutOfRangeException(nameof(index));

        public int Count => count;

        public IEnumerator<int> GetEnumerator()
        {
            for (var i = 0; i < count; i++)
            {
                yield return i;
            }
        }

        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
    }
}
