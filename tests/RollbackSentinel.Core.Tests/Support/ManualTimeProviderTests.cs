using RollbackSentinel.Testing.Time;
using static RollbackSentinel.Core.Tests.Support.Build;

namespace RollbackSentinel.Core.Tests.Support;

/// <summary>The hand-written fake clock the tests rely on must itself be right.</summary>
public sealed class ManualTimeProviderTests
{
    [Fact]
    public void Advance_FiresDueTimersInOrderWithTheClockAtTheirDueTime()
    {
        var time = new ManualTimeProvider(T0);
        var fired = new List<(string, DateTimeOffset)>();
        using var periodic = time.CreateTimer(_ => fired.Add(("periodic", time.GetUtcNow())), null, TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(10));
        using var once = time.CreateTimer(_ => fired.Add(("once", time.GetUtcNow())), null, TimeSpan.FromSeconds(15), Timeout.InfiniteTimeSpan);

        time.Advance(TimeSpan.FromSeconds(25));

        Assert.Equal([("periodic", T0.AddSeconds(10)), ("once", T0.AddSeconds(15)), ("periodic", T0.AddSeconds(20))], fired);
        Assert.Equal(T0.AddSeconds(25), time.GetUtcNow());
    }

    [Fact]
    public void DisposedOrChangedTimer_DoesNotFireAtItsOldTime()
    {
        var time = new ManualTimeProvider(T0);
        var count = 0;
        var timer = time.CreateTimer(_ => count++, null, TimeSpan.FromSeconds(5), Timeout.InfiniteTimeSpan);
        timer.Change(TimeSpan.FromSeconds(30), Timeout.InfiniteTimeSpan);

        time.Advance(TimeSpan.FromSeconds(10));
        Assert.Equal(0, count);
        timer.Dispose();
        time.Advance(TimeSpan.FromMinutes(1));

        Assert.Equal(0, count);
    }
}
