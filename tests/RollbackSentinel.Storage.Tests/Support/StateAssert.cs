using RollbackSentinel.Core.State;

namespace RollbackSentinel.Storage.Tests.Support;

/// <summary>
/// Exact state comparison. PolicyState's record equality compares its dictionaries by reference, and
/// DateTimeOffset equality ignores the offset; both would hide a lossy round trip.
/// </summary>
public static class StateAssert
{
    public static void Same(PolicyState expected, PolicyState actual)
    {
        Assert.Equal(expected.Series.Count, actual.Series.Count);
        foreach (var (key, want) in expected.Series)
        {
            Assert.True(actual.Series.TryGetValue(key, out var got), $"series {key} is missing");
            Assert.Equal(want.Phase, got.Phase);
            Time(want.BreachingSince, got.BreachingSince);
            Time(want.FiringSince, got.FiringSince);
            Assert.Equal(want.NonConclusiveRun, got.NonConclusiveRun);
            Time(want.NonConclusiveSince, got.NonConclusiveSince);
            Assert.Equal(want.AbsentRun, got.AbsentRun);

            // The key's labels come back with the same names and values, byte for byte.
            var gotKey = actual.Series.Keys.Single(k => k.Equals(key));
            Assert.Equal(key.Labels.ToArray(), gotKey.Labels.ToArray());
        }

        Assert.Equal(expected.LastActionAt.Count, actual.LastActionAt.Count);
        foreach (var (target, at) in expected.LastActionAt)
        {
            Assert.True(actual.LastActionAt.TryGetValue(target, out var got), $"lastActionAt {target} is missing");
            Time(at, got);
        }

        Assert.Equal(expected.Progress.Count, actual.Progress.Count);
        foreach (var (key, want) in expected.Progress)
        {
            Assert.True(actual.Progress.TryGetValue(key, out var got), $"progress of {key} is missing");
            Assert.Equal((want.LastVerdict, want.Passes, want.ChangeId), (got.LastVerdict, got.Passes, got.ChangeId));
            Time(want.LastAt, got.LastAt);
            Time(want.ChangeAt, got.ChangeAt);
        }
    }

    private static void Time(DateTimeOffset? expected, DateTimeOffset? actual)
    {
        Assert.Equal(expected.HasValue, actual.HasValue);
        if (expected is { } e && actual is { } a)
        {
            Assert.True(e.EqualsExact(a), $"expected {e:O}, got {a:O}");
        }
    }
}
