using System.Collections.Concurrent;

namespace RollbackSentinel.Telemetry.Exposition;

/// <summary>
/// The series of one synchronous instrument, keyed by tag set. Finding an existing series allocates
/// nothing; a new tag set allocates its key once. Past <c>maxSeries</c> tag sets, measurements go to one
/// overflow series instead of growing memory without bound.
/// </summary>
internal sealed class SeriesStore<TCell>
    where TCell : class
{
    private readonly ConcurrentDictionary<TagKey, TCell> _series = new(TagKeyComparer.Instance);
    private readonly ConcurrentDictionary<TagKey, TCell>.AlternateLookup<ReadOnlySpan<KeyValuePair<string, object?>>> _lookup;
    private readonly Func<TCell> _create;
    private readonly int _maxSeries;
    private readonly Action _onOverflow;
    private int _count;
    private int _overflowed;

    public SeriesStore(Func<TCell> create, int maxSeries, Action onOverflow)
    {
        _create = create;
        _maxSeries = maxSeries;
        _onOverflow = onOverflow;
        _lookup = _series.GetAlternateLookup<ReadOnlySpan<KeyValuePair<string, object?>>>();
    }

    public TCell Get(ReadOnlySpan<KeyValuePair<string, object?>> tags) =>
        _lookup.TryGetValue(tags, out var cell) ? cell : GetSlow(tags);

    /// <summary>The series as they are now, sorted by label block so scrapes are stable.</summary>
    public KeyValuePair<TagKey, TCell>[] Snapshot()
    {
        var items = _series.ToArray();
        Array.Sort(items, static (a, b) => string.CompareOrdinal(a.Key.Labels, b.Key.Labels));
        return items;
    }

    private TCell GetSlow(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var key = TagKey.From(tags);
        if (_series.TryGetValue(key, out var existing))
        {
            return existing;
        }

        if (Interlocked.Increment(ref _count) > _maxSeries)
        {
            Interlocked.Decrement(ref _count);
            if (Interlocked.Exchange(ref _overflowed, 1) == 0)
            {
                _onOverflow();
            }

            return _series.GetOrAdd(TagKey.Overflow, static (_, create) => create(), _create);
        }

        var created = _create();
        var actual = _series.GetOrAdd(key, created);
        if (!ReferenceEquals(actual, created))
        {
            // Another thread added the same tag set first.
            Interlocked.Decrement(ref _count);
        }

        return actual;
    }
}
