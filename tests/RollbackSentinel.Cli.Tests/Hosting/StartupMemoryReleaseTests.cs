using Microsoft.Extensions.Logging;
using RollbackSentinel.Hosting;
using RollbackSentinel.Testing.Time;

namespace RollbackSentinel.Cli.Tests.Hosting;

/// <summary>When the image's executable gives back what only its start used: once, <see cref="StartupMemoryRelease.Settle"/> after
/// start, and not at all when it stops before.</summary>
public sealed class StartupMemoryReleaseTests
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 6, 21, 0, 0, TimeSpan.Zero);

    [Fact]
    public async Task Started_ReleasesOnceTheSettleTimeHasPassed()
    {
        var (time, lifetime, log, release) = await StartAsync();

        lifetime.Start();
        await WaitForTimerAsync(time, T0 + StartupMemoryRelease.Settle);
        time.Advance(StartupMemoryRelease.Settle - TimeSpan.FromSeconds(1));
        Assert.Empty(log.Messages);

        time.Advance(TimeSpan.FromSeconds(1));
        await release.StopAsync(CancellationToken.None);

        var message = Assert.Single(log.Messages);
        Assert.Matches("^Start-up memory released: the heap compacted, [0-9]+ KB of the executable's pages dropped$", message);
    }

    [Fact]
    public async Task StoppedBeforeTheSettleTime_ReleasesNothing()
    {
        var (time, lifetime, log, release) = await StartAsync();
        lifetime.Start();
        await WaitForTimerAsync(time, T0 + StartupMemoryRelease.Settle);

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await release.StopAsync(timeout.Token);
        time.Advance(StartupMemoryRelease.Settle);

        Assert.Empty(log.Messages);
    }

    [Fact]
    public async Task StoppedBeforeStarted_ReleasesNothing()
    {
        var (time, lifetime, log, release) = await StartAsync();

        await release.StopAsync(CancellationToken.None);
        lifetime.Start();
        time.Advance(StartupMemoryRelease.Settle * 2);

        Assert.Empty(log.Messages);
    }

    /// <summary>A release on a manual clock, its host not yet started.</summary>
    private static async Task<(ManualTimeProvider Time, ManualLifetime Lifetime, RecordingLog Log, StartupMemoryRelease Release)> StartAsync()
    {
        var time = new ManualTimeProvider(T0);
        var lifetime = new ManualLifetime();
        var log = new RecordingLog();
        var release = new StartupMemoryRelease(lifetime, time, log);
        await release.StartAsync(CancellationToken.None);
        return (time, lifetime, log, release);
    }

    /// <summary>The release's wait starts on the thread pool once started: until its timer exists, advancing time would miss it.</summary>
    private static async Task WaitForTimerAsync(ManualTimeProvider time, DateTimeOffset at)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (!time.HasTimerDueAt(at))
        {
            await Task.Delay(10, timeout.Token);
        }
    }

    private sealed class RecordingLog : ILogger<StartupMemoryRelease>
    {
        public List<string> Messages { get; } = [];

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            lock (Messages)
            {
                Messages.Add(formatter(state, exception));
            }
        }
    }
}
